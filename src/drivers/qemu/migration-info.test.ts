import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { capabilityArguments, isFinal, migrationRates, MigrationStatus, parameterArguments, parseMigrationInfo } from "./migration-info.ts";

const MiB = 1024 * 1024;

/** A query-migrate return shaped as QEMU 7.2 sends it mid-migration. */
function active(transferred: number, remaining: number): unknown {
  return {
    status: "active",
    "setup-time": 3,
    "total-time": 420,
    "expected-downtime": 300,
    ram: { transferred, remaining, total: 128 * MiB, duplicate: 30000, normal: 9000, "normal-bytes": 9000 * 4096, "dirty-pages-rate": 0, mbps: 900.5, "dirty-sync-count": 2, "page-size": 4096 },
  };
}

describe("parseMigrationInfo", () => {
  test("reads QEMU 7.2's MigrationInfo and MigrationStats", () => {
    const sample = parseMigrationInfo(active(40 * MiB, 20 * MiB));
    assert.equal(sample.status, MigrationStatus.active);
    assert.equal(sample.transferredBytes, 40 * MiB);
    assert.equal(sample.remainingBytes, 20 * MiB);
    assert.equal(sample.totalBytes, 128 * MiB);
    assert.equal(sample.dirtySyncCount, 2);
    assert.deepEqual([sample.normalPages, sample.zeroPages], [9000, 30000]);
    assert.equal(sample.totalTimeMs, 420);
    assert.equal(sample.expectedDowntimeMs, 300);
    assert.equal(sample.setupTimeMs, 3);
    assert.equal(sample.downtimeMs, undefined);
    assert.equal(sample.error, undefined);
  });

  test("before any migration QEMU answers {}: status none, no counters", () => {
    const sample = parseMigrationInfo({});
    assert.equal(sample.status, MigrationStatus.none);
    assert.equal(sample.transferredBytes, undefined);
    assert.equal(isFinal(sample), false);
  });

  test("a failure carries QEMU's error-desc; an unknown status is reported, not trusted", () => {
    assert.equal(parseMigrationInfo({ status: "failed", "error-desc": "Unable to write to socket: Broken pipe" }).error, "Unable to write to socket: Broken pipe");
    const odd = parseMigrationInfo({ status: "teleporting" });
    assert.equal(odd.status, MigrationStatus.none);
    assert.equal(odd.error, "unknown migration status teleporting");
  });
});

describe("isFinal", () => {
  const cases: { readonly info: unknown; readonly final: boolean; readonly why: string }[] = [
    { info: { status: "completed", "total-time": 0, downtime: 0 }, final: false, why: "QEMU 7.2 reports completed with zero times for a moment (trap 6)" },
    { info: { status: "completed", "total-time": 436, downtime: 12 }, final: true, why: "completed with its times" },
    { info: { status: "failed" }, final: true, why: "failed" },
    { info: { status: "cancelled" }, final: true, why: "cancelled" },
    { info: { status: "cancelling" }, final: false, why: "migrate_cancel still in flight" },
    { info: { status: "device" }, final: false, why: "stop-and-copy" },
    { info: { status: "pre-switchover" }, final: false, why: "waiting for migrate-continue" },
  ];
  for (const { info, final, why } of cases) {
    test(`${JSON.stringify(info)} → ${final} (${why})`, () => {
      assert.equal(isFinal(parseMigrationInfo(info)), final);
    });
  }
});

describe("migrationRates", () => {
  test("derives send and dirty rates from transferred and remaining", () => {
    // 0.5 s: 50 MiB sent, remaining went 60 → 30 MiB, so 20 MiB were dirtied meanwhile.
    const rates = migrationRates(parseMigrationInfo(active(10 * MiB, 60 * MiB)), parseMigrationInfo(active(60 * MiB, 30 * MiB)), 500);
    assert.deepEqual(rates, { sentBytesPerSec: 100 * MiB, dirtiedBytesPerSec: 40 * MiB, convergenceBytesPerSec: 60 * MiB });
  });

  test("a writer faster than the link shows as negative convergence", () => {
    const rates = migrationRates(parseMigrationInfo(active(0, 100 * MiB)), parseMigrationInfo(active(32 * MiB, 110 * MiB)), 1000);
    assert.ok(rates !== undefined);
    assert.equal(rates.dirtiedBytesPerSec, 42 * MiB);
    assert.ok(rates.convergenceBytesPerSec < 0);
  });

  test("undefined without counters or elapsed time", () => {
    assert.equal(migrationRates(parseMigrationInfo({}), parseMigrationInfo(active(1, 1)), 100), undefined);
    assert.equal(migrationRates(parseMigrationInfo(active(1, 1)), parseMigrationInfo(active(2, 1)), 0), undefined);
  });
});

describe("migration settings", () => {
  test("every capability Ferry uses is set explicitly, events always on (traps 5 and 9)", () => {
    const settings = { downtimeLimitMs: 300, maxBandwidthBytesPerSec: 128 * MiB, autoConverge: true, pauseBeforeSwitchover: false, multifdChannels: 0, xbzrleCacheBytes: 0 };
    assert.deepEqual(capabilityArguments(settings), {
      capabilities: [
        { capability: "events", state: true },
        { capability: "auto-converge", state: true },
        { capability: "pause-before-switchover", state: false },
        { capability: "multifd", state: false },
        { capability: "xbzrle", state: false },
        { capability: "postcopy-ram", state: false },
      ],
    });
    // multifd and xbzrle off: their parameters go back to QEMU 7.2's defaults, since they stick too.
    assert.deepEqual(parameterArguments(settings), { "downtime-limit": 300, "max-bandwidth": 128 * MiB, "cpu-throttle-initial": 20, "cpu-throttle-increment": 10, "max-cpu-throttle": 99, "multifd-channels": 2, "xbzrle-cache-size": 64 * MiB, "max-postcopy-bandwidth": 0 });
  });

  test("multifd and xbzrle on carry their channel count and cache size", () => {
    const settings = { downtimeLimitMs: 120.4, maxBandwidthBytesPerSec: 1e9, autoConverge: false, pauseBeforeSwitchover: false, multifdChannels: 4, xbzrleCacheBytes: 32 * MiB };
    const capabilities = capabilityArguments(settings).capabilities;
    assert.deepEqual(capabilities.filter((c) => c.state).map((c) => c.capability), ["events", "multifd", "xbzrle"]);
    const parameters = parameterArguments(settings);
    assert.equal(parameters["multifd-channels"], 4);
    assert.equal(parameters["xbzrle-cache-size"], 32 * MiB);
    assert.equal(parameters["downtime-limit"], 120);
  });

  test("post-copy sets postcopy-ram; its counters (requests on the source, blocktime on the destination) are read", () => {
    const settings = { downtimeLimitMs: 300, maxBandwidthBytesPerSec: 1e9, autoConverge: false, pauseBeforeSwitchover: false, multifdChannels: 0, xbzrleCacheBytes: 0, postcopy: true };
    assert.deepEqual(capabilityArguments(settings).capabilities.filter((c) => c.state).map((c) => c.capability), ["events", "postcopy-ram"]);
    assert.equal(parameterArguments(settings)["max-postcopy-bandwidth"], 1e9, "the cap holds after the switch too");
    const source = parseMigrationInfo({ status: "postcopy-active", ram: { transferred: 10, remaining: 5, "postcopy-requests": 42 } });
    assert.deepEqual([source.status, source.postcopyRequests, source.postcopyBlocktimeMs], ["postcopy-active", 42, undefined]);
    const destination = parseMigrationInfo({ status: "completed", "postcopy-blocktime": 17, "postcopy-vcpu-blocktime": [17] });
    assert.equal(destination.postcopyBlocktimeMs, 17);
  });
});
