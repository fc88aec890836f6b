// What every driver's usage() shares (the sim, qemu and the agent's fake): turning a counter
// that only grows (a guest's writes, a QEMU process's CPU ticks) into a rate per second between
// two calls, and a VM's CPU rate into MHz-equivalent on this host.
import type { HostFacts } from "./driver.ts";

/** A rate is measured over at least this long; a call sooner answers the previous rate. */
export const MIN_RATE_WINDOW_MS = 1000;

interface Reading {
  readonly counter: number;
  readonly at: number;
  readonly rate: number;
}

/**
 * Rates per second of cumulative counters, one per key (a VM's QEMU by PID, a sim guest's
 * workload by identity): each call measures from the previous reading of its key, once at
 * least MIN_RATE_WINDOW_MS has passed (sooner, it answers the last rate: a few ms of ticks
 * would be noise). A key seen for the first time, or whose counter went back (a new process),
 * answers `initial()`, the driver's best estimate without a window (a process's lifetime mean).
 */
export class CounterRates<K> {
  readonly #readings = new Map<K, Reading>();
  readonly #minWindowMs: number;

  constructor(minWindowMs: number = MIN_RATE_WINDOW_MS) {
    this.#minWindowMs = minWindowMs;
  }

  rate(key: K, counter: number, atMs: number, initial: () => number): number {
    const last = this.#readings.get(key);
    if (last === undefined || counter < last.counter || atMs < last.at) {
      const rate = Math.max(0, initial());
      this.#readings.set(key, { counter, at: atMs, rate });
      return rate;
    }
    const elapsed = atMs - last.at;
    if (elapsed < this.#minWindowMs) return last.rate;
    const rate = ((counter - last.counter) * 1000) / elapsed;
    this.#readings.set(key, { counter, at: atMs, rate });
    return rate;
  }

  /** Forgets every key not in `live` (VMs gone, processes ended). */
  keepOnly(live: ReadonlySet<K>): void {
    for (const key of this.#readings.keys()) if (!live.has(key)) this.#readings.delete(key);
  }
}

/** Cores busy → MHz-equivalent on this host (cores × its MHz per core), one decimal. */
export function coresToMhz(cores: number, facts: Pick<HostFacts, "cpu">): number {
  return Math.round(Math.max(0, cores) * facts.cpu.mhz * 10) / 10;
}

/** A host's capacity as usage reports it: cores × MHz, and its memory. */
export function capacityOf(facts: Pick<HostFacts, "cpu" | "memoryMB">): { readonly cpuMhz: number; readonly memoryMB: number } {
  return { cpuMhz: facts.cpu.cores * facts.cpu.mhz, memoryMB: facts.memoryMB };
}
