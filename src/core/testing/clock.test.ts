import { test } from "node:test";
import assert from "node:assert/strict";
import { createManualClock } from "./clock.ts";

test("time stands still until the test advances it; sleepers wake in deadline order, ties in arrival order", async () => {
  const clock = createManualClock(1_000);
  const woke: string[] = [];
  const nap = (name: string, ms: number): Promise<void> => clock.sleep(ms).then(() => { woke.push(`${name}@${clock.now()}`); });
  const all = Promise.all([nap("c", 300), nap("a", 100), nap("b", 100), nap("zero", 0)]);
  assert.equal(clock.sleepers(), 4);
  assert.deepEqual(woke, []);
  await clock.advance(99);
  assert.deepEqual(woke, ["zero@1000"]);
  assert.equal(clock.now(), 1_099);
  await clock.advance(1);
  assert.deepEqual(woke, ["zero@1000", "a@1100", "b@1100"]);
  await clock.advance(1_000);
  await all;
  assert.deepEqual(woke, ["zero@1000", "a@1100", "b@1100", "c@1300"]);
  assert.equal(clock.now(), 2_100, "advance ends at the time asked for, not at the last deadline");
  assert.equal(clock.monotonic(), 1_100);
});

test("a loop that sleeps again inside the advanced window runs every turn, each at its own time", async () => {
  const clock = createManualClock(0);
  const ticks: number[] = [];
  const stop = new AbortController();
  const loop = (async () => {
    for (;;) {
      await clock.sleep(250, stop.signal);
      ticks.push(clock.now());
    }
  })();
  await clock.advance(1_000);
  assert.deepEqual(ticks, [250, 500, 750, 1_000]);
  stop.abort(new Error("stopped"));
  await assert.rejects(loop, /stopped/);
  assert.equal(clock.sleepers(), 0, "an aborted sleep leaves no sleeper behind");
});

test("an aborted signal rejects the sleep with its reason, before or during the sleep", async () => {
  const clock = createManualClock();
  const early = new AbortController();
  early.abort(new Error("before"));
  await assert.rejects(clock.sleep(10, early.signal), /before/);
  const late = new AbortController();
  const sleeping = clock.sleep(10, late.signal);
  late.abort(new Error("during"));
  await assert.rejects(sleeping, /during/);
  assert.equal(clock.sleepers(), 0);
});

test("next() jumps to the earliest deadline; runUntilIdle drains chains of sleeps and refuses an endless timer", async () => {
  const clock = createManualClock(0);
  assert.equal(await clock.next(), false, "nothing sleeps: time stays");
  assert.equal(clock.now(), 0);
  let done = false;
  void (async () => {
    await clock.sleep(5_000);
    await clock.sleep(60_000);
    done = true;
  })();
  assert.equal(await clock.next(), true);
  assert.equal(clock.now(), 5_000);
  await clock.runUntilIdle();
  assert.equal(done, true);
  assert.equal(clock.now(), 65_000);

  const stop = new AbortController();
  const forever = (async () => { for (;;) await clock.sleep(1, stop.signal); })();
  await assert.rejects(clock.runUntilIdle(50), /after 50 wakes/);
  stop.abort(new Error("stopped"));
  await assert.rejects(forever, /stopped/);
});

test("whenSleeping resolves once the code under test is asleep, so the test advances at the right moment", async () => {
  const clock = createManualClock(0);
  let resumed = 0;
  const worker = (async () => {
    await Promise.resolve();
    await clock.sleep(1_000);
    resumed = clock.now();
  })();
  await clock.whenSleeping();
  await clock.advance(1_000);
  await worker;
  assert.equal(resumed, 1_000);
  await clock.whenSleeping(0);
  await assert.rejects(clock.advance(-1), RangeError, "time only moves forward");
});
