// VMkernel ports of a lab host, for real: what the controller's host-networking commands do
// to a qemu lab host (through its agent, PUT/DELETE /v1/network/vmkernel/:port).
//
// The mapping, chosen to behave like an ESX host's VMkernel NIC:
//   - a VMkernel port is a link of the same name in the host's namespace (vmk1, vmk2, ...): a
//     veth whose other end sits on the lab's VMotion bridge in the phys namespace, created when
//     the port is new and deleted when the port is removed;
//   - its IP and prefix are the link's only address (`ip addr flush` then `add`), inside
//     198.18.0.0/15 or refused; its MTU is the link's MTU; the link is up while the port exists;
//   - "Use this port group for VMotion" does not touch the link (an ESX vmk without VMotion
//     still answers on its IP): the agent moves where incoming migrations listen, and the link's
//     alias says `vmotion` or `vmkernel` so `ip -n <ns> link show` shows the switch;
//   - a gateway must lie inside the port's subnet and is recorded in the alias, never installed:
//     a lab namespace gets no default route (nothing in a lab may reach outside the machine).
import { createHash } from "node:crypto";
import { ErrorCode, FerryError } from "../core/errors.ts";
import type { VmkernelRequest } from "../agent/api.ts";
import type { VmkernelControl } from "../agent/app.ts";
import { checkLabAddress, execRunner, type CommandRunner, type LabNetwork } from "./netns.ts";

export interface LabVmkernelOptions {
  /** The phys namespace (full name) holding the VMotion bridge, and that bridge. */
  readonly physNamespace: string;
  readonly vmotionBridge: string;
  readonly run?: CommandRunner;
}

const portPattern = /^[a-z][a-z0-9]{0,13}$/;

function toInt(ip: string): number {
  return ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
}

/** Whether `gateway` lies in `ip`/`prefix`. */
export function inSubnet(ip: string, prefix: number, gateway: string): boolean {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return ((toInt(ip) & mask) >>> 0) === ((toInt(gateway) & mask) >>> 0);
}

/** The phys-side name of port `port`'s cable on host namespace `hostNs`: short, unique per host and port. */
export function physEndName(hostNs: string, port: string): string {
  return `k${createHash("sha256").update(`${hostNs}\u0000${port}`).digest("hex").slice(0, 12)}`;
}

function isMissing(error: unknown): boolean {
  const stderr = (error as { details?: { stderr?: unknown } }).details?.stderr;
  return typeof stderr === "string" && (stderr.includes("Cannot find device") || stderr.includes("does not exist"));
}

export function labVmkernelControl(lab: LabNetwork, hostNs: string, options: LabVmkernelOptions): VmkernelControl {
  const run = options.run ?? execRunner;
  const checkPort = (port: string): void => {
    if (!portPattern.test(port)) {
      throw new FerryError(ErrorCode.invalidInput, `VMkernel port name "${port}" cannot name a link in the lab: use lowercase letters and digits, at most 14, starting with a letter (like vmk1).`);
    }
  };
  const exists = async (port: string): Promise<boolean> => {
    try {
      await run("ip", ["-n", hostNs, "link", "show", port]);
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  };

  return {
    async apply(port: string, request: VmkernelRequest): Promise<readonly string[]> {
      checkPort(port);
      const cidr = `${request.ip}/${request.prefix}`;
      checkLabAddress(cidr);
      if (request.gateway !== undefined && !inSubnet(request.ip, request.prefix, request.gateway)) {
        throw new FerryError(ErrorCode.invalidInput, `Gateway ${request.gateway} is outside ${cidr}, the subnet of VMkernel port ${port}.`);
      }
      const done: string[] = [];
      if (!(await exists(port))) {
        const phys = physEndName(hostNs, port);
        await lab.addVeth({ name: port, namespace: hostNs }, { name: phys, namespace: options.physNamespace });
        await lab.attach(options.physNamespace, phys, options.vmotionBridge);
        done.push(`created ${port}, cabled to ${options.vmotionBridge}`);
      }
      await run("ip", ["-n", hostNs, "addr", "flush", "dev", port]);
      await lab.addAddress(hostNs, port, cidr);
      done.push(`${cidr} on ${port}`);
      await run("ip", ["-n", hostNs, "link", "set", port, "mtu", String(request.mtu)]);
      done.push(`MTU ${request.mtu}`);
      const alias = `${request.vmotion ? "vmotion" : "vmkernel"}${request.gateway === undefined ? "" : ` gw ${request.gateway}`}`;
      await run("ip", ["-n", hostNs, "link", "set", port, "alias", alias]);
      done.push(request.vmotion ? "VMotion on" : "VMotion off");
      await lab.setUp(hostNs, port);
      return done;
    },

    async remove(port: string): Promise<readonly string[]> {
      checkPort(port);
      try {
        // Deleting one end of a veth deletes its peer on the VMotion bridge too.
        await run("ip", ["-n", hostNs, "link", "delete", port]);
        return [`deleted ${port}`];
      } catch (error) {
        if (isMissing(error)) return [];
        throw error;
      }
    },
  };
}
