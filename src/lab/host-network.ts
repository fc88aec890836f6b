// One lab host's network as the qemu driver sees it (QemuHostNetwork): QEMU runs inside the
// host's namespace, each VM NIC is a tap on the bridge of its port group there, and a migrated
// guest is probed from the host's own address on that bridge, the way a vSphere host's
// VMkernel sees the VM network: from the destination's side of the segment.
//
// Taps are named from a hash of (vm, nic, tag): a VM's name may be long or carry characters a
// link name cannot, and the source and destination copies of one VM (different tags) may sit in
// one namespace in tests. The probe is a TCP connection attempt made by a node process entered
// with `ip netns exec`: `ping` is not part of the base system here, and a TCP answer (accepted
// or refused) proves the guest's stack runs, which an ARP reply alone would not.
import { tapName } from "../host/net/names.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import type { QemuHostNetwork, VmNic } from "../drivers/qemu/host-network.ts";
import { execRunner, type CommandRunner, type LabNetwork } from "./netns.ts";
import { NamespaceProber, ProbeAnswer } from "./prober.ts";

/** The port the probe knocks on when the caller names none: the test guest's sequence-echo service. */
export const PROBE_PORT = 7000;

export interface LabHostNetworkOptions {
  /** Runs `ip` and the probe; default execFile. Tests pass a fake. */
  readonly run?: CommandRunner;
  /**
   * The host's own address (no prefix) on each port group's bridge, used as the probe's
   * source. A port group without one is probed from whatever address the namespace's routing
   * picks (still from inside the host's namespace).
   */
  readonly probeFrom?: Readonly<Record<string, string>>;
  /** TCP port to knock on; default 7000. Any port works: a refusal (RST) counts as an answer. */
  readonly probePort?: number;
  /** The node binary the probe runs in the namespace; default this process's. */
  readonly node?: string;
}


export { tapName };

/** What the probe prints: `open` (SYN-ACK), `refused` (RST), or `silent` (nothing, or no route). */
export { ProbeAnswer } from "./prober.ts";

/**
 * The probe program given to `node -e`: argv = ip, port, timeoutMs, [localAddress]. It always
 * exits 0 and prints one ProbeAnswer, so the runner's failure path means "the probe could not
 * run", never "the guest is unreachable".
 */
export const probeScript = [
  "const [ip, port, ms, from] = process.argv.slice(1);",
  "const net = require('net');",
  "const opts = { host: ip, port: Number(port) };",
  "if (from) opts.localAddress = from;",
  "const s = net.connect(opts);",
  "const done = (w) => { process.stdout.write(w); s.destroy(); process.exit(0); };",
  "const t = setTimeout(() => done('silent'), Number(ms));",
  "s.on('connect', () => { clearTimeout(t); done('open'); });",
  "s.on('error', (e) => { clearTimeout(t); done(e.code === 'ECONNREFUSED' ? 'refused' : 'silent'); });",
].join("\n");

/** Reads the probe's output; anything else than its three words is a probe that did not run. */
export function parseProbeAnswer(output: string): ProbeAnswer | undefined {
  const word = output.trim();
  return word === ProbeAnswer.open || word === ProbeAnswer.refused || word === ProbeAnswer.silent ? word : undefined;
}

/**
 * QemuHostNetwork for lab host namespace `hostNs` (full name, e.g. `ferry-lab1-esx01`), whose
 * port groups are the bridges of `bridges` (port group name, case-sensitive as in vSphere →
 * bridge name inside the namespace).
 */
export function labHostNetwork(lab: LabNetwork, hostNs: string, bridges: Readonly<Record<string, string>>, options: LabHostNetworkOptions = {}): QemuHostNetwork {
  const run = options.run ?? execRunner;
  const prober = options.run === undefined ? new NamespaceProber(hostNs, options.node) : undefined;
  const port = options.probePort ?? PROBE_PORT;
  const node = options.node ?? process.execPath;
  const bridgeOf = (portGroup: string): string | undefined => (Object.hasOwn(bridges, portGroup) ? bridges[portGroup] : undefined);
  if (!hostNs.startsWith(`ferry-${lab.labId}-`)) {
    throw new FerryError(ErrorCode.invalidInput, `Namespace "${hostNs}" does not belong to lab ${lab.labId}; use lab.ns(name) to name it.`);
  }

  return {
    wrap: ["ip", "netns", "exec", hostNs],

    async plug(vm: string, nic: VmNic, tag: string): Promise<string> {
      const bridge = bridgeOf(nic.portGroup);
      if (bridge === undefined) {
        const known = Object.keys(bridges).map((p) => `"${p}"`).join(", ") || "none";
        throw new FerryError(ErrorCode.invalidInput, `Host namespace ${hostNs} has no port group "${nic.portGroup}" for NIC ${nic.name} of ${vm} (port groups: ${known}).`, {
          details: { vm, nic: nic.name, portGroup: nic.portGroup },
        });
      }
      const tap = tapName(vm, nic.name, tag);
      // A VM here will migrate or be checked: have the prober ready before it is asked.
      prober?.warm();
      await lab.addTap(hostNs, tap, bridge);
      return tap;
    },

    async unplug(tap: string): Promise<void> {
      try {
        await run("ip", ["-n", hostNs, "link", "delete", tap]);
      } catch (error) {
        const stderr = (error as { details?: { stderr?: unknown } }).details?.stderr;
        // Already gone (QEMU's exit does not remove a persistent tap, but a namespace teardown does).
        if (typeof stderr === "string" && stderr.includes("Cannot find device")) return;
        throw error;
      }
    },

    async reachable(portGroup: string, ip: string, timeoutMs: number): Promise<boolean> {
      if (bridgeOf(portGroup) === undefined) return false;
      return probe(ip, options.probeFrom?.[portGroup], timeoutMs);
    },

    // The VMotion network: whatever address the namespace routes from (its VMkernel port).
    // Nothing listens on the probe port of a VMkernel IP, so a reachable host answers RST.
    vmotionReachable(ip: string, timeoutMs: number): Promise<boolean> {
      return probe(ip, undefined, timeoutMs);
    },

    close(): void {
      prober?.close();
    },
  };

  async function probe(ip: string, from: string | undefined, timeoutMs: number): Promise<boolean> {
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) {
      throw new FerryError(ErrorCode.invalidInput, `"${ip}" is not an IPv4 address to probe.`);
    }
    const ms = Math.max(1, Math.round(timeoutMs));
    // The real runner: one long-lived prober in the namespace (a node start per probe costs
    // ~80 ms, paid before every migrate). A runner given by a test: one command per probe.
    if (prober !== undefined) return (await prober.probe(ip, port, ms, from)) !== ProbeAnswer.silent;
    const output = await run("ip", ["netns", "exec", hostNs, node, "-e", probeScript, ip, String(port), String(ms), ...(from === undefined ? [] : [from])]);
    const answer = parseProbeAnswer(output);
    if (answer === undefined) {
      throw new FerryError(ErrorCode.io, `The reachability probe in ${hostNs} printed "${output.trim()}" instead of open, refused or silent.`);
    }
    return answer !== ProbeAnswer.silent;
  }
}
