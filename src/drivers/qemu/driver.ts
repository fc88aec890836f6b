// The `qemu` hypervisor driver: each VM is a qemu-system-x86_64 child process of the agent,
// driven over its QMP socket; a live migration is QEMU's own stream from the source process to
// an `-incoming defer` destination process built from the same VM record (command-line.ts).
// QEMU-NOTES.md lists the QEMU behaviours handled here; the comments name them as "trap N".
//
// The one-time token: QEMU's migration stream carries no token, so the destination QEMU cannot
// check one. The agent checks the token before it hands out the endpoint (the source's agent
// asks for it with the token), and QEMU listens only on the VMotion IP, for one stream.
import { ownershipWords } from "../../core/ownership.ts";
import { constants } from "node:fs";
import { access, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { Clock } from "../../core/clock.ts";
import { ErrorCode, FerryError, isFerryError } from "../../core/errors.ts";
import type { Cpu, PhysicalNic, VSwitch } from "../../core/inventory/schema.ts";
import { unmovedReport } from "../../core/migration/report.ts";
import { decideAfterPass, percentFor } from "../../core/migration/convergence.ts";
import { MigrationFailureCode, Phase, VmotionEncryption, type MigrateOptions, type MigrationFailure, type MigrationProgress, type MigrationReport } from "../../core/migration/types.ts";
import { systemClock } from "../clock.ts";
import { describedFacts, IncomingState, PowerStatus, type HypervisorDriver, type IncomingMigration, type MigrationHooks, type OwnershipFence, type SettledOn, type VmSpec, type VmStatus } from "../driver.ts";
import { claimUntilDecided, settleByFence } from "../settle.ts";
import { Accelerator, qemuCommandLine, type GuestBoot, type QemuVm } from "./command-line.ts";
import type { GuestCpuDefinition } from "./cpu-model.ts";
import { createVmStorage, parseQueryBlock, type BlockDevice, type DatastorePath, type ResolvedStorage } from "./disks.ts";
import { GuestCheckState, type GuestCheck, type QemuHostNetwork } from "./host-network.ts";
import { capabilityArguments, isFinal, migrationRates, MigrationStatus, parameterArguments, parseMigrationInfo, type MigrationSample, type MigrationSettings } from "./migration-info.ts";
import { connectChild, qemuErrorReason, startQemu, type QemuChild } from "./process.ts";
import { incomingStreamTls, outgoingStreamTls, removeStreamCredentials } from "./stream-tls.ts";
import { QmpFailure, type QmpClient, type QmpEvent } from "./qmp.ts";

/** A host as its config describes it: HostFacts without what the driver computes. */
export interface QemuHostDescription {
  readonly name: string;
  readonly cpu: Cpu;
  readonly memoryMB: number;
  readonly nics: readonly PhysicalNic[];
  readonly vswitches: readonly VSwitch[];
  readonly datastores: readonly string[];
  readonly vmotionIp: string | undefined;
}

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
  /** `query-migrate` polling period during a migration; default 150 ms. */
  readonly pollMs?: number;
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
}

/** Ferry's control cost around QEMU's stream, for one completed migration. */
export interface ControlTiming {
  readonly migrationId: string;
  /** From migrateOut's call to QEMU accepting `migrate` (capabilities, parameters, migrate). */
  readonly requestToMigrateMs: number;
  /** `query-migrate` calls made, and the time spent waiting for their replies. */
  readonly polls: number;
  readonly pollMs: number;
  /** QEMU's own `total-time`. */
  readonly qemuTotalMs: number;
  /** From migrateOut's call to Ferry seeing the final status. */
  readonly wallMs: number;
}

export interface QemuDriver extends HypervisorDriver {
  readonly kind: "qemu";
  /** Why an incoming migration failed, from the destination QEMU's stderr (trap 2). */
  incomingFailure(migrationId: string): string | undefined;
  /**
   * Destination side: whether the guest of incoming migration `migrationId` answers on the VM
   * network, seen from this host's port-group bridges, once it runs here (same MAC, same IP).
   */
  guestCheck(migrationId: string): Promise<GuestCheck>;
  /**
   * The guest's dirty rate in bytes/s, sampled by QEMU over `seconds` (QMP `calc-dirty-rate`,
   * page-sampling: dirty-bitmap mode crashes QEMU 7.2 under TCG, trap 8). Page sampling sees
   * changed contents only, so a guest rewriting identical bytes reads as ~0.
   */
  measureDirtyRate(name: string, seconds: number): Promise<number>;
  /** PIDs of the QEMU processes this driver runs, for tests and the lab's teardown. */
  pids(): number[];
  /** The guest drives of `name`'s QEMU as QMP `query-block` shows them. */
  blockDevices(name: string): Promise<BlockDevice[]>;
  /** QEMU's own run state of `name` (QMP `query-status`: running, paused, inmigrate, postmigrate...). */
  runState(name: string): Promise<string>;
  /** What this host's storage does that an operator should know (a datastore without O_DIRECT). */
  storageWarnings(): readonly string[];
}

interface Vm {
  readonly spec: VmSpec;
  power: PowerStatus;
  child: QemuChild | undefined;
  qmp: QmpClient | undefined;
  /** Taps plugged for the running QEMU, unplugged when it ends. */
  taps: string[];
  /** Set while it is the shell of an incoming migration. */
  incoming: string | undefined;
  migratingOut: string | undefined;
}

interface Incoming {
  readonly vm: Vm;
  state: IncomingState;
  reason: string | undefined;
  /** The guest check, started when the VM resumes here. */
  guest: Promise<GuestCheck> | undefined;
  /** Wall-clock time of the RESUME event here. */
  resumedAt: number | undefined;
}

const MiB = 1024 * 1024;
const UNCAPPED_BYTES_PER_SEC = 64 * 1024 * MiB;
const KEEP_FINISHED_INCOMING = 1024;

/**
 * When QEMU says an event happened (QMP's own timestamp, wall clock), not when Ferry read it:
 * a busy agent reads STOP late, which would shorten Ferry's STOP-to-RESUME downtime below
 * QEMU's. A test QMP without a timestamp falls back to the clock.
 */
function eventTime(event: QmpEvent, clock: Clock): number {
  const { seconds, microseconds } = event.timestamp;
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 + microseconds / 1000 : clock.now();
}

/** How long a slow `query-migrate` is waited for during a migration before it counts as a failure. */
const QMP_SLOW_LIMIT_MS = 15_000;

export function createQemuDriver(options: QemuDriverOptions): QemuDriver {
  const { host } = options;
  const clock = options.clock ?? systemClock;
  const pollMs = options.pollMs ?? 150;
  const vms = new Map<string, Vm>();
  const incoming = new Map<string, Incoming>();
  const settled = new Map<string, SettledOn>();
  /** Migrations whose stream completed but whose destination did not confirm: the VM waits paused, with the migration's fence. */
  const awaitingSettlement = new Map<string, { readonly vm: string; readonly fence: OwnershipFence | undefined }>();
  const outgoing = new Set<Promise<MigrationReport>>();
  const closing = new AbortController();
  const storage = createVmStorage({ host: host.name, datastorePath: options.datastorePath, probeDirectIo: options.probeDirectIo, onWarning: options.onStorageWarning });
  let runDir: Promise<string> | undefined;
  let ownRunDir = false;

  const dir = (): Promise<string> => {
    if (runDir === undefined) {
      if (options.runDir !== undefined) runDir = Promise.resolve(options.runDir);
      else {
        ownRunDir = true;
        runDir = mkdtemp(join(tmpdir(), `ferry-qemu-${host.name}-`));
      }
    }
    return runDir;
  };

  const usedMB = (): number => {
    let used = 0;
    for (const vm of vms.values()) if (vm.power !== PowerStatus.off) used += vm.spec.memoryMB;
    return used;
  };
  const freeMB = (): number => host.memoryMB - usedMB();

  const status = (vm: Vm): VmStatus => ({
    name: vm.spec.name,
    power: vm.power,
    memoryMB: vm.spec.memoryMB,
    nics: vm.spec.nics,
    migratingOut: vm.migratingOut,
  });
  const mustGet = (name: string): Vm => {
    const vm = vms.get(name);
    if (vm === undefined) throw new FerryError(ErrorCode.notFound, `${host.name} has no VM named "${name}"`, { details: { vm: name } });
    return vm;
  };
  const mustBeIdle = (vm: Vm, action: string): void => {
    if (vm.migratingOut !== undefined) throw new FerryError(ErrorCode.conflict, `cannot ${action} ${vm.spec.name}: it is migrating out (${vm.migratingOut})`, { details: { vm: vm.spec.name } });
    if (vm.incoming !== undefined) throw new FerryError(ErrorCode.conflict, `cannot ${action} ${vm.spec.name}: it is the shell of incoming migration ${vm.incoming}; abort that instead`, { details: { vm: vm.spec.name } });
  };
  const notClosed = (): void => {
    if (closing.signal.aborted) throw new FerryError(ErrorCode.unavailable, `the qemu driver of ${host.name} is closed`);
  };

  const record = (spec: VmSpec): QemuVm => ({ spec, cpu: options.cpu ?? { vendor: "GenuineIntel", model: "Nehalem" }, boot: options.boot });

  /** Starts QEMU for `vm` with its resolved disks and media, and connects QMP; on any failure the process is gone. */
  const start = async (vm: Vm, incomingMode: boolean, tag: string, files: ResolvedStorage): Promise<void> => {
    const base = await dir();
    const stem = join(base, `${vm.spec.name.replace(/[^\w.-]/g, "_")}-${tag}-${randomBytes(3).toString("hex")}`);
    const taps: Record<string, string> = {};
    const network = options.network;
    for (const nic of vm.spec.nics) {
      if (network === undefined) throw new FerryError(ErrorCode.invalidInput, `${host.name} has no network for NIC ${nic.name} of ${vm.spec.name} (port group "${nic.portGroup}")`, { details: { vm: vm.spec.name, nic: nic.name } });
      try {
        const tap = await network.plug(vm.spec.name, nic, tag);
        vm.taps.push(tap);
        taps[nic.name] = tap;
      } catch (error) {
        await unplug(vm);
        throw error;
      }
    }
    const command = qemuCommandLine(
      record(vm.spec),
      { accelerator: options.accelerator ?? Accelerator.tcg, qmpSocket: `${stem}.qmp`, serial: { kind: "file", path: `${stem}.serial` }, taps, disks: files.disks, cdroms: files.cdroms, ...(options.binary === undefined ? {} : { binary: options.binary }) },
      incomingMode,
    );
    // `ip netns exec` execs QEMU, so the PID the driver kills is QEMU's own.
    const wrap = network?.wrap ?? [];
    const [first, ...rest] = wrap;
    const child = startQemu(first === undefined ? command : { ...command, command: first, args: [...rest, command.command, ...command.args] });
    try {
      const qmp = await connectChild(child, `${stem}.qmp`, { clock });
      vm.child = child;
      vm.qmp = qmp;
      void child.exited.then(() => {
        void unplug(vm);
        if (vm.child !== child) return;
        vm.child = undefined;
        vm.qmp = undefined;
        void qmp.close();
        onExit(vm);
      });
    } catch (error) {
      await child.kill();
      await unplug(vm);
      throw error;
    }
  };

  /** Removes the taps of `vm`'s last QEMU (after it exited: QEMU holds them open). */
  const unplug = async (vm: Vm): Promise<void> => {
    const taps = vm.taps.splice(0);
    const network = options.network;
    if (network === undefined) return;
    await Promise.all(taps.map((tap) => network.unplug(tap).catch(() => undefined)));
  };

  /**
   * The destination's switchover: the complete state waits paused (`-S`) while this host
   * claims the VM's ownership record; won, `cont` runs it (the RESUME event marks it
   * running); lost, the paused copy is ended and the migration failed here. Asked again while
   * the record cannot be reached: an answer lost on the way may have been a win.
   */
  const commitIncoming = async (session: Incoming, fence: OwnershipFence | undefined): Promise<void> => {
    session.state = IncomingState.committing;
    const vm = session.vm;
    let refusal: string | undefined;
    if (fence !== undefined) {
      try {
        const result = await claimUntilDecided(fence, clock);
        if (!result.won) refusal = `its ownership record on ${fence.where} says ${ownershipWords(result.ownership)}`;
      } catch (error) {
        refusal = `no claim of its ownership record could be made (${reasonOf(error)})`;
      }
    }
    if (refusal === undefined) {
      try {
        await vm.qmp?.execute("cont", undefined, { timeoutMs: 5000 });
        return;
      } catch (error) {
        refusal = `cont failed: ${reasonOf(error)}`;
      }
    }
    session.state = IncomingState.failed;
    session.reason = `${host.name} did not resume ${vm.spec.name}: ${refusal}`;
    vm.incoming = undefined;
    if (vms.get(vm.spec.name) === vm) vms.delete(vm.spec.name);
    await stop(vm);
  };

  /** A QEMU ended by itself (failed incoming stream, guest panic, or killed). */
  const onExit = (vm: Vm): void => {
    vm.power = PowerStatus.off;
    if (vm.incoming !== undefined) {
      const session = incoming.get(vm.incoming);
      if (session !== undefined && (session.state === IncomingState.waiting || session.state === IncomingState.receiving || session.state === IncomingState.committing)) session.state = IncomingState.failed;
      vm.incoming = undefined;
      if (vms.get(vm.spec.name) === vm) vms.delete(vm.spec.name);
    }
  };

  /** Ends `vm`'s QEMU: `quit`, then SIGKILL if it does not go; awaits the exit (trap 12). */
  const stop = async (vm: Vm): Promise<void> => {
    const { child, qmp } = vm;
    vm.child = undefined;
    vm.qmp = undefined;
    vm.power = PowerStatus.off;
    if (child === undefined) return;
    try {
      await qmp?.execute("quit", undefined, { timeoutMs: 2000 });
    } catch {
      // The exit is what matters; a closed socket mid-reply is normal for `quit`.
    }
    const timer = setTimeout(() => void child.kill(), 3000);
    await child.exited;
    clearTimeout(timer);
    await qmp?.close();
    await unplug(vm);
  };

  const queryStatus = async (qmp: QmpClient): Promise<string> => ((await qmp.execute("query-status", undefined, { timeoutMs: 5000 })) as { status: string }).status;

  const remember = (id: string, session: Incoming): void => {
    incoming.set(id, session);
    if (incoming.size <= KEEP_FINISHED_INCOMING) return;
    for (const [key, s] of incoming) {
      if (incoming.size <= KEEP_FINISHED_INCOMING) break;
      if (s.state !== IncomingState.waiting && s.state !== IncomingState.receiving) incoming.delete(key);
    }
  };

  const refusedReport = (name: string, target: IncomingMigration, code: MigrationFailureCode, message: string): MigrationReport =>
    unmovedReport({
      migrationId: target.migrationId,
      vm: name,
      source: host.name,
      destination: target.host,
      outcome: Phase.failed,
      failure: { code, message, phase: Phase.preparing },
      // Refused before anything moved: nothing is uncertain ("" would ask for a settlement), and
      // a VM that was off stays off here.
      runningOn: host.name,
    });

  const runMigration = async (vm: Vm, target: IncomingMigration, migrateOptions: MigrateOptions, hooks: MigrationHooks, signal: AbortSignal): Promise<MigrationReport> => {
    const qmp = vm.qmp;
    const name = vm.spec.name;
    const startedAt = clock.monotonic();
    let phase = Phase.preparing as Phase;
    let percent = 0;
    let last: MigrationSample | undefined;
    let lastAt = startedAt;
    let sawActive = false;
    let throttleMax = 0;
    /** The stream runs over QEMU's TLS (stream-tls.ts); its credential object, deleted at the end. */
    let streamTlsObject: string | undefined;
    const emit = (next: Phase, fraction: number, sample: MigrationSample | undefined, message: string, rates?: { sent: number; dirtied: number }): void => {
      phase = next;
      percent = Math.max(percent, percentFor(next, fraction));
      const sent = rates?.sent ?? 0;
      const remaining = sample?.remainingBytes ?? 0;
      hooks.onProgress({
        migrationId: target.migrationId,
        vm: name,
        phase: next,
        percent,
        pass: sample?.dirtySyncCount ?? 0,
        bytesSent: sample?.transferredBytes ?? 0,
        bytesRemaining: remaining,
        dirtyRateBytesPerSec: rates?.dirtied ?? 0,
        linkRateBytesPerSec: sent,
        etaMs: sent > 0 ? (remaining / sent) * 1000 : undefined,
        expectedDowntimeMs: sample?.expectedDowntimeMs,
        throttlePercent: sample?.cpuThrottlePercent ?? 0,
        message,
        at: clock.now(),
      } satisfies MigrationProgress);
    };
    /** A migration faster than one poll still shows its pre-copy, before any switchover event. */
    const precopyOnce = (sample: MigrationSample): void => {
      if (phase === Phase.preparing) emit(Phase.precopy, 1, sample, "pre-copy done");
    };
    const failed = async (failure: MigrationFailure, outcome: typeof Phase.failed | typeof Phase.cancelled): Promise<MigrationReport> => {
      // QEMU returns the source to running after a failed or cancelled migration; make sure.
      let runningOn = "";
      try {
        if (qmp !== undefined && !qmp.isClosed) {
          let state = await queryStatus(qmp);
          for (let i = 0; i < 50 && state === "finish-migrate"; i++) {
            await clock.sleep(20);
            state = await queryStatus(qmp);
          }
          if (state === "paused" || state === "postmigrate") await qmp.execute("cont", undefined, { timeoutMs: 5000 });
          state = await queryStatus(qmp);
          if (state === "running") runningOn = host.name;
        }
      } catch {
        runningOn = "";
      }
      vm.power = runningOn === "" ? (vm.child === undefined ? PowerStatus.off : PowerStatus.paused) : PowerStatus.running;
      return {
        ...unmovedReport({ migrationId: target.migrationId, vm: name, source: host.name, destination: target.host, outcome, failure, runningOn, bytesSent: last?.transferredBytes, passes: last?.dirtySyncCount }),
        totalMs: Math.round(clock.monotonic() - startedAt),
        throttlePercentMax: throttleMax,
        encrypted: streamTlsObject !== undefined,
      };
    };
    if (qmp === undefined) return failed({ code: MigrationFailureCode.vmNotRunning, message: `${name} has no QEMU on ${host.name}`, phase }, Phase.failed);

    const settings: MigrationSettings = {
      downtimeLimitMs: migrateOptions.downtimeLimitMs,
      maxBandwidthBytesPerSec: migrateOptions.bandwidthLimitBytesPerSec ?? UNCAPPED_BYTES_PER_SEC,
      autoConverge: migrateOptions.autoConverge,
      pauseBeforeSwitchover: false,
    };
    // Trap 9: STOP may come before a poll sees `device`; it marks the stop-and-copy.
    const seen = { stopped: false };
    // A MIGRATION event (status change: completed, failed...) wakes the poll at once, so
    // Ferry learns the end within a QMP round trip rather than a polling period.
    let wake: (() => void) | undefined;
    // An event that comes while a query is in flight must not be lost: the next nap is skipped.
    let woken = false;
    let stoppedAt: number | undefined;
    const offStop = qmp.onEvent((event) => {
      seen.stopped = true;
      stoppedAt ??= eventTime(event, clock);
    }, ["STOP"]);
    const offMigration = qmp.onEvent(() => {
      woken = true;
      wake?.();
    }, ["MIGRATION"]);
    const unsubscribe = (): void => {
      offStop();
      offMigration();
    };
    const nap = (ms: number): Promise<void> => {
      if (woken) {
        woken = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        wake = resolve;
        void clock.sleep(ms).then(resolve);
      }).finally(() => {
        wake = undefined;
        woken = false;
      });
    };
    const requestedAt = clock.monotonic();
    const timing = { requestToMigrateMs: 0, polls: 0, pollMs: 0, finalStatusAt: 0 };
    try {
      emit(Phase.preparing, 0, undefined, `setting up the QEMU stream to ${target.host}:${target.port}${target.tls === undefined ? " (in clear)" : " over TLS"}`);
      const streamTls = await outgoingStreamTls(qmp, await dir(), host.name, target, migrateOptions.vmotionEncryption);
      if (streamTls.failure !== undefined) return await failed({ ...streamTls.failure, phase }, Phase.failed);
      streamTlsObject = streamTls.objectId;
      // A connect QEMU starts cannot be cut short: ask the VMotion network first, while
      // every capability and parameter is set (trap 5: every one, every time).
      const network = options.network;
      const [reachable, configured] = await Promise.all([
        network?.vmotionReachable === undefined ? Promise.resolve(true) : network.vmotionReachable(target.host, 2000).catch(() => true),
        (async (): Promise<string | undefined> => {
          try {
            // Pipelined: QMP runs them in order and answers each by id (one round trip, not two).
            await Promise.all([qmp.execute("migrate-set-capabilities", capabilityArguments(settings)), qmp.execute("migrate-set-parameters", { ...parameterArguments(settings), ...streamTls.parameters })]);
            return undefined;
          } catch (error) {
            // QEMU refuses while a previous migration is still cancelling (its connect pending).
            if (/in progress/i.test(reasonOf(error))) return reasonOf(error);
            throw error;
          }
        })(),
      ]);
      if (!reachable) {
        return await failed({ code: MigrationFailureCode.destinationUnreachable, message: `${target.host} does not answer on the VMotion network from ${host.name}; nothing was sent`, phase }, Phase.failed);
      }
      if (configured !== undefined) {
        return await failed({ code: MigrationFailureCode.internal, message: `QEMU on ${host.name} is still ending a previous migration of ${name} (${configured}); try again shortly`, phase }, Phase.failed);
      }
      await qmp.execute("migrate", { uri: `tcp:${target.host}:${target.port}` });
      timing.requestToMigrateMs = clock.monotonic() - requestedAt;

      // Ferry's convergence rule, judged at each of QEMU's dirty syncs (a pass): QEMU itself
      // would go on forever (it has no pass or traffic cap). With auto-converge QEMU throttles
      // the guest by Ferry's steps (parameterArguments); the rule fails only at full throttle.
      let passStart: { sample: MigrationSample; at: number } | undefined;
      const memoryBytes = vm.spec.memoryMB * MiB;
      let lastProgressAt = clock.monotonic();
      let lastTransferred = -1;
      let cancelledFor: MigrationFailure | undefined;
      let cancelledAt: number | undefined;
      let sample: MigrationSample;
      for (;;) {
        const askedAt = clock.monotonic();
        sample = await askMigration(qmp, Math.max(migrateOptions.stallTimeoutMs, QMP_SLOW_LIMIT_MS));
        const now = clock.monotonic();
        timing.polls++;
        timing.pollMs += now - askedAt;
        throttleMax = Math.max(throttleMax, sample.cpuThrottlePercent ?? 0);
        const rates = last === undefined ? undefined : migrationRates(last, sample, now - lastAt);
        const r = rates === undefined ? undefined : { sent: rates.sentBytesPerSec, dirtied: rates.dirtiedBytesPerSec };
        if (isFinal(sample)) break;
        // After a cancel during setup, QEMU stays `cancelling` until its connect gives up (the
        // kernel's SYN retries, a minute or more); the VM runs on meanwhile: do not wait for it.
        if (cancelledAt !== undefined && sample.status === MigrationStatus.cancelling && clock.monotonic() - cancelledAt > 2000) break;
        const transferred = sample.transferredBytes ?? 0;
        if (transferred !== lastTransferred) {
          lastTransferred = transferred;
          lastProgressAt = now;
        }
        switch (sample.status) {
          case MigrationStatus.setup:
          case MigrationStatus.none:
            emit(Phase.preparing, 0.5, sample, "QEMU is setting up the stream");
            break;
          case MigrationStatus.active: {
            sawActive = true;
            if (seen.stopped) {
              precopyOnce(sample);
              emit(Phase.switchover, 0.1, sample, "the VM is stopped for the final copy", r);
              break;
            }
            const remaining = sample.remainingBytes ?? 0;
            emit(Phase.precopy, transferred + remaining > 0 ? transferred / (transferred + remaining) : 0, sample, `pre-copy pass ${sample.dirtySyncCount ?? 0}`, r);
            break;
          }
          case MigrationStatus.device:
          case MigrationStatus.preSwitchover:
          case MigrationStatus.completed:
            sawActive = true;
            precopyOnce(sample);
            emit(Phase.switchover, 0.2, sample, "the VM is stopped for the final copy", r);
            break;
          case MigrationStatus.cancelled:
          case MigrationStatus.cancelling:
          case MigrationStatus.colo:
          case MigrationStatus.failed:
          case MigrationStatus.postcopyActive:
          case MigrationStatus.postcopyPaused:
          case MigrationStatus.postcopyRecover:
          case MigrationStatus.waitUnplug:
            break;
        }
        last = sample;
        lastAt = now;
        if (cancelledFor === undefined) {
          if (signal.aborted) {
            cancelledFor = { code: MigrationFailureCode.aborted, message: `aborted: ${reasonOf(signal.reason)}`, phase };
          } else if (now - lastProgressAt > migrateOptions.stallTimeoutMs) {
            // Trap 4: QEMU has no stall timeout; a stream that stopped moving stays active.
            cancelledFor = sawActive && transferred > 0
              ? { code: MigrationFailureCode.stalled, message: `no byte moved for ${migrateOptions.stallTimeoutMs} ms; migration cancelled`, phase }
              : { code: MigrationFailureCode.destinationUnreachable, message: `${target.host}:${target.port} did not take the stream within ${migrateOptions.stallTimeoutMs} ms`, phase };
          }
          const pass = sample.dirtySyncCount ?? 0;
          if (sample.status !== MigrationStatus.active || seen.stopped) passStart = undefined;
          else if (passStart === undefined) passStart = { sample, at: now };
          else if (pass > (passStart.sample.dirtySyncCount ?? 0) && cancelledFor === undefined) {
            const passRates = migrationRates(passStart.sample, sample, now - passStart.at);
            passStart = { sample, at: now };
            if (passRates !== undefined) {
              const decision = decideAfterPass(
                {
                  pass,
                  memoryBytes,
                  bytesSentTotal: transferred,
                  remainingBytes: sample.remainingBytes ?? 0,
                  linkRateBytesPerSec: passRates.sentBytesPerSec,
                  dirtyRateBytesPerSec: passRates.dirtiedBytesPerSec,
                  // QEMU stops at max-cpu-throttle (99); the rule then fails at the caps.
                  throttlePercent: sample.cpuThrottlePercent ?? 0,
                },
                migrateOptions,
              );
              if (decision.action === "fail") cancelledFor = { code: MigrationFailureCode.notConverging, message: decision.message, phase: Phase.precopy };
            }
          }
          if (cancelledFor !== undefined) {
            await qmp.execute("migrate_cancel", undefined, { timeoutMs: 5000 });
            cancelledAt = clock.monotonic();
          }
        }
        // Trap 6: `completed` with total-time 0 for a moment: ask again soon, not a period later.
        await nap(sample.status === MigrationStatus.completed ? 10 : pollMs);
      }
      timing.finalStatusAt = clock.monotonic();

      if (sample.status === MigrationStatus.completed) {
        precopyOnce(sample);
        emit(Phase.switchover, 0.5, sample, "the stream is complete; waiting for the destination to run the VM");
        const confirmed = await confirm(target);
        if (confirmed !== IncomingState.running) {
          const message = `QEMU completed the stream but the destination ${confirmed === IncomingState.unknown ? "did not confirm" : `is ${confirmed}`}`;
          if (confirmed === IncomingState.failed || confirmed === IncomingState.aborted) {
            return await failed({ code: MigrationFailureCode.destinationLost, message: `${message}; ${name} resumed on ${host.name}`, phase: Phase.switchover }, Phase.failed);
          }
          // It may run there: resuming here could run it twice. It waits paused for settle().
          vm.power = PowerStatus.paused;
          awaitingSettlement.set(target.migrationId, { vm: name, fence: hooks.fence });
          return {
            ...unmovedReport({ migrationId: target.migrationId, vm: name, source: host.name, destination: target.host, outcome: Phase.failed, failure: { code: MigrationFailureCode.destinationLost, message, phase: Phase.switchover }, runningOn: "", bytesSent: sample.transferredBytes, passes: sample.dirtySyncCount }),
            totalMs: sample.totalTimeMs ?? 0,
            downtimeMs: sample.downtimeMs ?? 0,
          };
        }
        emit(Phase.switchover, 1, sample, "the VM resumed on the destination");
        // Trap 10: the source waits in postmigrate, holding its taps: end it.
        vm.migratingOut = undefined;
        await stop(vm);
        if (vms.get(name) === vm) vms.delete(name);
        // The VM runs there now, whatever the check says: "migrated but unreachable" is its
        // own outcome (completed, with a failure that says so), never plain success.
        const guest = await verifyGuest(target);
        options.onControlTiming?.({
          migrationId: target.migrationId,
          requestToMigrateMs: timing.requestToMigrateMs,
          polls: timing.polls,
          pollMs: timing.pollMs,
          qemuTotalMs: sample.totalTimeMs ?? 0,
          wallMs: timing.finalStatusAt - requestedAt,
        });
        const unreachable = guest?.state === GuestCheckState.unreachable;
        // Ferry's downtime: the source's STOP to the destination's RESUME; QEMU's own figure
        // is its stop-and-copy and misses the resume (under TCG ~10-300 ms more, QEMU-NOTES).
        const paused = guest?.resumedAt !== undefined && stoppedAt !== undefined && guest.resumedAt >= stoppedAt ? Math.round(guest.resumedAt - stoppedAt) : undefined;
        emit(Phase.completed, 1, sample, unreachable ? `${name} runs on ${target.host} but is unreachable: ${guest.message}` : `${name} runs on ${target.host}`);
        return {
          migrationId: target.migrationId,
          vm: name,
          source: host.name,
          destination: target.host,
          outcome: Phase.completed,
          failure: unreachable ? { code: MigrationFailureCode.unreachableAfterMigration, message: `migrated, but unreachable: ${guest.message}`, phase: Phase.switchover } : undefined,
          runningOn: destinationName(target),
          downtimeMs: paused ?? sample.downtimeMs ?? 0,
          hypervisorDowntimeMs: sample.downtimeMs,
          totalMs: Math.max(sample.totalTimeMs ?? 0, paused ?? 0, sample.downtimeMs ?? 0),
          bytesSent: sample.transferredBytes ?? 0,
          passes: Math.max(1, sample.dirtySyncCount ?? 1),
          pagesSent: 0,
          zeroPages: 0,
          throttlePercentMax: throttleMax,
          prediction: undefined,
          verified: false,
          encrypted: streamTlsObject !== undefined,
        };
      }
      if (cancelledFor !== undefined) return await failed(cancelledFor, cancelledFor.code === MigrationFailureCode.aborted ? Phase.cancelled : Phase.failed);
      // Failed: the source only sees "Broken pipe" or a refused connection; the reason is on the destination's stderr (trap 2).
      const own = sample.error ?? "the stream failed";
      if (!sawActive && (sample.transferredBytes ?? 0) === 0 && /refused|unreachable|no route|failed to connect|timed out/i.test(own)) {
        return await failed({ code: MigrationFailureCode.destinationUnreachable, message: `${target.host}:${target.port}: ${own}`, phase }, Phase.failed);
      }
      const theirs = await destinationReason(target);
      return await failed({ code: MigrationFailureCode.rejectedByDestination, message: theirs === undefined ? `the destination ended the stream (source QEMU: ${own})` : `the destination rejected the stream: ${theirs}`, phase }, Phase.failed);
    } catch (error) {
      try {
        await qmp.execute("migrate_cancel", undefined, { timeoutMs: 2000 });
      } catch {
        // The failure below says what happened.
      }
      return await failed({ code: MigrationFailureCode.internal, message: `QMP on ${host.name}: ${reasonOf(error)}`, phase }, Phase.failed);
    } finally {
      unsubscribe();
      await removeStreamCredentials(vm.qmp, streamTlsObject);
    }
  };

  /**
   * `query-migrate`, asked again while QEMU is only slow to answer (a busy host: its main loop
   * waits for the CPU), for up to `limitMs`; past that its silence is the failure.
   */
  const askMigration = async (qmp: QmpClient, limitMs: number): Promise<MigrationSample> => {
    const started = clock.monotonic();
    for (;;) {
      try {
        return parseMigrationInfo(await qmp.execute("query-migrate", undefined, { timeoutMs: 5000 }));
      } catch (error) {
        const timedOut = isFerryError(error) && (error.details as { failure?: unknown } | undefined)?.failure === QmpFailure.timeout;
        if (!timedOut || clock.monotonic() - started >= limitMs) throw error;
      }
    }
  };

  /**
   * The destination's reason for a failed stream (trap 2). Its QEMU prints it and exits a
   * moment after the source sees the broken pipe, so ask again for a short while.
   */
  const destinationReason = async (target: IncomingMigration): Promise<string | undefined> => {
    const ask = options.destinationReason;
    if (ask === undefined) return undefined;
    const deadline = clock.monotonic() + 3000;
    for (;;) {
      const reason = await ask(target).catch(() => undefined);
      if (reason !== undefined || clock.monotonic() >= deadline) return reason;
      await clock.sleep(100);
    }
  };

  /** Waits for the destination to say it runs the VM (or that it never will). */
  const confirm = async (target: IncomingMigration): Promise<IncomingState> => {
    const ask = options.destinationState;
    if (ask === undefined) return IncomingState.running;
    const deadline = clock.monotonic() + (options.confirmTimeoutMs ?? 10_000);
    for (;;) {
      let state: IncomingState;
      try {
        state = await ask(target);
      } catch {
        state = IncomingState.unknown;
      }
      if (state === IncomingState.running || state === IncomingState.failed || state === IncomingState.aborted) return state;
      if (clock.monotonic() >= deadline) return IncomingState.unknown;
      await clock.sleep(25);
    }
  };

  /**
   * Destination side: probes each NIC of a VM that just resumed here, from this host's bridge
   * of its port group. The guest's ARP cache and the switch need a moment after the resume
   * (announce-self rounds, the guest's own gratuitous ARP), so it retries until the timeout.
   */
  const checkGuest = async (spec: VmSpec): Promise<GuestCheck> => {
    const network = options.network;
    const probed = spec.nics.filter((nic) => nic.ip !== undefined && nic.ip !== "");
    if (network === undefined || probed.length === 0) {
      return { state: GuestCheckState.notApplicable, message: `${spec.name} has ${network === undefined ? "no host network to probe from" : "no NIC with a known IP"} on ${host.name}` };
    }
    const timeoutMs = options.guestCheckTimeoutMs ?? 10_000;
    const deadline = clock.monotonic() + timeoutMs;
    const seen: string[] = [];
    for (const nic of probed) {
      const ip = (nic.ip ?? "").split("/")[0] ?? "";
      let ok = await network.reachable(nic.portGroup, ip, 1000).catch(() => false);
      while (!ok && clock.monotonic() < deadline) {
        await clock.sleep(100);
        ok = await network.reachable(nic.portGroup, ip, Math.min(1000, Math.max(100, deadline - clock.monotonic()))).catch(() => false);
      }
      if (!ok) {
        return {
          state: GuestCheckState.unreachable,
          message: `${spec.name} runs on ${host.name} but ${ip} (NIC ${nic.name}, MAC ${nic.mac}) does not answer from port group "${nic.portGroup}" within ${timeoutMs} ms`,
        };
      }
      seen.push(`${ip} (${nic.mac}) on "${nic.portGroup}"`);
    }
    return { state: GuestCheckState.reachable, message: `${spec.name} answers on ${host.name}: ${seen.join(", ")}` };
  };

  /** Source side: the destination's word on the migrated guest; pending until it has one. */
  const verifyGuest = async (target: IncomingMigration): Promise<GuestCheck | undefined> => {
    const ask = options.destinationGuest;
    if (ask === undefined) return undefined;
    const deadline = clock.monotonic() + (options.guestCheckTimeoutMs ?? 10_000) + 5000;
    for (;;) {
      const check = await ask(target).catch((error: unknown): GuestCheck => ({ state: GuestCheckState.pending, message: reasonOf(error) }));
      if (check.state !== GuestCheckState.pending) return check;
      if (clock.monotonic() >= deadline) return { state: GuestCheckState.unreachable, message: `the destination did not report on the guest in time (${check.message})` };
      await clock.sleep(100);
    }
  };

  /** The contract wants the destination's host name; the endpoint only knows its IP. */
  const destinationName = (target: IncomingMigration): string => options.destinationName?.(target) ?? target.host;

  const driver: QemuDriver = {
    kind: "qemu",

    incomingFailure: (migrationId) => {
      const session = incoming.get(migrationId);
      if (session === undefined) return undefined;
      // Before its exit is reaped, the QEMU's stderr so far may already say why.
      return session.reason ?? (session.vm.child === undefined ? undefined : qemuErrorReason(session.vm.child.stderr()));
    },

    async guestCheck(migrationId) {
      const session = incoming.get(migrationId);
      if (session === undefined) return { state: GuestCheckState.notApplicable, message: `${host.name} has no incoming migration ${migrationId}` };
      if (session.guest === undefined) await driver.incomingState(migrationId);
      if (session.guest === undefined) return { state: GuestCheckState.pending, message: `${session.vm.spec.name} is ${session.state} on ${host.name}` };
      const settledCheck = await Promise.race([session.guest, clock.sleep(0).then(() => undefined)]);
      return { ...(settledCheck ?? { state: GuestCheckState.pending, message: `probing ${session.vm.spec.name} on ${host.name}` }), resumedAt: session.resumedAt };
    },

    async measureDirtyRate(name, seconds) {
      const vm = mustGet(name);
      const qmp = vm.qmp;
      if (qmp === undefined || vm.power !== PowerStatus.running) throw new FerryError(ErrorCode.conflict, `${name} is ${vm.power} on ${host.name}; only a running VM has a dirty rate`, { details: { vm: name } });
      const calcTime = Math.min(60, Math.max(1, Math.round(seconds)));
      // Trap 8: page-sampling (the default mode); dirty-bitmap crashes QEMU 7.2 under TCG.
      await qmp.execute("calc-dirty-rate", { "calc-time": calcTime });
      const deadline = clock.monotonic() + calcTime * 1000 + 5000;
      for (;;) {
        await clock.sleep(Math.min(250, calcTime * 250));
        const result = (await qmp.execute("query-dirty-rate", undefined, { timeoutMs: 5000 })) as { status?: string; "dirty-rate"?: number };
        // `dirty-rate` is in MiB/s.
        if (result.status === "measured") return Math.max(0, result["dirty-rate"] ?? 0) * MiB;
        if (clock.monotonic() >= deadline) throw new FerryError(ErrorCode.unavailable, `QEMU did not finish measuring ${name}'s dirty rate within ${calcTime + 5} s (status ${result.status ?? "unknown"})`, { details: { vm: name } });
      }
    },
    async blockDevices(name) {
      const qmp = mustGet(name).qmp;
      if (qmp === undefined) throw new FerryError(ErrorCode.conflict, `${name} has no QEMU on ${host.name}`, { details: { vm: name } });
      return parseQueryBlock(await qmp.execute("query-block", undefined, { timeoutMs: 5000 }));
    },
    async runState(name) {
      const qmp = mustGet(name).qmp;
      if (qmp === undefined) throw new FerryError(ErrorCode.conflict, `${name} has no QEMU on ${host.name}`, { details: { vm: name } });
      return queryStatus(qmp);
    },
    storageWarnings: () => storage.warnings(),
    pids() {
      const pids: number[] = [];
      for (const vm of vms.values()) if (vm.child?.pid !== undefined) pids.push(vm.child.pid);
      return pids;
    },

    facts() {
      return Promise.resolve(describedFacts(host, freeMB(), "qemu"));
    },

    list: () => Promise.resolve([...vms.values()].map(status)),
    get: (name) => Promise.resolve(((vm) => (vm === undefined ? undefined : status(vm)))(vms.get(name))),

    async create(spec) {
      notClosed();
      if (spec.name === "") throw new FerryError(ErrorCode.invalidInput, "a VM needs a name");
      if (!Number.isInteger(spec.memoryMB) || spec.memoryMB <= 0) throw new FerryError(ErrorCode.invalidInput, `${spec.name}: memoryMB must be a positive integer, not ${spec.memoryMB}`);
      if (vms.has(spec.name)) throw new FerryError(ErrorCode.conflict, `${host.name} already has a VM named "${spec.name}"`, { details: { vm: spec.name } });
      const vm: Vm = { spec, power: PowerStatus.off, child: undefined, qmp: undefined, taps: [], incoming: undefined, migratingOut: undefined };
      // Held while its disk files are made, so a second create of the name is a conflict.
      vms.set(spec.name, vm);
      try {
        await storage.provision(spec);
      } catch (error) {
        if (vms.get(spec.name) === vm) vms.delete(spec.name);
        throw error;
      }
      return status(vm);
    },

    async powerOn(name) {
      notClosed();
      const vm = mustGet(name);
      mustBeIdle(vm, "power on");
      if (vm.power !== PowerStatus.off) return status(vm);
      if (vm.spec.memoryMB > freeMB()) {
        throw new FerryError(ErrorCode.refused, `${host.name} has ${freeMB()} MB free; ${name} needs ${vm.spec.memoryMB} MB to power on`, { details: { vm: name, requiredMB: vm.spec.memoryMB, freeMB: freeMB() } });
      }
      const files = await storage.resolve(vm.spec);
      vm.power = PowerStatus.running;
      try {
        await start(vm, false, "run", files);
        if (vm.qmp === undefined) throw new FerryError(ErrorCode.unavailable, `QEMU of ${name} exited at start`);
        await vm.qmp.execute("migrate-set-capabilities", capabilityArguments({ downtimeLimitMs: 300, maxBandwidthBytesPerSec: UNCAPPED_BYTES_PER_SEC, autoConverge: false, pauseBeforeSwitchover: false }));
      } catch (error) {
        await stop(vm);
        throw error;
      }
      return status(vm);
    },

    async powerOff(name) {
      const vm = mustGet(name);
      mustBeIdle(vm, "power off");
      await stop(vm);
      return status(vm);
    },

    async destroy(name, destroyOptions) {
      const vm = mustGet(name);
      mustBeIdle(vm, "destroy");
      // Named before the VM goes, so a datastore this host lacks refuses with the VM intact.
      const disks = destroyOptions?.removeDisks === true ? storage.diskFiles(vm.spec) : [];
      await stop(vm);
      vms.delete(name);
      await storage.remove(disks);
    },

    async prepareIncoming(spec, { migrationId, listenHost, encryption, fence }) {
      notClosed();
      const existing = incoming.get(migrationId);
      if (existing !== undefined) throw new FerryError(ErrorCode.conflict, `${host.name} already has incoming migration ${migrationId} (${existing.state})`, { details: { migrationId } });
      if (vms.has(spec.name)) throw new FerryError(ErrorCode.conflict, `${host.name} already has a VM named "${spec.name}"`, { details: { vm: spec.name, migrationId } });
      const free = freeMB();
      if (spec.memoryMB > free) {
        throw new FerryError(ErrorCode.refused, `${host.name} has ${free} MB of memory free; ${spec.name} needs ${spec.memoryMB} MB`, {
          details: { failureCode: MigrationFailureCode.destinationOutOfMemory, vm: spec.name, requiredMB: spec.memoryMB, freeMB: free },
        });
      }
      // The same image files as the source's, on a datastore this host must have too (shared storage).
      const files = await storage.resolve(spec);
      const vm: Vm = { spec, power: PowerStatus.paused, child: undefined, qmp: undefined, taps: [], incoming: migrationId, migratingOut: undefined };
      const session: Incoming = { vm, state: IncomingState.waiting, reason: undefined, guest: undefined, resumedAt: undefined };
      vms.set(spec.name, vm);
      remember(migrationId, session);
      try {
        await start(vm, true, "in", files);
        const qmp = vm.qmp;
        const child = vm.child;
        if (qmp === undefined || child === undefined) throw new FerryError(ErrorCode.unavailable, `the destination QEMU of ${spec.name} exited at start`);
        void child.exited.then((exit) => {
          if (session.state === IncomingState.failed) session.reason = qemuErrorReason(exit.stderr) ?? `QEMU exited (code ${String(exit.code)}, signal ${String(exit.signal)})`;
        });
        // `-S`: the complete stream leaves the VM paused; it runs here only once its record is ours.
        qmp.onEvent((event) => {
          if (event.data["status"] !== "completed" || (session.state !== IncomingState.waiting && session.state !== IncomingState.receiving)) return;
          void commitIncoming(session, fence);
        }, ["MIGRATION"]);
        qmp.onEvent((event) => {
          if (session.state !== IncomingState.committing) return;
          session.resumedAt = eventTime(event, clock);
          session.state = IncomingState.running;
          vm.incoming = undefined;
          vm.power = PowerStatus.running;
          // The switch learns the VM's MAC on this host's port (QEMU-NOTES, "what works").
          if (spec.nics.length > 0) void qmp.execute("announce-self", { initial: 50, max: 550, rounds: 5, step: 100 }).catch(() => undefined);
          session.guest = checkGuest(spec);
        }, ["RESUME"]);
        // Trap 9: events only with the capability, on each side.
        await qmp.execute("migrate-set-capabilities", capabilityArguments({ downtimeLimitMs: 300, maxBandwidthBytesPerSec: UNCAPPED_BYTES_PER_SEC, autoConverge: false, pauseBeforeSwitchover: false }));
        // QEMU picks the port itself (`:0`) and says which in query-migrate's socket-address
        // (QEMU 7.2): the VMotion IP may exist only in the host's namespace, where QEMU runs
        // and the agent does not, so the agent cannot probe for a free port there.
        // The stream's TLS (stream-tls.ts), or tls-creds "" for a clear one, before migrate-incoming.
        const tls = await incomingStreamTls(qmp, await dir(), host.name, listenHost, encryption ?? VmotionEncryption.required);
        await qmp.execute("migrate-incoming", { uri: `tcp:${listenHost}:0` });
        const port = listeningPort(await qmp.execute("query-migrate", undefined, { timeoutMs: 5000 }));
        if (port === undefined) throw new FerryError(ErrorCode.unavailable, `the destination QEMU of ${spec.name} did not say which port it listens on for ${listenHost}`);
        return { migrationId, host: listenHost, port, token: randomBytes(16).toString("hex"), ...(tls === undefined ? {} : { tls }) };
      } catch (error) {
        session.state = IncomingState.failed;
        await stop(vm);
        if (vms.get(spec.name) === vm) vms.delete(spec.name);
        if (error instanceof FerryError) throw error;
        throw new FerryError(ErrorCode.unavailable, `${host.name} cannot receive ${spec.name} on ${listenHost}: ${reasonOf(error)}`, { cause: error, details: { listenHost, migrationId } });
      }
    },

    async incomingState(migrationId) {
      const session = incoming.get(migrationId);
      if (session === undefined) return IncomingState.unknown;
      const qmp = session.vm.qmp;
      if ((session.state === IncomingState.waiting || session.state === IncomingState.receiving) && qmp !== undefined) {
        try {
          const runState = await queryStatus(qmp);
          if (runState === "running") {
            session.state = IncomingState.running;
            session.vm.incoming = undefined;
            session.vm.power = PowerStatus.running;
            session.guest ??= checkGuest(session.vm.spec);
          } else {
            const sample = parseMigrationInfo(await qmp.execute("query-migrate", undefined, { timeoutMs: 5000 }));
            if (sample.status === MigrationStatus.active || sample.status === MigrationStatus.completed) session.state = IncomingState.receiving;
          }
        } catch {
          // QEMU going away is seen through its exit.
        }
      }
      return session.state;
    },

    async abortIncoming(migrationId) {
      const session = incoming.get(migrationId);
      if (session === undefined || (session.state !== IncomingState.waiting && session.state !== IncomingState.receiving)) return;
      session.state = IncomingState.aborted;
      const vm = session.vm;
      vm.incoming = undefined;
      // Trap 3: after a partition the destination waits in inmigrate forever: kill it by PID.
      const child = vm.child;
      vm.child = undefined;
      const qmp = vm.qmp;
      vm.qmp = undefined;
      vm.power = PowerStatus.off;
      if (vms.get(vm.spec.name) === vm) vms.delete(vm.spec.name);
      await qmp?.close();
      await child?.kill();
    },

    async migrateOut(name, target, migrateOptions, hooks) {
      const vm = vms.get(name);
      if (closing.signal.aborted) return refusedReport(name, target, MigrationFailureCode.internal, `the qemu driver of ${host.name} is closed`);
      if (vm === undefined) return refusedReport(name, target, MigrationFailureCode.vmNotFound, `${host.name} has no VM named "${name}"`);
      if (vm.incoming !== undefined) return refusedReport(name, target, MigrationFailureCode.vmNotRunning, `${name} on ${host.name} is the shell of incoming migration ${vm.incoming}`);
      if (vm.migratingOut !== undefined) return refusedReport(name, target, MigrationFailureCode.vmNotRunning, `${name} is already migrating out of ${host.name} (${vm.migratingOut})`);
      if (vm.power !== PowerStatus.running) return refusedReport(name, target, MigrationFailureCode.vmNotRunning, `${name} is ${vm.power} on ${host.name}; only a running VM migrates live`);
      vm.migratingOut = target.migrationId;
      const run = runMigration(vm, target, migrateOptions, hooks, AbortSignal.any([hooks.signal, closing.signal]));
      outgoing.add(run);
      try {
        return await run;
      } finally {
        vm.migratingOut = undefined;
        outgoing.delete(run);
      }
    },

    // QEMU has no separate commit: the destination (started with -S) resumes once the stream is
    // complete and its claim of the VM's ownership record won. A migrateOut that could not
    // confirm that leaves the VM paused here (postmigrate) and reports DESTINATION_LOST with no
    // `runningOn`; settle claims the record (won: resumed here; lost: this copy ends).
    async settle(name, migrationId, destination) {
      const done = settled.get(migrationId);
      if (done !== undefined) return done;
      const waiting = awaitingSettlement.get(migrationId);
      if (waiting?.vm !== name) {
        throw new FerryError(ErrorCode.conflict, `${host.name} holds no paused copy of ${name} awaiting the outcome of migration ${migrationId}`, { details: { vm: name, migrationId } });
      }
      const vm = mustGet(name);
      const where = await settleByFence(waiting.fence, destination, name, migrationId);
      if (settled.has(migrationId)) return settled.get(migrationId) ?? where;
      if (where === "destination") {
        await stop(vm);
        if (vms.get(name) === vm) vms.delete(name);
      } else {
        // A VM with disks: `cont` re-activates its images and QEMU refuses it ("Failed to get
        // write lock") while a destination holds them, so a wrong answer here cannot run it twice.
        await vm.qmp?.execute("cont", undefined, { timeoutMs: 5000 });
        vm.power = PowerStatus.running;
      }
      awaitingSettlement.delete(migrationId);
      settled.set(migrationId, where);
      return where;
    },

    async close() {
      closing.abort(new Error(`the qemu driver of ${host.name} is closing`));
      await Promise.all([...outgoing]);
      const all = [...vms.values()];
      vms.clear();
      await Promise.all(
        all.map(async (vm) => {
          if (vm.incoming !== undefined) {
            const child = vm.child;
            vm.child = undefined;
            await vm.qmp?.close();
            vm.qmp = undefined;
            await child?.kill();
          } else await stop(vm);
        }),
      );
      options.network?.close?.();
      if (ownRunDir && runDir !== undefined) await rm(await runDir, { recursive: true, force: true });
    },
  };
  return driver;
}

export interface ProbeAcceleratorOptions {
  readonly boot: GuestBoot;
  readonly binary?: string;
  /** How long a KVM guest gets to print its ready line; default 8 s (a working KVM takes ~1 s). */
  readonly timeoutMs?: number;
  readonly clock?: Clock;
}

/**
 * KVM when it really runs a guest here, else TCG. The existence of /dev/kvm proves nothing:
 * on these machines `-accel kvm -cpu host` aborts and `-cpu qemu64` hangs in the kernel's
 * decompressor while SeaBIOS runs fine (QEMU-NOTES). So the probe boots the guest kernel under
 * KVM and waits for its "ferry-guest: ready" line on the serial console, within a timeout.
 */
export async function probeAccelerator(options: ProbeAcceleratorOptions): Promise<Accelerator> {
  try {
    await access("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch {
    return Accelerator.tcg;
  }
  const clock = options.clock ?? systemClock;
  const base = await mkdtemp(join(tmpdir(), "ferry-kvm-probe-"));
  const serial = join(base, "serial");
  let child: QemuChild | undefined;
  try {
    const command = qemuCommandLine(
      { spec: { name: "kvm-probe", memoryMB: 128, vcpus: 1, nics: [] }, cpu: { vendor: "GenuineIntel", model: "Nehalem" }, boot: options.boot },
      { accelerator: Accelerator.kvm, qmpSocket: join(base, "qmp"), serial: { kind: "file", path: serial }, taps: {}, ...(options.binary === undefined ? {} : { binary: options.binary }) },
      false,
    );
    child = startQemu(command);
    const deadline = clock.monotonic() + (options.timeoutMs ?? 8000);
    while (clock.monotonic() < deadline && !child.hasExited) {
      const text = await readFile(serial, "utf8").catch(() => "");
      if (text.includes("ferry-guest: ready")) return Accelerator.kvm;
      await clock.sleep(100);
    }
    return Accelerator.tcg;
  } finally {
    await child?.kill();
    await rm(base, { recursive: true, force: true });
  }
}

/** A free TCP port on `host`: bound and released, then handed to QEMU (a race the agent accepts). */
/** The port of an `-incoming` QEMU's listener, from query-migrate's `socket-address`. */
export function listeningPort(info: unknown): number | undefined {
  if (typeof info !== "object" || info === null) return undefined;
  const addresses = (info as { "socket-address"?: unknown })["socket-address"];
  if (!Array.isArray(addresses)) return undefined;
  for (const address of addresses as unknown[]) {
    if (typeof address !== "object" || address === null) continue;
    const port = Number((address as { port?: unknown }).port);
    if (Number.isInteger(port) && port > 0 && port < 65536) return port;
  }
  return undefined;
}

function reasonOf(value: unknown): string {
  return value instanceof Error ? value.message : String(value);
}
