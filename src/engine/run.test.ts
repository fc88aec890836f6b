// A MigrationRun folds the engine's steps and a source's raw progress through the core's phase
// machine and progress tracker: the phase it reports is the machine's, the percent the
// tracker's, and the outcome is announced once. Time comes from a manual clock; no agent is
// called (the agents are in-process and idle).
import assert from "node:assert/strict";
import { test } from "node:test";
import { createManualClock } from "../core/testing/clock.ts";
import type { SourceProgress } from "../core/migration/progress.ts";
import { DEFAULT_MIGRATE_OPTIONS, MigrationFailureCode, Phase, type MigrationProgress } from "../core/migration/types.ts";
import { createFakeNetwork } from "../agent/testing/fake-driver.ts";
import { startTestAgent, testVmSpec } from "../agent/testing/harness.ts";
import { MigrationRun } from "./run.ts";

const MiB = 1048576;

function newRun(floorPercent?: number): { run: MigrationRun; published: MigrationProgress[]; clock: ReturnType<typeof createManualClock> } {
  const network = createFakeNetwork();
  const clock = createManualClock();
  const published: MigrationProgress[] = [];
  const request = {
    migrationId: "m1",
    vm: testVmSpec("web01", 64),
    source: startTestAgent(network, "esx01", "127.0.1.1").client,
    destination: startTestAgent(network, "esx02", "127.0.1.2").client,
    options: DEFAULT_MIGRATE_OPTIONS,
    signal: new AbortController().signal,
    onProgress: (p: MigrationProgress) => published.push(p),
    clock,
  };
  return { run: new MigrationRun(request, false, floorPercent === undefined ? undefined : { percent: floorPercent }), published, clock };
}

function sample(phase: Phase, at: number, fields: Partial<SourceProgress> = {}): SourceProgress {
  return { migrationId: "m1", vm: "web01", phase, pass: 0, bytesSent: 0, bytesRemaining: 64 * MiB, dirtyRateBytesPerSec: 0, linkRateBytesPerSec: 100 * MiB, throttlePercent: 0, message: phase, at, ...fields };
}

test("the engine's steps and a source's samples move one machine and one bar, forward only", async () => {
  const { run, published, clock } = newRun();
  run.say(Phase.validating, 0, "validating");
  run.say(Phase.preparing, 0.3, "listening");
  assert.equal(run.phase, Phase.preparing);
  await clock.advance(10);
  // The source reports its own preparing steps, lower than the engine's: the bar holds.
  run.relayed(sample(Phase.preparing, clock.now(), { fraction: 0 }));
  run.relayed(sample(Phase.precopy, clock.now(), { pass: 1, bytesSent: 32 * MiB, bytesRemaining: 32 * MiB }));
  run.relayed(sample(Phase.precopy, clock.now(), { pass: 3, bytesSent: 70 * MiB, bytesRemaining: 1 * MiB, throttlePercent: 20 }));
  // A sample seen first in switchover (QEMU between two polls) enters it; the commit step is 96%.
  run.relayed(sample(Phase.switchover, clock.now(), { pass: 3, fraction: 0.6, bytesSent: 71 * MiB, bytesRemaining: 0 }));
  assert.equal(run.phase, Phase.switchover);
  assert.equal(run.machine.passes, 3, "pass numbers may skip");
  assert.equal(run.machine.throttlePercentMax, 20);
  assert.deepEqual(run.machine.timeline.map((e) => e.phase), [Phase.queued, Phase.validating, Phase.preparing, Phase.precopy, Phase.switchover]);
  const percents = published.map((p) => p.percent);
  assert.deepEqual(percents, [...percents].sort((a, b) => a - b), "percent never goes back");
  assert.equal(published.at(-1)?.percent, 96);
  run.conclude(Phase.completed, undefined, "completed: web01 runs on esx02");
  assert.equal(run.phase, Phase.completed);
  assert.equal(published.at(-1)?.percent, 100);
  assert.equal(published.filter((p) => p.phase === Phase.completed).length, 1, "the outcome is announced once");
});

test("a failure ends the machine in the phase it was in and keeps the bar where it stood", () => {
  const { run, published, clock } = newRun();
  run.say(Phase.validating, 0, "validating");
  run.relayed(sample(Phase.precopy, clock.now(), { pass: 1, bytesSent: 10 * MiB, bytesRemaining: 54 * MiB }));
  const before = run.last.percent;
  run.conclude(Phase.failed, { code: MigrationFailureCode.streamBroken, message: "cut", phase: Phase.precopy }, "failed: cut");
  assert.equal(run.machine.failure?.phase, Phase.precopy);
  assert.equal(run.machine.failure.code, MigrationFailureCode.streamBroken);
  assert.equal(published.at(-1)?.phase, Phase.failed);
  assert.equal(published.at(-1)?.percent, before);
});

test("a reconciled run starts at its task's percent, and needs-attention passes through switchover", () => {
  const { run, published, clock } = newRun(45);
  run.say(Phase.precopy, undefined, "reconciling");
  assert.equal(published.at(-1)?.percent, 45);
  run.relayed(sample(Phase.precopy, clock.now(), { pass: 4, bytesSent: 1 * MiB, bytesRemaining: 63 * MiB }));
  assert.equal(published.at(-1)?.percent, 45, "never below the task's percent");
  run.conclude(Phase.needsAttention, { code: MigrationFailureCode.ownershipUnknown, message: "nobody proved it", phase: Phase.switchover }, "needs attention");
  assert.deepEqual(run.machine.timeline.slice(-2).map((e) => e.phase), [Phase.switchover, Phase.needsAttention]);
});
