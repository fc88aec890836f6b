// How unbalanced a cluster is, measured the way vSphere DRS measures it: the standard
// deviation (σ) of normalised host load over the hosts that can take VMs.
import type { DrsHost, DrsInput, DrsThreshold, DrsVm } from "./types.ts";

/**
 * A host's normalised load: demand over capacity, per resource, and the two combined.
 *
 * `load` is the mean of the CPU and the memory share (a weighted sum with equal weights), not
 * their maximum. With the maximum, σ would not see a move that evens out the resource that is
 * not the host's larger one, so such a move gains nothing, the search has long flat ties, and
 * memory imbalance hides behind CPU imbalance (and the reverse). The sum keeps every move's
 * gain continuous in both resources. The bottleneck view the maximum would give is kept where
 * it matters: a host is overloaded when either share passes 1 (see `overloaded`), and no move
 * may push either share of its target past 1.
 */
export interface HostLoad {
  readonly cpu: number;
  readonly memory: number;
  readonly load: number;
}

export const LOAD_WEIGHTS = { cpu: 0.5, memory: 0.5 } as const;

export function combinedLoad(cpuShare: number, memoryShare: number): number {
  return LOAD_WEIGHTS.cpu * cpuShare + LOAD_WEIGHTS.memory * memoryShare;
}

export function hostLoad(host: DrsHost, demand: { readonly cpuMhz: number; readonly memoryMB: number }): HostLoad {
  const cpu = host.cpuMhz > 0 ? demand.cpuMhz / host.cpuMhz : 0;
  const memory = host.memoryMB > 0 ? demand.memoryMB / host.memoryMB : 0;
  return { cpu, memory, load: combinedLoad(cpu, memory) };
}

/** A host is overloaded when its CPU or its memory demand passes its capacity. */
export function overloaded(load: HostLoad): boolean {
  return load.cpu > 1 || load.memory > 1;
}

/** Whether a host counts in σ and may receive VMs: connected and not in maintenance mode. */
export function activeHost(host: DrsHost): boolean {
  return host.connected && !host.maintenance;
}

/** Population standard deviation from the running sums Σx and Σx² over n values. */
export function sigmaFromSums(sum: number, sumSquares: number, n: number): number {
  if (n <= 1) return 0;
  const mean = sum / n;
  const variance = sumSquares / n - mean * mean;
  return variance > 0 ? Math.sqrt(variance) : 0;
}

/** The demand of powered-on VMs per host name (powered-off and suspended VMs demand nothing). */
export function demandByHost(vms: readonly DrsVm[]): Map<string, { cpuMhz: number; memoryMB: number }> {
  const out = new Map<string, { cpuMhz: number; memoryMB: number }>();
  for (const vm of vms) {
    if (vm.power !== "on") continue;
    const d = out.get(vm.host) ?? { cpuMhz: 0, memoryMB: 0 };
    d.cpuMhz += vm.demand.cpuMhz;
    d.memoryMB += vm.demand.memoryMB;
    out.set(vm.host, d);
  }
  return out;
}

/** The loads of the active hosts (connected, not in maintenance), by host name. */
export function hostLoads(input: Pick<DrsInput, "hosts" | "vms">): Map<string, HostLoad> {
  const demand = demandByHost(input.vms);
  const out = new Map<string, HostLoad>();
  for (const host of input.hosts) {
    if (!activeHost(host)) continue;
    out.set(host.name, hostLoad(host, demand.get(host.name) ?? { cpuMhz: 0, memoryMB: 0 }));
  }
  return out;
}

/** σ of normalised host load over the active hosts: the cluster's imbalance. */
export function imbalance(input: Pick<DrsInput, "hosts" | "vms">): number {
  let sum = 0;
  let sumSquares = 0;
  let n = 0;
  for (const load of hostLoads(input).values()) {
    sum += load.load;
    sumSquares += load.load * load.load;
    n++;
  }
  return sigmaFromSums(sum, sumSquares, n);
}

/**
 * The σ a migration threshold aims at; balance moves stop once σ is at or below it. Like
 * vSphere's slider, 1 is the most conservative: it applies only mandatory moves (rule fixes
 * and maintenance), never balance or overload moves; its target is reported as 1, a σ host
 * loads between 0 and 1 cannot reach (finite, so it crosses JSON). 2 tolerates a spread of host loads of
 * about ±15 points around the mean, 3 (the default) ±8, 4 ±4. 5 (aggressive) is vSphere's "apply
 * even a slight improvement": its target (±0.3 points) is as flat as one VM's share of a host
 * allows, and what stops it is the hysteresis gain floor below, not the target.
 */
export const TARGET_IMBALANCE: Readonly<Record<DrsThreshold, number>> = { 1: 1, 2: 0.15, 3: 0.08, 4: 0.04, 5: 0.003 };

export function targetImbalance(threshold: DrsThreshold): number {
  return TARGET_IMBALANCE[threshold];
}

/**
 * Hysteresis, part 1: a balance move must lower σ by at least
 * max(MIN_BALANCE_GAIN, MIN_BALANCE_GAIN_SHARE × σ) / n over n active hosts, so a steady
 * cluster is not stirred by moves whose gain is below the noise of measured demand. The
 * division by n is because one move changes two hosts' loads out of n: the σ one VM can
 * remove shrinks as 1/n, and a floor that did not would stop large clusters from balancing
 * at all. With 32 hosts and σ = 0.1 the floor is 0.005/32 ≈ 0.00016 of σ.
 * Part 2 is in recommend: a VM moved within HYSTERESIS_MS is not moved back to the host it left.
 */
export const MIN_BALANCE_GAIN = 0.004;
export const MIN_BALANCE_GAIN_SHARE = 0.05;

export function minimumGain(sigma: number, hosts: number): number {
  return Math.max(MIN_BALANCE_GAIN, MIN_BALANCE_GAIN_SHARE * sigma) / Math.max(1, hosts);
}

/**
 * The budget a balance run plans against once a host has used its `maxMovesPerHost` for the
 * run: reaching the threshold's target should take at most this many migrations per active
 * host, so a move must remove at least (σ − target) / (budget × n) of σ. Below it a move is
 * churn: on a cluster whose hot hosts have used their moves for this run, the moves left are
 * between middling hosts and gain a tenth or less of what the hot hosts' moves gain in the next
 * run (the bench's hot-spot start showed 25 such moves in one run, each removing 0.0001–0.0005
 * of σ). Near the target the floor shrinks to nothing. While no host is capped the best move is
 * taken whatever its share: a small cluster may need more than a move per host.
 */
export const BALANCE_MOVES_PER_HOST = 1;

export function neededGain(sigma: number, target: number, hosts: number): number {
  return Math.max(0, sigma - target) / (BALANCE_MOVES_PER_HOST * Math.max(1, hosts));
}

/** Hysteresis, part 2: a VM moved within this window (ms) is not moved back to the host it came from. */
export const HYSTERESIS_MS = 60 * 60 * 1000;
