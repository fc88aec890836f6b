// The migration's wire vocabulary as zod schemas, from which types.ts derives its types: the
// phases, progress, pass samples, predictions, reports, the task the controller keeps and the
// events it streams. Plain zod (the core knows nothing of HTTP), named with `.meta({ id })`
// for the API's OpenAPI document; the server validates with them, the CLI and the web parse
// with them (the web bundles this file: it must stay free of Node I/O).
// Fields that tasks stored by older versions lack are optional (or default), so they still parse.
import { z } from "zod";
import { FindingSchema } from "../check/finding-schema.ts";
import { Priority } from "../check/rules/placement.ts";
import { MigrationFailureCode, MigrationWarningCode, Phase, VmotionEncryption } from "./types.ts";
import { operationEventFields } from "../operations/schema.ts";
import { ConvergencePolicySchema } from "./postcopy.ts";

export const PhaseSchema = z.enum(Phase).meta({ id: "Phase", description: "queued → validating → preparing → precopy → switchover → completed | failed | cancelled | needs-attention" });

/** The phases a migration ends in: a report's outcome. */
export const OutcomeSchema = z.enum([Phase.completed, Phase.failed, Phase.cancelled, Phase.needsAttention]).meta({ id: "MigrationOutcome" });

export const MigrationFailureCodeSchema = z.enum(MigrationFailureCode).meta({ id: "MigrationFailureCode", description: "Why a migration failed: a closed catalogue of stable codes" });

export const MigrationWarningCodeSchema = z.enum(MigrationWarningCode).meta({ id: "MigrationWarningCode", description: "What a migration that completed wants its operator to know" });

export const PredictionBasisSchema = z
  .object({
    linkRateBytesPerSec: z.number(),
    linkSource: z.enum(["learned", "reverse", "nearby", "nominal", "bandwidth-limit"]).meta({ description: "learned from the migrations this host pair carried; learned the other way between the same two hosts (none this way yet); learned by a pair that shares a host with this one (the same source, else the same destination; none between these two yet); the VMotion NIC's nominal speed; or the request's bandwidth cap" }),
    samples: z.number().int().meta({ description: "How many migrations the learned link rate comes from (0 when nominal)" }),
    costs: z.enum(["sim", "qemu"]).meta({ description: "Whose stream costs the model used: the source host's driver's" }),
    safetyMarginMs: z.number().meta({ description: "The margin kept under the downtime limit at switchover" }),
    text: z.string().meta({ example: "link rate learned from 12 migrations: 780 Mb/s" }),
    guest: z
      .object({
        memoryBytes: z.number(),
        touchedBytes: z.number().meta({ description: "Memory the first pass sends whole; the rest goes as zero pages" }),
        dirtyRateBytesPerSec: z.number(),
        workingSetBytes: z.number().meta({ description: "Memory the guest's writes fall in" }),
        measured: z.boolean().meta({ description: "The dirty rate and touched memory were measured on the source just before (qemu); false: the VM's declared workload (sim) or nothing" }),
      })
      .optional()
      .meta({ description: "What the model took of the guest" }),
    zeroPageMs: z.number().optional().meta({ description: "Time charged per zero page, ms: the host pair's learned figure, else the driver's (qemu)" }),
    stopCopyScale: z.number().optional().meta({ description: "QEMU's own stop-and-copy over the model's, as the host pair's migrations showed it (qemu; 1 until learned)" }),
  })
  .meta({ id: "PredictionBasis", description: "What a prediction rests on" });

export const PredictionSchema = z
  .object({
    passes: z.number().int(),
    bytes: z.number(),
    totalMs: z.number(),
    downtimeMs: z.number(),
    converges: z.boolean(),
    note: z.string().meta({ description: 'Why it does not converge, or how (e.g. "auto-converge throttles the guest to 40%")' }),
    throttlePercent: z.number().meta({ description: "The highest throttle auto-converge would need, in percent (0 when none)" }),
    hypervisorDowntimeMs: z.number().optional().meta({ description: "QEMU's own stop-and-copy as the model sees it (qemu): what is pending at the stop over the link, times the pair's stop-and-copy scale; the report's hypervisorDowntimeMs measures it. downtimeMs adds the switchover beyond it" }),
    // Absent in predictions made before the basis was recorded. (A description here would inline the component.)
    basis: PredictionBasisSchema.optional(),
  })
  .meta({ id: "Prediction" });

export const MigrationProgressSchema = z
  .object({
    migrationId: z.string(),
    vm: z.string(),
    phase: PhaseSchema,
    percent: z.number().meta({ description: "Never goes backwards within a migration" }),
    pass: z.number().int().meta({ description: "Pre-copy pass number, 0 before the first" }),
    bytesSent: z.number(),
    bytesRemaining: z.number(),
    dirtyRateBytesPerSec: z.number(),
    linkRateBytesPerSec: z.number(),
    etaMs: z.number().optional(),
    expectedDowntimeMs: z.number().optional(),
    throttlePercent: z.number().meta({ description: "Auto-converge's current throttle of the guest, percent" }),
    message: z.string().meta({ description: "What is happening in words", example: "waiting: esx01 runs 4 migrations (limit 4 on a 1 Gb/s VMotion NIC)" }),
    committed: z.boolean().optional().meta({ description: "The switchover passed its point of no return: an abort can no longer leave the VM on the source (absent before)" }),
    at: z.number().meta({ description: "Milliseconds since the epoch, from the injected clock" }),
  })
  .meta({ id: "MigrationProgress" });

export const MigrationFailureSchema = z
  .object({
    code: MigrationFailureCodeSchema,
    message: z.string(),
    /** The phase the migration was in when it failed. */
    phase: PhaseSchema,
  })
  .meta({ id: "MigrationFailure" });

export const MigrationWarningSchema = z.object({ code: MigrationWarningCodeSchema, message: z.string() }).meta({ id: "MigrationWarning" });

export const PostcopyReportSchema = z
  .object({
    afterPass: z.number().int().meta({ description: "The pre-copy pass after which the source switched to post-copy" }),
    switchedAt: z.number().meta({ description: "When the source started post-copy (ms since the epoch): from then on the destination owns the VM" }),
    durationMs: z.number().meta({ description: "From the switch to the stream's end: how long the VM ran on the destination while pages still came from the source" }),
    requestedPages: z.number().optional().meta({ description: "Pages the destination asked for out of turn, one per page fault it could not serve (QEMU's postcopy-requests)" }),
    blocktimeMs: z.number().optional().meta({ description: "The destination's total time with vCPUs blocked on page faults (QEMU's postcopy-blocktime), when it reported one" }),
  })
  .meta({ id: "PostcopyReport", description: "The post-copy phase of a migration: when it switched, how long pages were pulled, what the page faults cost" });

export const MigrationReportSchema = z
  .object({
    migrationId: z.string(),
    vm: z.string(),
    source: z.string(),
    destination: z.string(),
    outcome: OutcomeSchema,
    failure: MigrationFailureSchema.optional(),
    runningOn: z.string().meta({ description: "Where the VM runs now: always exactly one host (empty only while the switchover is unsettled)" }),
    downtimeMs: z.number().meta({ description: "Ferry's measure of the guest's pause: from the source's stop to the destination's resume" }),
    hypervisorDowntimeMs: z.number().optional().meta({ description: "The hypervisor's own figure when it gives one (QEMU's stop-and-copy); absent for the sim" }),
    totalMs: z.number(),
    bytesSent: z.number(),
    passes: z.number().int(),
    pagesSent: z.number(),
    zeroPages: z.number(),
    throttlePercentMax: z.number(),
    prediction: PredictionSchema.optional(),
    verified: z.boolean().meta({ description: "The destination verified a checksum of memory and device state before resuming" }),
    encrypted: z.boolean().optional().meta({ description: "The stream ran over TLS with the migration's own keys; absent: nothing was sent" }),
    warnings: z.array(MigrationWarningSchema).readonly().default([]).meta({ description: "What a completed migration wants known, e.g. DOWNTIME_OVER_LIMIT" }),
    // Absent when the migration never switched to post-copy. (A description here would inline the component.)
    postcopy: PostcopyReportSchema.optional(),
  })
  .meta({ id: "MigrationReport", description: "What a finished migration measured, beside what was predicted" });

export const PassSampleSchema = z
  .object({
    pass: z.number().int(),
    at: z.number(),
    bytesSent: z.number(),
    bytesRemaining: z.number(),
    dirtyRateBytesPerSec: z.number(),
    linkRateBytesPerSec: z.number(),
    throttlePercent: z.number().default(0),
  })
  .meta({ id: "PassSample", description: "Where a pre-copy pass ended: what was left, how fast the guest dirtied and the link carried" });

export const TimelineEntrySchema = z.object({ phase: PhaseSchema, at: z.number() }).meta({ id: "TimelineEntry" });

const hostName = z.string().min(1).max(200);

export const MigrationRequestSchema = z.object({
  vm: hostName,
  to: hostName.meta({ description: "The target host" }),
  pool: hostName.optional().meta({ description: "Target resource pool; default: the VM's own when it belongs to the target" }),
  priority: z.enum(Priority).default(Priority.high).meta({ description: "high reserves CPU and memory on both hosts or refuses; low reserves nothing and always proceeds, maybe slower" }),
  downtimeMs: z.number().int().min(1).max(600_000).optional().meta({ description: "Downtime limit at switchover, 1 to 600,000 ms; default 300" }),
  autoConverge: z.boolean().optional().meta({ description: "Older form of the convergence policy: false means fail; convergence wins when both are given" }),
  convergence: ConvergencePolicySchema.optional(),
  bandwidthMbps: z.number().min(1).max(400_000).optional().meta({ description: "Cap on the migration stream, 1 Mb/s to 400 Gb/s (the fastest NICs made)" }),
  vmotionEncryption: z
    .enum(VmotionEncryption)
    .optional()
    .meta({ description: "Encrypted VMotion for this move: only as strong as the hosts' clusters' setting (the stronger of the two; default required) or stronger; a weaker one is refused" }),
  acceptWarnings: z.union([z.array(z.string()).readonly(), z.literal("all")]).optional().meta({ description: 'Warning codes accepted, or "all": warnings refuse the migration otherwise' }),
  reason: z.string().min(1).max(500).optional().meta({ description: "Why the move was asked for, kept in the task: a DRS recommendation's reason, a maintenance evacuation" }),
});

export const RecheckSchema = z
  .object({ at: z.number(), added: z.array(FindingSchema).readonly(), gone: z.array(FindingSchema).readonly() })
  .meta({ id: "Recheck", description: "What changed in the checker's verdict between queueing and leaving the queue" });

export const MigrationTaskBodySchema = z
  .object({
    request: MigrationRequestSchema,
    pool: z.string().optional().meta({ description: "The pool the VM joins" }),
    acceptedWarnings: z.array(z.string()).readonly().default([]),
    requestedBy: z.string(),
    prediction: PredictionSchema.optional(),
    timeline: z.array(TimelineEntrySchema).readonly().default([]),
    // The latest progress written to the row; the report once it ended, and its failure code
    // beside it as a field of its own. (Descriptions here would inline the named components.)
    progress: MigrationProgressSchema.optional(),
    report: MigrationReportSchema.optional(),
    failureCode: MigrationFailureCodeSchema.optional(),
    waitingReason: z.string().optional().meta({ description: "Why a queued migration waits" }),
    passes: z.array(PassSampleSchema).readonly().optional().meta({ description: "One sample per pre-copy pass (the pass's last progress event)" }),
    recheck: RecheckSchema.optional(),
    cold: z.boolean().optional().meta({ description: "A cold migration: the VM was powered off and is re-registered on the destination, no memory moves" }),
    // The convergence policy the migration runs with: the request's, else the source cluster's, else auto-converge (absent in older tasks and cold moves).
    convergence: ConvergencePolicySchema.optional(),
    ownership: z
      .object({ kind: z.enum(["datastore", "controller"]), where: z.string() })
      .optional()
      .meta({ description: "Where the VM's ownership record is kept when the migration is fenced (never the capability)" }),
  })
  .meta({ id: "MigrationTaskBody" });

export const MigrationTaskSchema = z
  .object({
    id: z.string(),
    kind: z.literal("migration"),
    vm: z.string(),
    source: z.string(),
    destination: z.string(),
    state: PhaseSchema,
    percent: z.number(),
    createdAt: z.number(),
    updatedAt: z.number(),
    createdBy: z.string(),
    body: MigrationTaskBodySchema,
    version: z.number().int().optional(),
    owner: z.string().optional().meta({ description: "The controller that runs the task" }),
    leaseUntil: z.number().optional().meta({ description: "Until when its owner's hold is good (ms since the epoch)" }),
  })
  .meta({ id: "Task", description: "A migration task: its phase, percent and everything the controller recorded about it" });

// ---- the event stream (GET /api/events): one envelope, a body discriminated on `type` ----

const envelope = {
  seq: z.number().int().meta({ description: "Increasing across the controller's store: the SSE id" }),
  taskId: z.string().meta({ description: "A migration's id, or host:NAME for a host's liveness events" }),
  at: z.number(),
};

export const TaskQueuedEventSchema = z
  .object({ ...envelope, type: z.literal("task"), state: PhaseSchema, percent: z.number(), vm: z.string(), source: z.string(), destination: z.string(), prediction: PredictionSchema.optional() })
  .meta({ id: "TaskQueuedEvent", description: "A migration was queued" });

export const ProgressEventSchema = MigrationProgressSchema.extend({ ...envelope, type: z.literal("progress") }).meta({ id: "ProgressEvent" });

export const ReportEventSchema = z.object({ ...envelope, type: z.literal("report"), state: OutcomeSchema, report: MigrationReportSchema }).meta({ id: "ReportEvent", description: "The migration ended" });

export const HostStateEventSchema = z
  .looseObject({
    ...envelope,
    type: z.literal("host"),
    host: z.string(),
    state: z.enum(["connected", "notResponding", "disconnected"]),
    lastSeenAt: z.number().nullable().optional(),
    missedBeats: z.number().int().optional(),
    restarted: z.boolean().optional(),
    message: z.string(),
  })
  .meta({ id: "HostStateEvent", description: "A host's liveness changed (taskId host:NAME)" });

export const ReconcileEventSchema = z
  .looseObject({ ...envelope, type: z.literal("reconcile"), host: z.string(), kind: z.string(), vm: z.string(), corrected: z.boolean(), message: z.string() })
  .meta({ id: "ReconcileEvent", description: "One difference between what a host's agent runs and the inventory" });

export const ReconciledEventSchema = z
  .object({ ...envelope, type: z.literal("reconciled"), host: z.string(), differences: z.number().int(), corrections: z.number().int(), message: z.string() })
  .meta({ id: "ReconciledEvent", description: "A host's comparison with the inventory, summed up" });

export const OperationEventSchema = z
  .object({ ...envelope, ...operationEventFields })
  .meta({ id: "OperationEvent", description: "An operation (power, settings, host networking, tokens, import, DRS, maintenance) started or ended (taskId op:ID)" });

export const TaskEventSchema = z
  .discriminatedUnion("type", [TaskQueuedEventSchema, ProgressEventSchema, ReportEventSchema, HostStateEventSchema, ReconcileEventSchema, ReconciledEventSchema, OperationEventSchema])
  .meta({ id: "TaskEvent", description: "One event of GET /api/events (the SSE data of `event: task`)" });

/** An event as its publisher says it: what parses as one of the stream's union, without the envelope the store adds (seq, taskId, at). */
export type TaskEventBody = z.input<typeof TaskEventSchema> extends infer E ? (E extends unknown ? { [K in keyof E as K extends keyof typeof envelope ? never : K]: E[K] } : never) : never;

/** A migration's own events (not a host's). */
export const MIGRATION_EVENT_TYPES: ReadonlySet<string> = new Set(["task", "progress", "report"]);
