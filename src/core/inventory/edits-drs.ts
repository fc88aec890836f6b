// DRS edits (issue 14): a cluster's DRS settings, its rules, a VM's own automation level and a
// host's maintenance flag, as pure functions on a draft (edits.ts); the caller validates the
// result (schema, and that a rule's VMs and hosts exist) before anything is stored.
import { ErrorCode, FerryError } from "../errors.ts";
import { own, positionIn } from "./draft.ts";
import { findHost, findVm, type Draft } from "./edits.ts";
import type { DrsConfigSetting, DrsRuleSetting } from "./schema.ts";

/** A change to a cluster's DRS settings: only the fields given change. */
export interface DrsConfigChange {
  readonly automation?: DrsConfigSetting["automation"] | undefined;
  readonly threshold?: number | undefined;
  readonly maxMovesPerRun?: number | undefined;
  readonly maxMovesPerHost?: number | undefined;
}

/** Sets a cluster's DRS settings; returns them as they are now. */
export function setClusterDrs(draft: Draft, clusterName: string, change: DrsConfigChange): DrsConfigSetting {
  const i = positionIn(draft.clusters, clusterName);
  if (i < 0) throw new FerryError(ErrorCode.notFound, `no cluster named "${clusterName}" in the inventory`);
  if (change.threshold !== undefined && (!Number.isInteger(change.threshold) || change.threshold < 1 || change.threshold > 5)) {
    throw new FerryError(ErrorCode.invalidInput, `the DRS threshold must be a whole number from 1 (rule fixes and maintenance only) to 5 (aggressive), not ${change.threshold}`);
  }
  const cluster = own(draft.clusters, i);
  const drs: DrsConfigSetting = { automation: cluster.drs?.automation ?? "manual", threshold: cluster.drs?.threshold ?? 3 };
  const moves = { maxMovesPerRun: change.maxMovesPerRun ?? cluster.drs?.maxMovesPerRun, maxMovesPerHost: change.maxMovesPerHost ?? cluster.drs?.maxMovesPerHost };
  if (change.automation !== undefined) drs.automation = change.automation;
  if (change.threshold !== undefined) drs.threshold = change.threshold;
  if (moves.maxMovesPerRun !== undefined) drs.maxMovesPerRun = moves.maxMovesPerRun;
  if (moves.maxMovesPerHost !== undefined) drs.maxMovesPerHost = moves.maxMovesPerHost;
  cluster.drs = drs;
  return drs;
}

/** Adds a DRS rule, or replaces the one of that name. Returns whether it was new. */
export function putDrsRule(draft: Draft, rule: DrsRuleSetting): boolean {
  const i = positionIn(draft.drsRules, rule.name);
  const copy = structuredClone(rule);
  if (i < 0) {
    draft.drsRules.push(copy);
    return true;
  }
  draft.drsRules[i] = copy;
  return false;
}

export function removeDrsRule(draft: Draft, name: string): void {
  const i = positionIn(draft.drsRules, name);
  if (i < 0) throw new FerryError(ErrorCode.notFound, `no DRS rule named "${name}"`);
  draft.drsRules.splice(i, 1);
}

/** A VM's own automation level over its cluster's; null goes back to the cluster's. */
export function setVmDrsAutomation(draft: Draft, vmName: string, automation: DrsConfigSetting["automation"] | null): void {
  const vm = findVm(draft, vmName);
  if (automation === null) delete vm.drsAutomation;
  else vm.drsAutomation = automation;
}

/** A host's maintenance flag: a host in maintenance mode is never a destination (the checker's HOST_MAINTENANCE). */
export function setHostMaintenance(draft: Draft, hostName: string, maintenance: boolean): void {
  findHost(draft, hostName).maintenance = maintenance;
}
