// Reconciliation: what a host's agent says it runs, against what the inventory says. A pure
// function of the inventory and the agents' answers; the controller records every difference
// as an event and applies the corrections where the agent's word is the truth (vCenter does
// the same when a host reconnects: the host's own list of VMs and power states wins).
// A VM that is migrating (an open task claims it) is the engine's: nothing here looks at it.
import { NO_CLAIMS, type MigrationClaims } from "./claims.ts";
import { findVm, type Draft } from "./edits.ts";
import type { Inventory, Vm } from "./schema.ts";

/** A VM as an agent reports it in its heartbeat answer. */
export interface AgentVmState {
  readonly name: string;
  readonly power: "running" | "paused" | "off";
  /** Set while the VM migrates out (its migration's id). */
  readonly migratingOut?: string | undefined;
}

/** One agent's heartbeat answer, in the words reconciliation needs. */
export interface AgentAnswer {
  readonly vms: readonly AgentVmState[];
  /** VMs whose incoming migration the agent holds: a paused shell, not yet the VM. */
  readonly incoming: readonly string[];
}

export const DifferenceKind = {
  /** The agent runs the VM, or has it off, and the inventory says otherwise: the agent's power wins. */
  powerDiffers: "powerDiffers",
  /** The VM runs on another host than the inventory's: the inventory follows the host that runs it. */
  vmMoved: "vmMoved",
  /** Two hosts run the VM: nothing is changed, an operator decides. */
  vmOnTwoHosts: "vmOnTwoHosts",
  /** The inventory's host does not have the VM, and no answering host runs it: powered off. */
  vmGone: "vmGone",
  /** The agent has a VM the inventory does not know. */
  vmUnknown: "vmUnknown",
  /** The agent keeps a powered-off copy of a VM the inventory has on another host. */
  vmCopy: "vmCopy",
} as const;
export type DifferenceKind = (typeof DifferenceKind)[keyof typeof DifferenceKind];

/** What the inventory becomes for one VM; applied only while the VM is still as `expected`. */
export type Correction = { readonly op: "power"; readonly power: "on" | "off" } | { readonly op: "move"; readonly to: string };

export interface Difference {
  readonly kind: DifferenceKind;
  readonly vm: string;
  /** The host whose answer showed the difference. */
  readonly host: string;
  /** The VM in the inventory when the agents were asked; undefined for a VM it does not know. */
  readonly expected: { readonly host: string; readonly power: Vm["power"] } | undefined;
  readonly agentPower: AgentVmState["power"] | "absent";
  readonly correction: Correction | undefined;
  readonly message: string;
}

const running = (vm: AgentVmState | undefined): boolean => vm?.power === "running";

/** Hosts other than `host` whose latest answer runs `vm`. */
function runningElsewhere(vm: string, host: string, others: ReadonlyMap<string, AgentAnswer>): string[] {
  const out: string[] = [];
  for (const [name, answer] of others) if (name !== host && answer.vms.some((v) => v.name === vm && running(v))) out.push(name);
  return out;
}

/** What the agent has of a VM the inventory places on this host. */
function ownVm(vm: Vm, host: string, onAgent: AgentVmState | undefined, others: ReadonlyMap<string, AgentAnswer>): Difference | undefined {
  const expected = { host: vm.host, power: vm.power };
  if (onAgent === undefined) {
    const elsewhere = runningElsewhere(vm.name, host, others);
    const [to] = elsewhere;
    if (elsewhere.length === 1 && to !== undefined) {
      return { kind: DifferenceKind.vmMoved, vm: vm.name, host, expected, agentPower: "absent", correction: { op: "move", to }, message: `${vm.name} is not on ${host}, where the inventory had it; it runs on ${to}: the inventory now has it there` };
    }
    if (elsewhere.length > 1) return { kind: DifferenceKind.vmOnTwoHosts, vm: vm.name, host, expected, agentPower: "absent", correction: undefined, message: `${vm.name} is not on ${host}, where the inventory had it, and runs on ${elsewhere.join(" and ")}: nothing was changed; stop one copy` };
    const correction = vm.power === "off" ? undefined : ({ op: "power", power: "off" } as const);
    return { kind: DifferenceKind.vmGone, vm: vm.name, host, expected, agentPower: "absent", correction, message: `${vm.name} is gone from ${host}, where the inventory had it ${vm.power}, and no answering host runs it${correction === undefined ? "" : ": it is now powered off in the inventory"}` };
  }
  if (onAgent.power === "paused") return undefined;
  const agentOn = onAgent.power === "running";
  if (agentOn === (vm.power === "on")) return undefined;
  const power = agentOn ? "on" : "off";
  return { kind: DifferenceKind.powerDiffers, vm: vm.name, host, expected, agentPower: onAgent.power, correction: { op: "power", power }, message: `${vm.name} is ${power} on ${host}, the inventory had it ${vm.power}: now ${power} in the inventory` };
}

/** A VM the agent has that the inventory places elsewhere, or does not know. */
function foreignVm(onAgent: AgentVmState, vm: Vm | undefined, host: string, others: ReadonlyMap<string, AgentAnswer>): Difference | undefined {
  if (vm === undefined) return { kind: DifferenceKind.vmUnknown, vm: onAgent.name, host, expected: undefined, agentPower: onAgent.power, correction: undefined, message: `${host} has a VM the inventory does not know: ${onAgent.name} (${onAgent.power}); import or add it to manage it` };
  const expected = { host: vm.host, power: vm.power };
  if (!running(onAgent)) {
    if (onAgent.power === "paused") return undefined;
    return { kind: DifferenceKind.vmCopy, vm: vm.name, host, expected, agentPower: onAgent.power, correction: undefined, message: `${host} keeps a powered-off copy of ${vm.name}, which the inventory has on ${vm.host}` };
  }
  const owner = others.get(vm.host);
  if (owner !== undefined && running(owner.vms.find((v) => v.name === vm.name))) {
    return { kind: DifferenceKind.vmOnTwoHosts, vm: vm.name, host, expected, agentPower: onAgent.power, correction: undefined, message: `${vm.name} runs on ${host} and on ${vm.host}: nothing was changed; stop one copy` };
  }
  return { kind: DifferenceKind.vmMoved, vm: vm.name, host, expected, agentPower: onAgent.power, correction: { op: "move", to: host }, message: `${vm.name} runs on ${host}, the inventory had it on ${vm.host}${owner === undefined ? " (not answering)" : ""}: the inventory now has it on ${host}` };
}

/**
 * Every difference between `answer` (what `host`'s agent runs) and the inventory. `others`
 * holds the latest answers of the other hosts that answer (a host missing from it is not
 * known to run anything). VMs that migrate, and the agent's incoming shells, are skipped.
 */
export function reconcileHost(inventory: Inventory, host: string, answer: AgentAnswer, others: ReadonlyMap<string, AgentAnswer>, claims: MigrationClaims = NO_CLAIMS): Difference[] {
  const byName = new Map(inventory.vms.map((vm) => [vm.name, vm]));
  const onAgent = new Map(answer.vms.map((vm) => [vm.name, vm]));
  const incoming = new Set(answer.incoming);
  const out: Difference[] = [];
  for (const vm of inventory.vms) {
    if (vm.host !== host || claims.claimOf(vm.name) !== undefined || incoming.has(vm.name)) continue;
    const reported = onAgent.get(vm.name);
    if (reported?.migratingOut !== undefined) continue;
    const difference = ownVm(vm, host, reported, others);
    if (difference !== undefined) out.push(difference);
  }
  for (const reported of answer.vms) {
    const vm = byName.get(reported.name);
    if (vm?.host === host || claims.claimOf(reported.name) !== undefined || incoming.has(reported.name) || reported.migratingOut !== undefined) continue;
    const difference = foreignVm(reported, vm, host, others);
    if (difference !== undefined) out.push(difference);
  }
  return out;
}

/**
 * Applies the corrections to a draft, each only while its VM is still as it was when the
 * agents were asked (same host and power, not migrating): a migration that started or ended
 * meanwhile wins. Returns the differences whose correction was applied.
 */
export function applyCorrections(draft: Draft, differences: readonly Difference[], claims: MigrationClaims = NO_CLAIMS): Difference[] {
  const applied: Difference[] = [];
  for (const d of differences) {
    const correction = d.correction;
    if (correction === undefined || d.expected === undefined || claims.claimOf(d.vm) !== undefined) continue;
    const current = draft.vms.find((v) => v.name === d.vm);
    if (current === undefined || current.host !== d.expected.host || current.power !== d.expected.power) continue;
    // The draft's own copy: the snapshot's objects are never written.
    const vm = findVm(draft, d.vm);
    if (correction.op === "power") {
      vm.power = correction.power;
      if (correction.power === "off") delete vm.bootFlags;
    } else {
      const to = draft.hosts.find((h) => h.name === correction.to);
      if (to === undefined) continue;
      const poolName = vm.pool;
      const pool = poolName === undefined ? undefined : draft.resourcePools.find((p) => p.name === poolName);
      vm.host = to.name;
      // The VM keeps its pool when the pool belongs to its new host (as a migration's end does).
      if (pool === undefined || !(pool.host === to.name || (pool.cluster !== undefined && pool.cluster === to.cluster))) delete vm.pool;
      vm.power = "on";
    }
    applied.push(d);
  }
  return applied;
}
