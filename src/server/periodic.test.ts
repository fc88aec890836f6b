import assert from "node:assert/strict";
import { test } from "node:test";
import { createManualClock } from "../core/testing/clock.ts";
import { Periodic } from "./periodic.ts";

test("cadence now: a round at start, then one per interval counted from each round's start; a failing round is reported and the loop goes on", async () => {
  const clock = createManualClock(0);
  const rounds: number[] = [];
  const errors: unknown[] = [];
  const loop = new Periodic({
    clock,
    intervalMs: 100,
    cadence: "now",
    onError: (error) => errors.push(error),
    round: async () => {
      rounds.push(clock.now());
      await clock.sleep(30);
      if (rounds.length === 2) throw new Error("agent gone");
    },
  });
  loop.start();
  loop.start();
  await clock.advance(350);
  assert.deepEqual(rounds, [0, 100, 200, 300], "one loop however often started; the round's own 30 ms do not shift the cadence");
  assert.deepEqual(errors.map(String), ["Error: agent gone"]);
  await clock.advance(30);
  await loop.stop();
  assert.equal(clock.sleepers(), 0, "stop ends the sleep");
});

test("cadence after-interval: the first round one interval after start; stop during the wait runs none", async () => {
  const clock = createManualClock(0);
  const rounds: number[] = [];
  const loop = new Periodic({ clock, intervalMs: 1000, cadence: "after-interval", onError: () => undefined, round: () => Promise.resolve(void rounds.push(clock.now())) });
  loop.start();
  await clock.advance(999);
  assert.deepEqual(rounds, []);
  await clock.advance(2001);
  assert.deepEqual(rounds, [1000, 2000, 3000]);
  await loop.stop();
  const idle = new Periodic({ clock, intervalMs: 1000, cadence: "after-interval", onError: () => undefined, round: () => Promise.reject(new Error("never")) });
  idle.start();
  await idle.stop();
  await clock.advance(5000);
  assert.equal(clock.sleepers(), 0);
});
