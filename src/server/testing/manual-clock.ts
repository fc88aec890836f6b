// A clock that moves only when a test says so (STYLE lesson 18): sleepers wake in order of
// their deadlines as `advance` passes them, so a test drives timeouts and intervals without
// waiting for them.
import type { Clock } from "../../core/clock.ts";

interface Sleeper {
  readonly at: number;
  readonly wake: () => void;
}

export interface ManualClock extends Clock {
  /** Moves time forward by `ms`, waking every sleeper whose deadline passes (and letting it run). */
  advance(ms: number): Promise<void>;
  /** How many sleeps are pending: a test waits for a loop to be asleep before advancing. */
  sleepers(): number;
}

/** Lets promise callbacks that are ready run (a few turns of the microtask and macrotask queues). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export function createManualClock(start = 1_700_000_000_000): ManualClock {
  let now = start;
  const sleepers = new Set<Sleeper>();
  return {
    now: () => now,
    monotonic: () => now - start,
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted === true) {
          reject(signal.reason as Error);
          return;
        }
        const onAbort = (): void => {
          sleepers.delete(sleeper);
          reject(signal?.reason as Error);
        };
        const sleeper: Sleeper = {
          at: now + Math.max(0, ms),
          wake: () => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
          },
        };
        sleepers.add(sleeper);
        signal?.addEventListener("abort", onAbort, { once: true });
      }),
    async advance(ms) {
      const until = now + ms;
      for (;;) {
        await settle();
        const due = [...sleepers].filter((s) => s.at <= until).sort((a, b) => a.at - b.at)[0];
        if (due === undefined) break;
        now = Math.max(now, due.at);
        sleepers.delete(due);
        due.wake();
      }
      now = until;
      await settle();
    },
    sleepers: () => sleepers.size,
  };
}
