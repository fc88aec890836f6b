import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { hostUsageOf, latestFresh, meanOver, percentOf, USAGE_HISTORY_SAMPLES, USAGE_SAMPLE_INTERVAL_MS, UsageRing, type UsagePoint } from "./usage.ts";

const point = (at: number, cpuMhz: number, memoryMB = 100): UsagePoint => ({ at, cpuMhz, memoryMB });

describe("UsageRing", () => {
  test("holds an hour at the 20 s period, oldest first, and drops the oldest once full", () => {
    assert.equal(USAGE_HISTORY_SAMPLES * USAGE_SAMPLE_INTERVAL_MS, 3_600_000);
    const ring = new UsageRing(3);
    assert.equal(ring.latest(), undefined);
    assert.deepEqual(ring.points(), []);
    for (let i = 1; i <= 5; i++) assert.equal(ring.push(point(i * 1000, i)), true);
    assert.equal(ring.size, 3);
    assert.deepEqual(ring.points().map((p) => p.cpuMhz), [3, 4, 5]);
    assert.deepEqual(ring.latest(), point(5000, 5));
    assert.deepEqual(ring.since(4000).map((p) => p.at), [4000, 5000]);
  });

  test("refuses a sample not newer than the latest, or one that is not a measure", () => {
    const ring = new UsageRing(4);
    assert.equal(ring.push(point(2000, 1)), true);
    assert.equal(ring.push(point(2000, 9)), false, "same time");
    assert.equal(ring.push(point(1000, 9)), false, "older");
    assert.equal(ring.push(point(3000, Number.NaN)), false);
    assert.equal(ring.push(point(3000, -1)), false);
    assert.equal(ring.push(point(3000, 1, Number.POSITIVE_INFINITY)), false);
    assert.deepEqual(ring.points(), [point(2000, 1)]);
  });

  test("a ring of no samples is refused", () => {
    assert.throws(() => new UsageRing(0), RangeError);
    assert.throws(() => new UsageRing(1.5), RangeError);
  });

  test("property: the ring keeps exactly the newest `capacity` accepted samples, in order", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 80 }), (capacity, gaps) => {
        const ring = new UsageRing(capacity);
        const all: UsagePoint[] = [];
        let at = 0;
        for (const gap of gaps) {
          at += gap;
          const p = point(at, gap % 97, gap % 13);
          ring.push(p);
          all.push(p);
        }
        assert.deepEqual(ring.points(), all.slice(-capacity));
        assert.equal(ring.size, Math.min(capacity, all.length));
        assert.deepEqual(ring.latest(), all.at(-1));
      }),
    );
  });
});

describe("summaries", () => {
  const history = [point(0, 100, 10), point(20_000, 200, 20), point(40_000, 600, 30)];

  test("meanOver averages the samples inside the window, inclusive, and says which", () => {
    assert.deepEqual(meanOver(history, 40_000, 20_000), { cpuMhz: 400, memoryMB: 25, samples: 2, from: 20_000, to: 40_000 });
    assert.deepEqual(meanOver(history, 40_000, 3_600_000), { cpuMhz: 300, memoryMB: 20, samples: 3, from: 0, to: 40_000 });
    assert.equal(meanOver(history, 100_000, 20_000), undefined, "nothing in the last 20 s");
    assert.equal(meanOver([], 0, 1000), undefined);
    // A sample after `now` is not part of the window ending at `now`.
    assert.equal(meanOver(history, 10_000, 10_000)?.samples, 1);
  });

  test("latestFresh is the newest sample unless it is too old", () => {
    assert.deepEqual(latestFresh(history, 50_000, 20_000), point(40_000, 600, 30));
    assert.equal(latestFresh(history, 70_000, 20_000), undefined);
    assert.equal(latestFresh([], 0, 1), undefined);
  });

  test("a host's usage is its VMs' sums, with its capacity; percentages of it", () => {
    const host = hostUsageOf("esx01", 5, { cpuMhz: 10_000, memoryMB: 4096 }, [
      { vm: "web01", cpuMhz: 250.04, memoryMB: 64, at: 5 },
      { vm: "db01", cpuMhz: 1000, memoryMB: 960.5, at: 5 },
    ]);
    assert.equal(host.cpuMhz, 1250);
    assert.equal(host.memoryMB, 1024.5);
    assert.equal(host.vms.length, 2);
    assert.equal(percentOf(host.cpuMhz, host.capacity.cpuMhz), 12.5);
    assert.equal(percentOf(host.memoryMB, host.capacity.memoryMB), 25);
    assert.equal(percentOf(5, 0), 0, "an unknown capacity is no division by zero");
    assert.deepEqual(hostUsageOf("esx02", 1, { cpuMhz: 1, memoryMB: 1 }, []), { host: "esx02", cpuMhz: 0, memoryMB: 0, at: 1, capacity: { cpuMhz: 1, memoryMB: 1 }, vms: [] });
  });
});
