// The lab's DHCP server on one segment: busybox udhcpd inside a lab namespace. A guest that boots
// like any VM a user brings (boot.iso, no `ferry.ip=` from Ferry) asks the segment for its
// address; the lab answers with a static lease per MAC, as a vSphere admin's DHCP reservation
// would. The config offers no router and no DNS server: a guest gets an address on the segment
// and nothing that routes outside the lab.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { checkLabAddress } from "./netns.ts";

/** One reservation: the guest's MAC always gets `ip`. */
export interface StaticLease {
  readonly mac: string;
  /** Without prefix, inside 198.18.0.0/15. */
  readonly ip: string;
}

export interface DhcpServerConfig {
  /** The link udhcpd serves, in its namespace; it needs an address of its own (the server id). */
  readonly interface: string;
  /** First and last address of the dynamic pool (without prefix). */
  readonly start: string;
  readonly end: string;
  readonly leases: readonly StaticLease[];
  /** Where udhcpd keeps its leases; its PID file goes beside it (`<leaseFile>.pid`). */
  readonly leaseFile: string;
  /** The segment's prefix length, sent as the subnet option (default 16, the lab's VM networks). */
  readonly prefixLength?: number;
  /** Lease time in seconds (default one day: a test guest never has to renew). */
  readonly leaseSeconds?: number;
}

const macPattern = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const linkPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$/;

function invalid(message: string): FerryError {
  return new FerryError(ErrorCode.invalidInput, message);
}

/** 198.18.1.2 → 0xc6120102; checks it lies in the lab's range on the way. */
function labAddress(ip: string, prefixLength: number): number {
  checkLabAddress(`${ip}/${prefixLength}`);
  return ip.split(".").reduce((value, octet) => value * 256 + Number(octet), 0);
}

function netmask(prefixLength: number): string {
  const mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
  return [24, 16, 8, 0].map((shift) => (mask >>> shift) & 0xff).join(".");
}

function checkPath(what: string, path: string): void {
  if (!path.startsWith("/") || /\s/.test(path)) throw invalid(`DHCP ${what} "${path}" must be an absolute path without spaces (udhcpd's config has no quoting).`);
}

/** busybox udhcpd's config text for `config`: static leases, subnet and lease time, no router, no DNS. */
export function udhcpdConfig(config: DhcpServerConfig): string {
  const prefixLength = config.prefixLength ?? 16;
  const leaseSeconds = config.leaseSeconds ?? 86_400;
  if (!linkPattern.test(config.interface)) throw invalid(`DHCP interface "${config.interface}" is not a Linux link name.`);
  if (!Number.isInteger(leaseSeconds) || leaseSeconds < 60) throw invalid(`DHCP lease time ${leaseSeconds} s must be a whole number of at least 60 seconds.`);
  checkPath("lease file", config.leaseFile);
  const start = labAddress(config.start, prefixLength);
  const end = labAddress(config.end, prefixLength);
  if (end < start) throw invalid(`DHCP pool ${config.start}-${config.end} ends before it starts.`);
  const macs = new Set<string>();
  const lines = config.leases.map((lease) => {
    const mac = lease.mac.toLowerCase();
    if (!macPattern.test(mac)) throw invalid(`DHCP lease MAC "${lease.mac}" is not six colon-separated hex bytes.`);
    if (macs.has(mac)) throw invalid(`DHCP lease MAC ${mac} is reserved twice.`);
    macs.add(mac);
    labAddress(lease.ip, prefixLength);
    return `static_lease ${mac} ${lease.ip}`;
  });
  return [
    "# Ferry lab DHCP server (busybox udhcpd). No router and no dns option on purpose: a lab guest",
    "# gets an address on its segment and no way out of the lab.",
    `interface ${config.interface}`,
    `start ${config.start}`,
    `end ${config.end}`,
    `max_leases ${end - start + 1}`,
    `lease_file ${config.leaseFile}`,
    // udhcpd's default PID file is /var/run/udhcpd.pid, shared by every lab on the machine.
    `pidfile ${config.leaseFile}.pid`,
    `option subnet ${netmask(prefixLength)}`,
    `option lease ${leaseSeconds}`,
    ...lines,
    "",
  ].join("\n");
}

/** A running udhcpd; `stop()` ends it by its PID and waits for its exit. */
export interface DhcpServer {
  readonly pid: number;
  /** Resolves with the exit code (null when a signal ended it) once udhcpd is gone. */
  readonly exited: Promise<number | null>;
  /** What udhcpd logged so far (offers, acks, errors): a test's evidence when a guest got no lease. */
  log(): string;
  stop(): Promise<void>;
}

/** Whether a UDP socket on port 67 (0x0043) is bound in the process's network namespace. */
function listensOnBootps(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/net/udp`, "utf8").split("\n").some((line) => / [0-9A-F]{8}:0043 /.test(line));
  } catch {
    return false;
  }
}

/**
 * Starts `busybox udhcpd -f CONFIG` in `namespace` (`ip netns exec` execs it, so the child's PID
 * is udhcpd's) and resolves once it listens on port 67. udhcpd logs "started" before it opens
 * its interface, so that line alone does not say it serves; the socket does. Rejects with
 * udhcpd's own words when it exits first (a missing interface, a bad config line).
 */
export function startDhcpServer(namespace: string, configPath: string, timeoutMs = 5000): Promise<DhcpServer> {
  const child = spawn("ip", ["netns", "exec", namespace, "busybox", "udhcpd", "-f", configPath], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const collect = (chunk: Buffer): void => {
    output += chunk.toString("utf8");
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      resolve(code);
    });
    child.once("error", () => {
      resolve(-1);
    });
  });
  const command = `ip netns exec ${namespace} busybox udhcpd -f ${configPath}`;
  const server: DhcpServer = {
    get pid(): number {
      return child.pid ?? -1;
    },
    exited,
    log: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        process.kill(child.pid, "SIGTERM");
        const killer = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, "SIGKILL"), 2000);
        await exited;
        clearTimeout(killer);
      }
    },
  };
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    let gone = false;
    void exited.then((code) => {
      gone = true;
      const said = output.trim().split("\n").pop() ?? "";
      const missing = said === "" && code !== 0 ? " (is busybox installed? apt-get install -y busybox-static)" : "";
      reject(new FerryError(ErrorCode.io, `The lab's DHCP server exited (code ${String(code)}) before serving: ${said}${missing}`, { details: { command, output } }));
    });
    const poll = (): void => {
      if (gone) return;
      if (child.pid !== undefined && listensOnBootps(child.pid)) {
        resolve(server);
        return;
      }
      if (Date.now() > deadline) {
        void server.stop();
        reject(new FerryError(ErrorCode.io, `The lab's DHCP server did not listen on port 67 within ${timeoutMs} ms.`, { details: { command, output } }));
        return;
      }
      setTimeout(poll, 20);
    };
    poll();
  });
}
