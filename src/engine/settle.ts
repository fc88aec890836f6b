// Settling: exactly one host runs the VM. A source's "completed" is the truth; after a failure
// the destination's side is aborted and the source's copy runs again; an uncertain switchover
// (COMMIT sent, the link lost before the destination confirmed) is settled by the VM's
// ownership record when the migration is fenced, else by the destination's word.
import { IncomingState, PowerStatus } from "../drivers/driver.ts";
import { ErrorCode, isFerryError } from "../core/errors.ts";
import { MigrationFailureCode, Phase, type MigrationFailure, type MigrationFailureCode as FailureCode, type MigrationReport } from "../core/migration/types.ts";
import { Failure, failed, needsAttention, sourceLostButCompleted } from "./outcome.ts";
import { reason, type Agent, type EngineLog, type MigrationRun } from "./run.ts";

/** Codes a source reports when its link to the destination failed; the engine checks whether the destination agent itself went away. */
const LINK_FAILURES: ReadonlySet<FailureCode> = new Set([
  MigrationFailureCode.streamBroken,
  MigrationFailureCode.stalled,
  MigrationFailureCode.destinationUnreachable,
  MigrationFailureCode.protocolError,
]);

function isUnavailable(error: unknown): boolean {
  return isFerryError(error) && error.code === ErrorCode.unavailable;
}

/** The destination's incoming state, asked until it answers or the reattach window ends (then undefined). */
export async function destinationState(run: MigrationRun): Promise<IncomingState | undefined> {
  const { destination, clock, timings } = run;
  const deadline = clock.monotonic() + timings.reattachMs;
  for (;;) {
    try {
      return (await destination.incomingState(run.id)).state;
    } catch (error) {
      if (!isUnavailable(error) || clock.monotonic() >= deadline) return undefined;
      await clock.sleep(timings.retryMs).catch(() => undefined);
    }
  }
}

/** Aborts the destination's incoming side; a failure is logged, never thrown. */
export async function abortIncoming(run: MigrationRun): Promise<void> {
  try {
    await run.destination.abortIncoming(run.id);
  } catch (error) {
    run.log("warn", `abort of the incoming side on ${run.destination.name} failed: ${reason(error)}`, { migrationId: run.id });
  }
}

/** Releases the reservations of `agents`; failures are logged. */
export async function release(run: MigrationRun, agents: readonly Agent[]): Promise<void> {
  await Promise.all(
    agents.map((agent) =>
      agent.release(run.id).catch((error: unknown) => {
        run.log("warn", `could not release the reservation on ${agent.name}: ${reason(error)}`, { migrationId: run.id });
      }),
    ),
  );
}

/**
 * Asks the source to settle an uncertain switchover by the VM's ownership record (its driver
 * claims it: won, the VM resumes there; lost, its copy is released). `where` is undefined
 * when the source or its record cannot be reached, with `why`.
 */
export async function settleOnSource(migrationId: string, source: Agent, log: EngineLog): Promise<{ readonly where: "source" | "destination"; readonly why?: undefined } | { readonly where?: undefined; readonly why: string }> {
  try {
    // The destination's word is not asked: the record decides (the state sent is ignored by a fenced driver).
    return { where: (await source.settleOutgoing(migrationId, IncomingState.unknown)).settledOn };
  } catch (error) {
    log("warn", `settling with ${source.name} failed: ${reason(error)}`, { migrationId });
    return { why: reason(error) };
  }
}

/**
 * After a failure the source owns the VM: one the migration left paused must run again. A VM
 * that is off there is left off: powering a VM on is never a side effect of a migration.
 */
async function ensureSourceRuns(run: MigrationRun): Promise<void> {
  const { source, vm, log, id: migrationId } = run;
  try {
    const status = await source.getVm(vm.name);
    if (status.power === PowerStatus.paused) {
      log("warn", `${vm.name} is paused on ${source.name} after the failure; resuming it`, { migrationId });
      await source.powerOn(vm.name);
    } else if (status.power === PowerStatus.off) {
      log("warn", `${vm.name} is powered off on ${source.name} after the failure; it stays off`, { migrationId });
    }
  } catch (error) {
    log("error", `could not check ${vm.name} on ${source.name}: ${reason(error)}`, { migrationId });
  }
}

async function stopSourceCopy(run: MigrationRun): Promise<void> {
  const { source, vm } = run;
  try {
    await source.powerOff(vm.name);
    await source.destroyVm(vm.name);
  } catch (error) {
    run.log("error", `could not stop the source copy of ${vm.name} on ${source.name}: ${reason(error)}`, { migrationId: run.id });
  }
}

/** The destination runs the VM although the source reported a failure (the link broke after COMMIT): it owns it now; the source copy must not run too. */
async function destinationTookIt(run: MigrationRun, outcome: MigrationReport): Promise<MigrationReport> {
  const { source, destination, vm } = run;
  run.log("error", `${destination.name} runs ${vm.name} although ${source.name} reported ${outcome.failure?.code ?? outcome.outcome}`, { migrationId: run.id });
  await stopSourceCopy(run);
  const failure = outcome.failure === undefined ? undefined : { ...outcome.failure, message: `${outcome.failure.message}; but ${destination.name} had confirmed and runs ${vm.name}, so the source copy was stopped` };
  return { ...outcome, outcome: Phase.completed, runningOn: destination.name, verified: true, failure };
}

/** Exactly one host runs the VM once this returns (or the report needs attention). `prepared`: the destination was asked to prepare. */
export async function settle(run: MigrationRun, outcome: MigrationReport, prepared: boolean): Promise<MigrationReport> {
  // Completed is the source's word that the destination runs the VM; SOURCE_LOST was
  // settled by reconcile() (or happened before the destination was asked for anything).
  if (outcome.outcome === Phase.completed || outcome.outcome === Phase.needsAttention || outcome.failure?.code === MigrationFailureCode.sourceLost) return outcome;
  // Lost during post-copy (qemu): neither host has the whole VM; no claim may resume the paused source copy.
  if (outcome.failure?.code === MigrationFailureCode.postcopyVmLost) return outcome;
  if (outcome.runningOn === "") return run.fenced ? settleByRecord(run, outcome) : settleUncertain(run, outcome);
  let result = outcome;
  if (prepared) {
    const state = await destinationState(run);
    if (state === IncomingState.running) return destinationTookIt(run, outcome);
    if (state === undefined && result.failure !== undefined && LINK_FAILURES.has(result.failure.code)) {
      const message = `the destination agent ${run.destination.name} went away during ${result.failure.phase}: ${result.failure.message}`;
      result = { ...result, failure: { ...result.failure, code: MigrationFailureCode.destinationLost, message } };
    }
    if (state !== undefined && state !== IncomingState.aborted && state !== IncomingState.unknown) await abortIncoming(run);
  }
  if (result.runningOn === run.source.name) await ensureSourceRuns(run);
  return result;
}

function uncertainFailure(outcome: MigrationReport): MigrationFailure {
  return outcome.failure ?? { code: MigrationFailureCode.destinationLost, message: "the outcome was uncertain", phase: Phase.switchover };
}

/**
 * The source sent COMMIT and lost the link before the destination confirmed: its VM waits
 * paused, and only the destination knows whether it resumed. A destination still between
 * states is aborted first (it resumes only on COMMIT over a live stream, so after an abort
 * it never will). A destination that cannot be reached within the reattach window is
 * taken as "unknown": its agent is gone, and a sim VM dies with its agent's process (a
 * qemu driver must likewise stop its guests when its agent dies, or this guess is unsafe).
 */
async function settleUncertain(run: MigrationRun, outcome: MigrationReport): Promise<MigrationReport> {
  const { source, destination, vm } = run;
  let state = await destinationState(run);
  if (state === IncomingState.waiting || state === IncomingState.receiving || state === IncomingState.verified) {
    await abortIncoming(run);
    state = await destinationState(run);
  }
  const told = state ?? IncomingState.unknown;
  const failure = uncertainFailure(outcome);
  let where: "source" | "destination";
  try {
    where = (await source.settleOutgoing(run.id, told)).settledOn;
  } catch (error) {
    // The source went away while it held the paused copy: the destination's word is all there is.
    run.log("error", `settling with ${source.name} failed: ${reason(error)}`, { migrationId: run.id });
    if (told === IncomingState.running) return sourceLostButCompleted(run, `${failure.message}; then settling failed: ${reason(error)}`, Phase.switchover);
    return failed(run, new Failure(MigrationFailureCode.sourceLost, `${failure.message}; settling with ${source.name} failed (${reason(error)}) and ${destination.name} does not run ${vm.name} (${told})`), Phase.switchover);
  }
  const settledWords = `settled with ${destination.name}'s state "${told}"${state === undefined ? ` (${destination.name} could not be reached)` : ""}: ${vm.name} runs on ${where === "destination" ? destination.name : source.name}`;
  if (where === "destination") {
    return { ...outcome, outcome: Phase.completed, runningOn: destination.name, verified: true, failure: { ...failure, message: `${failure.message}; ${settledWords}` } };
  }
  return { ...outcome, outcome: Phase.failed, runningOn: source.name, failure: { ...failure, message: `${failure.message}; ${settledWords}` } };
}

/**
 * An uncertain switchover, fenced: the source claims the VM's ownership record. Won, it
 * resumes the VM (the destination's claim can never win now); lost, the destination took it
 * first and runs the VM (or will, the moment it can), so the source's copy is released. When
 * the source or its record cannot be reached, only a destination that answers "running"
 * (it runs only after its claim won) proves anything; otherwise the VM stays paused and the
 * migration needs attention.
 */
async function settleByRecord(run: MigrationRun, outcome: MigrationReport): Promise<MigrationReport> {
  const { source, destination, vm } = run;
  const failure = uncertainFailure(outcome);
  const settled = await settleOnSource(run.id, source, run.log);
  if (settled.where === "source") {
    return { ...outcome, outcome: Phase.failed, runningOn: source.name, failure: { ...failure, message: `${failure.message}; ${source.name} took ${vm.name}'s ownership record back, so it runs there and ${destination.name} can never resume it` } };
  }
  const state = await destinationState(run);
  if (settled.where === "destination") {
    const confirmed = state === IncomingState.running;
    const words = confirmed ? `${destination.name} holds ${vm.name}'s ownership record and runs it` : `${destination.name} holds ${vm.name}'s ownership record (it claimed it before resuming) but did not answer (${state ?? "unreachable"}): it runs ${vm.name}, or will as soon as it can`;
    return { ...outcome, outcome: Phase.completed, runningOn: destination.name, verified: confirmed, failure: { ...failure, message: `${failure.message}; ${words}; the copy on ${source.name} was released` } };
  }
  if (state === IncomingState.running) return sourceLostButCompleted(run, `${failure.message}; settling with ${source.name} failed: ${settled.why}`, Phase.switchover);
  return needsAttention(run, outcome, `${failure.message}; neither host could prove it holds ${vm.name}'s ownership record (${source.name}: ${settled.why}; ${destination.name}: ${state ?? "does not answer"}). ${vm.name} stays paused on ${source.name}; Ferry asks again until one answers, or an operator decides with \`ferry migrate resolve ${run.id} --run-on HOST\``);
}
