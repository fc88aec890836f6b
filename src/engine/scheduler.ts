// The engine's migration queue: migrations start when admission (core/migration/admission)
// says their hosts and datastores have room, in arrival order; the others wait with a
// `queued` progress event saying why, and start as running ones end. Nothing is rejected for
// being one too many. Aborting a waiting migration takes it out of the queue: it ends
// cancelled in phase queued, having touched no host.
//
// The slots admission counts live behind `AdmissionSlots`: in this process by default, in the
// controllers' shared store when several controllers run (each decision sees every
// controller's running migrations, and is written before the next is made). A scheduler on
// shared slots asks again every `pollMs` while migrations wait, since another controller's
// migration ending frees its slot without telling this one.
import type { Clock } from "../core/clock.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { admit, VCENTER_LIMITS, type AdmissionLimits, type AdmissionRequest, type WaitingMigration } from "../core/migration/admission.ts";
import { unmovedReport } from "../core/migration/report.ts";
import { MigrationFailureCode, Phase, type MigrationProgress, type MigrationReport, type Priority } from "../core/migration/types.ts";

/** Where admitted migrations are counted. */
export interface AdmissionSlots {
  /** Shared with other controllers: the scheduler polls while migrations wait. */
  readonly shared: boolean;
  /** Atomically: `decide` sees every running admission and returns those to add, which are kept. */
  admit(decide: (running: readonly AdmissionRequest[]) => readonly AdmissionRequest[]): Promise<readonly AdmissionRequest[]>;
  release(migrationId: string): Promise<void>;
}

/** Slots counted in this process only (one controller, or tests of the engine alone). */
export function localSlots(): AdmissionSlots {
  const running = new Map<string, AdmissionRequest>();
  return {
    shared: false,
    admit(decide) {
      const added = decide([...running.values()]);
      for (const a of added) running.set(a.migrationId, a);
      return Promise.resolve(added);
    },
    release(migrationId) {
      running.delete(migrationId);
      return Promise.resolve();
    },
  };
}

export interface SchedulerOptions {
  readonly clock: Clock;
  /** The speed of a host's VMotion NIC in Mb/s (from its agent's facts or the inventory). */
  readonly vmotionNicMbps: (host: string) => number | undefined;
  readonly limits?: AdmissionLimits | undefined;
  /** Default: localSlots(). */
  readonly slots?: AdmissionSlots | undefined;
  /** How often waiting migrations ask shared slots again. Default 1 s. */
  readonly pollMs?: number | undefined;
}

export interface QueuedMigration {
  readonly migrationId: string;
  readonly vm: string;
  readonly source: string;
  readonly destination: string;
  readonly datastores?: readonly string[] | undefined;
  readonly priority?: Priority | undefined;
  readonly signal: AbortSignal;
  readonly onProgress: (progress: MigrationProgress) => void;
  /** Runs the migration once admitted, typically `migrate({...})` with the same signal and onProgress. */
  readonly run: () => Promise<MigrationReport>;
}

export interface SchedulerState {
  readonly running: readonly AdmissionRequest[];
  readonly waiting: readonly WaitingMigration[];
}

export interface MigrationScheduler {
  /** Queues `migration`; resolves with its report once it ran (or was cancelled while waiting). */
  submit(migration: QueuedMigration): Promise<MigrationReport>;
  state(): SchedulerState;
  /** Resolves once the admission decisions asked for so far are made. */
  idle(): Promise<void>;
}

interface Entry {
  readonly migration: QueuedMigration;
  readonly resolve: (report: MigrationReport) => void;
  readonly reject: (error: unknown) => void;
  reason: string | undefined;
  onAbort: (() => void) | undefined;
}

function admissionOf(m: QueuedMigration): AdmissionRequest {
  return { migrationId: m.migrationId, source: m.source, destination: m.destination, datastores: m.datastores, priority: m.priority };
}

/** What a waiting migration is told: queued, and why it waits. */
function queuedEvent(m: QueuedMigration, reason: string, at: number): MigrationProgress {
  return {
    migrationId: m.migrationId,
    vm: m.vm,
    phase: Phase.queued,
    percent: 0,
    pass: 0,
    bytesSent: 0,
    bytesRemaining: 0,
    dirtyRateBytesPerSec: 0,
    linkRateBytesPerSec: 0,
    etaMs: undefined,
    expectedDowntimeMs: undefined,
    throttlePercent: 0,
    message: `waiting: ${reason}`,
    at,
  };
}

function tell(m: QueuedMigration, progress: MigrationProgress): void {
  try {
    m.onProgress(progress);
  } catch {
    // A listener's failure must not stall the queue.
  }
}

function cancelledWhileQueued(m: QueuedMigration, reason: string | undefined): MigrationReport {
  return unmovedReport({
    migrationId: m.migrationId,
    vm: m.vm,
    source: m.source,
    destination: m.destination,
    outcome: Phase.cancelled,
    failure: { code: MigrationFailureCode.aborted, message: `aborted while queued${reason === undefined ? "" : ` (${reason})`}`, phase: Phase.queued },
    runningOn: m.source,
  });
}

export function createScheduler(options: SchedulerOptions): MigrationScheduler {
  const { clock } = options;
  const limits = options.limits ?? VCENTER_LIMITS;
  const slots = options.slots ?? localSlots();
  const pollMs = options.pollMs ?? 1000;
  const running = new Map<string, Entry>();
  let waiting: Entry[] = [];
  let lastDecision: readonly WaitingMigration[] = [];

  const release = (id: string): void => {
    running.delete(id);
    // A slot the store could not free is freed by the controller that settles the task.
    slots.release(id).catch(() => undefined).finally(pump);
  };

  const start = (entry: Entry): void => {
    const m = entry.migration;
    if (entry.onAbort !== undefined) m.signal.removeEventListener("abort", entry.onAbort);
    running.set(m.migrationId, entry);
    m.run().then(
      (report) => {
        release(m.migrationId);
        entry.resolve(report);
      },
      (error: unknown) => {
        release(m.migrationId);
        entry.reject(error);
      },
    );
  };

  const tellReasons = (decision: readonly WaitingMigration[]): void => {
    lastDecision = decision;
    const reasons = new Map(decision.map((w) => [w.migrationId, w.reason]));
    for (const entry of waiting) {
      const reason = reasons.get(entry.migration.migrationId);
      // Said once per reason: a migration's queue position changes often, its reason rarely.
      if (reason !== undefined && reason !== entry.reason) {
        entry.reason = reason;
        tell(entry.migration, queuedEvent(entry.migration, reason, clock.now()));
      }
    }
  };

  async function decideOnce(): Promise<void> {
    if (waiting.length === 0) return;
    let decided: readonly WaitingMigration[] = [];
    const admitted = await slots.admit((others) => {
      const decision = admit({ running: others, waiting: waiting.map((e) => admissionOf(e.migration)), vmotionNicMbps: options.vmotionNicMbps, limits });
      decided = decision.waiting;
      const starting = new Set(decision.start);
      return waiting.filter((e) => starting.has(e.migration.migrationId)).map((e) => admissionOf(e.migration));
    });
    const starting = new Set(admitted.map((a) => a.migrationId));
    const toStart = waiting.filter((e) => starting.has(e.migration.migrationId));
    waiting = waiting.filter((e) => !starting.has(e.migration.migrationId));
    // Aborted while the decision was made: its slot goes back at once.
    for (const id of starting) if (!toStart.some((e) => e.migration.migrationId === id)) release(id);
    tellReasons(decided);
    for (const entry of toStart) start(entry);
  }

  /** Decisions run one at a time; a shared scheduler asks again later while some wait. */
  let deciding: Promise<void> = Promise.resolve();
  let polling = false;
  function pump(): void {
    deciding = deciding.then(decideOnce).catch(() => undefined).then(() => {
      if (!slots.shared || polling || waiting.length === 0) return;
      polling = true;
      void clock.sleep(pollMs).finally(() => {
        polling = false;
        pump();
      });
    });
  }

  return {
    submit(migration) {
      const id = migration.migrationId;
      if (running.has(id) || waiting.some((e) => e.migration.migrationId === id)) {
        return Promise.reject(new FerryError(ErrorCode.conflict, `migration ${id} is already ${running.has(id) ? "running" : "queued"}`, { details: { migrationId: id } }));
      }
      if (migration.signal.aborted) return Promise.resolve(cancelledWhileQueued(migration, undefined));
      return new Promise<MigrationReport>((resolve, reject) => {
        const entry: Entry = { migration, resolve, reject, reason: undefined, onAbort: undefined };
        entry.onAbort = () => {
          if (!waiting.includes(entry)) return;
          waiting = waiting.filter((e) => e !== entry);
          resolve(cancelledWhileQueued(migration, entry.reason));
          pump();
        };
        migration.signal.addEventListener("abort", entry.onAbort, { once: true });
        waiting.push(entry);
        pump();
      });
    },
    state: () => ({ running: [...running.values()].map((e) => admissionOf(e.migration)), waiting: lastDecision }),
    idle: () => deciding,
  };
}
