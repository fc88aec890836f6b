// Pre-copy and switchover run on the source agent's driver; the engine reads the source's event
// stream to its report, folding each progress event into the run (the core's machine and
// tracker decide phase and percent). The caller's abort is passed on to the source, and the
// stream read on: the source's report says how the abort ended.
import type { PreparedIncoming, OutgoingEvent } from "../agent/api.ts";
import { ErrorCode, FerryError, isFerryError } from "../core/errors.ts";
import { TERMINAL_PHASES, type MigrationReport } from "../core/migration/types.ts";
import { reason, type MigrationRun } from "./run.ts";

/** Asks the source to stop, once; a source that never reports after that is taken as lost. */
function abortOnSource(run: MigrationRun, reading: AbortController, grace: AbortSignal): () => void {
  let sent = false;
  const { source, log, id: migrationId, timings } = run;
  return () => {
    if (sent) return;
    sent = true;
    log("info", `aborting on ${source.name}`, { migrationId });
    source.abortOutgoing(migrationId).catch((error: unknown) => {
      log("warn", `abort request to ${source.name} failed: ${reason(error)}`, { migrationId });
    });
    run.clock.sleep(timings.abortGraceMs, grace).then(
      () => {
        reading.abort(new FerryError(ErrorCode.unavailable, `${source.name} did not report within ${timings.abortGraceMs} ms of the abort`));
      },
      () => undefined,
    );
  };
}

/**
 * Reads a source's event stream to its report, publishing progress. Throws UNAVAILABLE when the
 * stream is lost; a FerryError of another code is the source's own refusal.
 */
export async function relay(run: MigrationRun, open: (reading: AbortSignal) => AsyncIterable<OutgoingEvent>): Promise<MigrationReport> {
  const reading = new AbortController();
  const grace = new AbortController();
  const onAbort = abortOnSource(run, reading, grace.signal);
  if (run.signal.aborted) onAbort();
  else run.signal.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const event of open(reading.signal)) {
      switch (event.type) {
        case "progress":
          // The outcome is the engine's to announce, after settling: a source's "failed"
          // may still become completed (an uncertain switchover the destination ran).
          if (!TERMINAL_PHASES.has(event.progress.phase)) run.relayed(event.progress);
          break;
        case "heartbeat":
          break;
        case "report":
          return event.report;
      }
    }
    throw new FerryError(ErrorCode.unavailable, `the stream from ${run.source.name} ended before its report`);
  } catch (error) {
    // Anything but the source's own refusal counts as a lost stream.
    if (isFerryError(error)) throw error;
    throw new FerryError(ErrorCode.unavailable, reason(error), { cause: error });
  } finally {
    grace.abort();
    run.signal.removeEventListener("abort", onAbort);
  }
}

/** Starts the migration on the source and relays it to the source's report. */
export function migrateOut(run: MigrationRun, prepared: PreparedIncoming): Promise<MigrationReport> {
  const { source, destination, vm, fence } = run;
  const request = {
    migrationId: run.id,
    vm: vm.name,
    target: prepared,
    options: run.request.options,
    destination: destination.name,
    // The source asks the destination with the state token inside `prepared`, never with its agent token.
    destinationAgent: { host: destination.name, api: destination.baseUrl },
    ...(fence === undefined ? {} : { fence }),
  };
  return relay(run, (reading) => source.migrateOut(request, { signal: reading }));
}

export type Followed = { readonly report: MigrationReport; readonly lost?: undefined } | { readonly report?: undefined; readonly lost: "unreachable" | "unknown" };

/**
 * Tries to reach the source again and follow the same migration to its report. Without a
 * report, says whether the source stayed unreachable or answered that it has no such
 * migration (its agent restarted, or the migration never started there).
 */
export async function followAgain(run: MigrationRun): Promise<Followed> {
  const { source, clock, timings, id: migrationId } = run;
  let deadline = clock.monotonic() + timings.reattachMs;
  while (clock.monotonic() < deadline) {
    try {
      const view = await source.outgoing(migrationId);
      if (view.report !== undefined) return { report: view.report };
      // An answering source gets more time, unless it was asked to abort and has not
      // reported within the grace: then it only gets what is left.
      if (!run.aborted) deadline = clock.monotonic() + timings.reattachMs;
      run.say(run.phase, undefined, `stream from ${source.name} lost; following migration ${migrationId} again`);
      return { report: await relay(run, (reading) => source.followOutgoing(migrationId, { signal: reading })) };
    } catch (error) {
      // The source answered but does not know the migration.
      if (isFerryError(error) && error.code === ErrorCode.notFound) return { lost: "unknown" };
      await clock.sleep(timings.retryMs).catch(() => undefined);
    }
  }
  return { lost: "unreachable" };
}
