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
import type { AgentClient } from "../agent/client.ts";
import { failureCodeOf, type IncomingMigration, type OutgoingEvent, type VmSpec } from "../agent/api.ts";
import type { Clock } from "../core/clock.ts";
import { ErrorCode, FerryError, isFerryError } from "../core/errors.ts";
import type { Finding } from "../core/check/findings.ts";
import {
  DEFAULT_MIGRATE_OPTIONS,
  MigrationFailureCode,
  Phase,
  TERMINAL_PHASES,
  type MigrateOptions,
  type MigrationFailure,
  type MigrationFailureCode as FailureCode,
  type MigrationProgress,
  type MigrationReport,
  type Prediction,
} from "../core/migration/types.ts";
import { IncomingState, PowerStatus } from "../drivers/driver.ts";
import { destinationReservation, sourceReservation } from "./reservation.ts";
import { establishFence, type OwnershipPlan } from "./fence.ts";
import type { Fence } from "../core/ownership.ts";

/** The checker's verdict on (VM, destination), as the caller computed it. */
export interface CheckVerdict {
  readonly errors: readonly Finding[];
  readonly warnings: readonly Finding[];
  /** What changed since an earlier verdict (a check made again when the task left the queue). */
  readonly changes?: string | undefined;
}

export type EngineLog = (level: "info" | "warn" | "error", message: string, fields?: Readonly<Record<string, unknown>>) => void;

export interface SettleTimings {
  /** How long the engine keeps trying to reach a source agent whose stream broke. Default 3 s. */
  readonly reattachMs: number;
  /** How long to wait for the source's report after asking it to abort. Default 30 s. */
  readonly abortGraceMs: number;
  /** Pause between attempts to reach an agent while settling. Default 200 ms. */
  readonly retryMs: number;
}

export const DEFAULT_SETTLE_TIMINGS: SettleTimings = { reattachMs: 3000, abortGraceMs: 30_000, retryMs: 200 };

export interface MigrateRequest {
  readonly migrationId: string;
  /** The VM as its destination shell must be created: memory, vCPUs, NICs (MACs and IPs kept), CPU flags. */
  readonly vm: VmSpec;
  readonly source: AgentClient;
  readonly destination: AgentClient;
  readonly options: MigrateOptions;
  /** The checker's result for this VM and destination; errors end the migration before any host is contacted. */
  readonly check?: CheckVerdict | undefined;
  /** Warning codes the caller accepted (the seed: warnings need an explicit confirmation), or "all". */
  readonly acceptedWarnings?: readonly string[] | "all" | undefined;
  /** The model's prediction, stored beside the measurement in the report. */
  readonly prediction?: Prediction | undefined;
  readonly signal: AbortSignal;
  readonly onProgress: (progress: MigrationProgress) => void;
  readonly clock: Clock;
  readonly log?: EngineLog | undefined;
  readonly timings?: Partial<SettleTimings> | undefined;
  /**
   * The VM's ownership record (fencing, src/engine/fence.ts). With it, an uncertain
   * switchover is settled by the record, never by silence; without it (tests of the engine
   * alone), by the destination's word.
   */
  readonly ownership?: OwnershipPlan | undefined;
}

const MiB = 1048576;

/** Codes a source reports when its link to the destination failed; the engine checks whether the destination agent itself went away. */
const LINK_FAILURES: ReadonlySet<FailureCode> = new Set([
  MigrationFailureCode.streamBroken,
  MigrationFailureCode.stalled,
  MigrationFailureCode.destinationUnreachable,
  MigrationFailureCode.protocolError,
]);

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isUnavailable(error: unknown): boolean {
  return isFerryError(error) && error.code === ErrorCode.unavailable;
}

/** What failed, when the engine (not the source's report) decides it. */
class Failure extends Error {
  constructor(
    readonly code: FailureCode,
    message: string,
  ) {
    super(message);
    this.name = "MigrationFailure";
  }
}

/** Words and code of an agent's refusal during preparing. */
function preparingFailure(error: unknown, agent: AgentClient, role: "source" | "destination"): Failure {
  if (error instanceof Failure) return error;
  if (isFerryError(error)) {
    const code = failureCodeOf(error.details);
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

/**
 * Asks the source to settle an uncertain switchover by the VM's ownership record (its driver
 * claims it: won, the VM resumes there; lost, its copy is released). `where` is undefined
 * when the source or its record cannot be reached, with `why`.
 */
export async function settleOnSource(migrationId: string, source: AgentClient, log: EngineLog): Promise<{ readonly where: "source" | "destination"; readonly why?: undefined } | { readonly where?: undefined; readonly why: string }> {
  try {
    // The destination's word is not asked: the record decides (the state sent is ignored by a fenced driver).
    return { where: (await source.settleOutgoing(migrationId, IncomingState.unknown)).settledOn };
  } catch (error) {
    log("warn", `settling with ${source.name} failed: ${reason(error)}`, { migrationId });
    return { why: reason(error) };
  }
}

/** One live migration, from the checker's verdict to the VM running on exactly one host. */
export function migrate(request: MigrateRequest): Promise<MigrationReport> {
  return run(request, undefined);
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
  /** The migration was fenced (its agents hold the VM's ownership fence): settle by the record. */
  readonly fenced?: boolean | undefined;
}

export function reconcileMigration(request: ReconcileRequest): Promise<MigrationReport> {
  return run({ ...request, options: { ...DEFAULT_MIGRATE_OPTIONS, priority: "low" } }, request.lastPhase ?? Phase.precopy, request.fenced === true);
}

/** `resumeIn` undefined: a new migration; a phase: reconcile one already under way, last seen there. */
async function run(request: MigrateRequest, resumeIn: Phase | undefined, fenced = false): Promise<MigrationReport> {
  const { migrationId, vm, source, destination, options, clock, signal } = request;
  const timings: SettleTimings = { ...DEFAULT_SETTLE_TIMINGS, ...request.timings };
  const log: EngineLog = request.log ?? (() => undefined);
  const started = clock.monotonic();

  // ---- progress: the engine's own events and the source's, one stream, percent never back ----
  const now = { phase: Phase.validating as Phase };
  let last: MigrationProgress = {
    migrationId,
    vm: vm.name,
    phase: Phase.validating,
    percent: 0,
    pass: 0,
    bytesSent: 0,
    bytesRemaining: vm.memoryMB * MiB,
    dirtyRateBytesPerSec: 0,
    linkRateBytesPerSec: 0,
    etaMs: undefined,
    expectedDowntimeMs: undefined,
    throttlePercent: 0,
    message: "",
    at: clock.now(),
  };
  const publish = (progress: MigrationProgress): void => {
    last = { ...progress, migrationId, vm: vm.name, percent: Math.max(last.percent, progress.percent) };
    now.phase = last.phase;
    try {
      request.onProgress(last);
    } catch (error) {
      // A listener that throws (a closed UI stream) must not change the migration's course.
      log("warn", `progress listener failed: ${reason(error)}`, { migrationId });
    }
  };
  const say = (p: Phase, percent: number, message: string): void => {
    publish({ ...last, phase: p, percent, message, at: clock.now() });
  };

  // ---- the report, from the source's or built here ----
  const built = (outcome: MigrationReport["outcome"], failure: MigrationFailure | undefined, runningOn: string): MigrationReport => ({
    migrationId,
    vm: vm.name,
    source: source.name,
    destination: destination.name,
    outcome,
    failure,
    runningOn,
    downtimeMs: 0,
    totalMs: clock.monotonic() - started,
    bytesSent: last.bytesSent,
    passes: last.pass,
    pagesSent: 0,
    zeroPages: 0,
    throttlePercentMax: 0,
    prediction: request.prediction,
    verified: false,
  });
  const failed = (f: Failure, at: Phase = now.phase): MigrationReport =>
    f.code === MigrationFailureCode.aborted
      ? built(Phase.cancelled, { code: f.code, message: f.message, phase: at }, source.name)
      : built(Phase.failed, { code: f.code, message: f.message, phase: at }, source.name);
  const finish = (report: MigrationReport): MigrationReport => {
    const final: MigrationReport = { ...report, prediction: report.prediction ?? request.prediction, failure: withAbortReason(report.failure) };
    const words =
      final.outcome === Phase.completed
        ? `completed: ${vm.name} runs on ${final.runningOn}${final.failure === undefined ? "" : ` (${final.failure.message})`}`
        : `${final.outcome}: ${final.failure?.code ?? ""} ${final.failure?.message ?? ""}; ${vm.name} runs on ${final.runningOn}`;
    say(final.outcome, final.outcome === Phase.completed ? 100 : last.percent, words);
    log(final.outcome === Phase.completed ? "info" : "warn", `migration ${words}`, { migrationId });
    return final;
  };

  /** An abort's report names who asked and why, when the caller's signal says so. */
  const withAbortReason = (failure: MigrationFailure | undefined): MigrationFailure | undefined => {
    if (failure?.code !== MigrationFailureCode.aborted || !(signal.reason instanceof Error) || failure.message.includes(signal.reason.message)) return failure;
    return { ...failure, message: `${failure.message}: ${signal.reason.message}` };
  };
  const abortedFailure = (): Failure => new Failure(MigrationFailureCode.aborted, `aborted during ${now.phase}${signal.reason instanceof Error ? `: ${signal.reason.message}` : ""}`);

  const aborted = (): boolean => signal.aborted;
  if (resumeIn !== undefined) return finish(await reconcileExisting(resumeIn));

  // ---- validating: the caller's checker verdict; nothing is contacted ----
  say(Phase.validating, 0, `validating ${vm.name} → ${destination.name}`);
  const refused = validationFailure(vm.name, destination.name, request.check, request.acceptedWarnings);
  if (refused !== undefined) return finish(failed(new Failure(MigrationFailureCode.incompatible, refused), Phase.validating));
  if (aborted()) return finish(failed(abortedFailure(), Phase.validating));

  // ---- preparing: reservations (high priority), the destination's shell ----
  const reserved: AgentClient[] = [];
  /** Set once the destination was asked to prepare: from then on settling aborts the incoming side (a no-op when none was made). */
  let incomingAsked = false;
  const release = async (): Promise<void> => {
    await Promise.all(
      reserved.map((agent) =>
        agent.release(migrationId).catch((error: unknown) => {
          log("warn", `could not release the reservation on ${agent.name}: ${reason(error)}`, { migrationId });
        }),
      ),
    );
  };

  let report: MigrationReport | undefined;
  /** The VM's ownership fence for this migration, once the source holds the record. */
  let fence: Fence | undefined;
  try {
    say(Phase.preparing, 0, `preparing ${destination.name} to receive ${vm.name}`);
    const step = async <T>(agent: AgentClient, role: "source" | "destination", op: () => Promise<T>): Promise<T> => {
      if (aborted()) throw abortedFailure();
      try {
        return await op();
      } catch (error) {
        throw preparingFailure(error, agent, role);
      }
    };
    // Only a running VM migrates live: a powered-off (or paused) one is refused before any host
    // is prepared, and nothing after a refusal powers it on (ensureSourceRuns resumes, never boots).
    const status = await step(source, "source", () => source.getVm(vm.name));
    if (status.power !== PowerStatus.running) {
      throw new Failure(MigrationFailureCode.vmNotRunning, `${vm.name} is ${status.power} on ${source.name}, not running: only a running VM migrates live${status.power === PowerStatus.off ? " (a powered-off VM moves cold)" : ""}`);
    }
    if (options.priority === "high") {
      const [sourceFacts, destinationFacts] = await Promise.all([step(source, "source", () => source.facts()), step(destination, "destination", () => destination.facts())]);
      const onSource = sourceReservation(sourceFacts);
      const onDestination = destinationReservation(destinationFacts, vm.memoryMB);
      say(Phase.preparing, 1, `high priority: reserving ${onSource.cpuMhz} MHz on ${source.name}, ${onDestination.cpuMhz} MHz and ${onDestination.memoryMB} MB on ${destination.name}`);
      const reserveOn = async (agent: AgentClient, role: "source" | "destination", what: typeof onSource): Promise<void> => {
        await step(agent, role, async () => {
          try {
            await agent.reserve(migrationId, what);
          } catch (error) {
            if (isFerryError(error) && (error.code === ErrorCode.refused || failureCodeOf(error.details) === MigrationFailureCode.reservationRefused)) {
              throw new Failure(MigrationFailureCode.reservationRefused, error.message);
            }
            throw error;
          }
          reserved.push(agent);
        });
      };
      await reserveOn(source, "source", onSource);
      await reserveOn(destination, "destination", onDestination);
    }
    const plan = request.ownership;
    if (plan !== undefined) {
      fence = await step(source, "source", () => establishFence(plan, vm.name, source, destination));
      say(Phase.preparing, 2, `${source.name} holds ${vm.name}'s ownership record (generation ${fence.generation})`);
    }
    incomingAsked = true;
    const prepared = await step(destination, "destination", () => destination.prepareIncoming(migrationId, vm, { fence }));
    say(Phase.preparing, 3, `${destination.name} listens on ${prepared.host}:${prepared.port} for ${vm.name}`);
    if (aborted()) throw abortedFailure();
    report = await runOutgoing(prepared);
  } catch (error) {
    if (error instanceof Failure) {
      report = failed(error);
    } else {
      log("error", `unexpected: ${reason(error)}`, { migrationId });
      report = failed(new Failure(MigrationFailureCode.internal, reason(error)));
    }
  }

  try {
    report = await settle(report, incomingAsked);
  } finally {
    await release();
  }
  return finish(report);

  // ---- precopy and switchover: the source's stream ----

  /** Relays the source's stream; on abort asks the source to stop and waits for its report. */
  async function runOutgoing(prepared: IncomingMigration): Promise<MigrationReport> {
    try {
      return named(await relay((reading) => source.migrateOut({ migrationId, vm: vm.name, target: prepared, options, destination: destination.name, destinationAgent: { host: destination.name, api: destination.baseUrl, token: destination.token }, ...(fence === undefined ? {} : { fence }) }, { signal: reading })));
    } catch (error) {
      if (isFerryError(error) && !isUnavailable(error)) throw preparingFailure(error, source, "source");
      // The stream broke (or never started): find out from the source, else the destination.
      log("warn", `stream from ${source.name} lost: ${reason(error)}`, { migrationId });
      const recovered = await followAgain();
      if (recovered.report !== undefined) return named(recovered.report);
      return reconcile(reason(error), "source-lost");
    }
  }

  /** A source's report with the hosts named as this engine knows them. */
  function named(report: MigrationReport): MigrationReport {
    const runningOn = report.outcome === Phase.completed ? destination.name : report.runningOn === "" ? "" : source.name;
    return { ...report, source: source.name, destination: destination.name, runningOn };
  }

  /**
   * Reads a source's event stream to its report, publishing progress. The caller's abort is
   * passed on to the source (DELETE), and the stream is read on: the source's report says
   * how the abort ended. Throws UNAVAILABLE when the stream is lost.
   */
  async function relay(open: (reading: AbortSignal) => AsyncIterable<OutgoingEvent>): Promise<MigrationReport> {
    const reading = new AbortController();
    const grace = new AbortController();
    let abortSent = false;
    const onAbort = (): void => {
      if (abortSent) return;
      abortSent = true;
      log("info", `aborting on ${source.name}`, { migrationId });
      source.abortOutgoing(migrationId).catch((error: unknown) => {
        log("warn", `abort request to ${source.name} failed: ${reason(error)}`, { migrationId });
      });
      // A source that never reports after an abort is treated as lost.
      clock.sleep(timings.abortGraceMs, grace.signal).then(
        () => { reading.abort(new FerryError(ErrorCode.unavailable, `${source.name} did not report within ${timings.abortGraceMs} ms of the abort`)); },
        () => undefined,
      );
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const event of open(reading.signal)) {
        switch (event.type) {
          case "progress":
            // The outcome is the engine's to announce, after settling: a source's "failed"
            // may still become completed (an uncertain switchover the destination ran).
            if (!TERMINAL_PHASES.has(event.progress.phase)) publish(event.progress);
            break;
          case "heartbeat":
            break;
          case "report":
            return event.report;
        }
      }
      throw new FerryError(ErrorCode.unavailable, `the stream from ${source.name} ended before its report`);
    } catch (error) {
      // Anything but the source's own refusal counts as a lost stream.
      if (isFerryError(error)) throw error;
      throw new FerryError(ErrorCode.unavailable, reason(error), { cause: error });
    } finally {
      grace.abort();
      signal.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Picks up a migration already under way (reconcileMigration): every host may hold a piece
   * of it, so settling aborts the destination's side and releases both hosts' reservations.
   */
  async function reconcileExisting(lastPhase: Phase): Promise<MigrationReport> {
    publish({ ...last, phase: lastPhase, message: `reconciling migration ${migrationId} with ${source.name} and ${destination.name}`, at: clock.now() });
    let report: MigrationReport;
    const found = await followAgain();
    if (found.report !== undefined) report = named(found.report);
    else if (found.lost === "unknown") report = await reconcile("the controller restarted", "never-started");
    else report = await reconcile(`the controller restarted and ${source.name} cannot be reached`, "source-lost");
    try {
      return await settle(report, true);
    } finally {
      await Promise.all(
        [source, destination].map((agent) =>
          agent.release(migrationId).catch((error: unknown) => {
            log("warn", `could not release the reservation on ${agent.name}: ${reason(error)}`, { migrationId });
          }),
        ),
      );
    }
  }

  /**
   * Tries to reach the source again and follow the same migration to its report. Without a
   * report, says whether the source stayed unreachable or answered that it has no such
   * migration (its agent restarted, or the migration never started there).
   */
  async function followAgain(): Promise<{ readonly report: MigrationReport; readonly lost?: undefined } | { readonly report?: undefined; readonly lost: "unreachable" | "unknown" }> {
    let deadline = clock.monotonic() + timings.reattachMs;
    while (clock.monotonic() < deadline) {
      try {
        const view = await source.outgoing(migrationId);
        if (view.report !== undefined) return { report: view.report };
        // An answering source gets more time, unless it was asked to abort and has not
        // reported within the grace: then it only gets what is left.
        if (!aborted()) deadline = clock.monotonic() + timings.reattachMs;
        say(now.phase, last.percent, `stream from ${source.name} lost; following migration ${migrationId} again`);
        return { report: await relay((reading) => source.followOutgoing(migrationId, { signal: reading })) };
      } catch (error) {
        // The source answered but does not know the migration.
        if (isFerryError(error) && error.code === ErrorCode.notFound) return { lost: "unknown" };
        await clock.sleep(timings.retryMs).catch(() => undefined);
      }
    }
    return { lost: "unreachable" };
  }

  /**
   * No report from the source: the destination's state decides where the VM runs. "source-lost":
   * the source agent went away (or restarted) mid-migration; "never-started": the source,
   * asked after a controller restart, never heard of the migration.
   */
  async function reconcile(why: string, kind: "source-lost" | "never-started"): Promise<MigrationReport> {
    const state = await destinationState();
    const lostPhase = now.phase;
    if (state === IncomingState.running) return sourceLostButCompleted(why, lostPhase);
    if (kind === "source-lost" && (request.ownership !== undefined || fenced)) return sourceLostFenced(why, lostPhase, state);
    if (state !== undefined) {
      try {
        await destination.abortIncoming(migrationId);
      } catch (error) {
        log("warn", `abort of the incoming side on ${destination.name} failed: ${reason(error)}`, { migrationId });
      }
      // The source may have committed between the two questions: ask once more.
      if ((await destinationState()) === IncomingState.running) return sourceLostButCompleted(why, lostPhase);
    }
    const destinationWords = state === undefined ? `; ${destination.name} cannot be reached either` : `; ${destination.name} had not resumed it (${state}), so it stays with ${source.name}`;
    if (kind === "never-started") {
      return failed(new Failure(MigrationFailureCode.aborted, `${why} before migration ${migrationId} got under way on ${source.name}${destinationWords}`), lostPhase);
    }
    return failed(new Failure(MigrationFailureCode.sourceLost, `the source agent ${source.name} went away during ${lostPhase} (${why})${destinationWords}`), lostPhase);
  }

  /**
   * The source cannot be reached, fenced: it is not taken for dead. A destination still
   * claiming is given the reattach window to finish; running there proves the migration
   * happened. Otherwise an incoming side that has not committed is aborted, and the VM's place
   * waits for the source's word (it may hold the VM paused after COMMIT): needs attention.
   */
  async function sourceLostFenced(why: string, lostPhase: Phase, first: IncomingState | undefined): Promise<MigrationReport> {
    let state = first;
    const deadline = clock.monotonic() + timings.reattachMs;
    while (state === IncomingState.committing && clock.monotonic() < deadline) {
      await clock.sleep(timings.retryMs).catch(() => undefined);
      state = await destinationState();
    }
    if (state === IncomingState.running) return sourceLostButCompleted(why, lostPhase);
    if (state === IncomingState.waiting || state === IncomingState.receiving || state === IncomingState.verified) {
      await destination.abortIncoming(migrationId).catch((error: unknown) => {
        log("warn", `abort of the incoming side on ${destination.name} failed: ${reason(error)}`, { migrationId });
      });
    }
    const there = state === undefined ? `${destination.name} cannot be reached either` : `${destination.name} does not run it (${state})`;
    return needsAttention(built(Phase.failed, undefined, ""), `the source agent ${source.name} went away during ${lostPhase} (${why}) and ${there}; ${vm.name} may wait paused on ${source.name}, which is not taken for dead: Ferry asks it again until it answers, or an operator decides with \`ferry migrate resolve ${migrationId} --run-on HOST\``);
  }

  function sourceLostButCompleted(why: string, lostPhase: Phase): MigrationReport {
    // The destination verified the full state and runs the VM: the migration happened. The
    // failure says the source agent did not live to release its copy or send its report.
    return {
      ...built(Phase.completed, {
        code: MigrationFailureCode.sourceLost,
        message: `the source agent ${source.name} went away during ${lostPhase} (${why}) after ${destination.name} confirmed it runs ${vm.name}; outcome taken from ${destination.name}`,
        phase: lostPhase,
      }, destination.name),
      verified: true,
    };
  }

  async function destinationState(): Promise<IncomingState | undefined> {
    const deadline = clock.monotonic() + timings.reattachMs;
    for (;;) {
      try {
        return (await destination.incomingState(migrationId)).state;
      } catch (error) {
        if (!isUnavailable(error) || clock.monotonic() >= deadline) return undefined;
        await clock.sleep(timings.retryMs).catch(() => undefined);
      }
    }
  }

  // ---- settle: exactly one host runs the VM ----

  async function settle(outcome: MigrationReport, prepared: boolean): Promise<MigrationReport> {
    // Completed is the source's word that the destination runs the VM; SOURCE_LOST was
    // settled by reconcile() (or happened before the destination was asked for anything).
    if (outcome.outcome === Phase.completed || outcome.outcome === Phase.needsAttention || outcome.failure?.code === MigrationFailureCode.sourceLost) return outcome;
    if (outcome.runningOn === "") return settleUncertain(outcome);
    let result = outcome;
    if (prepared) {
      const state = await destinationState();
      if (state === IncomingState.running) {
        // The destination runs the VM although the source reported a failure (the link broke
        // after COMMIT): the destination owns it now; the source copy must not run too.
        log("error", `${destination.name} runs ${vm.name} although ${source.name} reported ${outcome.failure?.code ?? outcome.outcome}`, { migrationId });
        await stopSourceCopy();
        return {
          ...result,
          outcome: Phase.completed,
          runningOn: destination.name,
          verified: true,
          failure: result.failure === undefined ? undefined : { ...result.failure, message: `${result.failure.message}; but ${destination.name} had confirmed and runs ${vm.name}, so the source copy was stopped` },
        };
      }
      if (state === undefined && result.failure !== undefined && LINK_FAILURES.has(result.failure.code)) {
        result = {
          ...result,
          failure: { ...result.failure, code: MigrationFailureCode.destinationLost, message: `the destination agent ${destination.name} went away during ${result.failure.phase}: ${result.failure.message}` },
        };
      }
      if (state !== undefined && state !== IncomingState.aborted && state !== IncomingState.unknown) {
        try {
          await destination.abortIncoming(migrationId);
        } catch (error) {
          log("warn", `abort of the incoming side on ${destination.name} failed: ${reason(error)}`, { migrationId });
        }
      }
    }
    if (result.runningOn === source.name) await ensureSourceRuns();
    return result;
  }

  /**
   * The source sent COMMIT and lost the link before the destination confirmed: its VM waits
   * paused, and only the destination knows whether it resumed. A destination still between
   * states is aborted first (it resumes only on COMMIT over a live stream, so after an abort
   * it never will). A destination that cannot be reached within the reattach window is
   * taken as "unknown": its agent is gone, and a sim VM dies with its agent's process (a
   * qemu driver must likewise stop its guests when its agent dies, or this guess is unsafe).
   */
  async function settleUncertain(outcome: MigrationReport): Promise<MigrationReport> {
    if (request.ownership !== undefined || fenced) return settleByRecord(outcome);
    let state = await destinationState();
    if (state === IncomingState.waiting || state === IncomingState.receiving || state === IncomingState.verified) {
      try {
        await destination.abortIncoming(migrationId);
      } catch (error) {
        log("warn", `abort of the incoming side on ${destination.name} failed: ${reason(error)}`, { migrationId });
      }
      state = await destinationState();
    }
    const told = state ?? IncomingState.unknown;
    const failure = outcome.failure ?? { code: MigrationFailureCode.destinationLost, message: "the outcome was uncertain", phase: Phase.switchover };
    let where: "source" | "destination";
    try {
      where = (await source.settleOutgoing(migrationId, told)).settledOn;
    } catch (error) {
      // The source went away while it held the paused copy: the destination's word is all there is.
      log("error", `settling with ${source.name} failed: ${reason(error)}`, { migrationId });
      if (told === IncomingState.running) return sourceLostButCompleted(`${failure.message}; then settling failed: ${reason(error)}`, Phase.switchover);
      return failed(new Failure(MigrationFailureCode.sourceLost, `${failure.message}; settling with ${source.name} failed (${reason(error)}) and ${destination.name} does not run ${vm.name} (${told})`), Phase.switchover);
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
  async function settleByRecord(outcome: MigrationReport): Promise<MigrationReport> {
    const failure = outcome.failure ?? { code: MigrationFailureCode.destinationLost, message: "the outcome was uncertain", phase: Phase.switchover };
    const settled = await settleOnSource(migrationId, source, log);
    if (settled.where === "source") return { ...outcome, outcome: Phase.failed, runningOn: source.name, failure: { ...failure, message: `${failure.message}; ${source.name} took ${vm.name}'s ownership record back, so it runs there and ${destination.name} can never resume it` } };
    const state = await destinationState();
    if (settled.where === "destination") {
      const confirmed = state === IncomingState.running;
      const words = confirmed ? `${destination.name} holds ${vm.name}'s ownership record and runs it` : `${destination.name} holds ${vm.name}'s ownership record (it claimed it before resuming) but did not answer (${state ?? "unreachable"}): it runs ${vm.name}, or will as soon as it can`;
      return { ...outcome, outcome: Phase.completed, runningOn: destination.name, verified: confirmed, failure: { ...failure, message: `${failure.message}; ${words}; the copy on ${source.name} was released` } };
    }
    if (state === IncomingState.running) return sourceLostButCompleted(`${failure.message}; settling with ${source.name} failed: ${settled.why}`, Phase.switchover);
    return needsAttention(outcome, `${failure.message}; neither host could prove it holds ${vm.name}'s ownership record (${source.name}: ${settled.why}; ${destination.name}: ${state ?? "does not answer"}). ${vm.name} stays paused on ${source.name}; Ferry asks again until one answers, or an operator decides with \`ferry migrate resolve ${migrationId} --run-on HOST\``);
  }

  function needsAttention(outcome: MigrationReport, message: string): MigrationReport {
    log("error", `needs attention: ${message}`, { migrationId });
    return { ...outcome, outcome: Phase.needsAttention, runningOn: "", verified: false, failure: { code: MigrationFailureCode.ownershipUnknown, message, phase: Phase.switchover } };
  }

  /**
   * After a failure the source owns the VM: one the migration left paused must run again. A VM
   * that is off there is left off: powering a VM on is never a side effect of a migration.
   */
  async function ensureSourceRuns(): Promise<void> {
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

  async function stopSourceCopy(): Promise<void> {
    try {
      await source.powerOff(vm.name);
      await source.destroyVm(vm.name);
    } catch (error) {
      log("error", `could not stop the source copy of ${vm.name} on ${source.name}: ${reason(error)}`, { migrationId });
    }
  }
}
