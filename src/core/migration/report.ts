// The report of a migration that moved nothing: refused, cancelled while queued, or failed
// before a byte was measured. One shape for the scheduler, the drivers, the agent and the
// controller, so every such report carries the same zeros and the VM's true host.
import { MigrationWarningCode, Phase, type MigrationFailure, type MigrationReport, type MigrationWarning, type Prediction } from "./types.ts";

export interface UnmovedReportFields {
  readonly migrationId: string;
  readonly vm: string;
  readonly source: string;
  readonly destination: string;
  readonly outcome: typeof Phase.failed | typeof Phase.cancelled;
  readonly failure: MigrationFailure;
  /** Where the VM runs: its source, normally ("" only while a switchover is being settled). */
  readonly runningOn: string;
  readonly prediction?: Prediction | undefined;
  /** What was known to have moved before the failure, if anything. */
  readonly bytesSent?: number | undefined;
  readonly passes?: number | undefined;
}

export function unmovedReport(fields: UnmovedReportFields): MigrationReport {
  return {
    migrationId: fields.migrationId,
    vm: fields.vm,
    source: fields.source,
    destination: fields.destination,
    outcome: fields.outcome,
    failure: fields.failure,
    runningOn: fields.runningOn,
    downtimeMs: 0,
    totalMs: 0,
    bytesSent: fields.bytesSent ?? 0,
    passes: fields.passes ?? 0,
    pagesSent: 0,
    zeroPages: 0,
    throttlePercentMax: 0,
    prediction: fields.prediction,
    verified: false,
    encrypted: false,
  };
}

/**
 * The report as the task keeps it: a completed migration whose measured downtime exceeded the
 * user's limit stays completed (the VM moved) and carries DOWNTIME_OVER_LIMIT saying by how
 * much. `limitMs` is the user's limit, not the lower target the engine may have been given.
 */
export function withDowntimeWarning(report: MigrationReport, limitMs: number): MigrationReport {
  if (report.outcome !== Phase.completed || !(report.downtimeMs > limitMs)) return { ...report, warnings: [...(report.warnings ?? [])] };
  return withWarning(report, MigrationWarningCode.downtimeOverLimit, `${report.vm} was paused ${report.downtimeMs.toFixed(0)} ms at switchover, ${(report.downtimeMs - limitMs).toFixed(0)} ms over its ${limitMs} ms downtime limit`);
}

/** The report with one more warning; a code it carries already is not repeated (a report settled twice). */
export function withWarning(report: MigrationReport, code: MigrationWarningCode, message: string): MigrationReport {
  const warnings: readonly MigrationWarning[] = report.warnings ?? [];
  if (warnings.some((w) => w.code === code)) return { ...report, warnings: [...warnings] };
  return { ...report, warnings: [...warnings, { code, message }] };
}
