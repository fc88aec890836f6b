import { test } from "node:test";
import assert from "node:assert/strict";
import { QEMU_COSTS, QEMU_STREAM_COSTS, costsFor, predictPrecopy, schedulePrecopy, type StreamCosts } from "./model.ts";
import { qemuDowntimeStepMs } from "./qemu-stream.ts";
import type { PrecopyInputs } from "./types.ts";

const MiB = 1048576;
const PAGE = 4096;
const LAB: PrecopyInputs = {
  memoryBytes: 512 * MiB,
  touchedBytes: 88 * MiB,
  pageSize: PAGE,
  dirtyRateBytesPerSec: 0,
  workingSetBytes: 0,
  linkRateBytesPerSec: 300 * MiB,
  downtimeLimitMs: 300,
  maxPasses: 30,
  maxTrafficFactor: 3,
  autoConverge: true,
};
const LOOP = QEMU_STREAM_COSTS.loop;
if (LOOP === undefined) throw new Error("QEMU_STREAM_COSTS has no loop");
/** QEMU's loop with no fixed times and free zero pages: only bytes and the threshold matter. */
const BARE: StreamCosts = { ...QEMU_COSTS, loop: { ...LOOP, zeroPageMs: 0 } };

test("the controller predicts QEMU migrations with QEMU's loop; the generic QEMU_COSTS keep Ferry's protocol", () => {
  assert.equal(costsFor("qemu"), QEMU_STREAM_COSTS);
  assert.notEqual(QEMU_STREAM_COSTS.loop, undefined);
  assert.equal(QEMU_COSTS.loop, undefined);
  assert.equal(predictPrecopy({ ...LAB }).passes, 1, "the generic model: an idle VM is one pass");
});

test("an idle guest: QEMU's 3 dirty syncs (setup, remaining under the threshold, completion) and the touched bytes once", () => {
  const p = schedulePrecopy(LAB, QEMU_STREAM_COSTS);
  assert.equal(p.passes, 3);
  assert.equal(p.converges, true);
  const touchedPages = (88 * MiB) / PAGE;
  const zeroPages = (512 * MiB) / PAGE - touchedPages;
  const bytes = touchedPages * (PAGE + 8) + zeroPages * 9;
  assert.ok(Math.abs(p.bytes - bytes) < 1024, `every page once: ${p.bytes} vs ${bytes}`);
  assert.match(p.note, /QEMU switches over at its 2nd dirty sync/);
});

test("zero pages are nearly free on the wire but not in QEMU's threshold: more zero pages, less downtime", () => {
  const touched = schedulePrecopy({ ...LAB, touchedBytes: 512 * MiB }, BARE);
  const sparse = schedulePrecopy({ ...LAB, touchedBytes: 64 * MiB }, BARE);
  // All touched: QEMU stops when what remains fits bandwidth × limit, the limit being its first step then (an eighth of 300 ms).
  assert.ok(touched.downtimeMs > 0 && touched.downtimeMs <= 300 / 8 + 1, `all touched: ${touched.downtimeMs} ms`);
  // An eighth touched: the remaining 4 KiB pages are mostly zero pages, so a fraction of that.
  assert.ok(sparse.downtimeMs < touched.downtimeMs / 4, `sparse: ${sparse.downtimeMs} ms`);
  assert.ok(sparse.bytes < touched.bytes / 7);
});

test("a zero page costs the migration thread time: a larger idle guest takes longer for the same touched bytes", () => {
  const small = schedulePrecopy({ ...LAB, memoryBytes: 256 * MiB }, QEMU_STREAM_COSTS);
  const large = schedulePrecopy(LAB, QEMU_STREAM_COSTS);
  const extraZeroPages = (256 * MiB) / PAGE;
  const extraMs = large.totalMs - small.totalMs;
  assert.ok(extraMs > 0.5 * extraZeroPages * LOOP.zeroPageMs && extraMs < 3 * extraZeroPages * LOOP.zeroPageMs + 5, `${extraMs} ms`);
});

test("a writer: more syncs than idle, and what it dirtied is sent again", () => {
  const idle = schedulePrecopy({ ...LAB, touchedBytes: 152 * MiB }, QEMU_STREAM_COSTS);
  const writer = schedulePrecopy({ ...LAB, touchedBytes: 152 * MiB, dirtyRateBytesPerSec: 48 * MiB, workingSetBytes: 64 * MiB }, QEMU_STREAM_COSTS);
  assert.ok(writer.passes >= idle.passes);
  assert.ok(writer.bytes > idle.bytes + 8 * MiB, `${writer.bytes / MiB} MiB vs ${idle.bytes / MiB}`);
  assert.ok(writer.converges);
  // Each modelled pass (sync) records what it sent; together with the stop-and-copy they make the total.
  const passBytes = writer.schedule.reduce((sum, pass) => sum + pass.bytes, 0);
  assert.ok(passBytes <= writer.bytes + 1);
});

test("a writer faster than the link never fits QEMU's threshold: not converging, with a finite downtime and the reason", () => {
  const p = schedulePrecopy({ ...LAB, touchedBytes: 512 * MiB, dirtyRateBytesPerSec: 600 * MiB, workingSetBytes: 256 * MiB, autoConverge: false }, QEMU_STREAM_COSTS);
  assert.equal(p.converges, false);
  assert.ok(Number.isFinite(p.downtimeMs) && p.downtimeMs > 300);
  assert.match(p.note, /not converging/);
});

test("a link that carries nothing: not converging, said so", () => {
  const p = schedulePrecopy({ ...LAB, linkRateBytesPerSec: 0 }, QEMU_STREAM_COSTS);
  assert.equal(p.converges, false);
  assert.match(p.note, /link rate 0/);
});

test("a learned switchover correction moves the downtime one for one, never below the stop-and-copy", () => {
  const writer: PrecopyInputs = { ...LAB, dirtyRateBytesPerSec: 32 * MiB, workingSetBytes: 64 * MiB };
  const base = schedulePrecopy(writer, QEMU_STREAM_COSTS);
  const more = schedulePrecopy(writer, { ...QEMU_STREAM_COSTS, switchoverUnreservedMs: 25 });
  assert.ok(Math.abs(more.downtimeMs - base.downtimeMs - 25) < 1e-6);
  const less = schedulePrecopy(writer, { ...QEMU_STREAM_COSTS, switchoverUnreservedMs: -10_000 });
  const restMs = ((Number(/the last ([\d.]+) MiB/.exec(less.note)?.[1]) * MiB) / writer.linkRateBytesPerSec) * 1000;
  assert.ok(restMs > 0 && Math.abs(less.downtimeMs - restMs) < 1, `the stop-and-copy's ${restMs} ms, not less: ${less.downtimeMs} ms (${less.note})`);
  assert.equal(less.hypervisorDowntimeMs, less.downtimeMs, "QEMU's own part is that stop-and-copy");
});

test("a learned stop-and-copy scale moves QEMU's own downtime by that factor, and the downtime with it; passes, bytes and the walk stay", () => {
  const writer: PrecopyInputs = { ...LAB, dirtyRateBytesPerSec: 32 * MiB, workingSetBytes: 64 * MiB };
  const base = schedulePrecopy(writer, QEMU_STREAM_COSTS);
  const own = base.hypervisorDowntimeMs ?? 0;
  assert.ok(own > 1, `a writer leaves something for the stop: ${own} ms`);
  assert.ok(Math.abs(base.downtimeMs - own - QEMU_STREAM_COSTS.switchoverFixedMs) < 1e-6, "the downtime adds the switchover's fixed part");
  const half = schedulePrecopy(writer, { ...QEMU_STREAM_COSTS, stopCopyScale: 0.5 });
  assert.ok(Math.abs((half.hypervisorDowntimeMs ?? 0) - own / 2) < 1e-6);
  assert.ok(Math.abs(base.downtimeMs - half.downtimeMs - own / 2) < 1e-6);
  assert.deepEqual([half.passes, half.bytes, half.schedule], [base.passes, base.bytes, base.schedule]);
  assert.ok(Math.abs(base.totalMs - half.totalMs - own / 2) < 1e-6, "the stop is part of the total");
});

test("QEMU's downtime-limit steps: an eighth of the target (at least 20 ms) until the first threshold test, doubled at each sync after, never above the target", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 9].map((syncs) => qemuDowntimeStepMs(300, syncs)), [37.5, 75, 150, 300, 300, 300]);
  assert.deepEqual([1, 2, 3, 4].map((syncs) => qemuDowntimeStepMs(120, syncs)), [20, 40, 80, 120]);
  assert.equal(qemuDowntimeStepMs(10, 1), 10);
  // With the target from the start, an all-touched guest's switchover would carry up to 300 ms
  // of its first walk; stepped, a writer still converges, a few syncs later, with less downtime.
  const writer: PrecopyInputs = { ...LAB, linkRateBytesPerSec: 120 * MiB, dirtyRateBytesPerSec: 24 * MiB, workingSetBytes: 96 * MiB };
  const p = schedulePrecopy(writer, QEMU_STREAM_COSTS);
  assert.equal(p.converges, true);
  assert.ok(p.downtimeMs < 150, `${p.downtimeMs} ms (${p.note})`);
});

test("QEMU's dirty log keeps every write since the last sync: what the guest wrote during the first walk is sent again, wherever the walk was", () => {
  // 48 MiB/s over a 64 MiB working set; the first walk sends 88 MiB at 80 MiB/s (1.1 s), so the writer dirties 53 MiB of its 64 during it.
  const writer = { ...LAB, linkRateBytesPerSec: 80 * MiB, dirtyRateBytesPerSec: 48 * MiB, workingSetBytes: 64 * MiB, downtimeLimitMs: 100 };
  const p = schedulePrecopy(writer, BARE);
  const firstWalkMs = p.schedule[0]?.ms ?? 0;
  const resentAfterFirstSync = p.schedule[0]?.dirtiedBytes ?? 0;
  assert.ok(firstWalkMs > 1000 && firstWalkMs < 1200, `${firstWalkMs} ms`);
  const written = Math.min(64 * MiB, (48 * MiB * firstWalkMs) / 1000);
  assert.ok(Math.abs(resentAfterFirstSync - written) < 2 * MiB, `${(resentAfterFirstSync / MiB).toFixed(1)} MiB pending after the first sync; ${(written / MiB).toFixed(1)} written`);
  // A working set the writer covers faster than the walk: no more than the working set is pending.
  const fast = schedulePrecopy({ ...writer, dirtyRateBytesPerSec: 200 * MiB }, BARE);
  assert.ok((fast.schedule[0]?.dirtiedBytes ?? 0) <= 64 * MiB + 1, `${((fast.schedule[0]?.dirtiedBytes ?? 0) / MiB).toFixed(1)} MiB`);
});

test("a walk shorter than QEMU's first 100 ms bandwidth window: threshold 0, no sync under it, the migration completes when nothing is pending", () => {
  // 88 MiB touched at 1,200 MiB/s: the walk is over in ~75 ms, before migration_update_counters first sets the threshold.
  for (const dirtyRateBytesPerSec of [0, 2 * MiB]) {
    const p = schedulePrecopy({ ...LAB, linkRateBytesPerSec: 1200 * MiB, dirtyRateBytesPerSec, workingSetBytes: 512 * MiB }, BARE);
    assert.equal(p.passes, 2, `setup and completion only (dirty ${dirtyRateBytesPerSec / MiB} MiB/s): ${p.note}`);
    assert.equal(p.converges, true);
  }
});
