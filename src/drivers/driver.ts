// The hypervisor driver: the one interface between Ferry and whatever runs VMs on a host.
// Two implementations: `sim` (src/drivers/sim, the embedded default, Ferry's own pre-copy
// protocol over TCP) and `qemu` (real VMs, QEMU's migration stream). Both, and the agent's
// in-memory test fake, pass the shared contract suite in src/drivers/contract.ts and keep
// the shared bookkeeping in src/drivers/bookkeeping.ts. Only composition roots choose one.
import type { ClaimResult } from "../core/ownership.ts";
import type { Clock } from "../core/clock.ts";
import type { Cpu, PhysicalNic, VSwitch } from "../core/inventory/schema.ts";
import type { MigrateOptions, MigrationReport, VmotionEncryption } from "../core/migration/types.ts";
import type { SourceProgress } from "../core/migration/progress.ts";
import type { HostUsage } from "../core/drs/usage.ts";

/**
 * What a host's VMs use now (src/core/drs/usage.ts): per running VM, CPU in MHz-equivalent (CPU
 * time per second of wall time × the host's MHz per core) and memory in MB held on the host;
 * the host's totals are the sums, beside its capacity (cores × MHz, memory).
 */
export type HostUsageSample = HostUsage;

/** A simulated guest's workload (sim driver); the qemu driver passes it on the kernel command line. */
export interface WorkloadSpec {
  readonly kind: "idle" | "steady" | "bursty" | "hot";
  /** Bytes per second the guest writes. */
  readonly dirtyRateBytesPerSec: number;
  /** Bytes of memory the writes fall into. */
  readonly workingSetBytes: number;
  readonly seed: number;
}

/** Everything needed to create a VM, on its first host or as a migration's destination shell. */
export interface VmSpec {
  readonly name: string;
  readonly memoryMB: number;
  readonly vcpus: number;
  readonly nics: readonly { readonly name: string; readonly mac: string; readonly ip?: string | undefined; readonly portGroup: string }[];
  /** Guest-visible CPU features (after masks/baseline); the qemu driver builds `-cpu` from them. */
  readonly cpuFlags?: readonly string[] | undefined;
  readonly workload?: WorkloadSpec | undefined;
  /** Bytes of memory the guest has touched at creation (the rest stays zero pages). */
  readonly touchedBytes?: number | undefined;
  /**
   * The QEMU machine type (e.g. "pc-i440fx-7.2"), chosen at creation and kept for the VM's
   * life: a migration's destination must build the same machine. Default the qemu driver's
   * DEFAULT_MACHINE.
   */
  readonly machine?: string | undefined;
  /**
   * What the VM boots: "kernel" (default) is Ferry's built-in test guest (-kernel/-initrd);
   * "disk" and "cdrom" boot through the firmware (SeaBIOS), that kind of device first.
   */
  readonly boot?: VmBoot | undefined;
  readonly disks?: readonly VmDiskSpec[] | undefined;
  readonly cdroms?: readonly VmCdromSpec[] | undefined;
}

export const VmBoot = { kernel: "kernel", disk: "disk", cdrom: "cdrom" } as const;
export type VmBoot = (typeof VmBoot)[keyof typeof VmBoot];

export const DiskFormat = { raw: "raw", qcow2: "qcow2" } as const;
export type DiskFormat = (typeof DiskFormat)[keyof typeof DiskFormat];

/** A virtual disk: an image file on a datastore (shared by the hosts a VM migrates between). */
export interface VmDiskSpec {
  readonly name: string;
  readonly datastore: string;
  /** Relative to the datastore's mount path. */
  readonly path: string;
  readonly format: DiskFormat;
  /** Create the file this size when it does not exist; without it a missing file is refused. */
  readonly sizeMB?: number | undefined;
}

export const CdromBacking = { file: "file", host: "host", none: "none" } as const;
export type CdromBacking = (typeof CdromBacking)[keyof typeof CdromBacking];

/** A CD-ROM drive: an ISO on a datastore, the host's drive (/dev/srN), or empty. */
export interface VmCdromSpec {
  readonly name: string;
  readonly backing: CdromBacking;
  readonly datastore?: string | undefined;
  /** `file`: the ISO, relative to the datastore; `host`: the device, /dev/srN. */
  readonly path?: string | undefined;
  /** A disconnected drive is there but empty. */
  readonly connected: boolean;
}

/** What `destroy` does beyond ending the VM. */
export interface DestroyOptions {
  /** Delete the VM's disk files too (never its ISOs); default false: the disks stay. */
  readonly removeDisks?: boolean | undefined;
}

export const PowerStatus = { running: "running", paused: "paused", off: "off" } as const;
export type PowerStatus = (typeof PowerStatus)[keyof typeof PowerStatus];

/** A running guest's memory as measured on its host, for the prediction. */
export interface GuestMemoryProfile {
  /** Memory that is not zero pages: what the first pass sends whole. */
  readonly touchedBytes: number;
  /** Distinct memory the guest dirtied per second over the window. */
  readonly dirtyRateBytesPerSec: number;
  /** The memory its writes fell in, when they covered it within the window; undefined: more than they covered. */
  readonly workingSetBytes: number | undefined;
}

export interface VmStatus {
  readonly name: string;
  readonly power: PowerStatus;
  readonly memoryMB: number;
  readonly nics: VmSpec["nics"];
  /** A digest of memory and device state (sim); equal on both ends after a migration. */
  readonly stateDigest?: string | undefined;
  /** Set while the VM is migrating out, with the migration's id. */
  readonly migratingOut?: string | undefined;
  /**
   * The version of the hypervisor process that runs the VM (qemu: its own QEMU's, from the QMP
   * greeting, major.minor.micro), which can be older than the one the host has installed now;
   * absent while it runs in none, and for drivers without versions (sim).
   */
  readonly hypervisorVersion?: string | undefined;
}

export interface HostFacts {
  readonly name: string;
  readonly cpu: Cpu;
  readonly memoryMB: number;
  /** Memory not held by VMs or reservations. */
  readonly freeMemoryMB: number;
  readonly nics: readonly PhysicalNic[];
  readonly vswitches: readonly VSwitch[];
  readonly datastores: readonly string[];
  /** The IP of the VMotion-enabled VMkernel port: where migration streams go. */
  readonly vmotionIp: string | undefined;
  readonly driver: "sim" | "qemu";
}

/** A host as its config describes it: HostFacts without what the driver computes. */
export type HostDescription = Omit<HostFacts, "freeMemoryMB" | "driver">;

/** A host's facts as its config describes them, plus what the driver computes now. */
export function describedFacts(
  host: Pick<HostFacts, "name" | "cpu" | "memoryMB" | "nics" | "vswitches" | "datastores" | "vmotionIp">,
  freeMemoryMB: number,
  driver: HostFacts["driver"],
): HostFacts {
  return {
    name: host.name,
    cpu: host.cpu,
    memoryMB: host.memoryMB,
    freeMemoryMB,
    nics: host.nics,
    vswitches: host.vswitches,
    datastores: host.datastores,
    vmotionIp: host.vmotionIp,
    driver,
  };
}

/** What the destination hands the source: where to stream, and the one-time key to do it. */
export interface IncomingMigration {
  readonly migrationId: string;
  readonly host: string;
  readonly port: number;
  /** A one-time secret the source presents on connect; a stream without it is refused. */
  readonly token: string;
  /** Present when the destination listens over TLS only: what the source pins and presents. */
  readonly tls?: IncomingTls | undefined;
  /**
   * Parallel channels the destination's stream listens with (qemu: multifd channels, which the
   * source must open, all of them); absent: one stream.
   */
  readonly streamChannels?: number | undefined;
  /** Why the destination listens with that many channels, in words; the source reports it beside its own choices. */
  readonly streamChoice?: string | undefined;
}

/**
 * The migration's own TLS credentials as the source receives them (src/pki/ephemeral.ts): the
 * source trusts only `issuer` and accepts only `certificate`. The client pair is there when
 * the destination checks the source by certificate (qemu: QEMU's stream has no token, so the
 * client key is its one-time secret); it is a secret like `token`.
 */
export interface IncomingTls {
  readonly issuer: string;
  readonly certificate: string;
  readonly clientCertificate?: string | undefined;
  readonly clientKey?: string | undefined;
}

export interface PrepareIncomingOptions {
  readonly migrationId: string;
  /** The VMotion IP: the only address the stream is accepted on. */
  readonly listenHost: string;
  /**
   * Default required. `required` and `opportunistic` listen over TLS (the first refuses with
   * ENCRYPTION_UNAVAILABLE when this host cannot; the second then listens in clear);
   * `disabled` listens in clear.
   */
  readonly encryption?: VmotionEncryption | undefined;
  /**
   * The VM's ownership record for this migration: the destination claims it after the full
   * state arrived and before the VM runs here, and does not run it unless the claim won.
   * Absent only in tests of the stream alone.
   */
  readonly fence?: OwnershipFence | undefined;
  /**
   * The source will switch to post-copy (its convergence policy): the destination enables
   * QEMU's `postcopy-ram` before it listens, and runs the VM at the switch, once its claim won.
   */
  readonly postcopy?: boolean | undefined;
  /**
   * The version of the hypervisor process that runs the VM on the source (VmStatus.hypervisorVersion),
   * when the source said: what the stream may use can depend on both ends (qemu: multifd, trap 18).
   */
  readonly sourceHypervisorVersion?: string | undefined;
}

/**
 * One migration's hold on the VM's ownership record (src/core/ownership.ts), bound to this
 * host: `claim` takes the generation after the one the source held when the migration began.
 * Of the source's claim (resuming after a failed switchover) and the destination's (resuming
 * after COMMIT), exactly one wins; a claim that cannot reach the record throws UNAVAILABLE,
 * and then the VM runs nowhere until someone can prove who holds it.
 */
export interface OwnershipFence {
  /** Where the record lives, for messages. */
  readonly where: string;
  readonly generation: number;
  claim(): Promise<ClaimResult>;
  /**
   * Readies the claim ahead of the switchover, so that the claim after COMMIT, inside the VM's
   * downtime, does less: on a datastore the record is written and synced ahead and the claim
   * only links it; for the controller's store a read opens the TLS connection, and the claim is
   * one round trip and not a handshake too. Optional; may be called again; a failure here proves
   * nothing and is ignored.
   */
  warm?(): Promise<void>;
}

export const IncomingState = {
  /** Listening, nobody connected yet. */
  waiting: "waiting",
  receiving: "receiving",
  /** The full state arrived and its checksum matched; waiting for the source's commit. */
  verified: "verified",
  /** COMMIT arrived; claiming the VM's ownership record before it runs here. */
  committing: "committing",
  /** The VM runs here now. */
  running: "running",
  failed: "failed",
  aborted: "aborted",
  unknown: "unknown",
} as const;
export type IncomingState = (typeof IncomingState)[keyof typeof IncomingState];

/** What the destination found when it checked a migrated guest on the VM network. */
export const GuestCheckState = {
  /** Not checked yet (the VM has not resumed, or the probe runs). */
  pending: "pending",
  reachable: "reachable",
  unreachable: "unreachable",
  /** The VM has no NIC with a known IP, or the host has no network to probe from. */
  notApplicable: "not-applicable",
} as const;
export type GuestCheckState = (typeof GuestCheckState)[keyof typeof GuestCheckState];

export interface GuestCheck {
  readonly state: GuestCheckState;
  /** Plain words: which NIC, IP and port group, and what was seen. */
  readonly message: string;
  /**
   * When the VM resumed on the destination (its RESUME event), wall-clock ms: with the
   * source's stop time, Ferry's measure of the downtime (the hosts' clocks in sync, as NTP
   * keeps them; one clock in the lab).
   */
  readonly resumedAt?: number | undefined;
}

/** Where a VM runs after `settle`. */
export type SettledOn = "source" | "destination";

export interface MigrationHooks {
  readonly signal: AbortSignal;
  /** Raw figures (phase, step fraction, pass, bytes, rates): the engine's tracker computes the percent. */
  readonly onProgress: (progress: SourceProgress) => void;
  readonly clock: Clock;
  /** The source's hold on the VM's ownership record (see OwnershipFence); absent only in tests of the stream alone. */
  readonly fence?: OwnershipFence | undefined;
}

export interface HypervisorDriver {
  readonly kind: "sim" | "qemu";
  facts(): Promise<HostFacts>;
  list(): Promise<VmStatus[]>;
  get(name: string): Promise<VmStatus | undefined>;
  /** Creates a powered-off VM. */
  create(spec: VmSpec): Promise<VmStatus>;
  powerOn(name: string): Promise<VmStatus>;
  powerOff(name: string): Promise<VmStatus>;
  destroy(name: string, options?: DestroyOptions): Promise<void>;

  /**
   * Destination side: reserve the VM's memory, create its shell (paused, not running) and
   * listen on `listenHost` (the VMotion IP). Refuses with DESTINATION_OUT_OF_MEMORY when the
   * memory is not there. The VM resumes here only when the source commits.
   */
  prepareIncoming(spec: VmSpec, options: PrepareIncomingOptions): Promise<IncomingMigration>;
  incomingState(migrationId: string): Promise<IncomingState>;
  /** Ends an incoming migration that has not committed: the shell is destroyed. */
  abortIncoming(migrationId: string): Promise<void>;

  /**
   * Source side: pre-copy `name` to `target`, switch over, and release the source copy once
   * the destination confirms the VM runs there. Never rejects: every failure is a report
   * with outcome failed/cancelled, and then the VM runs on the source, untouched.
   */
  migrateOut(name: string, target: IncomingMigration, options: MigrateOptions, hooks: MigrationHooks): Promise<MigrationReport>;

  /**
   * Source side, after a migrateOut whose outcome was uncertain: COMMIT went out but the
   * destination's RUNNING never came back (the stream broke in between). That report is
   * failed with DESTINATION_LOST and an empty `runningOn`, and the VM waits here paused,
   * holding its full state, because resuming it blindly could run it on two hosts. With the
   * migration's fence (hooks.fence) this host claims the VM's ownership record: won, the VM
   * resumes here; lost, this copy ends; the record unreachable, UNAVAILABLE and the VM stays
   * paused. `destination` is used only without a fence (tests of the stream alone): `running`
   * releases the paused copy, `failed`, `aborted` or `unknown` resume it, `waiting`,
   * `receiving`, `verified` or `committing` are refused (CONFLICT, retryable). Repeating a
   * settled call returns the same answer.
   */
  settle(name: string, migrationId: string, destination: IncomingState): Promise<SettledOn>;

  /**
   * What the pre-copy model needs of the running guest's memory, measured over about `seconds`
   * (the qemu driver reads sampled pages of the guest RAM through /proc/PID/mem, guest-memory.ts).
   * Absent where the spec says it already (the sim: its workload).
   */
  measureGuestMemory?(name: string, seconds: number): Promise<GuestMemoryProfile>;

  /**
   * What the host's VMs use now (DRS demand): every running or paused VM, none that is off or an
   * incoming migration's shell. CPU is a rate, measured since this driver's previous call for
   * that VM (at least about a second back; the first call covers the VM's life so far): sim from
   * its workload's writes, qemu from the QEMU process's CPU time in /proc.
   */
  usage(): Promise<HostUsageSample>;

  /** Ends every VM and listener (agent shutdown). */
  close(): Promise<void>;
}
