import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { WorkloadSpec } from "../driver.ts";
import { GuestMemory } from "./memory.ts";
import { BURST_PERIOD_MS, Workload, mulberry32 } from "./workload.ts";

const MiB = 1024 * 1024;

function run(spec: WorkloadSpec, steps: readonly number[]): { memory: GuestMemory; workload: Workload; written: number } {
  const memory = new GuestMemory(16 * MiB);
  const workload = new Workload(spec, memory);
  let written = 0;
  for (const ms of steps) written += workload.advance(ms);
  return { memory, workload, written };
}

const steady: WorkloadSpec = { kind: "steady", dirtyRateBytesPerSec: 4 * MiB, workingSetBytes: 2 * MiB, seed: 42 };

describe("Workload", () => {
  test("mulberry32 is a pure function of its state", () => {
    assert.deepEqual(mulberry32(1), mulberry32(1));
    assert.notEqual(mulberry32(1)[0], mulberry32(2)[0]);
  });

  test("same seed, same steps: the same writes, byte for byte", () => {
    const steps = [5, 5, 7.5, 100, 3];
    const a = run(steady, steps);
    const b = run(steady, steps);
    assert.deepEqual(a.workload.state(), b.workload.state());
    assert.ok(a.memory.bytes.equals(b.memory.bytes));
    const c = run({ ...steady, seed: 43 }, steps);
    assert.notDeepEqual(c.workload.state().checksum, a.workload.state().checksum);
  });

  test("writes at the set rate, inside the working set", () => {
    const { memory, written } = run(steady, Array.from({ length: 100 }, () => 10));
    // 4 MiB/s for 1 s is 1024 page writes.
    assert.equal(written, 1024);
    const pages = memory.harvestDirty();
    assert.ok(pages.length > 0 && (pages.at(-1) ?? 0) < (2 * MiB) / 4096);
  });

  test("idle writes nothing", () => {
    const { written, memory } = run({ ...steady, kind: "idle" }, [1000]);
    assert.equal(written, 0);
    assert.equal(memory.dirtyCount, 0);
  });

  test("bursty alternates high and low around the same average", () => {
    const spec: WorkloadSpec = { ...steady, kind: "bursty" };
    const high = run(spec, [BURST_PERIOD_MS]).written;
    const both = run(spec, [BURST_PERIOD_MS, BURST_PERIOD_MS]).written;
    const low = both - high;
    assert.ok(high > 5 * low, `high ${high}, low ${low}`);
    assert.ok(Math.abs(both - 1024) <= 1, `${both}`);
  });

  test("hot sweeps the working set: every write in a sweep dirties a new page", () => {
    const { written, memory } = run({ ...steady, kind: "hot", workingSetBytes: 8 * MiB }, [500]);
    assert.equal(memory.dirtyCount, written);
  });

  test("throttle P% runs the guest at (100 - P)% of its rate", () => {
    const memory = new GuestMemory(16 * MiB);
    const w = new Workload(steady, memory);
    w.setThrottle(75);
    assert.equal(w.advance(1000), 256);
  });

  test("resuming from a saved state continues the same sequence", () => {
    const whole = run(steady, [300, 300]);
    const first = run(steady, [300]);
    // The destination: memory as transferred, workload from the transferred state.
    const memory = new GuestMemory(16 * MiB);
    memory.load(0, first.memory.bytes);
    const resumed = new Workload(steady, memory, first.workload.state());
    resumed.advance(300);
    assert.deepEqual(resumed.state(), whole.workload.state());
    assert.ok(memory.bytes.equals(whole.memory.bytes));
  });
});
