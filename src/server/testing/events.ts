// Real events of the stream for tests that publish without running a migration: a progress
// event, a migration's report and its report event, each a full member of the core's union.
import type { TaskEventBody } from "../../core/migration/schema.ts";
import { Phase, type MigrationProgress, type MigrationReport } from "../../core/migration/types.ts";

/** A progress event of migration `migrationId` at `percent` (precopy unless `overrides` say); its time is the one it is published at. */
export function progressEvent(migrationId: string, percent: number, overrides: Partial<Omit<MigrationProgress, "at">> = {}): TaskEventBody {
  return {
    type: "progress",
    migrationId,
    vm: "web01",
    phase: Phase.precopy,
    percent,
    pass: 1,
    bytesSent: 0,
    bytesRemaining: 0,
    dirtyRateBytesPerSec: 0,
    linkRateBytesPerSec: 125_000_000,
    throttlePercent: 0,
    message: `copying memory: ${String(percent)}%`,
    ...overrides,
  };
}

/** The report of a migration of web01 from esx01 to esx02 that completed (unless `overrides` say). */
export function testReport(migrationId: string, overrides: Partial<MigrationReport> = {}): MigrationReport {
  return {
    migrationId,
    vm: "web01",
    source: "esx01",
    destination: "esx02",
    outcome: Phase.completed,
    runningOn: "esx02",
    downtimeMs: 40,
    totalMs: 900,
    bytesSent: 1024,
    passes: 2,
    pagesSent: 1,
    zeroPages: 0,
    throttlePercentMax: 0,
    verified: true,
    warnings: [],
    ...overrides,
  };
}

/** The event that ends a migration with `report`. */
export function reportEvent(report: MigrationReport): TaskEventBody {
  return { type: "report", state: report.outcome, report };
}
