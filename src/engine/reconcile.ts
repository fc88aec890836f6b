// No report from the source: its agent went away mid-migration, or a controller that restarted
// picks the migration up. The source is asked again first; without its report, the
// destination's state decides where the VM runs, and a fenced migration never takes a silent
// source for dead.
import { IncomingState } from "../drivers/driver.ts";
import { isTerminal } from "../core/migration/phases.ts";
import { MigrationFailureCode, Phase, type MigrationReport } from "../core/migration/types.ts";
import { Failure, built, failed, named, needsAttention, sourceLostButCompleted } from "./outcome.ts";
import { followAgain } from "./relay.ts";
import type { MigrationRun } from "./run.ts";
import { abortIncoming, destinationState, release, settle } from "./settle.ts";

/**
 * The source cannot be reached, fenced: it is not taken for dead. A destination still
 * claiming is given the reattach window to finish; running there proves the migration
 * happened. Otherwise an incoming side that has not committed is aborted, and the VM's place
 * waits for the source's word (it may hold the VM paused after COMMIT): needs attention.
 */
async function sourceLostFenced(run: MigrationRun, why: string, lostPhase: Phase, first: IncomingState | undefined): Promise<MigrationReport> {
  const { source, destination, vm, clock, timings } = run;
  let state = first;
  const deadline = clock.monotonic() + timings.reattachMs;
  while (state === IncomingState.committing && clock.monotonic() < deadline) {
    await clock.sleep(timings.retryMs).catch(() => undefined);
    state = await destinationState(run);
  }
  if (state === IncomingState.running) return sourceLostButCompleted(run, why, lostPhase);
  if (state === IncomingState.waiting || state === IncomingState.receiving || state === IncomingState.verified) await abortIncoming(run);
  const there = state === undefined ? `${destination.name} cannot be reached either` : `${destination.name} does not run it (${state})`;
  return needsAttention(run, built(run, Phase.failed, undefined, ""), `the source agent ${source.name} went away during ${lostPhase} (${why}) and ${there}; ${vm.name} may wait paused on ${source.name}, which is not taken for dead: Ferry asks it again until it answers, or an operator decides with \`ferry migrate resolve ${run.id} --run-on HOST\``);
}

/**
 * No report from the source: the destination's state decides where the VM runs. "source-lost":
 * the source agent went away (or restarted) mid-migration; "never-started": the source,
 * asked after a controller restart, never heard of the migration.
 */
export async function reconcile(run: MigrationRun, why: string, kind: "source-lost" | "never-started"): Promise<MigrationReport> {
  const { source, destination, id: migrationId } = run;
  const state = await destinationState(run);
  const lostPhase = run.phase;
  if (state === IncomingState.running) return sourceLostButCompleted(run, why, lostPhase);
  if (kind === "source-lost" && run.fenced) return sourceLostFenced(run, why, lostPhase, state);
  if (state !== undefined) {
    await abortIncoming(run);
    // The source may have committed between the two questions: ask once more.
    if ((await destinationState(run)) === IncomingState.running) return sourceLostButCompleted(run, why, lostPhase);
  }
  const destinationWords = state === undefined ? `; ${destination.name} cannot be reached either` : `; ${destination.name} had not resumed it (${state}), so it stays with ${source.name}`;
  if (kind === "never-started") {
    return failed(run, new Failure(MigrationFailureCode.aborted, `${why} before migration ${migrationId} got under way on ${source.name}${destinationWords}`), lostPhase);
  }
  return failed(run, new Failure(MigrationFailureCode.sourceLost, `the source agent ${source.name} went away during ${lostPhase} (${why})${destinationWords}`), lostPhase);
}

/**
 * Picks up a migration already under way (reconcileMigration), last seen in `lastPhase`: every
 * host may hold a piece of it, so settling aborts the destination's side and releases both
 * hosts' reservations.
 */
export async function reconcileExisting(run: MigrationRun, lastPhase: Phase): Promise<MigrationReport> {
  const { source, destination } = run;
  run.say(isTerminal(lastPhase) ? Phase.precopy : lastPhase, undefined, `reconciling migration ${run.id} with ${source.name} and ${destination.name}`);
  let report: MigrationReport;
  const found = await followAgain(run);
  if (found.report !== undefined) report = named(run, found.report);
  else if (found.lost === "unknown") report = await reconcile(run, "the controller restarted", "never-started");
  else report = await reconcile(run, `the controller restarted and ${source.name} cannot be reached`, "source-lost");
  try {
    return await settle(run, report, true);
  } finally {
    await release(run, [source, destination]);
  }
}
