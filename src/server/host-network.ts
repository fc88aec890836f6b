// The controller's host-networking commands acting on hosts for real. An inventory edit of a
// host's VMkernel ports (add networking, edit a port, remove it) is first applied by the
// host's agent when that agent manages its host's network (the qemu lab's agents do, inside
// their namespace); only then is the edit written. An agent's refusal, or an agent that cannot
// be reached, leaves the inventory as it was. Hosts whose agents do not manage their network
// (sim agents), or that have no agent, keep today's behaviour: the inventory alone changes.
import { ErrorCode, FerryError, isFerryError } from "../core/errors.ts";
import type { Inventory, VmkernelPort } from "../core/inventory/schema.ts";
import type { AgentClient } from "../agent/client.ts";

/** Applies a host's VMkernel port changes before the controller writes them. */
export interface HostNetworkActuator {
  /** Called with the inventory before and after a validated edit of host `host`; rejects to cancel it. */
  apply(host: string, before: Inventory, after: Inventory): Promise<void>;
}

/** What changed among one host's VMkernel ports. */
export interface VmkernelDiff {
  readonly set: readonly VmkernelPort[];
  readonly removed: readonly string[];
}

function portsOf(inventory: Inventory, host: string): Map<string, VmkernelPort> {
  const ports = new Map<string, VmkernelPort>();
  for (const vswitch of inventory.hosts.find((h) => h.name === host)?.vswitches ?? []) for (const port of vswitch.vmkernelPorts) ports.set(port.name, port);
  return ports;
}

/** The ports of `host` that are new or different in `after`, and the ones gone. Pure. */
export function vmkernelDiff(host: string, before: Inventory, after: Inventory): VmkernelDiff {
  const old = portsOf(before, host);
  const now = portsOf(after, host);
  const set = [...now.values()].filter((port) => JSON.stringify(port) !== JSON.stringify(old.get(port.name)));
  const removed = [...old.keys()].filter((name) => !now.has(name));
  return { set, removed };
}

/** The actuator over the controller's agents (`agentOf` is AgentDirectory.get). */
export function agentHostNetwork(agentOf: (host: string) => AgentClient | undefined): HostNetworkActuator {
  return {
    async apply(host, before, after) {
      const diff = vmkernelDiff(host, before, after);
      if (diff.set.length === 0 && diff.removed.length === 0) return;
      const agent = agentOf(host);
      if (agent === undefined) return;
      const unreachable = (error: unknown): FerryError =>
        new FerryError(ErrorCode.unavailable, `cannot apply the network change on ${host}: its agent did not answer (${error instanceof Error ? error.message : String(error)}); nothing was changed`, { retryable: true, cause: error, details: { host } });
      let manages: boolean;
      try {
        manages = (await agent.facts()).vmkernelControl === true;
      } catch (error) {
        throw unreachable(error);
      }
      if (!manages) return;
      try {
        for (const name of diff.removed) await agent.removeVmkernelPort(name);
        for (const port of diff.set) {
          const [ip = "", prefix = "32"] = port.ip.split("/");
          await agent.setVmkernelPort(port.name, { ip, prefix: Number(prefix), vmotion: port.vmotion, mtu: port.mtu, ...(port.gateway === undefined ? {} : { gateway: port.gateway }) });
        }
      } catch (error) {
        if (isFerryError(error) && error.code === ErrorCode.unavailable) throw unreachable(error);
        const reason = error instanceof Error ? error.message : String(error);
        throw new FerryError(isFerryError(error) && error.code !== ErrorCode.internal ? ErrorCode.refused : ErrorCode.internal, `${host} refused the network change: ${reason}; the inventory was not changed`, {
          cause: error,
          details: { host, ...(isFerryError(error) ? { agentCode: error.code } : {}) },
        });
      }
    },
  };
}
