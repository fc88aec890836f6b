// One background round, again and again: the heartbeat (liveness.ts), the usage sampler
// (usage.ts) and the DRS automation loop (drs.ts) each run their round through this, so
// starting, the cadence and stopping are one piece of code. A round that throws is logged by
// its owner and the loop goes on; stop() ends the sleep at once and awaits the round under way.
import type { Clock } from "../core/clock.ts";

export interface PeriodicOptions {
  readonly clock: Clock;
  readonly intervalMs: number;
  /** One round; it gets the loop's signal, aborted by stop(). */
  readonly round: (signal: AbortSignal) => Promise<void>;
  /** What to do with a round's error (log it): the loop goes on. */
  readonly onError: (error: unknown) => void;
  /**
   * `now`: a round at start, then one every interval counted from each round's start (a round
   * that waited on a silent agent's timeout sleeps less). `after-interval`: the first round one
   * interval after start, then one interval after each round ends.
   */
  readonly cadence: "now" | "after-interval";
}

export class Periodic {
  readonly #options: PeriodicOptions;
  #stop: AbortController | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: PeriodicOptions) {
    this.#options = options;
  }

  start(): void {
    if (this.#loop !== undefined) return;
    const stop = new AbortController();
    this.#stop = stop;
    this.#loop = this.#run(stop.signal);
  }

  async stop(): Promise<void> {
    this.#stop?.abort();
    await this.#loop;
    this.#loop = undefined;
  }

  async #run(signal: AbortSignal): Promise<void> {
    const { clock, intervalMs, round, onError, cadence } = this.#options;
    if (cadence === "after-interval" && !(await this.#sleep(intervalMs, signal))) return;
    while (!signal.aborted) {
      const started = clock.monotonic();
      try {
        await round(signal);
      } catch (error) {
        onError(error);
      }
      const wait = cadence === "now" ? Math.max(0, intervalMs - (clock.monotonic() - started)) : intervalMs;
      if (!(await this.#sleep(wait, signal))) return;
    }
  }

  /** False when stop() ended the sleep. */
  async #sleep(ms: number, signal: AbortSignal): Promise<boolean> {
    try {
      await this.#options.clock.sleep(ms, signal);
      return !signal.aborted;
    } catch {
      return false;
    }
  }
}
