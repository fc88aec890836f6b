// The controller's host-networking commands acting on hosts for real. An inventory edit of a
// host's network (add networking, edit or remove a VMkernel port, port groups) is first
// carried out by the host's agent when it manages its host's network (real hosts, and the
// qemu lab's, whose agents run inside their namespace), as one transaction of ops; only then
// is the edit written, and the host's record is then refreshed from what it observes. An
// agent's refusal, or an agent that cannot be reached, leaves the inventory as it was. Hosts
// whose agents only report (sim), or that have no agent, change in the inventory alone.
import { ErrorCode, FerryError, isFerryError } from "../core/errors.ts";
import type { Inventory, VmkernelPort, VSwitch } from "../core/inventory/schema.ts";
import type { AgentFacts } from "../agent/api.ts";
import type { AgentClient } from "../agent/client.ts";
import type { NetworkOp } from "../host/network-config.ts";
import type { HostNetworkChange } from "../api/schemas-hosts.ts";
import { addVmkernelNetworking, editVmkernelPort, removeVmkernelPort, type Draft } from "../core/inventory/edits.ts";
import { removePortGroup, renamePortGroup, setPortGroup } from "../core/inventory/portgroups.ts";
import { refreshHost } from "./host-facts.ts";
import type { InventoryService } from "./inventory-service.ts";

/** Applies a host's VMkernel port changes before the controller writes them. */
export interface HostNetworkActuator {
  /**
   * Called with the inventory before and after a validated edit of host `host`; rejects to
   * cancel it. `ops` replaces the computed diff where the edit says more than a diff can (a
   * port group rename).
   */
  apply(host: string, before: Inventory, after: Inventory, ops?: readonly NetworkOp[]): Promise<void>;
  /** After the edit was written: a real host's record becomes what the host now has. */
  refresh(host: string): Promise<void>;
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

function vswitchesOf(inventory: Inventory, host: string): Map<string, VSwitch> {
  return new Map((inventory.hosts.find((h) => h.name === host)?.vswitches ?? []).map((v) => [v.name, v]));
}

/**
 * The changes that take a real host's network from `before` to `after`, in an order the host
 * can carry out: new vSwitches, then port groups, then VMkernel ports; removals the other way
 * round. Pure. A port group that moved or changed VLAN is set again; a rename is not a diff
 * (it is asked for explicitly, so VMs' taps keep their port group).
 */
export function hostNetworkOps(host: string, before: Inventory, after: Inventory): NetworkOp[] {
  const old = vswitchesOf(before, host);
  const now = vswitchesOf(after, host);
  const groups = (switches: Map<string, VSwitch>): Map<string, { vswitch: string; vlan: number }> =>
    new Map([...switches.values()].flatMap((v) => v.portGroups.map((g) => [g.name, { vswitch: v.name, vlan: g.vlan }] as const)));
  const oldGroups = groups(old);
  const newGroups = groups(now);
  const vmk = vmkernelDiff(host, before, after);
  const portGroupOf = (port: VmkernelPort): string => port.portGroup;
  const ops: NetworkOp[] = [];
  for (const name of vmk.removed) ops.push({ op: "removeVmkernelPort", name });
  for (const name of oldGroups.keys()) if (!newGroups.has(name)) ops.push({ op: "removePortGroup", name });
  for (const name of old.keys()) if (!now.has(name)) ops.push({ op: "removeVSwitch", name });
  for (const [name, v] of now) if (!old.has(name)) ops.push({ op: "addVSwitch", name, uplinks: [...v.uplinks], mtu: v.mtu });
  for (const [name, g] of newGroups) {
    const was = oldGroups.get(name);
    if (was?.vswitch !== g.vswitch || was.vlan !== g.vlan) ops.push({ op: "setPortGroup", name, vswitch: g.vswitch, vlan: g.vlan });
  }
  for (const port of vmk.set) {
    const [ip = "", prefix = "32"] = port.ip.split("/");
    ops.push({ op: "setVmkernelPort", name: port.name, portGroup: portGroupOf(port), ip, prefix: Number(prefix), mtu: port.mtu, vmotion: port.vmotion, ...(port.gateway === undefined ? {} : { gateway: port.gateway }) });
  }
  return ops;
}

/**
 * One host-network change as the edit its write route makes (POST …/network, PATCH and DELETE
 * …/network/{port}, the port-group routes): the preview judges exactly what Finish would do.
 */
export function applyHostNetworkChange(draft: Draft, host: string, change: HostNetworkChange): void {
  switch (change.change) {
    case "addNetworking":
      addVmkernelNetworking(draft, host, change);
      return;
    case "editPort":
      editVmkernelPort(draft, host, change.port, change);
      return;
    case "removePort":
      removeVmkernelPort(draft, host, change.port);
      return;
    case "setPortGroup":
      setPortGroup(draft, host, change.portGroup, { vswitch: change.vswitch, vlan: change.vlan });
      return;
    case "renamePortGroup":
      renamePortGroup(draft, host, change.portGroup, change.to);
      return;
    case "removePortGroup":
      removePortGroup(draft, host, change.portGroup);
      return;
  }
}

/** The actuator over the controller's agents (`agentOf` is AgentDirectory.get). */
export function agentHostNetwork(agentOf: (host: string) => AgentClient | undefined, inventory: InventoryService): HostNetworkActuator {
  return {
    async refresh(host) {
      const agent = agentOf(host);
      if (agent !== undefined) await refreshHost(inventory, agent, host, { observeNow: false, onlyObserved: true });
    },
    async apply(host, before, after, explicit) {
      if (explicit === undefined && hostNetworkOps(host, before, after).length === 0) return;
      const agent = agentOf(host);
      if (agent === undefined) return;
      const unreachable = (error: unknown): FerryError =>
        new FerryError(ErrorCode.unavailable, `cannot apply the network change on ${host}: its agent did not answer (${error instanceof Error ? error.message : String(error)}); nothing was changed`, { retryable: true, cause: error, details: { host } });
      let facts: AgentFacts;
      try {
        facts = await agent.facts();
      } catch (error) {
        throw unreachable(error);
      }
      // Hosts whose agents only report (sim) change in the inventory alone.
      if (facts.networkControl !== true) return;
      await applyOps(agent, host, explicit ?? hostNetworkOps(host, before, after), unreachable);
    },
  };
}

/** Sends the ops to a real host's agent; a refusal there changes nothing anywhere. */
async function applyOps(agent: AgentClient, host: string, ops: readonly NetworkOp[], unreachable: (error: unknown) => FerryError): Promise<void> {
  if (ops.length === 0) return;
  try {
    await agent.applyNetwork(ops);
  } catch (error) {
    if (isFerryError(error) && error.code === ErrorCode.unavailable) throw unreachable(error);
    // The host already says "nothing was changed"; say it once, for the inventory too.
    const reason = (error instanceof Error ? error.message : String(error)).replace(/[;.]?\s*nothing was changed\.?$/, "").replace(/[.;\s]+$/, "");
    throw new FerryError(isFerryError(error) && error.code !== ErrorCode.internal ? ErrorCode.refused : ErrorCode.internal, `${host} refused the network change: ${reason}; nothing was changed on the host or in the inventory`, {
      cause: error,
      details: { host, ...(isFerryError(error) ? { agentCode: error.code } : {}) },
    });
  }
}
