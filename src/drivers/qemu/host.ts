// One qemu host's explicit state, shared by the driver's role modules (vm-process.ts,
// incoming.ts, outgoing.ts, dirty-rate.ts): the VMs it holds (each a QEMU process or none),
// its storage and run directory, and the bookkeeping every driver keeps (bookkeeping.ts):
// incoming migrations, settlements, outgoing migrations and the closing signal.
import { mkdtemp } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import type { Clock } from "../../core/clock.ts";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { systemClock } from "../clock.ts";
import { IncomingRegister, memoryHeldMB, OutgoingRuns, Settlements } from "../bookkeeping.ts";
import type { IncomingState, PowerStatus, VmSpec, VmStatus } from "../driver.ts";
import type { QemuVm } from "./command-line.ts";
import { createVmStorage, type VmStorage } from "./disks.ts";
import type { GuestCheck } from "./host-network.ts";
import { StreamTuningMode, type QemuDriverOptions, type StreamTuning } from "./options.ts";
import type { QemuChild } from "./process.ts";
import type { QmpClient } from "./qmp.ts";
import { LinkBasis, type LinkRate } from "./tuning.ts";

export const MiB = 1024 * 1024;

/** A VM on this host: its spec, and its QEMU while one runs. */
export interface HostedVm {
  readonly spec: VmSpec;
  power: PowerStatus;
  child: QemuChild | undefined;
  qmp: QmpClient | undefined;
  /** Taps plugged for the running QEMU, unplugged when it ends. */
  taps: string[];
  /** Set while it is the shell of an incoming migration. */
  incoming: string | undefined;
  migratingOut: string | undefined;
  /** The guest's dirty rate as QEMU last measured it (dirty-rate.ts), for the next migration's tuning. */
  dirtyRate?: { readonly bytesPerSec: number; readonly at: number } | undefined;
}

/** The destination's side of one migration. */
export interface IncomingSession {
  readonly vm: HostedVm;
  state: IncomingState;
  reason: string | undefined;
  /** The guest check, started when the VM resumes here. */
  guest: Promise<GuestCheck> | undefined;
  /** Wall-clock time of the RESUME event here. */
  resumedAt: number | undefined;
  /** The source switches to post-copy (PrepareIncomingOptions.postcopy); then QEMU's postcopy-blocktime once the stream completed. */
  postcopy?: { blocktimeMs: number | undefined } | undefined;
}

export class QemuHost {
  readonly options: QemuDriverOptions;
  readonly name: string;
  readonly clock: Clock;
  readonly vms = new Map<string, HostedVm>();
  readonly storage: VmStorage;
  readonly incoming = new IncomingRegister<IncomingSession>();
  readonly settlements: Settlements;
  /** Closed by close(): new work is refused and the migrations under way are aborted. */
  readonly outgoing = new OutgoingRuns();
  private runDirectory: Promise<string> | undefined;
  /** Whether the run directory is the driver's own (made by it, removed at close). */
  private ownRunDir = false;
  /**
   * Taps of an ended QEMU still being removed, by VM name. A new QEMU of that name waits for
   * them: its taps have the same names, and `ip tuntap add` refuses one that exists (EBUSY).
   */
  private readonly releasing = new Map<string, Promise<void>>();
  /** How this host's streams are set up now: the driver's options, until setStreamTuning changes them (the bench's baseline and Ferry's choice on one VM). */
  streamTuning: StreamTuning;
  /** The stream rate this host's completed migrations reached, by destination VMotion IP (tuning.ts learnLinkRate). */
  readonly linkRates = new Map<string, number>();

  constructor(options: QemuDriverOptions) {
    this.options = options;
    this.name = options.host.name;
    this.clock = options.clock ?? systemClock;
    this.settlements = new Settlements(this.name);
    this.streamTuning = { mode: options.streamTuning ?? StreamTuningMode.ferry, multifdChannels: options.multifdChannels };
    this.storage = createVmStorage({ host: this.name, datastorePath: options.datastorePath, probeDirectIo: options.probeDirectIo, onWarning: options.onStorageWarning });
  }

  /** Where QMP sockets and serial logs go: the configured directory, or one made on first use. */
  runDir(): Promise<string> {
    if (this.runDirectory === undefined) {
      if (this.options.runDir !== undefined) this.runDirectory = Promise.resolve(this.options.runDir);
      else {
        this.ownRunDir = true;
        this.runDirectory = mkdtemp(join(tmpdir(), `ferry-qemu-${this.name}-`));
      }
    }
    return this.runDirectory;
  }

  /** The run directory to remove at close, when the driver made it. */
  ownedRunDir(): Promise<string> | undefined {
    return this.ownRunDir ? this.runDirectory : undefined;
  }

  freeMB(): number {
    return this.options.host.memoryMB - memoryHeldMB(this.vms.values());
  }

  status(vm: HostedVm): VmStatus {
    const hypervisorVersion = vm.qmp?.qemuVersion;
    return { name: vm.spec.name, power: vm.power, memoryMB: vm.spec.memoryMB, nics: vm.spec.nics, migratingOut: vm.migratingOut, ...(hypervisorVersion === undefined ? {} : { hypervisorVersion }) };
  }

  mustGet(name: string): HostedVm {
    const vm = this.vms.get(name);
    if (vm === undefined) throw new FerryError(ErrorCode.notFound, `${this.name} has no VM named "${name}"`, { details: { vm: name } });
    return vm;
  }

  notClosed(): void {
    if (this.outgoing.closed) throw new FerryError(ErrorCode.unavailable, `the qemu driver of ${this.name} is closed`);
  }

  /** Tracks the removal of VM `name`'s taps; resolves when it and any earlier one are done. */
  releaseTaps(name: string, removal: Promise<void>): Promise<void> {
    const all = Promise.all([this.tapsReleased(name), removal]).then(() => undefined);
    this.releasing.set(name, all);
    void all.then(() => {
      if (this.releasing.get(name) === all) this.releasing.delete(name);
    });
    return all;
  }

  /** Resolves once the taps of VM `name`'s ended QEMUs are gone. */
  tapsReleased(name: string): Promise<void> {
    return this.releasing.get(name) ?? Promise.resolve();
  }

  /** Drops `vm` from the host's list, unless another VM of its name took its place meanwhile. */
  forget(vm: HostedVm): void {
    if (this.vms.get(vm.spec.name) === vm) this.vms.delete(vm.spec.name);
  }

  /** CPUs this host's QEMUs share (tuning.ts: multifd needs spare ones). */
  cpus(): number {
    return this.options.hostCpus ?? availableParallelism();
  }

  /** The VMotion link's nominal rate: the fastest NIC the host describes, bytes/s; undefined when it names none with a speed. */
  nominalLinkBytesPerSec(): number | undefined {
    const mbps = Math.max(0, ...this.options.host.nics.map((nic) => nic.speedMbps));
    return mbps > 0 ? (mbps * 1e6) / 8 : undefined;
  }

  /** The link to `destinationIp` as Ferry knows it: the rate earlier streams there reached, else the nominal rate. */
  linkTo(destinationIp: string): LinkRate | undefined {
    const learned = this.linkRates.get(destinationIp);
    if (learned !== undefined && learned > 0) return { bytesPerSec: learned, basis: LinkBasis.learned };
    const nominal = this.nominalLinkBytesPerSec();
    return nominal === undefined ? undefined : { bytesPerSec: nominal, basis: LinkBasis.nominal };
  }

  /** What command-line.ts builds QEMU's arguments from. */
  machine(spec: VmSpec): QemuVm {
    return { spec, cpu: this.options.cpu ?? { vendor: "GenuineIntel", model: "Nehalem" }, boot: this.options.boot };
  }
}

export function reasonOf(value: unknown): string {
  return value instanceof Error ? value.message : String(value);
}
