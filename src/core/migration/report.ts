// The report of a migration that moved nothing: refused, cancelled while queued, or failed
// before a byte was measured. One shape for the scheduler, the drivers, the agent and the
// controller, so every such report carries the same zeros and the VM's true host.
import type { MigrationFailure, MigrationReport, Phase, Prediction } from "./types.ts";

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
