// A clock that moves only when a test says so (STYLE lesson 18): sleepers wake in order of their
// deadlines as `advance` passes them, so a test drives timeouts, intervals and retry loops without
// waiting for them, and the outcome does not depend on how fast the machine is.
import type { Clock } from "../clock.ts";

interface Sleeper {
  readonly at: number;
  /** Order of arrival: sleepers with the same deadline wake in the order they slept. */
  readonly seq: number;
  readonly wake: () => void;
}

export interface ManualClock extends Clock {
  /** Moves time forward by `ms`, waking every sleeper whose deadline passes (and letting it run). */
  advance(ms: number): Promise<void>;
  /**
   * Moves time to the earliest pending deadline and wakes that sleeper (and any due with it).
   * Returns false, leaving time alone, when nothing sleeps.
   */
  next(): Promise<boolean>;
  /**
   * Wakes sleepers in deadline order until none is left (a sleeper may sleep again; at most
   * `limit` wakes, so an endless interval ends the call with an error rather than a hang).
   */
  runUntilIdle(limit?: number): Promise<void>;
  /** How many sleeps are pending. */
  sleepers(): number;
  /** Resolves once at least `count` sleeps are pending: "the loop under test is asleep". */
  whenSleeping(count?: number): Promise<void>;
}

/**
 * Lets callbacks that are ready run: a few turns of the microtask and macrotask queues, so code
 * woken by the clock reaches its next sleep (or its end) before the test looks.
 */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export function createManualClock(start = 1_700_000_000_000): ManualClock {
  let now = start;
  let seq = 0;
  const sleepers = new Set<Sleeper>();
  const watchers = new Set<{ readonly count: number; readonly resolve: () => void }>();
  const notify = (): void => {
    for (const w of watchers) {
      if (sleepers.size < w.count) continue;
      watchers.delete(w);
      w.resolve();
    }
  };
  const earliest = (): Sleeper | undefined => [...sleepers].sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
  const wake = (sleeper: Sleeper): void => {
    now = Math.max(now, sleeper.at);
    sleepers.delete(sleeper);
    sleeper.wake();
  };
  const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
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
        seq: seq++,
        wake: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      sleepers.add(sleeper);
      signal?.addEventListener("abort", onAbort, { once: true });
      notify();
    });
  const clock: ManualClock = {
    now: () => now,
    monotonic: () => now - start,
    sleep,
    async advance(ms) {
      if (!(ms >= 0)) throw new RangeError(`advance(${ms}): time only moves forward`);
      const until = now + ms;
      for (;;) {
        await settle();
        const due = earliest();
        if (due === undefined || due.at > until) break;
        wake(due);
      }
      now = until;
      await settle();
    },
    async next() {
      await settle();
      const due = earliest();
      if (due === undefined) return false;
      await clock.advance(due.at - now);
      return true;
    },
    async runUntilIdle(limit = 10_000) {
      for (let wakes = 0; await clock.next(); wakes++) {
        if (wakes >= limit) throw new Error(`runUntilIdle: still ${sleepers.size} sleeper(s) after ${limit} wakes (an endless timer?)`);
      }
    },
    sleepers: () => sleepers.size,
    whenSleeping: (count = 1) =>
      new Promise<void>((resolve) => {
        watchers.add({ count, resolve });
        notify();
      }),
  };
  return clock;
}
