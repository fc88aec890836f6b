// The vocabulary of a live migration, shared by the engine, the drivers, the agents, the
// controller and every client: phases, options, progress events, predictions, reports and
// the closed catalogues of failure and warning codes. Pure data, no behaviour. What crosses a
// wire is a zod schema in schema.ts; its type here is derived from it.
import type { z } from "zod";
import type { ConvergencePolicy } from "./postcopy.ts";
import type { Priority } from "../check/rules/placement.ts";
import type {
  MigrationFailureSchema,
  MigrationProgressSchema,
  MigrationReportSchema,
  MigrationWarningSchema,
  PassSampleSchema,
  PostcopyReportSchema,
  PredictionBasisSchema,
  PredictionSchema,
  TimelineEntrySchema,
} from "./schema.ts";

export { Priority } from "../check/rules/placement.ts";

/**
 * Phases of a migration (DESIGN.md). The seed's progress pauses map onto them: preparing is
 * 0–10% (hosts establish communications, gather the page map), precopy 10–90%, switchover
 * 90–100% (the VM is quiesced and the last dirty pages fetched).
 */
export const Phase = {
  queued: "queued",
  validating: "validating",
  preparing: "preparing",
  precopy: "precopy",
  switchover: "switchover",
  completed: "completed",
  failed: "failed",
  cancelled: "cancelled",
  /**
   * The switchover's outcome could not be proven: neither host could show it holds the VM's
   * ownership record (src/core/ownership.ts). The VM stays paused on the source until the
   * destination answers or an operator decides (`ferry migrate resolve`).
   */
  needsAttention: "needs-attention",
} as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

export const TERMINAL_PHASES: ReadonlySet<Phase> = new Set([Phase.completed, Phase.failed, Phase.cancelled, Phase.needsAttention]);

/** Why a migration failed; stable codes, as findings' are. */
export const MigrationFailureCode = {
  /** The checker found errors (or unaccepted warnings). */
  incompatible: "INCOMPATIBLE",
  /** High priority could not reserve CPU/memory on a host. */
  reservationRefused: "RESERVATION_REFUSED",
  /** The destination cannot hold the VM's memory. */
  destinationOutOfMemory: "DESTINATION_OUT_OF_MEMORY",
  /** The destination's VMotion endpoint could not be reached. */
  destinationUnreachable: "DESTINATION_UNREACHABLE",
  /** The destination agent or its VM went away during the migration. */
  destinationLost: "DESTINATION_LOST",
  /** The migration stream broke (connection reset, cut link). */
  streamBroken: "STREAM_BROKEN",
  /** No progress for longer than the watchdog allows. */
  stalled: "STALLED",
  /** Dirty rate stays above what the link carries within the caps, and auto-converge is off or maxed out. */
  notConverging: "NOT_CONVERGING",
  /** The destination's copy did not match the source's at switchover. */
  checksumMismatch: "CHECKSUM_MISMATCH",
  /** The destination rejected the stream (QEMU: its stderr says why). */
  rejectedByDestination: "REJECTED_BY_DESTINATION",
  /** The VM is not on the source, or not running there. */
  vmNotFound: "VM_NOT_FOUND",
  vmNotRunning: "VM_NOT_RUNNING",
  /** A cold migration found the VM running (or paused) on its source: only a powered-off VM moves cold. */
  vmPoweredOn: "VM_POWERED_ON",
  /** Migrated, but the guest is not reachable on the VM network afterwards (qemu driver). */
  unreachableAfterMigration: "UNREACHABLE_AFTER_MIGRATION",
  /** A peer spoke something else than Ferry's protocol. */
  protocolError: "PROTOCOL_ERROR",
  /** Someone asked to abort. */
  aborted: "ABORTED",
  /** The agent that ran the source side went away and the outcome had to be reconciled. */
  sourceLost: "SOURCE_LOST",
  /** Encryption is required and an end cannot encrypt the stream; nothing was sent. */
  encryptionUnavailable: "ENCRYPTION_UNAVAILABLE",
  /** The stream's TLS handshake failed: the listener did not prove it holds the certificate its agent announced. */
  streamUntrusted: "STREAM_UNTRUSTED",
  /** The VM's ownership record names another host than the source: it must not move from here. */
  notOwned: "NOT_OWNED",
  /** Nobody could prove who holds the VM's ownership record after COMMIT: it needs an operator or the destination's answer. */
  ownershipUnknown: "OWNERSHIP_UNKNOWN",
  /** The destination (or the stream) failed during post-copy: neither host has the VM's whole memory, the VM is lost; the source stays paused, never resumed. */
  postcopyVmLost: "POSTCOPY_VM_LOST",
  internal: "INTERNAL",
} as const;
export type MigrationFailureCode = (typeof MigrationFailureCode)[keyof typeof MigrationFailureCode];

/** What a migration that completed wants its operator to know; stable codes, a closed catalogue. */
export const MigrationWarningCode = {
  /** The measured downtime exceeded the migration's downtime limit: it moved, but the guest paused longer than asked. */
  downtimeOverLimit: "DOWNTIME_OVER_LIMIT",
  /**
   * The VM runs on the destination but the controller could not record the move in its
   * inventory (the change was refused or the store failed): the VM moved, the inventory is
   * behind until the host's reconciliation or an edit records it.
   */
  inventoryNotRecorded: "INVENTORY_NOT_RECORDED",
} as const;
export type MigrationWarningCode = (typeof MigrationWarningCode)[keyof typeof MigrationWarningCode];

/**
 * Whether the VMotion stream is encrypted (vSphere's encrypted vMotion setting): `required`
 * fails a migration whose ends cannot both do TLS before anything moves; `opportunistic`
 * encrypts when both ends can and goes clear otherwise; `disabled` always goes clear.
 */
export const VmotionEncryption = { required: "required", opportunistic: "opportunistic", disabled: "disabled" } as const;
export type VmotionEncryption = (typeof VmotionEncryption)[keyof typeof VmotionEncryption];

/** How strong each setting is: a migration may ask for a stronger one than its cluster's, never a weaker one. */
export const VMOTION_ENCRYPTION_STRENGTH: Readonly<Record<VmotionEncryption, number>> = { disabled: 0, opportunistic: 1, required: 2 };

export interface MigrateOptions {
  /** The longest pause the VM may see at switchover. Default 300 ms. */
  readonly downtimeLimitMs: number;
  readonly priority: Priority;
  /** Throttle the guest when pre-copy does not converge (20%, then +10% steps up to 99%). */
  readonly autoConverge: boolean;
  /** Caps before auto-converge steps in or the migration fails: 30 passes, 3x memory sent. */
  readonly maxPasses: number;
  readonly maxTrafficFactor: number;
  /** Cap on the stream's rate in bytes/s; undefined: as fast as the link goes. Low priority gets a smaller share when migrations compete. */
  readonly bandwidthLimitBytesPerSec?: number | undefined;
  /** Cancel when no byte moves for this long (QEMU has no stall timeout of its own). */
  readonly stallTimeoutMs: number;
  /** Whether the stream is encrypted (see VmotionEncryption). Default required. */
  readonly vmotionEncryption: VmotionEncryption;
  /** The convergence policy (postcopy.ts); absent: auto-converge or fail, as `autoConverge` says. Only the qemu driver does post-copy. */
  readonly convergence?: ConvergencePolicy | undefined;
}

export const DEFAULT_MIGRATE_OPTIONS: MigrateOptions = {
  downtimeLimitMs: 300,
  priority: "high",
  autoConverge: true,
  maxPasses: 30,
  maxTrafficFactor: 3,
  stallTimeoutMs: 10_000,
  vmotionEncryption: VmotionEncryption.required,
};

/** Inputs of the pre-copy model: what is known before a migration starts. */
export interface PrecopyInputs {
  readonly memoryBytes: number;
  /** Bytes of memory that are not zero pages (zero pages travel as markers). */
  readonly touchedBytes: number;
  readonly pageSize: number;
  /** Bytes per second the guest dirties. */
  readonly dirtyRateBytesPerSec: number;
  /** The region the guest writes to; a pass never has more than this to resend. */
  readonly workingSetBytes: number;
  readonly linkRateBytesPerSec: number;
  readonly downtimeLimitMs: number;
  readonly maxPasses: number;
  readonly maxTrafficFactor: number;
  readonly autoConverge: boolean;
}

// The wire types, derived from their zod schemas (schema.ts). A report is typed as it may be
// written (warnings optional); a parsed one always has them (z.output: default []).
export type PredictionBasis = z.output<typeof PredictionBasisSchema>;
export type Prediction = z.output<typeof PredictionSchema>;
/** One progress event; `percent` never goes backwards within a migration. */
export type MigrationProgress = z.output<typeof MigrationProgressSchema>;
export type MigrationFailure = z.output<typeof MigrationFailureSchema>;
export type MigrationWarning = z.output<typeof MigrationWarningSchema>;
/** What a finished migration measured, beside what was predicted. */
export type MigrationReport = z.input<typeof MigrationReportSchema>;
/** Where a pre-copy pass ended: what was left, how fast the guest dirtied and the link carried. */
export type PassSample = z.output<typeof PassSampleSchema>;
export type TimelineEntry = z.output<typeof TimelineEntrySchema>;
/** The post-copy phase of a migration, in its report. */
export type PostcopyReport = z.output<typeof PostcopyReportSchema>;
