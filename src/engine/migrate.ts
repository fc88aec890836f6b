// The migration engine: one live migration of a VM from one agent to another, from the
// checker's verdict to the VM running on exactly one host. The phases are DESIGN.md's:
//   validating → preparing (reserve when high priority, destination shell) → precopy →
//   switchover → completed | failed | cancelled
// The source agent's driver runs pre-copy and switchover; the engine relays its progress
// stream and then settles. Settling keeps the one rule: until the destination has confirmed
// it runs the VM, the source owns it. So:
//   - a report from the source is the truth: completed means the destination runs the VM;
//     failed or cancelled means the source does, and the engine aborts the incoming side
//     (the destination's shell is destroyed) and makes sure the source copy runs;
//   - when the stream to the source breaks, the engine first tries to reach the source
//     again and follow the same migration; when the source agent stays gone, it asks the
//     destination: a destination that runs the VM means the migration completed (the
//     source committed before it went away), anything else means the VM stays with the
//     source, and the incoming side is aborted;
//   - reservations are released whatever happens.
// One MigrationRun (run.ts) carries the state; its phase and percent are the core's (the
// phase machine and progress tracker). The steps live by role: prepare.ts (validating,
// preparing, reservations), relay.ts (the source's stream), reconcile.ts (no report from the
// source), settle.ts (one host runs the VM), outcome.ts (the report and its words).
import type { PreparedIncoming } from "../agent/api.ts";
import { ErrorCode, isFerryError } from "../core/errors.ts";
import { DEFAULT_MIGRATE_OPTIONS, MigrationFailureCode, Phase, type MigrationReport } from "../core/migration/types.ts";
import { Failure, failed, finish, named, preparingFailure } from "./outcome.ts";
import { prepare, validate } from "./prepare.ts";
import { reconcile, reconcileExisting } from "./reconcile.ts";
import { followAgain, migrateOut } from "./relay.ts";
import { MigrationRun, reason, type MigrateRequest } from "./run.ts";
import { release, settle } from "./settle.ts";

export { validationFailure } from "./outcome.ts";
export { settleOnSource } from "./settle.ts";
export { DEFAULT_SETTLE_TIMINGS, type CheckVerdict, type EngineLog, type MigrateRequest, type SettleTimings } from "./run.ts";

/** One live migration, from the checker's verdict to the VM running on exactly one host. */
export async function migrate(request: MigrateRequest): Promise<MigrationReport> {
  const run = new MigrationRun(request, false);
  const refused = validate(run);
  if (refused !== undefined) return finish(run, failed(run, refused.failure, Phase.validating));
  let report: MigrationReport;
  try {
    report = await runOutgoing(run, await prepare(run));
  } catch (error) {
    if (!(error instanceof Failure)) run.log("error", `unexpected: ${reason(error)}`, { migrationId: run.id });
    report = failed(run, error instanceof Failure ? error : new Failure(MigrationFailureCode.internal, reason(error)));
  }
  try {
    report = await settle(run, report, run.incomingAsked);
  } finally {
    await release(run, run.reserved);
  }
  return finish(run, report);
}

/** Pre-copy and switchover on the source; when its stream breaks, the source is asked again, else the destination. */
async function runOutgoing(run: MigrationRun, prepared: PreparedIncoming): Promise<MigrationReport> {
  try {
    return named(run, await migrateOut(run, prepared));
  } catch (error) {
    if (isFerryError(error) && error.code !== ErrorCode.unavailable) throw preparingFailure(error, run.source, "source");
    // The stream broke (or never started): find out from the source, else the destination.
    run.log("warn", `stream from ${run.source.name} lost: ${reason(error)}`, { migrationId: run.id });
    const recovered = await followAgain(run);
    if (recovered.report !== undefined) return named(run, recovered.report);
    return reconcile(run, reason(error), "source-lost");
  }
}

/**
 * What a controller that restarted in the middle of a migration needs: the same migration
 * (same id, VM, agents), picked up where it is. It follows the source's migration to its
 * report when the source still runs it, takes its report when it ended, and otherwise asks
 * the destination; then it settles exactly as migrate() does (uncertain switchovers
 * included) and releases both hosts' reservations.
 */
export interface ReconcileRequest extends Omit<MigrateRequest, "options" | "check" | "acceptedWarnings"> {
  /** The phase the migration was last known in, for the words of the outcome. Default precopy. */
  readonly lastPhase?: Phase | undefined;
  /** The percent its task last showed (its last stored progress event's): progress picks up from there, never below. */
  readonly lastPercent?: number | undefined;
  /** Its last stored progress event said the switchover had passed its commit: every event from here says so too. */
  readonly committed?: boolean | undefined;
  /** The migration was fenced (its agents hold the VM's ownership fence): settle by the record. */
  readonly fenced?: boolean | undefined;
}

export async function reconcileMigration(request: ReconcileRequest): Promise<MigrationReport> {
  const run = new MigrationRun({ ...request, options: { ...DEFAULT_MIGRATE_OPTIONS, priority: "low" } }, request.fenced === true, { percent: request.lastPercent ?? 0, committed: request.committed });
  return finish(run, await reconcileExisting(run, request.lastPhase ?? Phase.precopy));
}
