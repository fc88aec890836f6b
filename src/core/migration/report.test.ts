import { test } from "node:test";
import assert from "node:assert/strict";
import { unmovedReport, withDowntimeWarning, withWarning } from "./report.ts";
import { MigrationFailureCode, MigrationWarningCode, Phase, type MigrationReport } from "./types.ts";

const completed: MigrationReport = {
  ...unmovedReport({ migrationId: "m1", vm: "web01", source: "esx01", destination: "esx02", outcome: Phase.failed, failure: { code: MigrationFailureCode.internal, message: "", phase: Phase.precopy }, runningOn: "esx02" }),
  outcome: Phase.completed,
  failure: undefined,
  downtimeMs: 420,
};

test("a report's warnings: one per code, the downtime judged by the user's limit, and both kinds together", () => {
  const over = withDowntimeWarning(completed, 300);
  assert.deepEqual(over.warnings?.map((w) => w.code), [MigrationWarningCode.downtimeOverLimit]);
  assert.match(over.warnings[0]?.message ?? "", /paused 420 ms at switchover, 120 ms over its 300 ms downtime limit/);
  // Settled twice: the same code is not repeated.
  assert.equal(withDowntimeWarning(over, 300).warnings?.length, 1);
  assert.deepEqual(withDowntimeWarning(completed, 500).warnings, []);
  assert.deepEqual(withDowntimeWarning({ ...completed, outcome: Phase.failed }, 300).warnings, []);
  const both = withWarning(over, MigrationWarningCode.inventoryNotRecorded, "web01 runs on esx02, but the inventory could not record it");
  assert.deepEqual(both.warnings?.map((w) => w.code), [MigrationWarningCode.downtimeOverLimit, MigrationWarningCode.inventoryNotRecorded]);
  assert.equal(withWarning(both, MigrationWarningCode.inventoryNotRecorded, "again").warnings?.length, 2);
});
