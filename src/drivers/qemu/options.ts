// The qemu driver's public shapes: the host as its config describes it, the driver's options
// (what the agent or a test wires in), the control-timing record for the benchmark, and the
// driver's interface beyond HypervisorDriver.
import type { Clock } from "../../core/clock.ts";
import type { GuestMemoryProfile, HostDescription, HypervisorDriver, IncomingMigration, IncomingState } from "../driver.ts";
import type { Accelerator, GuestBoot } from "./command-line.ts";
import type { GuestCpuDefinition } from "./cpu-model.ts";
import type { BlockDevice, DatastorePath } from "./disks.ts";
import type { GuestCheck, QemuHostNetwork } from "./host-network.ts";
import type { MigrationSettings } from "./migration-info.ts";

/** Who sets QEMU's migration parameters: Ferry (tuning.ts, the default) or nobody (QEMU 7.2's own defaults, the bench's baseline). */
export const StreamTuningMode = {
  ferry: "ferry",
  /** A bare `migrate` with only `events` on, as a user of QEMU or `virsh migrate` gets it: for comparing, never for production. */
  qemuDefaults: "qemu-defaults",
} as const;
export type StreamTuningMode = (typeof StreamTuningMode)[keyof typeof StreamTuningMode];

/** Who sets the parameters, and the multifd channels incoming streams listen with (undefined: tuning.ts chooses). */
export interface StreamTuning {
  readonly mode: StreamTuningMode;
  readonly multifdChannels: number | undefined;
}

/** A qemu host as its config describes it. */
export type QemuHostDescription = HostDescription;

export interface QemuDriverOptions {
  readonly host: QemuHostDescription;
  /** The guest's kernel and initramfs, on a datastore both hosts mount. */
  readonly boot: GuestBoot;
  /** The guest CPU's vendor and baseline model; its features are each spec's `cpuFlags`. Default GenuineIntel Nehalem. */
  readonly cpu?: Omit<GuestCpuDefinition, "flags">;
  /**
   * Default "tcg". The driver does not probe: the agent calls `probeAccelerator` once at start
   * (on these machines /dev/kvm exists but aborts or hangs, QEMU-NOTES) and passes the answer.
   */
  readonly accelerator?: Accelerator;
  /**
   * The host's network: taps on port-group bridges, the namespace QEMU runs in, the guest
   * probe after a migration. Required for VMs with NICs.
   */
  readonly network?: QemuHostNetwork;
  /** Where QMP sockets and serial logs go; default a fresh directory under the system's tmp. */
  readonly runDir?: string;
  readonly binary?: string;
  readonly clock?: Clock;
  /**
   * How often the source reads `query-migrate` while no event comes (progress, watchdog,
   * convergence rule; also the fallback for a QEMU that sends no events); default 250 ms.
   */
  readonly pollMs?: number;
  /** Default `ferry`: tuning.ts chooses every migration's parameters. */
  readonly streamTuning?: StreamTuningMode;
  /**
   * multifd channels this host's incoming streams listen with, 0 for one stream; default chosen
   * per migration (tuning.ts chooseIncomingChannels: the host's CPUs, the VM's memory, the link).
   */
  readonly multifdChannels?: number;
  /** CPUs the host's QEMUs share, for that choice; default what Node sees (os.availableParallelism). */
  readonly hostCpus?: number;
  /**
   * The destination's reason for a failed stream (its QEMU's stderr, trap 2), when the source
   * can ask for it (the agent asks the destination's agent; tests wire two drivers directly).
   */
  readonly destinationReason?: (target: IncomingMigration) => Promise<string | undefined>;
  /**
   * The destination's `incomingState`, asked after QEMU reports `completed`: the source copy is
   * released only once the destination runs the VM. Without it, QEMU's `completed` is taken as
   * that confirmation (the destination resumes on its own at the end of the stream).
   */
  readonly destinationState?: (target: IncomingMigration) => Promise<IncomingState>;
  /** The destination's `incomingPostcopyBlocktime`, asked once a post-copy migration completed; without it the report has no blocktime. */
  readonly destinationPostcopyBlocktime?: (target: IncomingMigration) => Promise<number | undefined>;
  /** How long to wait for that confirmation; default 10 s. */
  readonly confirmTimeoutMs?: number;
  /**
   * The destination's check of the migrated guest on the VM network (its `guestCheck`), asked
   * once the destination runs the VM. Without it the guest is not checked.
   */
  readonly destinationGuest?: (target: IncomingMigration) => Promise<GuestCheck>;
  /** How long the guest check may take; default 10 s. */
  readonly guestCheckTimeoutMs?: number;
  /** Where Ferry's own time went in a completed migration, for the benchmark. */
  readonly onControlTiming?: (timing: ControlTiming) => void;
  /** The destination's host name for a report's `runningOn`; default the endpoint's host. */
  readonly destinationName?: (target: IncomingMigration) => string | undefined;
  /**
   * The host's mount path of a datastore (the agent knows them), undefined when this host does
   * not have it: a VM's disk or ISO there is refused, naming the VM, the file and the datastore.
   */
  readonly datastorePath?: DatastorePath;
  /** Whether a datastore takes O_DIRECT; default a probe file opened with it (disks.ts). */
  readonly probeDirectIo?: (directory: string) => Promise<boolean>;
  /** Each storage warning once, as found (a datastore without O_DIRECT); also in `storageWarnings()`. */
  readonly onStorageWarning?: (message: string) => void;
  /**
   * A VM's QEMU that ended by itself (a guest panic with `panic=-1 -no-reboot`, a failed
   * incoming stream, a kill from outside), with why: the agent logs it.
   */
  readonly onVmExit?: (exit: VmExit) => void;
}

/** A QEMU that ended without the driver asking it to. */
export interface VmExit {
  readonly vm: string;
  readonly code: number | null;
  readonly signal: string | null;
  /** The SHUTDOWN event's reason, when QEMU sent one (`guest-reset`, `guest-panic`, `guest-shutdown`, `host-signal`...). */
  readonly shutdown: string | undefined;
  /** QEMU's own error lines, when it wrote any. */
  readonly reason: string | undefined;
  /** The last lines the guest wrote on its serial console (a panic says itself there). */
  readonly console: string;
}

/** Ferry's control cost around QEMU's stream, for one completed migration. */
export interface ControlTiming {
  readonly migrationId: string;
  /** From migrateOut's call to QEMU accepting `migrate` (TLS credential, capabilities, parameters, migrate). */
  readonly requestToMigrateMs: number;
  /** `query-migrate` calls made during the stream, and the time spent waiting for their replies. */
  readonly polls: number;
  readonly pollMs: number;
  /** `migrate-set-parameters` calls for the downtime-limit's steps during the stream, and the time spent waiting for their replies. */
  readonly steps: number;
  readonly stepMs: number;
  /**
   * From QEMU's MIGRATION `completed` event (its timestamp) to Ferry acting on it (asking the
   * destination whether it runs the VM); undefined when no event came.
   */
  readonly endNoticeMs: number | undefined;
  /** From that event to Ferry reading it. */
  readonly endEventReadMs: number | undefined;
  /** From that event to QEMU's final figures in hand (read beside the destination's answer, off the critical path); undefined when no event came. */
  readonly finalFiguresMs: number | undefined;
  /** What the stream ran with. */
  readonly settings: MigrationSettings;
  /** QEMU's own `total-time`. */
  readonly qemuTotalMs: number;
  /** From migrateOut's call to Ferry seeing the final status. */
  readonly wallMs: number;
}

export interface QemuDriver extends HypervisorDriver {
  readonly kind: "qemu";
  /** Why an incoming migration failed, from the destination QEMU's stderr (trap 2). */
  incomingFailure(migrationId: string): string | undefined;
  /** Destination side: QEMU's postcopy-blocktime of a post-copy migration that completed here, ms; undefined before or without one. */
  incomingPostcopyBlocktime(migrationId: string): number | undefined;
  /**
   * Destination side: whether the guest of incoming migration `migrationId` answers on the VM
   * network, seen from this host's port-group bridges, once it runs here (same MAC, same IP).
   */
  guestCheck(migrationId: string): Promise<GuestCheck>;
  /** The running guest's touched memory, dirty rate and working set, sampled over `seconds` (guest-memory.ts). */
  measureGuestMemory(name: string, seconds: number): Promise<GuestMemoryProfile>;
  /** PIDs of the QEMU processes this driver runs, for tests and the lab's teardown. */
  pids(): number[];
  /** The guest drives of `name`'s QEMU as QMP `query-block` shows them. */
  blockDevices(name: string): Promise<BlockDevice[]>;
  /** QEMU's own run state of `name` (QMP `query-status`: running, paused, inmigrate, postmigrate...). */
  runState(name: string): Promise<string>;
  /** What this host's storage does that an operator should know (a datastore without O_DIRECT). */
  storageWarnings(): readonly string[];
  /** Changes how the next migrations' streams are set up (the driver's `streamTuning` and `multifdChannels` options): the bench moves one VM untuned and tuned in turn. */
  setStreamTuning(tuning: StreamTuning): void;
}
