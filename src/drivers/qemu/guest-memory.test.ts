import { test } from "node:test";
import assert from "node:assert/strict";
import { dirtyProfile, guestRamMapping, isZeroPage } from "./guest-memory.ts";

const MiB = 1048576;
const MEMORY = 512 * MiB;
/** The curve a writer leaves: distinct MiB changed at a quarter, half and the whole of a 1 s window. */
const near = (actual: number, expected: number): void => {
  assert.ok(Math.abs(actual - expected) < 1, `${actual} vs ${expected}`);
};
const curve = (mib: readonly [number, number, number]): { ms: number; changedShare: number }[] => [250, 500, 1000].map((ms, i) => ({ ms, changedShare: (mib[i] ?? 0) / 512 }));

test("a curve still growing along its line: its rate from the whole window, no working set (more than it covered)", () => {
  const p = dirtyProfile(MEMORY, 4096, curve([12, 24, 48]));
  near(p.dirtyRateBytesPerSec, 48 * MiB);
  assert.equal(p.workingSetBytes, undefined);
  // Sampling noise around the line is no levelling off: 3 standard deviations at 48 MiB/s, 6 at 8 MiB/s.
  assert.equal(dirtyProfile(MEMORY, 4096, curve([12, 25, 45])).workingSetBytes, undefined);
  assert.equal(dirtyProfile(MEMORY, 4096, curve([2, 5, 8])).workingSetBytes, undefined);
  assert.equal(dirtyProfile(MEMORY, 4096, curve([2, 5, 6])).workingSetBytes, 6 * MiB);
});

test("a curve that levelled off: the working set it covered, at the rate of its part along the line, or the whole window's when it has none", () => {
  // 48 MiB/s sweeping 32 MiB: covered in 0.67 s, 32 distinct MiB in the second; between two of QEMU's syncs it dirties 48 MiB/s.
  const p = dirtyProfile(MEMORY, 4096, curve([12, 24, 32]));
  near(p.workingSetBytes ?? 0, 32 * MiB);
  near(p.dirtyRateBytesPerSec, 48 * MiB);
  // Covered before the half-window point: one point says no pace (it may be a burst), so the window's average.
  near(dirtyProfile(MEMORY, 4096, curve([12, 16, 16])).dirtyRateBytesPerSec, 16 * MiB);
  // A writer that writes its 8 MiB in a burst at the start of each second: 8 MiB/s over 8 MiB, not its burst's pace.
  const bursty = dirtyProfile(MEMORY, 4096, curve([8, 8, 8]));
  near(bursty.dirtyRateBytesPerSec, 8 * MiB);
  near(bursty.workingSetBytes ?? 0, 8 * MiB);
});

test("an idle guest: rate 0, no working set; points at 0 ms are ignored", () => {
  assert.deepEqual(dirtyProfile(MEMORY, 4096, curve([0, 0, 0])), { dirtyRateBytesPerSec: 0, workingSetBytes: undefined });
  assert.deepEqual(dirtyProfile(MEMORY, 4096, []), { dirtyRateBytesPerSec: 0, workingSetBytes: undefined });
  assert.deepEqual(dirtyProfile(MEMORY, 4096, [{ ms: 0, changedShare: 0.5 }]), { dirtyRateBytesPerSec: 0, workingSetBytes: undefined });
});

test("the guest RAM mapping is the anonymous read-write mapping of the guest's size, else the nearest larger", () => {
  const maps = [
    "7f0000000000-7f0020000000 rw-p 00000000 00:00 0 ",
    "7f1000000000-7f1010000000 rw-p 00000000 00:00 0 ",
    "7f2000000000-7f2010000000 r--p 00000000 00:00 0 ",
    "7f3000000000-7f3010000000 rw-p 00000000 08:01 1234 /usr/lib/x.so",
  ].join("\n");
  assert.deepEqual(guestRamMapping(maps, 256 * MiB), { start: 0x7f1000000000, size: 256 * MiB });
  assert.deepEqual(guestRamMapping(maps, 300 * MiB), { start: 0x7f0000000000, size: 512 * MiB });
  assert.equal(guestRamMapping(maps, 1024 * MiB), undefined);
  assert.equal(isZeroPage(new Uint8Array(4096)), true);
  assert.equal(isZeroPage(new Uint8Array(4096).fill(1, 4095)), false);
});
