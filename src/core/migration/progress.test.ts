import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { createProgressTracker, precopyEtaMs, type ProgressSample } from "./progress.ts";
import { Phase } from "./types.ts";

const MiB = 1048576;
const T0 = 1_700_000_000_000;

function track(samples: readonly ProgressSample[], downtimeLimitMs?: number) {
  const tracker = createProgressTracker({ migrationId: "m1", vm: "web01", downtimeLimitMs });
  return samples.map((s) => tracker.update(s));
}

test("a whole migration on the seed's scale: 0, up to 10, 10–90 in pre-copy, 90–99 in switchover, 100 when confirmed", () => {
  const link = 100 * MiB;
  const events = track([
    { phase: Phase.queued, at: T0 },
    { phase: Phase.validating, at: T0 + 1 },
    { phase: Phase.preparing, fraction: 0.5, at: T0 + 2 },
    { phase: Phase.preparing, fraction: 1, at: T0 + 3 },
    { phase: Phase.precopy, pass: 1, bytesSent: 0, bytesRemaining: 100 * MiB, linkRateBytesPerSec: link, dirtyRateBytesPerSec: 10 * MiB, at: T0 + 4 },
    { phase: Phase.precopy, pass: 1, bytesSent: 50 * MiB, bytesRemaining: 50 * MiB, at: T0 + 500 },
    { phase: Phase.precopy, pass: 1, bytesSent: 100 * MiB, bytesRemaining: 0, at: T0 + 1000 },
    // Pass 2 begins with more left than pass 1 ended with: the bar must not drop.
    { phase: Phase.precopy, pass: 2, bytesSent: 100 * MiB, bytesRemaining: 10 * MiB, at: T0 + 1001 },
    { phase: Phase.precopy, pass: 2, bytesSent: 110 * MiB, bytesRemaining: 0, at: T0 + 1100 },
    { phase: Phase.switchover, bytesSent: 110 * MiB, bytesRemaining: 1 * MiB, at: T0 + 1101 },
    { phase: Phase.switchover, bytesSent: 111 * MiB, bytesRemaining: 0, fraction: 1, at: T0 + 1111 },
    { phase: Phase.completed, bytesSent: 111 * MiB, at: T0 + 1120 },
  ]);
  assert.deepEqual(
    events.map((e) => e.percent),
    [0, 0, 5, 10, 10, 10 + 80 * 0.8 * 0.5, 10 + 80 * 0.8, 10 + 80 * 0.8, 10 + 80 * (0.8 + 0.2 * 0.8), 90, 99, 100].map((p) => Math.floor(p * 10) / 10),
  );
  assert.equal(events[7]!.pass, 2);
  assert.equal(events[11]!.bytesRemaining, 0);
  assert.equal(events[11]!.etaMs, 0);
  assert.equal(events[5]!.expectedDowntimeMs, 500, "QEMU's expected-downtime: remaining / bandwidth");
  assert.equal(events[9]!.etaMs, 10, "switchover: the last MiB at 100 MiB/s");
  assert.match(events[5]!.message, /^pre-copy pass 1: 50\.0 MiB left at 839 Mb\/s, guest dirtying 84 Mb\/s$/);
  assert.equal(events[0]!.migrationId, "m1");
  assert.equal(events[0]!.vm, "web01");
});

test("a faster writer gives each pass a smaller share of what is left, never less than a quarter", () => {
  const run = (dirtyRateBytesPerSec: number) =>
    track([
      { phase: Phase.precopy, pass: 1, bytesSent: 0, bytesRemaining: 10 * MiB, linkRateBytesPerSec: 10 * MiB, dirtyRateBytesPerSec, at: T0 },
      { phase: Phase.precopy, pass: 1, bytesSent: 10 * MiB, bytesRemaining: 0, at: T0 + 1000 },
    ]).at(-1)!.percent;
  assert.equal(run(0), 10 + 80 * 0.8);
  assert.equal(run(5 * MiB), 10 + 80 * 0.5);
  assert.equal(run(50 * MiB), 10 + 80 * 0.25);
});

test("a migration that fails or is cancelled keeps its percentage and ignores later samples", () => {
  for (const end of [Phase.failed, Phase.cancelled]) {
    const events = track([
      { phase: Phase.precopy, pass: 1, bytesSent: 5 * MiB, bytesRemaining: 5 * MiB, linkRateBytesPerSec: MiB, at: T0 },
      { phase: end, at: T0 + 1 },
      { phase: Phase.completed, at: T0 + 2 },
    ]);
    assert.equal(events[1]!.percent, events[0]!.percent);
    assert.equal(events[1]!.phase, end);
    assert.equal(events[2], events[1]);
    assert.equal(events[1]!.etaMs, undefined);
  }
});

test("time left: the remainder, then passes shrinking by dirty/link, then the final copy", () => {
  assert.equal(precopyEtaMs(100 * MiB, 0, 100 * MiB, 300), 1000);
  // 100 → 50 → 25 (fits 30 MiB at 300 ms): 175 MiB at 100 MiB/s.
  assert.equal(precopyEtaMs(100 * MiB, 50 * MiB, 100 * MiB, 300), 1750);
  assert.equal(precopyEtaMs(10 * MiB, 500 * MiB, 100 * MiB, 300), 100, "already fits: just the final copy");
  assert.equal(precopyEtaMs(100 * MiB, 100 * MiB, 100 * MiB, 300), undefined, "dirty ≥ link: no honest estimate");
  assert.equal(precopyEtaMs(100 * MiB, 0, 0, 300), undefined);
});

test("bytes sent never go backwards; missing fields keep their last value", () => {
  const events = track([
    { phase: Phase.precopy, pass: 1, bytesSent: 10, bytesRemaining: 90, linkRateBytesPerSec: 100, dirtyRateBytesPerSec: 1, throttlePercent: 20, at: T0 },
    { phase: Phase.precopy, bytesSent: 5, at: T0 + 1 },
  ]);
  assert.equal(events[1]!.bytesSent, 10);
  assert.equal(events[1]!.pass, 1);
  assert.equal(events[1]!.linkRateBytesPerSec, 100);
  assert.equal(events[1]!.throttlePercent, 20);
  assert.equal(events[1]!.bytesRemaining, 90);
});

const finiteOrNot = fc.oneof(fc.double({ min: 0, max: 1e12, noNaN: true }), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -1, 0));
const sample: fc.Arbitrary<ProgressSample> = fc.record(
  {
    phase: fc.constantFrom(...Object.values(Phase)),
    fraction: fc.oneof(fc.double({ min: -1, max: 2, noNaN: true }), fc.constant(Number.NaN)),
    pass: fc.integer({ min: 0, max: 40 }),
    bytesSent: finiteOrNot,
    bytesRemaining: finiteOrNot,
    dirtyRateBytesPerSec: finiteOrNot,
    linkRateBytesPerSec: finiteOrNot,
    throttlePercent: fc.integer({ min: 0, max: 120 }),
    at: fc.integer({ min: 0, max: 1e6 }),
  },
  { requiredKeys: ["phase", "at"] },
);
// Mostly plausible runs: phases in order, bytes growing, passes growing, remaining jumping.
const plausible: fc.Arbitrary<ProgressSample[]> = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 64 * MiB }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 64 * MiB })), { maxLength: 60 })
  .map((steps) => {
    const order = [Phase.queued, Phase.validating, Phase.preparing, Phase.precopy, Phase.switchover];
    let phase = 0;
    let sent = 0;
    let pass = 0;
    const out: ProgressSample[] = steps.map(([dPhase, dSent, dPass, remaining], i) => {
      phase = Math.min(order.length - 1, phase + (dPhase === 4 ? 1 : 0));
      sent += dSent;
      pass += dPass === 3 ? 1 : 0;
      return { phase: order[phase]!, bytesSent: sent, bytesRemaining: remaining, pass, linkRateBytesPerSec: 32 * MiB, dirtyRateBytesPerSec: (dSent % 48) * MiB, at: T0 + i };
    });
    return [...out, { phase: Phase.completed, bytesSent: sent, at: T0 + out.length }];
  });

for (const [name, arb] of [
  ["any samples, in any order", fc.array(sample, { maxLength: 60 })],
  ["plausible runs", plausible],
] as const) {
  test(`property (${name}): percent non-decreasing, within [0, 100], 100 only at completed`, () => {
    fc.assert(
      fc.property(arb, (samples) => {
        const events = track(samples);
        let last = 0;
        for (const e of events) {
          assert.ok(Number.isFinite(e.percent) && e.percent >= 0 && e.percent <= 100, `percent ${e.percent}`);
          assert.ok(e.percent >= last, `percent went from ${last} to ${e.percent}`);
          if (e.percent === 100) assert.equal(e.phase, Phase.completed);
          if (e.etaMs !== undefined) assert.ok(Number.isFinite(e.etaMs) && e.etaMs >= 0);
          last = e.percent;
        }
      }),
      { numRuns: 1000 },
    );
  });
}

test("a tracker picked up after a restart starts at the percent the task had, and never shows less", () => {
  const tracker = createProgressTracker({ migrationId: "m1", vm: "web01", floorPercent: 45 });
  const events = [
    tracker.update({ phase: Phase.precopy, pass: 3, bytesSent: 0, bytesRemaining: 100 * MiB, linkRateBytesPerSec: 100 * MiB, at: T0 }),
    tracker.update({ phase: Phase.precopy, pass: 3, bytesSent: 50 * MiB, bytesRemaining: 50 * MiB, at: T0 + 1 }),
    tracker.update({ phase: Phase.switchover, fraction: 0.5, at: T0 + 2 }),
    tracker.update({ phase: Phase.completed, at: T0 + 3 }),
  ];
  assert.deepEqual(events.map((e) => e.percent), [45, 45, 95, 100]);
  assert.equal(createProgressTracker({ migrationId: "m1", vm: "web01", floorPercent: 100 }).update({ phase: Phase.switchover, at: T0 }).percent, 99, "not 100 before the destination confirms");
});

test("the commit mark: absent before the source gives it, on every event after (a sample without it included), and from the start of a run picked up past its commit", () => {
  const tracker = createProgressTracker({ migrationId: "m1", vm: "web01" });
  const marks = [
    tracker.update({ phase: Phase.precopy, pass: 1, bytesSent: 0, bytesRemaining: MiB, at: T0 }),
    tracker.update({ phase: Phase.switchover, fraction: 0.6, committed: false, at: T0 + 1 }),
    tracker.update({ phase: Phase.switchover, fraction: 0.8, committed: true, at: T0 + 2 }),
    tracker.update({ phase: Phase.switchover, fraction: 0.9, at: T0 + 3 }),
    tracker.update({ phase: Phase.completed, at: T0 + 4 }),
  ].map((e) => e.committed);
  assert.deepEqual(marks, [undefined, undefined, true, true, true]);
  const resumed = createProgressTracker({ migrationId: "m1", vm: "web01", floorPercent: 98, committed: true });
  assert.equal(resumed.update({ phase: Phase.switchover, at: T0 }).committed, true);
});
