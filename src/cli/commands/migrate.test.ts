import { test } from "node:test";
import assert from "node:assert/strict";
import { migratedFine, predictionText, progressLine, reportText, taskOf, taskText, tasksTable } from "./migrate.ts";
import { TaskSchema } from "../../api/schemas.ts";
import type { MigrationProgress, MigrationReport } from "../../core/migration/types.ts";

const progress: MigrationProgress = {
  migrationId: "m1", vm: "web01", phase: "precopy", percent: 42.4, pass: 2, bytesSent: 10 << 20, bytesRemaining: 24 << 20,
  dirtyRateBytesPerSec: 0, linkRateBytesPerSec: 0, etaMs: 1500, expectedDowntimeMs: 40, throttlePercent: 0, message: "", at: 1000,
};

test("the progress line shows the bar, phase, pass, rate, data left, ETA and expected downtime", () => {
  const line = progressLine(progress, 10, 125e6 / 8);
  assert.match(line, /^████░░░░░░ {2}42% {2}precopy/);
  assert.match(line, /pass 2/);
  assert.match(line, /125 Mb\/s/, "the observed rate stands in until the driver measures the link");
  assert.match(line, /24\.0 MiB left/);
  assert.match(line, /ETA 1500 ms/);
  assert.match(line, /downtime ~40 ms/);
  assert.match(progressLine({ ...progress, linkRateBytesPerSec: 1e9 / 8, throttlePercent: 30 }, 10, 1), /1000 Mb\/s.*guest throttled 30%/);
});

test("the closing report puts measured beside predicted, and says where a failed VM runs", () => {
  const report: MigrationReport = {
    migrationId: "m1", vm: "web01", source: "esx01", destination: "esx02", outcome: "completed", failure: undefined, runningOn: "esx02",
    downtimeMs: 68, totalMs: 1051, bytesSent: 65 << 20, passes: 1, pagesSent: 1, zeroPages: 0, throttlePercentMax: 0,
    prediction: { passes: 1, bytes: 64 << 20, totalMs: 548, downtimeMs: 8, converges: true, note: "", throttlePercent: 0 }, verified: true,
  };
  const text = reportText(report);
  assert.match(text, /web01 now runs on esx02: migrated from esx01 in 1051 ms with 68 ms of downtime, state verified\./);
  assert.match(text, /total time\s*│ 1051 ms\s*│ 548 ms/);
  assert.doesNotMatch(text, /stream/, "a report from before encrypted VMotion says nothing about it");
  assert.match(reportText({ ...report, encrypted: true }), /stream\s*│ encrypted \(TLS\)/);
  assert.match(reportText({ ...report, encrypted: false }), /stream\s*│ in clear/);
  assert.match(reportText({ ...report, encrypted: false, bytesSent: 0 }), /stream\s*│ not opened/);
  const failed = reportText({ ...report, outcome: "failed", runningOn: "esx01", failure: { code: "NOT_CONVERGING", message: "not converging: dirty rate 900 Mb/s > link rate 100 Mb/s", phase: "precopy" } });
  assert.match(failed, /web01 was not migrated \(failed\): NOT_CONVERGING: not converging/);
  assert.match(failed, /web01 runs on esx01\./);
  assert.equal(migratedFine(report), true);
  assert.equal(migratedFine({ ...report, outcome: "failed" }), false);
});

test("a qemu migration that moved but is unreachable says so, shows QEMU's own downtime, and is not fine (exit 1)", () => {
  const report: MigrationReport = {
    migrationId: "m2", vm: "guest01", source: "esx01", destination: "esx02", outcome: "completed", runningOn: "esx02",
    failure: { code: "UNREACHABLE_AFTER_MIGRATION", message: "migrated, but unreachable: guest01 runs on esx02 but 198.18.0.11 (NIC nic0, MAC 52:54:00:12:00:0b) does not answer", phase: "switchover" },
    downtimeMs: 212, hypervisorDowntimeMs: 14, totalMs: 480, bytesSent: 62 << 20, passes: 3, pagesSent: 0, zeroPages: 0, throttlePercentMax: 0, prediction: undefined, verified: false,
  };
  const text = reportText(report);
  assert.match(text, /guest01 now runs on esx02: migrated from esx01 in 480 ms with 212 ms of downtime\./);
  assert.match(text, /but UNREACHABLE_AFTER_MIGRATION: migrated, but unreachable: guest01 runs on esx02/);
  assert.match(text, /downtime \(QEMU's own\)\s*│ 14 ms\s*│ -/);
  const predicted = { passes: 3, bytes: 60 << 20, totalMs: 450, downtimeMs: 60, hypervisorDowntimeMs: 9, converges: true, note: "", throttlePercent: 0 };
  assert.match(reportText({ ...report, prediction: predicted }), /downtime \(QEMU's own\)\s*│ 14 ms\s*│ 9 ms/, "a QEMU prediction says its own part too");
  assert.equal(migratedFine(report), false);
  assert.equal(migratedFine({ ...report, failure: { code: "DESTINATION_LOST", message: "settled with esx02's state running", phase: "switchover" } }), true);
});

test("a completed migration that went over its downtime limit says so in the report, the task and the list", () => {
  const task = TaskSchema.parse({
    id: "m-over", kind: "migration", vm: "web02", source: "esx01", destination: "esx02", state: "completed", percent: 100, createdAt: 1, updatedAt: 2, createdBy: "admin",
    body: {
      request: { vm: "web02", to: "esx02", priority: "high" }, requestedBy: "admin", acceptedWarnings: [], timeline: [{ phase: "queued", at: 1 }, { phase: "completed", at: 2 }],
      prediction: { passes: 1, bytes: 1 << 20, totalMs: 274, downtimeMs: 4, converges: true, note: "", throttlePercent: 0, basis: { linkRateBytesPerSec: 97.5e6, linkSource: "learned", samples: 12, costs: "sim", safetyMarginMs: 20, text: "link rate learned from 12 migrations: 780 Mb/s" } },
      report: {
        migrationId: "m-over", vm: "web02", source: "esx01", destination: "esx02", outcome: "completed", runningOn: "esx02", downtimeMs: 401, totalMs: 2800, bytesSent: 2 << 20, passes: 2,
        pagesSent: 512, zeroPages: 0, throttlePercentMax: 0, verified: true, warnings: [{ code: "DOWNTIME_OVER_LIMIT", message: "downtime 401 ms exceeded its 300 ms limit by 101 ms" }],
      },
    },
  });
  assert.ok(task.body.report !== undefined);
  assert.match(reportText(task.body.report), /web02 now runs on esx02: migrated from esx01 in 2800 ms with 401 ms of downtime, state verified\.\nWARNING DOWNTIME_OVER_LIMIT: downtime 401 ms exceeded its 300 ms limit by 101 ms/);
  assert.equal(migratedFine(task.body.report), true, "it moved: exit 0, the warning is said, not failed");
  assert.match(taskText(task), /^m-over: web02 esx01 → esx02, completed 100%, asked by admin\n {2}timeline: queued .* → completed .*\n.*WARNING DOWNTIME_OVER_LIMIT/s);
  assert.match(tasksTable([task], false), /m-over.*completed.*downtime 401 ms, DOWNTIME_OVER_LIMIT/);
  assert.match(predictionText({ ...task.body.prediction!, converges: true }), /^predicted: 274 ms, 1 pass, 1\.0 MiB, downtime ~4 ms \(link rate learned from 12 migrations: 780 Mb\/s\)$/);
  const failed = TaskSchema.parse({ ...task, state: "failed", body: { ...task.body, report: { ...task.body.report, outcome: "failed", warnings: [], failure: { code: "NOT_CONVERGING", message: "not converging", phase: "precopy" } }, failureCode: "NOT_CONVERGING" } });
  assert.match(tasksTable([failed], false), /m-over.*failed.*NOT_CONVERGING/);
  assert.throws(() => taskOf({ ...task, state: "sideways" }), /the controller answered a task this ferry cannot read \(state: /);
});

test("a post-copy move says so in the report: the pass it switched after, how long, the pages asked for and the vCPUs' blocked time; a lost VM says why", () => {
  const report: MigrationReport = {
    migrationId: "m-pc", vm: "web01", source: "esx01", destination: "esx02", outcome: "completed", runningOn: "esx02", downtimeMs: 40, totalMs: 2400, bytesSent: 64 * 1048576, passes: 3, pagesSent: 0, zeroPages: 0, throttlePercentMax: 0, verified: false, warnings: [],
    postcopy: { afterPass: 2, switchedAt: 1_700_000_000_000, durationMs: 900, requestedPages: 321, blocktimeMs: 55 },
  };
  assert.match(reportText(report), /post-copy\s*│?\s*after pass 2, 900 ms, 321 pages requested, vCPUs blocked 55 ms/);
  const lost: MigrationReport = { ...report, outcome: "failed", runningOn: "", failure: { code: "POSTCOPY_VM_LOST", message: "the stream to esx02 broke during post-copy (killed): web01 is lost", phase: "switchover" } };
  assert.match(reportText(lost), /not migrated \(failed\): POSTCOPY_VM_LOST: the stream to esx02 broke during post-copy/);
});
