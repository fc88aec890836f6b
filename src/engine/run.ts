// One migration's state while the engine runs it: the request, the core's phase machine and
// progress tracker (src/core/migration/{phases,progress}.ts) that every step and every event of
// the source is folded through, and what has been done on the hosts so far (reservations, the
// destination asked to prepare, the ownership fence). The engine's modules (prepare, relay,
// reconcile, settle) read and move this one record; nothing else keeps a phase or a percent.
import type { AgentPort } from "./agent-port.ts";
import type { VmSpec } from "../agent/api.ts";
import type { Clock } from "../core/clock.ts";
import type { Finding } from "../core/check/findings.ts";
import type { Fence } from "../core/ownership.ts";
import { advanceTo, concludeMigration, initialMigrationState, recordPass, type MigrationState } from "../core/migration/phases.ts";
import { createProgressTracker, type ProgressSample, type ProgressTracker, type SourceProgress } from "../core/migration/progress.ts";
import { Phase, type MigrateOptions, type MigrationFailure, type MigrationProgress, type Prediction } from "../core/migration/types.ts";
import type { OwnershipPlan } from "./fence.ts";

/** An agent as the engine calls it. */
export type Agent = AgentPort;

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
  readonly source: Agent;
  readonly destination: Agent;
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

export function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class MigrationRun {
  readonly id: string;
  readonly vm: VmSpec;
  readonly source: Agent;
  readonly destination: Agent;
  readonly clock: Clock;
  readonly signal: AbortSignal;
  readonly timings: SettleTimings;
  readonly log: EngineLog;
  readonly started: number;
  /** Uncertain outcomes are settled by the VM's ownership record (a plan was given, or a reconciled migration was fenced). */
  readonly fenced: boolean;
  /** Agents holding a reservation for this migration, to release whatever happens. */
  readonly reserved: Agent[] = [];
  /** Set once the destination was asked to prepare: from then on settling aborts the incoming side (a no-op when none was made). */
  incomingAsked = false;
  /** The VM's ownership fence for this migration, once the source holds the record. */
  fence: Fence | undefined;
  #machine: MigrationState;
  readonly #tracker: ProgressTracker;
  #last: MigrationProgress;

  /** `resumed`: where the run a restarted controller picks up stood (its last event's percent, and whether it had passed its commit). */
  constructor(
    readonly request: MigrateRequest,
    fenced: boolean,
    resumed?: { readonly percent: number; readonly committed?: boolean | undefined },
  ) {
    this.id = request.migrationId;
    this.vm = request.vm;
    this.source = request.source;
    this.destination = request.destination;
    this.clock = request.clock;
    this.signal = request.signal;
    this.timings = { ...DEFAULT_SETTLE_TIMINGS, ...request.timings };
    this.log = request.log ?? (() => undefined);
    this.started = request.clock.monotonic();
    this.fenced = fenced || request.ownership !== undefined;
    this.#machine = initialMigrationState(request.clock.now());
    this.#tracker = createProgressTracker({ migrationId: this.id, vm: this.vm.name, downtimeLimitMs: request.options.downtimeLimitMs, floorPercent: resumed?.percent, committed: resumed?.committed });
    this.#last = this.#tracker.update({ phase: Phase.queued, bytesSent: 0, bytesRemaining: this.vm.memoryMB * MiB, at: request.clock.now() });
  }

  /** The phase the migration is in, as the core's machine holds it. */
  get phase(): Phase {
    return this.#machine.phase;
  }

  get machine(): MigrationState {
    return this.#machine;
  }

  /** The last progress published. */
  get last(): MigrationProgress {
    return this.#last;
  }

  get aborted(): boolean {
    return this.signal.aborted;
  }

  /** The engine's own step: `fraction` of `phase` done, in words. */
  say(phase: Phase, fraction: number | undefined, message: string): void {
    this.#fold({ phase, fraction, message, at: this.clock.now() });
  }

  /** The source's raw progress (never its outcome: that is the engine's to announce, after settling). */
  relayed(progress: SourceProgress): void {
    this.#fold(progress);
  }

  /** Ends the machine in the report's outcome and announces it, once. */
  conclude(outcome: Phase, failure: MigrationFailure | undefined, message: string): void {
    const now = this.clock.now();
    this.#machine = concludeMigration(this.#machine, outcome, failure, now);
    this.#publish(this.#tracker.update({ phase: outcome, message, at: now }));
  }

  #fold(sample: ProgressSample): void {
    this.#machine = advanceTo(this.#machine, sample.phase, sample.at);
    const progress = this.#tracker.update(sample);
    if (progress.phase === Phase.precopy && progress.pass > 0) {
      this.#machine = recordPass(this.#machine, {
        pass: progress.pass,
        memoryBytes: this.vm.memoryMB * MiB,
        bytesSentTotal: progress.bytesSent,
        remainingBytes: progress.bytesRemaining,
        linkRateBytesPerSec: progress.linkRateBytesPerSec,
        dirtyRateBytesPerSec: progress.dirtyRateBytesPerSec,
        throttlePercent: progress.throttlePercent,
      }, sample.at);
    }
    this.#publish(progress);
  }

  #publish(progress: MigrationProgress): void {
    this.#last = progress;
    try {
      this.request.onProgress(progress);
    } catch (error) {
      // A listener that throws (a closed UI stream) must not change the migration's course.
      this.log("warn", `progress listener failed: ${reason(error)}`, { migrationId: this.id });
    }
  }
}
