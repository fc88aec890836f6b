import { test } from "node:test";
import assert from "node:assert/strict";
import { LINK_EWMA_WEIGHT, MARGIN_FLOOR_MS, STOP_COPY_MIN_MS, downtimeTargetMs, learnLink, pairBasis, predictForPair, type LinkObservation, type LinkRecord } from "./link-learning.ts";
import { QEMU_COSTS, QEMU_STREAM_COSTS, SIM_COSTS, costsFor, predictPrecopy } from "./model.ts";
import { withDowntimeWarning } from "./report.ts";
import { MigrationWarningCode, Phase, type MigrationReport, type PrecopyInputs } from "./types.ts";

const MiB = 1048576;
const INPUTS: PrecopyInputs = {
  memoryBytes: 128 * MiB,
  touchedBytes: 64 * MiB,
  pageSize: 4096,
  dirtyRateBytesPerSec: 2 * MiB,
  workingSetBytes: 8 * MiB,
  linkRateBytesPerSec: 125e6,
  downtimeLimitMs: 300,
  maxPasses: 30,
  maxTrafficFactor: 3,
  autoConverge: true,
};

function observation(over: Partial<LinkObservation> = {}): LinkObservation {
  return { bytesSent: 80e6, precopyRateBytesPerSec: 100e6, totalMs: 900, downtimeMs: 40, modelledDowntimeMs: 25, at: 1, ...over };
}

test("costs are the source driver's: sim frames its pages and reserves switchover time, QEMU does not", () => {
  assert.equal(costsFor("sim"), SIM_COSTS);
  assert.equal(costsFor("qemu"), QEMU_STREAM_COSTS);
  const sim = predictPrecopy(INPUTS, SIM_COSTS);
  const qemu = predictPrecopy(INPUTS, QEMU_COSTS);
  assert.ok(sim.totalMs > qemu.totalMs, "the sim's fixed costs show in the total");
  assert.ok(sim.downtimeMs > qemu.downtimeMs, "the sim's switchover costs show in the downtime");
});

test("the first migration of a pair sets the record; later ones move its fit by the weight (half of it when slower)", () => {
  const first = learnLink(undefined, "esx01", "esx02", observation());
  assert.ok(first !== undefined);
  assert.equal(first.samples, 1);
  assert.equal(first.rateBytesPerSec, 100e6);
  // 900 ms in all, 40 of downtime, 800 moving 80 MB at 100 MB/s: 60 ms fixed.
  assert.ok(Math.abs(first.fixedMs - 60) < 1e-9);
  assert.equal(first.switchoverExtraMs, 15);
  const same = learnLink(first, "esx01", "esx02", observation({ at: 2 }));
  assert.ok(same !== undefined);
  assert.equal(same.samples, 2);
  assert.equal(same.updatedAt, 2);
  assert.ok(Math.abs(same.rateBytesPerSec - 100e6) < 1 && Math.abs(same.fixedMs - 60) < 1e-6, "a migration the fit predicted moves nothing");
  // 100 ms longer: the fit's time for this size moves by half the weight times the error; 100 ms shorter, by the weight.
  const expected = (s: LinkRecord, bytes: number): number => s.fixedMs + (bytes / s.rateBytesPerSec) * 1000;
  const slower = learnLink(first, "esx01", "esx02", observation({ totalMs: 1000 }));
  assert.ok(slower !== undefined);
  assert.ok(Math.abs(expected(slower, 80e6) - (860 + (LINK_EWMA_WEIGHT / 2) * 100)) < 1e-6);
  const quicker = learnLink(first, "esx01", "esx02", observation({ totalMs: 800 }));
  assert.ok(quicker !== undefined);
  assert.ok(Math.abs(expected(quicker, 80e6) - (860 - LINK_EWMA_WEIGHT * 100)) < 1e-6);
});

test("VMs of different sizes on one pair separate the fixed time from the rate", () => {
  // The pair's truth: 100 ms fixed, 50 MB/s; VMs of 20 MB and 200 MB in turn.
  let record: LinkRecord | undefined;
  for (let i = 0; i < 80; i++) {
    const bytes = i % 2 === 0 ? 20e6 : 200e6;
    record = learnLink(record, "a", "b", { bytesSent: bytes, precopyRateBytesPerSec: 80e6, totalMs: 100 + (bytes / 50e6) * 1000 + 30, downtimeMs: 30, modelledDowntimeMs: 30, at: i });
  }
  assert.ok(record !== undefined);
  assert.ok(Math.abs(record.fixedMs - 100) < 10, `fixed ${record.fixedMs}`);
  assert.ok(Math.abs(record.rateBytesPerSec / 50e6 - 1) < 0.05, `rate ${record.rateBytesPerSec}`);
});

test("guests alike in bytes but not in zero pages separate the time per zero page (qemu), and the pair's prediction uses it", () => {
  // The pair's truth: 60 ms fixed, 120 MB/s, 8 µs per zero page (QEMU 7.2 over TLS on one 2-CPU
  // host; 0.5 µs on another); guests of 256 and 512 MiB that touched the same 88 MiB, and
  // writers that sent more, in turn; the source reports a pass rate under the truth.
  const guests = [
    { bytes: 88 * MiB, zeroPages: 43_000 },
    { bytes: 88 * MiB, zeroPages: 108_000 },
    { bytes: 200 * MiB, zeroPages: 80_000 },
  ];
  const learn = (n: number): LinkRecord | undefined => {
    let record: LinkRecord | undefined;
    for (let i = 0; i < n; i++) {
      const g = guests[i % guests.length] ?? { bytes: 0, zeroPages: 0 };
      const totalMs = 60 + (g.bytes / 120e6) * 1000 + g.zeroPages * 0.008 + 40;
      record = learnLink(record, "a", "b", { bytesSent: g.bytes, zeroPages: g.zeroPages, precopyRateBytesPerSec: 100e6, totalMs, downtimeMs: 40, modelledDowntimeMs: 40, at: i }, QEMU_STREAM_COSTS);
    }
    return record;
  };
  // The first migration keeps the driver's fixed time and puts the rest on its zero pages, nearer the truth than the driver's 0.5 µs.
  const first = learn(1);
  assert.equal(first?.fixedMs, QEMU_STREAM_COSTS.fixedMs);
  const firstZero = first.zeroPageMs ?? 0;
  assert.ok(firstZero > 0.004 && firstZero < 0.008, `first ${String(firstZero)} ms`);
  // Then the fit moves towards the truth.
  const record = learn(600);
  assert.ok(record?.zeroPageMs !== undefined);
  assert.ok(Math.abs(record.zeroPageMs / 0.008 - 1) < 0.1, `zero page ${String(record.zeroPageMs)} ms`);
  assert.ok(Math.abs(record.rateBytesPerSec / 120e6 - 1) < 0.1, `rate ${String(record.rateBytesPerSec)}`);
  // The prediction charges the learned figure: a 512 MiB idle guest takes longer than a 256 MiB one that touched as much.
  const idle = (memoryMB: number) => predictForPair({ inputs: { ...INPUTS, memoryBytes: memoryMB * MiB, touchedBytes: 88 * MiB, dirtyRateBytesPerSec: 0, workingSetBytes: 0 }, driver: "qemu", learned: record, bandwidthLimitBytesPerSec: undefined });
  const gap = idle(512).totalMs - idle(256).totalMs;
  assert.ok(Math.abs(gap - 65_536 * 0.008) < 0.15 * 65_536 * 0.008, `512 MiB takes ${gap.toFixed(0)} ms longer`);
  // The basis says what it charged, and what it took of the guest.
  assert.equal(idle(512).basis.zeroPageMs, record.zeroPageMs);
  assert.deepEqual(idle(512).basis.guest, { memoryBytes: 512 * MiB, touchedBytes: 88 * MiB, dirtyRateBytesPerSec: 0, workingSetBytes: 0, measured: false });
  const measured = predictForPair({ inputs: INPUTS, driver: "qemu", learned: undefined, bandwidthLimitBytesPerSec: undefined, measured: true });
  assert.equal(measured.basis.guest?.measured, true);
  assert.equal(measured.basis.zeroPageMs, QEMU_STREAM_COSTS.loop?.zeroPageMs, "the driver's own until the pair learned one");
  // A driver that charges zero pages nothing (sim) learns no such figure.
  const sim = learnLink(undefined, "a", "b", observation({ zeroPages: 50_000 }));
  assert.equal(sim?.zeroPageMs, undefined);
});

test("QEMU's own downtime over the model's stop-and-copy is the pair's scale: the first taken whole, later ones averaged, bounded; short or unreported stops teach none", () => {
  const first = learnLink(undefined, "a", "b", observation({ hypervisorDowntimeMs: 30, modelledStopCopyMs: 60 }), QEMU_STREAM_COSTS);
  assert.equal(first?.stopCopyScale, 0.5);
  const second = learnLink(first, "a", "b", observation({ hypervisorDowntimeMs: 60, modelledStopCopyMs: 60 }), QEMU_STREAM_COSTS);
  assert.ok(second?.stopCopyScale !== undefined && Math.abs(second.stopCopyScale - (0.5 + LINK_EWMA_WEIGHT * 0.5)) < 1e-9);
  // A stop the model put under 30 ms (an idle guest's, or a writer's short one: 48 ms for 11 modelled) says nothing of the scale;
  // a stall counts as at most 4, and after the first as at most twice the scale.
  assert.equal(learnLink(second, "a", "b", observation({ hypervisorDowntimeMs: 9, modelledStopCopyMs: 1 }))?.stopCopyScale, second.stopCopyScale);
  assert.equal(learnLink(undefined, "a", "b", observation({ hypervisorDowntimeMs: 48, modelledStopCopyMs: STOP_COPY_MIN_MS - 1 }))?.stopCopyScale, undefined);
  assert.equal(learnLink(undefined, "a", "b", observation({ hypervisorDowntimeMs: 2000, modelledStopCopyMs: STOP_COPY_MIN_MS }))?.stopCopyScale, 4);
  const stalled = learnLink(first, "a", "b", observation({ hypervisorDowntimeMs: 209, modelledStopCopyMs: 40 }));
  assert.ok(stalled?.stopCopyScale !== undefined && Math.abs(stalled.stopCopyScale - (0.5 + LINK_EWMA_WEIGHT * 0.5)) < 1e-9, `after a stall: ${String(stalled?.stopCopyScale)}`);
  const quick = learnLink(first, "a", "b", observation({ hypervisorDowntimeMs: 1, modelledStopCopyMs: 60 }));
  assert.ok(quick?.stopCopyScale !== undefined && Math.abs(quick.stopCopyScale - (0.5 - LINK_EWMA_WEIGHT * 0.25)) < 1e-9, `after a stop at once: ${String(quick?.stopCopyScale)}`);
  // A driver that reports no downtime of its own (sim) learns none.
  assert.equal(learnLink(undefined, "a", "b", observation())?.stopCopyScale, undefined);
  // The prediction applies it: QEMU's part of a writer's downtime shrinks by the scale, and the basis says so.
  const writer = { ...INPUTS, dirtyRateBytesPerSec: 32 * MiB, workingSetBytes: 64 * MiB, touchedBytes: 128 * MiB };
  const predict = (learned: LinkRecord | undefined) => predictForPair({ inputs: writer, driver: "qemu", learned, bandwidthLimitBytesPerSec: undefined });
  const unscaled = predict({ ...first, stopCopyScale: undefined });
  const scaled = predict(first);
  assert.equal(unscaled.basis.stopCopyScale, 1);
  assert.equal(scaled.basis.stopCopyScale, 0.5);
  assert.ok((unscaled.hypervisorDowntimeMs ?? 0) > 10, `QEMU's part: ${String(unscaled.hypervisorDowntimeMs)} ms`);
  assert.ok(Math.abs((scaled.hypervisorDowntimeMs ?? 0) - (unscaled.hypervisorDowntimeMs ?? 0) / 2) < 1e-6);
  assert.ok(Math.abs(unscaled.downtimeMs - scaled.downtimeMs - (unscaled.hypervisorDowntimeMs ?? 0) / 2) < 1e-6);
  assert.equal(predictForPair({ inputs: writer, driver: "sim", learned: first, bandwidthLimitBytesPerSec: undefined }).basis.stopCopyScale, undefined, "the sim replays no QEMU loop");
});

test("a migration that moved nothing teaches nothing; without a reported rate the whole time is used", () => {
  assert.equal(learnLink(undefined, "a", "b", observation({ bytesSent: 0 })), undefined);
  const r = learnLink(undefined, "a", "b", observation({ precopyRateBytesPerSec: undefined, totalMs: 1040, downtimeMs: 40 }));
  assert.equal(r?.rateBytesPerSec, 80e6);
  assert.equal(r.fixedMs, 0);
});

test("the safety margin follows an overshoot up at once and decays slowly, never below the floor", () => {
  const big = learnLink(undefined, "a", "b", observation({ downtimeMs: 140, modelledDowntimeMs: 20 }));
  assert.equal(big?.safetyMarginMs, 120);
  const quiet = learnLink(big, "a", "b", observation({ downtimeMs: 20, modelledDowntimeMs: 20 }));
  assert.ok(quiet !== undefined && quiet.safetyMarginMs < 120 && quiet.safetyMarginMs > 100);
  assert.equal(learnLink(undefined, "a", "b", observation({ downtimeMs: 10, modelledDowntimeMs: 20 }))?.safetyMarginMs, MARGIN_FLOOR_MS);
  assert.equal(downtimeTargetMs(300, quiet), 300 - quiet.safetyMarginMs);
  assert.equal(downtimeTargetMs(300, { ...quiet, safetyMarginMs: 1000 }), 150, "never below half the limit");
  assert.equal(downtimeTargetMs(300, undefined), 300);
});

test("a pair's prediction: nominal until learned, then the learned rate and times; a bandwidth limit caps both", () => {
  const nominal = predictForPair({ inputs: INPUTS, driver: "sim", learned: undefined, bandwidthLimitBytesPerSec: undefined });
  assert.equal(nominal.basis.linkSource, "nominal");
  assert.equal(nominal.basis.samples, 0);
  assert.equal(nominal.basis.costs, "sim");
  assert.equal(nominal.basis.safetyMarginMs, 0);
  assert.deepEqual({ ...nominal, basis: undefined }, { ...predictPrecopy(INPUTS, SIM_COSTS), basis: undefined });
  const record: LinkRecord = { source: "esx01", destination: "esx02", rateBytesPerSec: 97.5e6, samples: 12, fixedMs: 300, switchoverExtraMs: 20, safetyMarginMs: 30, updatedAt: 1 };
  const learned = predictForPair({ inputs: INPUTS, driver: "sim", learned: record, bandwidthLimitBytesPerSec: undefined });
  assert.equal(learned.basis.linkSource, "learned");
  assert.equal(learned.basis.text, "link rate learned from 12 migrations: 780 Mb/s");
  assert.equal(learned.basis.safetyMarginMs, 30);
  assert.ok(learned.totalMs > nominal.totalMs + 250, "slower link and the learned fixed time");
  assert.ok(learned.downtimeMs >= nominal.downtimeMs + 20, "the unseen switchover time is in the downtime");
  const capped = predictForPair({ inputs: INPUTS, driver: "qemu", learned: record, bandwidthLimitBytesPerSec: 10e6 });
  assert.equal(capped.basis.linkSource, "bandwidth-limit");
  assert.equal(capped.basis.linkRateBytesPerSec, 10e6);
  assert.equal(capped.basis.costs, "qemu");
  // The reverse direction's record stands in for a direction with none: same figures, said so.
  const reverse = predictForPair({ inputs: INPUTS, driver: "sim", learned: record, borrowed: "reverse", bandwidthLimitBytesPerSec: undefined });
  assert.equal(reverse.basis.linkSource, "reverse");
  assert.equal(reverse.basis.text, "nothing learned this way yet: the link rate learned the other way between these hosts, from 12 migrations: 780 Mb/s");
  assert.deepEqual({ ...reverse, basis: undefined }, { ...learned, basis: undefined });
  // So does a pair that shares a host with it, named.
  const nearby = predictForPair({ inputs: INPUTS, driver: "sim", learned: record, borrowed: "nearby", bandwidthLimitBytesPerSec: undefined });
  assert.equal(nearby.basis.linkSource, "nearby");
  assert.equal(nearby.basis.text, "nothing learned between these hosts yet: the link rate learned from esx01 to esx02, from 12 migrations: 780 Mb/s");
  assert.deepEqual({ ...nearby, basis: undefined }, { ...learned, basis: undefined });
});

test("a pair's basis: its own record, else the reverse direction's, else a pair sharing its source, else its destination, the most migrations first", () => {
  const rec = (source: string, destination: string, samples: number): LinkRecord => ({ source, destination, rateBytesPerSec: 1e8, samples, fixedMs: 0, switchoverExtraMs: 0, safetyMarginMs: 3, updatedAt: 1 });
  const records = [rec("esx02", "esx03", 9), rec("esx01", "esx03", 2), rec("esx01", "esx04", 5), rec("esx04", "esx02", 1), rec("esx05", "esx01", 0)];
  const basis = (source: string, destination: string) => {
    const b = pairBasis(source, destination, records);
    return b === undefined ? "none" : `${b.record.source}>${b.record.destination} ${b.borrowed ?? "own"}`;
  };
  assert.equal(basis("esx01", "esx03"), "esx01>esx03 own");
  assert.equal(basis("esx03", "esx02"), "esx02>esx03 reverse");
  assert.equal(basis("esx01", "esx02"), "esx01>esx04 nearby", "the same source, the most migrations");
  assert.equal(basis("esx05", "esx03"), "esx02>esx03 nearby", "no pair from esx05 with migrations: the same destination");
  assert.equal(basis("esx03", "esx05"), "none", "no record shares its source or destination in that role");
  assert.equal(basis("esx01", "esx05"), "esx01>esx04 nearby", "a record with no migrations (esx05>esx01) counts for nothing");
});

function completed(downtimeMs: number): MigrationReport {
  return { migrationId: "m", vm: "web02", source: "esx01", destination: "esx02", outcome: Phase.completed, failure: undefined, runningOn: "esx02", downtimeMs, totalMs: 2800, bytesSent: 1, passes: 1, pagesSent: 1, zeroPages: 0, throttlePercentMax: 0, prediction: undefined, verified: true };
}

test("downtime over the user's limit: completed, with DOWNTIME_OVER_LIMIT saying by how much", () => {
  const over = withDowntimeWarning(completed(401), 300);
  assert.equal(over.outcome, Phase.completed);
  assert.deepEqual(over.warnings?.map((w) => w.code), [MigrationWarningCode.downtimeOverLimit]);
  const [first] = over.warnings ?? [];
  assert.match(first?.message ?? "", /401 ms .*101 ms over its 300 ms downtime limit/);
  assert.deepEqual(withDowntimeWarning(over, 300).warnings?.length, 1, "once");
  assert.deepEqual(withDowntimeWarning(completed(300), 300).warnings, []);
  assert.deepEqual(withDowntimeWarning({ ...completed(401), outcome: Phase.failed }, 300).warnings, []);
});

test("one migration stalled by a busy machine moves the averages only so far; a model that over-reserves is corrected down", () => {
  const steady = learnLink(undefined, "a", "b", observation({ totalMs: 900, downtimeMs: 40 }));
  assert.ok(steady !== undefined);
  assert.ok(Math.abs(steady.fixedMs - 60) < 1e-9);
  // 3 s more than usual, once: it counts as twice what the fit expected (860 ms), no more.
  const stalled = learnLink(steady, "a", "b", observation({ totalMs: 3900, downtimeMs: 40 }));
  assert.ok(stalled !== undefined);
  assert.ok(Math.abs(stalled.fixedMs + (80e6 / stalled.rateBytesPerSec) * 1000 - (860 + (LINK_EWMA_WEIGHT / 2) * 860)) < 1e-6);
  assert.ok(stalled.rateBytesPerSec >= 50e6, "a rate moves at most by half at once");
  const quick = learnLink(undefined, "a", "b", observation({ downtimeMs: 10, modelledDowntimeMs: 25 }));
  assert.equal(quick?.switchoverExtraMs, -15, "a negative correction counts");
  const record = { ...quick, rateBytesPerSec: 125e6 };
  const corrected = predictForPair({ inputs: INPUTS, driver: "sim", learned: record, bandwidthLimitBytesPerSec: undefined });
  const plain = predictForPair({ inputs: INPUTS, driver: "sim", learned: { ...record, switchoverExtraMs: 0 }, bandwidthLimitBytesPerSec: undefined });
  assert.ok(corrected.downtimeMs < plain.downtimeMs && corrected.downtimeMs > 0);
});

test("a pair's first switchover correction is bounded by the modelled downtime; the margin still follows it whole", () => {
  // A slow first switchover on a busy machine: 240 ms where the model said 40.
  const slow = learnLink(undefined, "a", "b", observation({ downtimeMs: 240, modelledDowntimeMs: 40 }));
  assert.ok(slow !== undefined);
  assert.equal(slow.switchoverExtraMs, 40, "not 200: one odd first run does not lift every next prediction by it");
  assert.equal(slow.safetyMarginMs, 200, "the engine still aims that far below the limit");
  // Later ones are bounded by the average as before, and a model that is short gets there.
  let record = slow;
  for (let i = 0; i < 8; i++) record = learnLink(record, "a", "b", observation({ downtimeMs: 140, modelledDowntimeMs: 40 })) ?? record;
  assert.ok(Math.abs(record.switchoverExtraMs - 100) < 10, `${record.switchoverExtraMs} ms after 8 migrations 100 ms over the model`);
});
