// The host agent's HTTP contract: request bodies as zod schemas (validated by the agent,
// the same shapes typed for the client) and the response and stream shapes. Everything a
// controller or the engine sends an agent is defined here, once.
import { z } from "zod";
import { ConvergencePolicySchema } from "../core/migration/postcopy.ts";
import { NetworkOpSchema } from "../host/network-config.ts";
import type { GuestCheck, HostFacts, IncomingMigration, IncomingState, PowerStatus, VmSpec, VmStatus } from "../drivers/driver.ts";
import { FenceSchema, LedgerRefSchema, type Fence } from "../core/ownership.ts";
import { MigrationFailureCodeSchema } from "../core/migration/schema.ts";
import type { MigrationFailureCode, MigrateOptions, MigrationReport } from "../core/migration/types.ts";
import type { SourceProgress } from "../core/migration/progress.ts";
import type { HostUsage } from "../core/drs/usage.ts";

/** The API's version prefix; a breaking change gets a new one. */
export const API_PREFIX = "/v1";

const name = z.string().min(1, "must not be empty").max(200);

/** Migration ids travel in URLs and logs: a conservative alphabet, no escaping needed. */
export const MigrationIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, "must be 1 to 128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit");

const ipv4 = z
  .string()
  .regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/, "must be an IPv4 address, like 127.0.1.2")
  .refine((s) => s.split(".").every((o) => Number(o) <= 255), "has an octet above 255");

export const WorkloadSpecSchema = z
  .object({
    kind: z.enum(["idle", "steady", "bursty", "hot"]),
    dirtyRateBytesPerSec: z.number().nonnegative(),
    workingSetBytes: z.number().int().nonnegative(),
    seed: z.number().int(),
  })
  .strict();

/** A VM's disk: an image file on a datastore (VmDiskSpec). */
export const VmDiskSpecSchema = z
  .object({
    name,
    datastore: name,
    path: z.string().min(1, "must not be empty").max(1024),
    format: z.enum(["raw", "qcow2"]),
    sizeMB: z.number().int().positive().optional(),
  })
  .strict();

/** A VM's CD-ROM drive: an ISO on a datastore, a host drive (/dev/srN) or empty (VmCdromSpec). */
export const VmCdromSpecSchema = z
  .object({
    name,
    backing: z.enum(["file", "host", "none"]),
    datastore: name.optional(),
    path: z.string().min(1, "must not be empty").max(1024).optional(),
    connected: z.boolean(),
  })
  .strict();

export const VmSpecSchema = z
  .object({
    name,
    memoryMB: z.number().int().positive(),
    vcpus: z.number().int().positive(),
    nics: z.array(
      z
        .object({
          name,
          mac: z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i, "must be a MAC address like 00:50:56:01:02:03"),
          ip: ipv4.optional(),
          portGroup: name,
        })
        .strict(),
    ),
    cpuFlags: z.array(z.string().min(1)).optional(),
    workload: WorkloadSpecSchema.optional(),
    touchedBytes: z.number().int().nonnegative().optional(),
    machine: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9._-]{0,63}$/, "must be a QEMU machine type like pc-i440fx-7.2")
      .optional(),
    boot: z.enum(["kernel", "disk", "cdrom"]).optional(),
    disks: z.array(VmDiskSpecSchema).optional(),
    cdroms: z.array(VmCdromSpecSchema).optional(),
  })
  .strict()
  .refine((s) => s.touchedBytes === undefined || s.touchedBytes <= s.memoryMB * 1048576, {
    error: "touchedBytes must not exceed the VM's memory",
    path: ["touchedBytes"],
  });

/** Migration options as sent: any subset, the rest from DEFAULT_MIGRATE_OPTIONS. */
export const MigrateOptionsSchema = z
  .object({
    downtimeLimitMs: z.number().positive().max(600_000),
    priority: z.enum(["high", "low"]),
    autoConverge: z.boolean(),
    maxPasses: z.number().int().positive().max(1000),
    maxTrafficFactor: z.number().positive().max(100),
    bandwidthLimitBytesPerSec: z.number().positive().optional(),
    stallTimeoutMs: z.number().int().positive().max(3_600_000),
    vmotionEncryption: z.enum(["required", "opportunistic", "disabled"]),
    convergence: ConvergencePolicySchema,
  })
  .partial()
  .strict();

export const IncomingMigrationSchema = z
  .object({
    migrationId: MigrationIdSchema,
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    token: z.string().min(1),
    /** The stream's TLS (src/pki/ephemeral.ts); absent: the destination listens in clear. */
    tls: z
      .object({
        issuer: z.string().min(1).max(16_384),
        certificate: z.string().min(1).max(16_384),
        clientCertificate: z.string().min(1).max(16_384).optional(),
        clientKey: z.string().min(1).max(16_384).optional(),
      })
      .strict()
      .optional(),
    /** Parallel channels the destination's stream listens with (qemu: multifd); absent: one stream. */
    streamChannels: z.number().int().min(1).max(64).optional(),
    /** Why the destination listens with that many channels, in words (the source says it with its own choices). */
    streamChoice: z.string().min(1).max(500).optional(),
    /**
     * The migration's state token (see PreparedIncoming): the source presents it to read this
     * migration's incoming state on the destination's agent. The agent never hands it to its driver.
     */
    stateToken: z.string().min(1).max(200).optional(),
  })
  .strict();

/**
 * What a destination agent answers to POST /migrations/incoming: the driver's target plus a
 * random state token of this migration. The destination accepts it as a bearer token for
 * GET /migrations/incoming/{this migration} and nothing else, until it forgets the migration;
 * the controller hands it to the source inside the target, so no agent holds another's secret.
 */
export type PreparedIncoming = IncomingMigration & { readonly stateToken: string };

export const ReservationRequestSchema = z
  .object({
    cpuMhz: z.number().nonnegative().max(10_000_000),
    memoryMB: z.number().int().nonnegative().max(1 << 30),
  })
  .strict();
export type ReservationRequest = z.output<typeof ReservationRequestSchema>;

export const IncomingRequestSchema = z
  .object({
    migrationId: MigrationIdSchema,
    spec: VmSpecSchema,
    /** The stream's encryption setting (default required): `disabled` listens in clear, the others over TLS when this host can. */
    encryption: z.enum(["required", "opportunistic", "disabled"]).optional(),
    /** The VM's ownership record: claimed after COMMIT, before the VM runs here (src/core/ownership.ts). */
    fence: FenceSchema.optional(),
    /** The source will switch to post-copy (its convergence policy): QEMU's postcopy-ram is set before listening. */
    postcopy: z.boolean().optional(),
    /** The version of the hypervisor that runs the VM on the source (VmStatus.hypervisorVersion): what the stream may use can depend on both ends. */
    sourceHypervisorVersion: z.string().regex(/^\d+\.\d+\.\d+$/, "must be a version major.minor.micro, like 7.2.22").optional(),
  })
  .strict();
export type IncomingRequest = z.output<typeof IncomingRequestSchema>;

export const OutgoingRequestSchema = z
  .object({
    migrationId: MigrationIdSchema,
    vm: name,
    target: IncomingMigrationSchema,
    options: MigrateOptionsSchema.default({}),
    /** The destination host's name, for the report (the target's address is only an IP). */
    destination: name.optional(),
    /**
     * Where the destination's agent is, so the source can ask it whether the VM runs there
     * (QEMU's stream carries no answer back): the controller knows every agent. The source
     * asks with the target's state token (or, joined over mutual TLS, its own certificate).
     */
    destinationAgent: z.object({ host: name, api: z.url() }).strict().optional(),
    /** The VM's ownership record: claimed back before the VM resumes here after a failed switchover. */
    fence: FenceSchema.optional(),
  })
  .strict();
export interface OutgoingRequest {
  readonly migrationId: string;
  readonly vm: string;
  readonly target: IncomingMigration & { readonly stateToken?: string };
  readonly options?: Partial<MigrateOptions>;
  readonly destination?: string;
  readonly destinationAgent?: DestinationAgent;
  readonly fence?: Fence;
}

/** A migration's destination agent as its source knows it: where to ask about the migration. */
export interface DestinationAgent {
  readonly host: string;
  readonly api: string;
}

/**
 * Ownership through an agent (the record may be on a datastore only hosts mount). `establish`:
 * this host takes generation 1 when the VM has no record, or confirms it holds the record;
 * with `supersede: N` it takes N+1 over a record whose owner the caller checked does not run
 * the VM. `read`: the record as this host sees it.
 */
export const OwnershipRequestSchema = z
  .object({
    vm: name,
    ledger: LedgerRefSchema,
    supersede: z.number().int().positive().optional(),
    /** The migration the generation is taken for (a cold migration moving the record to this host). */
    migrationId: z.string().min(1).optional(),
  })
  .strict();
export type OwnershipRequest = z.output<typeof OwnershipRequestSchema>;

/** Fault rules are the driver's vocabulary; the agent only checks they are a list of objects. */
export const FaultsRequestSchema = z.object({ rules: z.array(z.record(z.string(), z.unknown())) }).strict();

// ---- responses ----

/** The driver's facts, as this agent sees them: reservations already taken out of free memory. */
export interface AgentFacts extends HostFacts {
  /** Memory and CPU held by reservations of high-priority migrations. */
  readonly reservedMemoryMB: number;
  readonly reservedCpuMhz: number;
  /** CPU capacity reservations may take: cores × MHz. */
  readonly cpuCapacityMhz: number;
  readonly migrations: { readonly incoming: number; readonly outgoing: number };
  /** Whether POST /v1/faults is served (test agents only). */
  readonly faultsEnabled: boolean;
  /** Whether this agent changes its host's network through POST /v1/network/apply (real hosts). */
  readonly networkControl?: boolean;
  /** Present when the facts were observed on the host rather than declared (real hosts). */
  readonly observed?: ObservedExtras;
}

/** What an observed host reports beside its inventory record. */
export interface ObservedExtras {
  /** Datastores by their identity: the same uuid on two hosts is one shared datastore. */
  readonly datastoreIds: readonly { readonly name: string; readonly uuid: string; readonly path: string }[];
  /** Configured datastore paths the host cannot use, each with the reason. */
  readonly datastoreProblems: readonly { readonly path: string; readonly reason: string }[];
  readonly hypervisor: { readonly kind: "qemu"; readonly version: string; readonly machineTypes: readonly string[]; readonly cpuModels: readonly string[]; readonly accelerator: "kvm" | "tcg" } | undefined;
  /** What the observation could not make sense of (a mapped port without an address...). */
  readonly problems: readonly string[];
  readonly observedInMs: number;
}

/** POST /v1/network/apply: changes applied on the host as one transaction. */
export const NetworkApplyRequestSchema = z.object({ ops: z.array(NetworkOpSchema).min(1) }).strict();

/** What a network transaction did, and where incoming migrations now listen. */
export interface NetworkApplyView {
  readonly applied: readonly string[];
  readonly vmotionIp: string | undefined;
}

/** A VM's dirty rate: measured by the hypervisor, or the workload its spec declares (sim). */
export interface DirtyRateView {
  readonly vm: string;
  readonly bytesPerSec: number;
  readonly measured: boolean;
  /** Bytes of memory that are not zero pages, where the driver measures it (qemu); absent otherwise. */
  readonly touchedBytes?: number | undefined;
  /** The memory the guest's writes covered within the window, when they levelled off there; absent otherwise. */
  readonly workingSetBytes?: number | undefined;
}

/**
 * GET /v1/health: the controller's heartbeat. Cheap (no facts are read, nothing waits on a
 * migration): who answers, with which driver, and what runs there now, for reconciliation.
 */
export interface HealthView {
  readonly host: string;
  readonly driver: "sim" | "qemu";
  /** The agent's clock (ms since the epoch). */
  readonly at: number;
  /** When this agent process started: a new value means it restarted (and its VMs may be gone). */
  readonly startedAt: number;
  readonly vms: readonly { readonly name: string; readonly power: PowerStatus; readonly migratingOut?: string | undefined }[];
  /** VMs whose incoming migration this agent holds (a paused shell that is not yet the VM). */
  readonly incoming: readonly string[];
}

/**
 * GET /v1/usage: what the host's running VMs use now, as its driver measures it (CPU in
 * MHz-equivalent, memory in MB held on the host), their sums and the host's capacity.
 */
export type UsageView = HostUsage;

/** A VM as the agent reports it: the driver's status and, when known, the spec it was created from. */
export interface AgentVm extends VmStatus {
  readonly spec?: VmSpec | undefined;
}

export interface ReservationView extends ReservationRequest {
  readonly migrationId: string;
  /** When it was taken, from the agent's clock (ms since the epoch). */
  readonly at: number;
  /** Its memory now belongs to the incoming VM's shell, so it no longer counts twice. */
  readonly memoryInUse: boolean;
}

export interface IncomingStateView {
  readonly migrationId: string;
  readonly state: IncomingState;
  /** Why the incoming stream failed, in the hypervisor's words (the qemu driver: QEMU's stderr). */
  readonly reason?: string | undefined;
  /** The destination's check of the migrated guest on the VM network (qemu driver). */
  readonly guest?: GuestCheck | undefined;
  /** QEMU's postcopy-blocktime of a post-copy migration that completed here, ms (qemu driver). */
  readonly postcopyBlocktimeMs?: number | undefined;
}

export const OutgoingState = { running: "running", finished: "finished" } as const;
export type OutgoingState = (typeof OutgoingState)[keyof typeof OutgoingState];

export interface OutgoingView {
  readonly migrationId: string;
  readonly vm: string;
  readonly state: OutgoingState;
  /** Whether someone asked to abort it. */
  readonly aborting: boolean;
  readonly progress: SourceProgress | undefined;
  readonly report: MigrationReport | undefined;
  /** Set once an uncertain outcome (report failed, `runningOn` empty) was settled. */
  readonly settledOn: SettledOn | undefined;
}

/** Where a VM runs after a settlement: the driver's answer. */
export type SettledOn = "source" | "destination";

export const SettleRequestSchema = z
  .object({ destination: z.enum(["waiting", "receiving", "verified", "committing", "running", "failed", "aborted", "unknown"]) })
  .strict();

export interface SettleView {
  readonly migrationId: string;
  readonly vm: string;
  readonly settledOn: SettledOn;
}

/** One line of the outgoing stream (newline-delimited JSON). The last line is a `report`. */
export type OutgoingEvent =
  | { readonly type: "progress"; readonly progress: SourceProgress }
  | { readonly type: "report"; readonly report: MigrationReport }
  /** Sent while nothing else is, so a reader can tell a quiet agent from a dead one. */
  | { readonly type: "heartbeat"; readonly at: number };

/**
 * The body of every error response (STYLE.md lesson 4). An error about a migration carries
 * its failure code beside the catalogue's code (`failureCode`, DESTINATION_OUT_OF_MEMORY
 * beside a bare REFUSED), so the engine reports why without reading `details`.
 */
export const ErrorBodySchema = z.object({
  code: z.string(),
  message: z.string(),
  details: z.unknown(),
  // A code this version does not know reads as none: the error still arrives, with its catalogue code.
  failureCode: MigrationFailureCodeSchema.optional().catch(undefined),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

/**
 * The failure code an agent of the previous version put in `details.failureCode`; read by the
 * client for one version (remove with it).
 */
export function legacyFailureCodeOf(details: unknown): MigrationFailureCode | undefined {
  if (typeof details !== "object" || details === null) return undefined;
  const parsed = MigrationFailureCodeSchema.safeParse((details as { failureCode?: unknown }).failureCode);
  return parsed.success ? parsed.data : undefined;
}

export type { GuestCheck, HostFacts, IncomingMigration, IncomingState, VmSpec, VmStatus };
