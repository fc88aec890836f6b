// The words and shapes of a migration's end: the failures the engine decides itself (as opposed
// to a source's report), the report built when no source sent one, and the announcement of the
// outcome, made once, after settling.
import { ErrorCode, isFerryError } from "../core/errors.ts";
import { MigrationFailureCode, Phase, type MigrationFailure, type MigrationFailureCode as FailureCode, type MigrationReport } from "../core/migration/types.ts";
import { reason, type Agent, type CheckVerdict, type MigrationRun } from "./run.ts";

/** What failed, when the engine (not the source's report) decides it. */
export class Failure extends Error {
  constructor(
    readonly code: FailureCode,
    message: string,
  ) {
    super(message);
    this.name = "MigrationFailure";
  }
}

/** Words and code of an agent's refusal during preparing. */
export function preparingFailure(error: unknown, agent: Agent, role: "source" | "destination"): Failure {
  if (error instanceof Failure) return error;
  if (isFerryError(error)) {
    const code = error.failureCode;
    if (code !== undefined) return new Failure(code, error.message);
    if (error.code === ErrorCode.unavailable) {
      return role === "destination"
        ? new Failure(MigrationFailureCode.destinationUnreachable, `the destination agent ${agent.name} cannot be reached: ${error.message}`)
        : new Failure(MigrationFailureCode.sourceLost, `the source agent ${agent.name} cannot be reached: ${error.message}`);
    }
    if (error.code === ErrorCode.notFound && role === "source") return new Failure(MigrationFailureCode.vmNotFound, error.message);
  }
  return new Failure(MigrationFailureCode.internal, `${role} ${agent.name}: ${reason(error)}`);
}

/** Why the checker's verdict refuses the migration, or undefined when it may go. */
export function validationFailure(vm: string, destination: string, check: CheckVerdict | undefined, accepted: readonly string[] | "all" | undefined): string | undefined {
  if (check === undefined) return undefined;
  const changes = check.changes === undefined ? "" : ` ${check.changes}`;
  if (check.errors.length > 0) {
    const words = check.errors.map((f) => f.message).join(" ");
    return `${vm} cannot move to ${destination}: ${check.errors.length} error${check.errors.length === 1 ? "" : "s"} found by the compatibility check. ${words}${changes}`;
  }
  const open = accepted === "all" ? [] : check.warnings.filter((w) => !(accepted ?? []).includes(w.code));
  if (open.length > 0) {
    return `${vm} to ${destination} has ${open.length} warning${open.length === 1 ? "" : "s"} not accepted: ${[...new Set(open.map((w) => w.code))].join(", ")}. ${open.map((w) => w.message).join(" ")}${changes}`;
  }
  return undefined;
}

/** A report the engine builds (no source sent one): measurements are what it saw relayed. */
export function built(run: MigrationRun, outcome: MigrationReport["outcome"], failure: MigrationFailure | undefined, runningOn: string): MigrationReport {
  return {
    migrationId: run.id,
    vm: run.vm.name,
    source: run.source.name,
    destination: run.destination.name,
    outcome,
    failure,
    runningOn,
    downtimeMs: 0,
    totalMs: run.clock.monotonic() - run.started,
    bytesSent: run.last.bytesSent,
    passes: run.machine.passes,
    pagesSent: 0,
    zeroPages: 0,
    throttlePercentMax: run.machine.throttlePercentMax,
    prediction: run.request.prediction,
    verified: false,
  };
}

/** The engine's failure as a report: the VM runs on the source. */
export function failed(run: MigrationRun, f: Failure, at: Phase = run.phase): MigrationReport {
  const outcome = f.code === MigrationFailureCode.aborted ? Phase.cancelled : Phase.failed;
  return built(run, outcome, { code: f.code, message: f.message, phase: at }, run.source.name);
}

export function abortedFailure(run: MigrationRun): Failure {
  const why = run.signal.reason instanceof Error ? `: ${run.signal.reason.message}` : "";
  return new Failure(MigrationFailureCode.aborted, `aborted during ${run.phase}${why}`);
}

/** A source's report with the hosts named as this engine knows them. */
export function named(run: MigrationRun, report: MigrationReport): MigrationReport {
  const runningOn = report.outcome === Phase.completed ? run.destination.name : report.runningOn === "" ? "" : run.source.name;
  return { ...report, source: run.source.name, destination: run.destination.name, runningOn };
}

/** The destination verified the full state and runs the VM: the migration happened, though the source agent did not live to release its copy or send its report. */
export function sourceLostButCompleted(run: MigrationRun, why: string, lostPhase: Phase): MigrationReport {
  const { source, destination, vm } = run;
  const message = `the source agent ${source.name} went away during ${lostPhase} (${why}) after ${destination.name} confirmed it runs ${vm.name}; outcome taken from ${destination.name}`;
  return { ...built(run, Phase.completed, { code: MigrationFailureCode.sourceLost, message, phase: lostPhase }, destination.name), verified: true };
}

export function needsAttention(run: MigrationRun, outcome: MigrationReport, message: string): MigrationReport {
  run.log("error", `needs attention: ${message}`, { migrationId: run.id });
  return { ...outcome, outcome: Phase.needsAttention, runningOn: "", verified: false, failure: { code: MigrationFailureCode.ownershipUnknown, message, phase: Phase.switchover } };
}

/** An abort's report names who asked and why, when the caller's signal says so. */
function withAbortReason(run: MigrationRun, failure: MigrationFailure | undefined): MigrationFailure | undefined {
  const why: unknown = run.signal.reason;
  if (failure?.code !== MigrationFailureCode.aborted || !(why instanceof Error) || failure.message.includes(why.message)) return failure;
  return { ...failure, message: `${failure.message}: ${why.message}` };
}

/** The final report, announced once: the machine ends in its outcome and the last progress says it. */
export function finish(run: MigrationRun, report: MigrationReport): MigrationReport {
  const final: MigrationReport = { ...report, prediction: report.prediction ?? run.request.prediction, failure: withAbortReason(run, report.failure) };
  const vm = run.vm.name;
  const words =
    final.outcome === Phase.completed
      ? `completed: ${vm} runs on ${final.runningOn}${final.failure === undefined ? "" : ` (${final.failure.message})`}`
      : `${final.outcome}: ${final.failure?.code ?? ""} ${final.failure?.message ?? ""}; ${vm} runs on ${final.runningOn}`;
  run.conclude(final.outcome, final.failure, words);
  run.log(final.outcome === Phase.completed ? "info" : "warn", `migration ${words}`, { migrationId: run.id });
  return final;
}
