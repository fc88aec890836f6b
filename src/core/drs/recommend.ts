// The balancer: which live migrations would make a cluster obey its rules and even out its
// load, each with its reason, its gain (σ before → after) and its cost (the pre-copy
// prediction). Pure: the checker and the predictor arrive as functions in DrsInput.
//
// Order of fixes, as vSphere DRS orders them: (1) VMs still on a host in maintenance mode,
// (2) mandatory rules (VM–VM affinity and anti-affinity, VM–host "must"), (3) overloaded hosts
// (CPU or memory demand past capacity), (4) "should" VM–host rules when the fix is cheap,
// (5) balance while σ is above the threshold's target. Threshold 1 stops after (2).
import { ErrorCode, FerryError } from "../errors.ts";
import { HYSTERESIS_MS, minimumGain, neededGain, sigmaFromSums, targetImbalance } from "./imbalance.ts";
import { ClusterState, percent, recommendationId, ruleText, type FitOptions } from "./state.ts";
import { explainUnmovable } from "./unmovable.ts";
import type { DrsConfig, DrsInput, DrsReasonKind, DrsResult, Recommendation } from "./types.ts";

/**
 * What a move costs beyond its own predicted time when moves are ranked by gain per cost: a
 * migration's setup, its switchover and the operator's attention. Without it a run would
 * prefer many tiny moves to one that does the same work; with it, of two moves with the
 * same gain the cheaper still wins.
 */
export const MOVE_OVERHEAD_MS = 30_000;
/** A "should" rule is fixed only when the move is predicted to take at most this long. */
export const SOFT_FIX_MAX_MS = 60_000;
/** Balance looks for sources among this many most loaded hosts first, then among all above the mean. */
const BALANCE_FRONT = 8;

const STRICT: FitOptions = { keepShould: true };

export function checkConfig(config: DrsConfig): void {
  if (!Number.isInteger(config.threshold) || config.threshold < 1 || config.threshold > 5) throw new FerryError(ErrorCode.invalidInput, `DRS threshold must be 1 to 5, not ${String(config.threshold)}`);
  if (!Number.isInteger(config.maxMovesPerRun) || config.maxMovesPerRun < 0) throw new FerryError(ErrorCode.invalidInput, `maxMovesPerRun must be a whole number ≥ 0, not ${String(config.maxMovesPerRun)}`);
  if (!Number.isInteger(config.maxMovesPerHost) || config.maxMovesPerHost < 1) throw new FerryError(ErrorCode.invalidInput, `maxMovesPerHost must be a whole number ≥ 1, not ${String(config.maxMovesPerHost)}`);
}

interface Candidate {
  readonly v: number;
  readonly t: number;
  readonly score: number;
}

/** One planning run: the state as moves are applied, and what the run has decided. */
export class PlanRun {
  readonly state: ClusterState;
  readonly recommendations: Recommendation[] = [];
  readonly moved: Uint8Array;
  readonly hostMoves: Int32Array;
  /** VMs a fix could not move, with why (explained in `unmovable`). */
  readonly stuck = new Map<number, string>();
  private readonly back = new Map<string, Set<string>>();

  constructor(state: ClusterState) {
    this.state = state;
    this.moved = new Uint8Array(state.vms.length);
    this.hostMoves = new Int32Array(state.hosts.length);
    for (const m of state.input.recentMoves) {
      if (state.input.now - m.at > HYSTERESIS_MS) continue;
      let set = this.back.get(m.vm);
      if (set === undefined) this.back.set(m.vm, (set = new Set()));
      set.add(m.from);
    }
  }

  get config(): DrsConfig {
    return this.state.input.config;
  }

  full(): boolean {
    return this.recommendations.length >= this.config.maxMovesPerRun;
  }

  hostFree(h: number): boolean {
    return (this.hostMoves[h] ?? 0) < this.config.maxMovesPerHost;
  }

  /** Whether DRS may move VM v in this run at all (powered on, not pinned, not manual, host reachable, not moved yet). */
  movable(v: number): boolean {
    const vm = this.state.vm(v);
    const h = this.state.vmHost[v] ?? -1;
    return vm.power === "on" && vm.pinned === undefined && vm.automation !== "manual" && h >= 0 && this.state.host(h).connected && this.moved[v] !== 1;
  }

  /** Hysteresis: VM v left host t within the window, so it does not go back. */
  movesBack(v: number, t: number): boolean {
    return this.back.get(this.state.vm(v).name)?.has(this.state.host(t).name) === true;
  }

  allowed(v: number, t: number, options: FitOptions): boolean {
    return this.state.fits(v, t, options) && !this.movesBack(v, t);
  }

  /** The target that leaves σ lowest among those `accept` lets through, or -1. */
  bestTarget(v: number, options: FitOptions, accept: (t: number) => boolean = () => true): number {
    let best = -1;
    let bestSigma = Number.POSITIVE_INFINITY;
    for (let t = 0; t < this.state.hosts.length; t++) {
      if (!accept(t) || !this.allowed(v, t, options)) continue;
      const sigma = this.state.sigmaAfter(v, t);
      if (sigma < bestSigma) {
        bestSigma = sigma;
        best = t;
      }
    }
    return best;
  }

  /** Why no target took VM v: the first host's reason, for `unmovable`. */
  noTarget(v: number, options: FitOptions, what: string): string {
    for (let t = 0; t < this.state.hosts.length; t++) {
      if (t === this.state.vmHost[v]) continue;
      const reason = this.state.refusal(v, t, options) ?? (this.movesBack(v, t) ? "it left that host within the last hour (hysteresis)" : undefined);
      if (reason !== undefined) return `${what}, and no host can take it (first: ${this.state.host(t).name}: ${reason})`;
    }
    return `${what}, and no other host can take it`;
  }

  /** Records and applies the move of VM v to host t. */
  take(v: number, t: number, kind: DrsReasonKind, text: string): void {
    const state = this.state;
    const s = state.vmHost[v] ?? -1;
    const vm = state.vm(v);
    const from = state.host(s).name;
    const to = state.host(t).name;
    const cost = state.cost(v, t);
    const before = state.sigma();
    state.move(v, t);
    this.moved[v] = 1;
    this.hostMoves[s] = (this.hostMoves[s] ?? 0) + 1;
    this.hostMoves[t] = (this.hostMoves[t] ?? 0) + 1;
    this.recommendations.push({ id: recommendationId(vm.name, from, to, kind), vm: vm.name, from, to, reason: { kind, text }, gain: { imbalanceBefore: before, imbalanceAfter: state.sigma() }, cost });
  }

  loadText(h: number): string {
    return `${this.state.host(h).name} at ${percent(this.state.cpuShare(h))} CPU / ${percent(this.state.memShare(h))} memory`;
  }
}

/** (1) Powered-on VMs on a host in maintenance mode go to the host that leaves σ lowest. */
function evacuateMaintenance(run: PlanRun): void {
  const { state } = run;
  for (let v = 0; v < state.vms.length && !run.full(); v++) {
    const h = state.vmHost[v] ?? -1;
    if (h < 0 || !state.host(h).maintenance || !run.movable(v)) continue;
    const t = run.bestTarget(v, STRICT);
    if (t < 0) run.stuck.set(v, run.noTarget(v, STRICT, `its host ${state.host(h).name} is in maintenance mode`));
    else run.take(v, t, "maintenance", `evacuate ${state.host(h).name}: in maintenance mode; to ${state.host(t).name}, the host that leaves σ lowest`);
  }
}

function fixVmHostMust(run: PlanRun, r: number): void {
  const { state } = run;
  const rule = state.input.rules[r];
  if (rule?.kind !== "vm-host" || !rule.mandatory) return;
  for (const name of rule.vms) {
    const v = state.vmIndex.get(name);
    if (v === undefined || run.full()) continue;
    const h = state.vmHost[v] ?? -1;
    if (h < 0 || state.vm(v).power !== "on" || rule.hosts.includes(state.host(h).name) === rule.affine) continue;
    if (!run.movable(v)) continue;
    const t = run.bestTarget(v, STRICT);
    if (t < 0) run.stuck.set(v, run.noTarget(v, STRICT, `it breaks ${ruleText(rule, name)}`));
    else run.take(v, t, "rule", `${ruleText(rule, name)}: it runs on ${state.host(h).name}`);
  }
}

/** Anti-affinity: on every host with two or more members, the costliest to move (or the one that cannot) stays. */
function fixAntiAffinity(run: PlanRun, r: number): void {
  const { state } = run;
  const rule = state.input.rules[r];
  const counts = state.ruleCounts.get(r);
  if (rule?.kind !== "vm-anti-affinity" || counts === undefined) return;
  const byHost = new Map<number, number[]>();
  for (const name of new Set(rule.vms)) {
    const v = state.vmIndex.get(name);
    const h = v === undefined ? -1 : (state.vmHost[v] ?? -1);
    if (v === undefined || h < 0 || state.vm(v).power !== "on" || (counts[h] ?? 0) < 2) continue;
    byHost.set(h, [...(byHost.get(h) ?? []), v]);
  }
  for (const [h, members] of byHost) {
    // Movable members by memory, smallest first; one member stays (the largest, or one that cannot move).
    const movable = members.filter((v) => run.movable(v)).sort((a, b) => state.vm(a).memoryMB - state.vm(b).memoryMB);
    const toMove = movable.length === members.length ? movable.slice(0, -1) : movable;
    for (const v of toMove) {
      if (run.full()) return;
      const t = run.bestTarget(v, STRICT);
      if (t < 0) run.stuck.set(v, run.noTarget(v, STRICT, `it breaks ${ruleText(rule, state.vm(v).name)}`));
      else run.take(v, t, "rule", `${ruleText(rule, state.vm(v).name)}: it shares ${state.host(h).name} with another member`);
    }
  }
}

/** Affinity: members join the host that already has the most of them (or the one a member cannot leave). */
function fixAffinity(run: PlanRun, r: number): void {
  const { state } = run;
  const rule = state.input.rules[r];
  const counts = state.ruleCounts.get(r);
  if (rule?.kind !== "vm-affinity" || counts === undefined) return;
  const members = [...new Set(rule.vms)].map((n) => state.vmIndex.get(n)).filter((v): v is number => v !== undefined && state.vm(v).power === "on" && (state.vmHost[v] ?? -1) >= 0);
  const hosts = new Set(members.map((v) => state.vmHost[v] ?? -1));
  if (hosts.size < 2) return;
  const fixed = members.find((v) => !run.movable(v));
  let anchor = fixed === undefined ? -1 : (state.vmHost[fixed] ?? -1);
  if (anchor < 0) for (const h of hosts) if (anchor < 0 || (counts[h] ?? 0) > (counts[anchor] ?? 0)) anchor = h;
  const options: FitOptions = { keepShould: true, ignoreRule: r };
  for (const v of members) {
    if (state.vmHost[v] === anchor || run.full()) continue;
    const text = `${ruleText(rule, state.vm(v).name)}: they run apart`;
    if (!run.movable(v)) continue;
    const reason = state.refusal(v, anchor, options) ?? (run.movesBack(v, anchor) ? "it left that host within the last hour (hysteresis)" : undefined);
    if (reason !== undefined) run.stuck.set(v, `${text}, and ${state.host(anchor).name}, where the others run, refuses it: ${reason}`);
    else run.take(v, anchor, "rule", `${text}; joins ${state.host(anchor).name}`);
  }
}

/** (2) Mandatory rules, in the order they are given. */
function fixMandatoryRules(run: PlanRun): void {
  run.state.input.rules.forEach((rule, r) => {
    if (!rule.enabled) return;
    switch (rule.kind) {
      case "vm-host":
        fixVmHostMust(run, r);
        return;
      case "vm-anti-affinity":
        fixAntiAffinity(run, r);
        return;
      case "vm-affinity":
        fixAffinity(run, r);
        return;
    }
  });
}

function excess(run: PlanRun, h: number, v = -1): number {
  const vm = v >= 0 ? run.state.vm(v) : undefined;
  return Math.max(0, run.state.cpuShare(h, vm === undefined ? 0 : -vm.demand.cpuMhz) - 1, run.state.memShare(h, vm === undefined ? 0 : -vm.demand.memoryMB) - 1);
}

/** The move that takes the most of host s's excess per unit of cost, ending it if one can (σ breaks ties). */
function bestRelief(run: PlanRun, s: number): Candidate | undefined {
  const { state } = run;
  const over = excess(run, s);
  let best: Candidate | undefined;
  for (let v = 0; v < state.vms.length; v++) {
    if (state.vmHost[v] !== s || !run.movable(v)) continue;
    const left = excess(run, s, v);
    // A move that ends the overload outranks any that only eases it (a host left overloaded
    // needs another move, and the small VM moved first may come back once the big one leaves).
    const relief = over - left + (left === 0 ? 1 : 0);
    if (relief <= 0) continue;
    for (let t = 0; t < state.hosts.length; t++) {
      if (best !== undefined && relief / MOVE_OVERHEAD_MS < best.score) break; // cannot win even at zero cost, on any target
      if (!run.hostFree(t) || !run.allowed(v, t, STRICT)) continue;
      const score = relief / (state.cost(v, t).totalMs + MOVE_OVERHEAD_MS) - state.sigmaAfter(v, t) * 1e-12;
      if (best === undefined || score > best.score) best = { v, t, score };
    }
  }
  return best;
}

/** (3) Overloaded hosts, most overloaded first, until each is within capacity or cannot be helped. */
function relieveOverload(run: PlanRun): void {
  const { state } = run;
  const hopeless = new Set<number>();
  for (;;) {
    let s = -1;
    for (let h = 0; h < state.hosts.length; h++) {
      // The overloaded host itself is exempt from maxMovesPerHost (its VMs are starved now:
      // relieving it is the point); its targets are not.
      if (state.active[h] !== 1 || hopeless.has(h) || excess(run, h) <= 0) continue;
      if (s < 0 || excess(run, h) > excess(run, s)) s = h;
    }
    if (s < 0 || run.full()) return;
    const before = run.loadText(s);
    const move = bestRelief(run, s);
    if (move === undefined) hopeless.add(s);
    else run.take(move.v, move.t, "overload", `relieve ${before} (over capacity); to ${run.loadText(move.t)}`);
  }
}

/** (4) "Should" VM–host rules, when a compliant host takes the VM cheaply and σ does not get worse by more than the minimum gain. */
function fixShouldRules(run: PlanRun): void {
  const { state } = run;
  state.input.rules.forEach((rule) => {
    if (!rule.enabled || rule.kind !== "vm-host" || rule.mandatory) return;
    for (const name of rule.vms) {
      const v = state.vmIndex.get(name);
      if (v === undefined || run.full() || !run.movable(v)) continue;
      const h = state.vmHost[v] ?? -1;
      if (!run.hostFree(h) || rule.hosts.includes(state.host(h).name) === rule.affine) continue;
      const sigma = state.sigma();
      const t = run.bestTarget(v, STRICT, (x) => run.hostFree(x) && rule.hosts.includes(state.host(x).name) === rule.affine);
      if (t < 0 || state.cost(v, t).totalMs > SOFT_FIX_MAX_MS || state.sigmaAfter(v, t) > sigma + minimumGain(sigma, state.activeCount)) continue;
      run.take(v, t, "rule", `${ruleText(rule, name)}: it runs on ${state.host(h).name}; a cheap fix`);
    }
  });
}

/**
 * The balance move with the best useful σ reduction per predicted millisecond, from `sources`
 * to `targets`. Useful: a gain beyond what reaches the target (σ − target) is not counted, so
 * near the target a cheap move that gets there beats a dear one that overshoots it.
 */
function bestBalance(run: PlanRun, sources: readonly number[], targets: readonly number[], byHost: readonly number[][], target: number): Candidate | undefined {
  const { state } = run;
  const sigma = state.sigma();
  // Once a host has used its moves for this run, what is left may be churn between middling
  // hosts: then a move must carry its share of reaching the target (see neededGain); the
  // next run, with the capped hosts free again, does the real work.
  const capped = state.hosts.some((_, h) => state.active[h] === 1 && !run.hostFree(h));
  const floor = Math.max(minimumGain(sigma, state.activeCount), capped ? neededGain(sigma, target, state.activeCount) : 0);
  const needed = sigma - target;
  let best: Candidate | undefined;
  for (const s of sources) {
    // The most any move from s to t can remove: moving half their load difference lowers
    // Σload² by (l_s − l_t)² / 2 (Σload unchanged). Pairs that cannot reach the floor are skipped.
    const reach = targets.filter((t) => sigma - sigmaFromSums(state.sum, state.sumSquares - (state.load(s) - state.load(t)) ** 2 / 2, state.activeCount) >= floor);
    if (reach.length === 0) continue;
    for (const v of byHost[s] ?? []) {
      if (run.moved[v] === 1 || !run.movable(v)) continue;
      for (const t of reach) {
        const gain = sigma - state.sigmaAfter(v, t);
        if (gain < floor) continue;
        const useful = Math.min(gain, needed);
        if (best !== undefined && useful / MOVE_OVERHEAD_MS <= best.score) continue; // cannot win even at zero cost
        if (!run.allowed(v, t, STRICT)) continue;
        const score = useful / (state.cost(v, t).totalMs + MOVE_OVERHEAD_MS);
        if (best === undefined || score > best.score) best = { v, t, score };
      }
    }
  }
  return best;
}

/**
 * (5) Balance: while σ is above target, the best move by useful gain per cost. Sources are the
 * most loaded hosts with moves left; every host below the mean is a candidate target, so a VM
 * goes to the host that gains most for it (with hosts of different sizes, not always the
 * least loaded); then everywhere.
 */
function balance(run: PlanRun, target: number): void {
  const { state } = run;
  const byHost: number[][] = state.hosts.map(() => []);
  state.vmHost.forEach((h, v) => {
    if (h >= 0 && run.movable(v)) byHost[h]?.push(v);
  });
  while (!run.full() && state.sigma() > target) {
    const free = [...Array(state.hosts.length).keys()].filter((h) => state.active[h] === 1 && run.hostFree(h));
    const mean = state.sum / Math.max(1, state.activeCount);
    free.sort((a, b) => state.load(b) - state.load(a));
    const sources = free.filter((h) => state.load(h) > mean);
    const targets = free.filter((h) => state.load(h) < mean).reverse();
    const move = bestBalance(run, sources.slice(0, BALANCE_FRONT), targets, byHost, target) ?? bestBalance(run, sources, free, byHost, target);
    if (move === undefined) return;
    const s = state.vmHost[move.v] ?? -1;
    const text = `balance: ${run.loadText(s)}, ${run.loadText(move.t)}`;
    run.take(move.v, move.t, "balance", text);
  }
}

/** Recommendations for one DRS run over the cluster in `input`. */
export function recommend(input: DrsInput): DrsResult {
  checkConfig(input.config);
  const state = new ClusterState(input);
  const run = new PlanRun(state);
  const imbalance = state.sigma();
  const target = targetImbalance(input.config.threshold);
  evacuateMaintenance(run);
  fixMandatoryRules(run);
  if (input.config.threshold >= 2) {
    relieveOverload(run);
    fixShouldRules(run);
    balance(run, target);
  }
  return { imbalance, targetImbalance: target, recommendations: run.recommendations, unmovable: explainUnmovable(run), imbalanceAfter: state.sigma() };
}
