import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { THROTTLE_INITIAL, THROTTLE_INCREMENT, THROTTLE_MAX } from "./convergence.ts";
import { QEMU_COSTS, distinctDirtyBytes, predictPrecopy, schedulePrecopy, type StreamCosts } from "./model.ts";
import type { PrecopyInputs } from "./types.ts";

const MiB = 1048576;
const BASE: PrecopyInputs = {
  memoryBytes: 64 * MiB,
  touchedBytes: 32 * MiB,
  pageSize: 4096,
  dirtyRateBytesPerSec: 8 * MiB,
  workingSetBytes: 16 * MiB,
  linkRateBytesPerSec: 32 * MiB,
  downtimeLimitMs: 300,
  maxPasses: 30,
  maxTrafficFactor: 3,
  autoConverge: true,
};
const BARE: StreamCosts = { pageHeaderBytes: 0, zeroPageBytes: 0, deviceStateBytes: 0, fixedMs: 0, switchoverFixedMs: 0, switchoverMsPerByte: 0 };

test("distinct dirty bytes: r·t while small, never more than the working set, W(1 − e^(−rt/W))", () => {
  assert.equal(distinctDirtyBytes(16 * MiB, 0, 1000), 0);
  assert.equal(distinctDirtyBytes(0, MiB, 1000), 0);
  assert.equal(distinctDirtyBytes(16 * MiB, MiB, 0), 0);
  assert.ok(Math.abs(distinctDirtyBytes(1024 * MiB, MiB, 10) - MiB / 100) < 1, "tiny r·t/W: distinct ≈ r·t");
  assert.ok(Math.abs(distinctDirtyBytes(16 * MiB, 16 * MiB, 1000) - 16 * MiB * (1 - Math.exp(-1))) < 1);
  assert.ok(distinctDirtyBytes(16 * MiB, 1e12, 1e6) <= 16 * MiB);
  assert.equal(distinctDirtyBytes(16 * MiB, MiB, Number.POSITIVE_INFINITY), 16 * MiB);
});

test("an idle VM: one pass of the touched bytes plus zero-page markers, nothing at switchover", () => {
  const p = predictPrecopy({ ...BASE, dirtyRateBytesPerSec: 0 });
  const touchedPages = (32 * MiB) / 4096;
  const zeroPages = (32 * MiB) / 4096;
  assert.equal(p.passes, 1);
  assert.equal(p.bytes, 32 * MiB + touchedPages * QEMU_COSTS.pageHeaderBytes + zeroPages * QEMU_COSTS.zeroPageBytes);
  assert.equal(p.downtimeMs, 0);
  assert.equal(p.converges, true);
  assert.equal(p.throttlePercent, 0);
  assert.ok(Math.abs(p.totalMs - (p.bytes / (32 * MiB)) * 1000) < 1e-6);
});

test("zero pages cost markers, not pages: a 1 GiB VM with 64 MiB touched sends about 64 MiB", () => {
  const p = predictPrecopy({ ...BASE, memoryBytes: 1024 * MiB, touchedBytes: 64 * MiB, dirtyRateBytesPerSec: 0 });
  assert.ok(p.bytes < 67 * MiB, `${p.bytes / MiB} MiB`);
});

test("a dirtying guest: each pass sends what the previous one left, as decideAfterPass decides", () => {
  const s = schedulePrecopy({ ...BASE, dirtyRateBytesPerSec: 24 * MiB }, BARE);
  assert.equal(s.converges, true);
  assert.equal(s.schedule.length, s.passes);
  assert.equal(s.schedule[0]!.bytes, 32 * MiB);
  for (let i = 1; i < s.schedule.length; i++) assert.equal(s.schedule[i]!.bytes, s.schedule[i - 1]!.dirtiedBytes);
  for (const pass of s.schedule.slice(0, -1)) assert.equal(pass.decision.action, "continue");
  assert.equal(s.schedule.at(-1)!.decision.action, "switchover");
  const last = s.schedule.at(-1)!.dirtiedBytes;
  assert.ok(Math.abs(s.downtimeMs - (last / (32 * MiB)) * 1000) < 1e-6);
  assert.ok(s.downtimeMs <= BASE.downtimeLimitMs);
  assert.ok(Math.abs(s.bytes - (s.schedule.reduce((a, p) => a + p.bytes, 0) + last)) < 1e-3);
});

test("repeated writes to a small working set cost once: a hot 1 MiB set converges whatever its rate", () => {
  const p = predictPrecopy({ ...BASE, dirtyRateBytesPerSec: 10_000 * MiB, workingSetBytes: MiB, autoConverge: false });
  assert.equal(p.converges, true);
  assert.equal(p.passes, 1);
  assert.ok(p.downtimeMs < 40);
});

test("past the caps auto-converge throttles 20%, then +10% per pass, and says so", () => {
  const s = schedulePrecopy({ ...BASE, dirtyRateBytesPerSec: 120 * MiB });
  assert.equal(s.converges, true);
  const throttles = s.schedule.filter((p) => p.decision.action === "throttle").map((p) => (p.decision.action === "throttle" ? p.decision.throttlePercent : -1));
  assert.deepEqual(
    throttles,
    throttles.map((_, i) => Math.min(THROTTLE_MAX, THROTTLE_INITIAL + i * THROTTLE_INCREMENT)),
  );
  assert.ok(s.throttlePercent > 0);
  assert.equal(s.throttlePercent, throttles.at(-1));
  assert.match(s.note, new RegExp(`auto-converge throttles the guest to ${s.throttlePercent}%`));
});

test("without auto-converge a hot guest does not converge, and the note says why", () => {
  const p = predictPrecopy({ ...BASE, dirtyRateBytesPerSec: 120 * MiB, autoConverge: false });
  assert.equal(p.converges, false);
  assert.equal(p.throttlePercent, 0);
  assert.match(p.note, /^not converging: dirty rate 1007 Mb\/s > link rate 268 Mb\/s; after 3x the VM's memory sent/);
  assert.ok(p.downtimeMs > BASE.downtimeLimitMs, "the downtime it would need");
});

test("a dirty rate under the link rate that still cannot fit the limit is explained as such", () => {
  const p = predictPrecopy({ ...BASE, dirtyRateBytesPerSec: 30 * MiB, workingSetBytes: 64 * MiB, touchedBytes: 64 * MiB, downtimeLimitMs: 20, autoConverge: false });
  assert.equal(p.converges, false);
  assert.match(p.note, /^not converging: dirty rate 252 Mb\/s is under the link rate 268 Mb\/s, but each pass still leaves/);
});

test("a dead link does not converge and does not loop", () => {
  const p = predictPrecopy({ ...BASE, linkRateBytesPerSec: 0 });
  assert.equal(p.converges, false);
  assert.match(p.note, /link rate 0/);
});

test("the fixed cost and device state are added where they belong", () => {
  const framing: StreamCosts = { ...BARE, deviceStateBytes: 4096, fixedMs: 50 };
  const bare = predictPrecopy({ ...BASE, dirtyRateBytesPerSec: 0 }, BARE);
  const framed = predictPrecopy({ ...BASE, dirtyRateBytesPerSec: 0 }, framing);
  assert.equal(framed.bytes, bare.bytes + 4096);
  assert.ok(Math.abs(framed.totalMs - bare.totalMs - 50 - (4096 / (32 * MiB)) * 1000) < 1e-6);
});

test("switchover overhead is reserved out of the downtime limit, as the sim's source does", () => {
  const i = { ...BASE, dirtyRateBytesPerSec: 24 * MiB };
  const plain = schedulePrecopy(i, BARE);
  const heavy = schedulePrecopy(i, { ...BARE, switchoverFixedMs: 150, switchoverMsPerByte: 1 / (1024 * 1024) });
  assert.ok(heavy.passes > plain.passes, "a smaller budget for bytes takes more passes");
  const last = heavy.schedule.at(-1)!;
  const overhead = 150 + last.dirtiedBytes / (1024 * 1024);
  assert.ok(Math.abs(heavy.downtimeMs - ((last.dirtiedBytes / (32 * MiB)) * 1000 + overhead)) < 1e-6);
  assert.ok(heavy.downtimeMs <= i.downtimeLimitMs);
});

// Inputs over the ranges Ferry meets: 1 MiB .. 4 GiB VMs, links 1 MiB/s .. 2 GiB/s, writers
// from idle to 4x the link.
const inputs: fc.Arbitrary<PrecopyInputs> = fc
  .record({
    memoryMiB: fc.integer({ min: 1, max: 4096 }),
    touched: fc.double({ min: 0, max: 1, noNaN: true }),
    workingSet: fc.double({ min: 0, max: 1, noNaN: true }),
    linkMiB: fc.double({ min: 1, max: 2048, noNaN: true }),
    dirtyOverLink: fc.double({ min: 0, max: 4, noNaN: true }),
    downtimeLimitMs: fc.constantFrom(50, 100, 300, 1000),
    maxPasses: fc.integer({ min: 1, max: 40 }),
    maxTrafficFactor: fc.constantFrom(1, 2, 3, 5),
    autoConverge: fc.boolean(),
  })
  .map((r) => ({
    memoryBytes: r.memoryMiB * MiB,
    touchedBytes: Math.round(r.touched * r.memoryMiB * MiB),
    pageSize: 4096,
    workingSetBytes: Math.round(r.workingSet * r.memoryMiB * MiB),
    linkRateBytesPerSec: r.linkMiB * MiB,
    dirtyRateBytesPerSec: r.dirtyOverLink * r.linkMiB * MiB,
    downtimeLimitMs: r.downtimeLimitMs,
    maxPasses: r.maxPasses,
    maxTrafficFactor: r.maxTrafficFactor,
    autoConverge: r.autoConverge,
  }));

test("property: more link rate never predicts more time, for migrations that converge at both rates", () => {
  fc.assert(
    fc.property(inputs, fc.double({ min: 1, max: 10, noNaN: true }), (i, factor) => {
      const slow = predictPrecopy(i);
      const fast = predictPrecopy({ ...i, linkRateBytesPerSec: i.linkRateBytesPerSec * factor });
      fc.pre(slow.converges);
      assert.ok(fast.converges, "a faster link converges whenever a slower one does");
      assert.ok(fast.totalMs <= slow.totalMs * (1 + 1e-9), `${fast.totalMs} ms at ${factor}x the link > ${slow.totalMs} ms`);
    }),
    { numRuns: 2000 },
  );
});

test("property: a zero dirty rate is one pass and the touched bytes plus markers", () => {
  fc.assert(
    fc.property(inputs, (i) => {
      const p = predictPrecopy({ ...i, dirtyRateBytesPerSec: 0 });
      const touchedPages = Math.ceil(i.touchedBytes / i.pageSize);
      const zeroPages = Math.floor(i.memoryBytes / i.pageSize) - touchedPages;
      assert.equal(p.passes, 1);
      assert.equal(p.converges, true);
      assert.equal(p.downtimeMs, 0);
      assert.ok(Math.abs(p.bytes - (touchedPages * (i.pageSize + QEMU_COSTS.pageHeaderBytes) + zeroPages * QEMU_COSTS.zeroPageBytes)) < 1e-6);
      const overhead = i.pageSize + (touchedPages + 1) * QEMU_COSTS.pageHeaderBytes + zeroPages * QEMU_COSTS.zeroPageBytes;
      assert.ok(p.bytes >= i.touchedBytes && p.bytes - i.touchedBytes <= overhead, "bytes ≈ touched bytes");
    }),
    { numRuns: 500 },
  );
});

test("property: without auto-converge, a writer far past the link over a working set too big for the limit never converges", () => {
  fc.assert(
    fc.property(inputs, fc.double({ min: 10, max: 1000, noNaN: true }), fc.double({ min: 2, max: 8, noNaN: true }), (i, ratio, over) => {
      // The working set is touched memory, and at least twice what switchover may send.
      const workingSet = Math.ceil((over * i.linkRateBytesPerSec * i.downtimeLimitMs) / 1000);
      const hot = { ...i, memoryBytes: Math.max(i.memoryBytes, workingSet), touchedBytes: Math.max(i.touchedBytes, workingSet), workingSetBytes: workingSet };
      const p = predictPrecopy({ ...hot, autoConverge: false, dirtyRateBytesPerSec: ratio * i.linkRateBytesPerSec });
      assert.equal(p.converges, false);
      assert.equal(p.throttlePercent, 0);
      assert.match(p.note, /^not converging: /);
    }),
    { numRuns: 500 },
  );
});

test("property: deterministic, finite, and within the caps the engine enforces", () => {
  fc.assert(
    fc.property(inputs, fc.constantFrom(QEMU_COSTS, { ...BARE, pageHeaderBytes: 4, switchoverFixedMs: 2, switchoverMsPerByte: 2 / 1.5e6 }), (i, costs) => {
      const a = schedulePrecopy(i, costs);
      assert.deepEqual(schedulePrecopy(i, costs), a);
      for (const x of [a.passes, a.bytes, a.totalMs, a.throttlePercent]) assert.ok(Number.isFinite(x) && x >= 0);
      assert.ok(a.throttlePercent <= THROTTLE_MAX);
      if (!i.autoConverge) assert.equal(a.throttlePercent, 0);
      if (a.converges) assert.ok(a.downtimeMs <= i.downtimeLimitMs + 1e-9, "switchover only when the rest fits the limit");
      // Passes stop at the cap, plus one per throttle step (20, 30, ..., 90, 99) when auto-converge runs.
      const steps = 1 + Math.ceil((THROTTLE_MAX - THROTTLE_INITIAL) / THROTTLE_INCREMENT);
      assert.ok(a.passes <= i.maxPasses + (i.autoConverge ? steps : 0), `${a.passes} passes`);
    }),
    { numRuns: 1000 },
  );
});
