// Maintenance mode's plan: where every powered-on VM of a host goes before the host may enter
// maintenance, what it costs and how long it takes. A VM with nowhere to go blocks entry and
// says why; powered-off and suspended VMs are listed apart (the operator moves them cold or
// leaves them registered).
import { ErrorCode, FerryError } from "../errors.ts";
import { ClusterState, percent, recommendationId, type FitOptions } from "./state.ts";
import type { DrsInput, EvacuationPlan, Recommendation, Unmovable } from "./types.ts";

/** Affinity is handled by choosing the group's host (affinityAnchor); every other rule is checked. */
const EVACUATION: FitOptions = { keepShould: false, ignoreAffinity: true };

/**
 * The predicted wall time of `durations` run `concurrency` at a time, each started on the lane
 * that frees first, in plan order (the migration service's queue does the same). With
 * concurrency 1 it is their sum.
 */
export function scheduleMs(durations: readonly number[], concurrency: number): number {
  const lanes = new Array<number>(Math.max(1, Math.floor(concurrency))).fill(0);
  for (const d of durations) {
    let k = 0;
    for (let i = 1; i < lanes.length; i++) if ((lanes[i] ?? 0) < (lanes[k] ?? 0)) k = i;
    lanes[k] = (lanes[k] ?? 0) + d;
  }
  return Math.max(...lanes);
}

/** The host for VM v: its affinity group's host if one is set, else the lowest load after placement, keeping "should" rules when it can. */
function evacuationTarget(state: ClusterState, v: number, from: number): number {
  const anchor = state.affinityAnchor(v, from);
  let best = -1;
  let bestScore = Number.POSITIVE_INFINITY;
  for (let t = 0; t < state.hosts.length; t++) {
    if ((anchor >= 0 && t !== anchor) || !state.fits(v, t, EVACUATION)) continue;
    const score = state.load(t, v, 1) + (state.keepsShould(v, t) ? 0 : 10);
    if (score < bestScore) {
      bestScore = score;
      best = t;
    }
  }
  return best;
}

function blockedReason(state: ClusterState, v: number, from: number): string {
  const anchor = state.affinityAnchor(v, from);
  if (anchor >= 0) return `its affinity group runs on ${state.host(anchor).name}, which refuses it: ${state.refusal(v, anchor, EVACUATION) ?? "no room"}`;
  const reasons: string[] = [];
  for (let t = 0; t < state.hosts.length; t++) {
    if (t === from) continue;
    reasons.push(`${state.host(t).name}: ${state.refusal(v, t, EVACUATION) ?? "refused"}`);
  }
  return reasons.length === 0 ? "no other host in the cluster" : `nowhere to go (${reasons.slice(0, 3).join("; ")}${reasons.length > 3 ? `; ${reasons.length - 3} more` : ""})`;
}

/**
 * Plans the evacuation of `host`: every powered-on VM, largest memory first (first-fit
 * decreasing packs the tightest VMs while room is widest), to a compatible host with room
 * under capacity and mandatory rules, the lowest load after placement. The ETA is the
 * predicted migration times scheduled `concurrency` at a time (the migration service's limit,
 * passed by the DRS service; 1 gives their sum).
 */
export function planEvacuation(input: DrsInput, host: string, concurrency = 1): EvacuationPlan {
  if (!input.hosts.some((h) => h.name === host)) throw new FerryError(ErrorCode.notFound, `no host ${host} in cluster ${input.cluster}`);
  // The host counts as in maintenance from the start: never a target, not part of σ.
  const state = new ClusterState({ ...input, hosts: input.hosts.map((h) => (h.name === host ? { ...h, maintenance: true } : h)) });
  const from = state.hostIndex.get(host) ?? -1;
  const moves: Recommendation[] = [];
  const blocked: Unmovable[] = [];
  const powerOff: string[] = [];
  const onHost = [...state.vms.keys()].filter((v) => state.vmHost[v] === from);
  for (const v of onHost) if (state.vm(v).power !== "on") powerOff.push(state.vm(v).name);
  const running = onHost.filter((v) => state.vm(v).power === "on").sort((a, b) => state.vm(b).memoryMB - state.vm(a).memoryMB);
  for (const v of running) {
    const vm = state.vm(v);
    if (vm.pinned !== undefined) {
      blocked.push({ vm: vm.name, reason: `pinned: ${vm.pinned}` });
      continue;
    }
    const t = evacuationTarget(state, v, from);
    if (t < 0) {
      blocked.push({ vm: vm.name, reason: blockedReason(state, v, from) });
      continue;
    }
    const cost = state.cost(v, t);
    const before = state.sigma();
    const to = state.host(t).name;
    const why = `evacuate ${host} for maintenance: to ${to}, lowest load after placement (${percent(state.cpuShare(t, vm.demand.cpuMhz))} CPU / ${percent(state.memShare(t, vm.demand.memoryMB))} memory)${state.keepsShould(v, t) ? "" : "; no host keeps its should rule"}`;
    state.move(v, t);
    moves.push({ id: recommendationId(vm.name, host, to, "maintenance"), vm: vm.name, from: host, to, reason: { kind: "maintenance", text: why }, gain: { imbalanceBefore: before, imbalanceAfter: state.sigma() }, cost });
  }
  return { host, moves, blocked, powerOff, etaMs: scheduleMs(moves.map((m) => m.cost.totalMs), concurrency) };
}
