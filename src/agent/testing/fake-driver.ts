// A hypervisor driver in memory, for testing the agent and the engine in-process: VMs are
// records with a state counter, and a migration between two fakes of one FakeNetwork moves
// the record through prepare/precopy/switchover with progress events and the driver
// contract's guarantees (the source owns the VM until the destination runs it; with a fence the
// destination claims the VM's ownership record before it does). It keeps the drivers' shared
// bookkeeping (src/drivers/bookkeeping.ts) and runs the driver contract suite
// (fake.contract.test.ts). Faults are plain fields a test sets. The real protocol is the sim
// driver's; this only keeps the agent's and engine's tests free of sockets and timing.
import { createHash } from "node:crypto";
import type { Clock } from "../../core/clock.ts";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { MigrationFailureCode, Phase, type MigrateOptions, type MigrationFailureCode as FailureCode, type MigrationReport } from "../../core/migration/types.ts";
import type { SourceProgress } from "../../core/migration/progress.ts";
import { cannotPowerOn, IncomingRegister, memoryHeldMB, mustBeIdle, OutgoingRuns, outOfMemory, Settlements, vmToMigrate } from "../../drivers/bookkeeping.ts";
import {
  IncomingState,
  PowerStatus,
  type HostFacts,
  type HypervisorDriver,
  type IncomingMigration,
  type MigrationHooks,
  type OwnershipFence,
  type PrepareIncomingOptions,
  type SettledOn,
  type VmSpec,
  type VmStatus,
} from "../../drivers/driver.ts";
import { claimUntilDecided } from "../../drivers/settle.ts";
import { hostUsageOf, type HostUsage } from "../../core/drs/usage.ts";
import { capacityOf, coresToMhz } from "../../drivers/usage.ts";
import { simCores } from "../../drivers/sim/usage.ts";

interface FakeVm {
  readonly spec: VmSpec;
  power: PowerStatus;
  /** Advances with each pre-copy pass of a guest that writes; the digest covers it, so a lost write would show. */
  ticks: number;
  migratingOut: string | undefined;
  /** Set while it is the shell of an incoming migration. */
  incoming: string | undefined;
}

interface FakeIncoming {
  readonly migrationId: string;
  readonly spec: VmSpec;
  readonly token: string;
  readonly endpoint: string;
  readonly fence: OwnershipFence | undefined;
  state: IncomingState;
}

/** A destination's listener as the source reaches it over the FakeNetwork. */
interface FakeListener {
  readonly hostName: string;
  readonly session: FakeIncoming;
  /** Whether the destination's process is gone. */
  isDead(): boolean;
  /** The stream ended before COMMIT: the destination drops the shell. */
  streamLost(): void;
  /** COMMIT: claims the VM's record (with a fence), then runs it with the source's state; false when the claim lost. */
  commit(ticks: number, clock: Clock): Promise<boolean>;
}

/** Where fakes find each other by "host:port", as real drivers do over TCP. */
export interface FakeNetwork {
  readonly listeners: Map<string, FakeListener>;
  nextPort: number;
}

export function createFakeNetwork(): FakeNetwork {
  return { listeners: new Map(), nextPort: 40_000 };
}

export interface FakeFaults {
  /** The source's migrateOut fails with this code in this phase (the VM stays on the source). */
  failIn?: { readonly phase: typeof Phase.preparing | typeof Phase.precopy | typeof Phase.switchover; readonly code: FailureCode } | undefined;
  /** The source waits this long after the destination resumed, before releasing and reporting. */
  holdAfterCommitMs?: number | undefined;
  /** Each pre-copy pass takes this long. Default 5 ms. */
  passMs?: number | undefined;
  /** prepareIncoming refuses for lack of memory. */
  prepareOutOfMemory?: boolean | undefined;
  /**
   * The link breaks right after COMMIT: the destination has resumed ("running") or destroyed
   * its shell ("not-running"); the source cannot tell and keeps the VM paused for settle().
   */
  dropAfterCommit?: "running" | "not-running" | undefined;
}

export interface FakeDriver extends HypervisorDriver {
  readonly host: HostFacts;
  faults: FakeFaults;
  /** Ends the fake as if its process died: listeners gone, VMs gone. */
  kill(): void;
  readonly dead: boolean;
  /** The state digest of a VM here (as VmStatus.stateDigest). */
  digest(name: string): string | undefined;
  settle(name: string, migrationId: string, destination: IncomingState): Promise<SettledOn>;
}

const MiB = 1024 * 1024;
const PASSES = 3;

const digestOf = (vm: FakeVm): string => createHash("sha256").update(`${vm.spec.name}|${vm.spec.memoryMB}|${vm.ticks}`).digest("hex").slice(0, 16);
const writes = (spec: VmSpec): boolean => (spec.workload?.dirtyRateBytesPerSec ?? 0) > 0;

/** A plain object (tests spread it to wrap single methods) over one FakeHypervisor. */
export function createFakeDriver(network: FakeNetwork, host: HostFacts): FakeDriver {
  const fake = new FakeHypervisor(network, host);
  return {
    kind: fake.kind,
    host,
    get faults() {
      return fake.faults;
    },
    set faults(faults) {
      fake.faults = faults;
    },
    get dead() {
      return fake.dead;
    },
    kill: () => {
      fake.kill();
    },
    digest: (name) => fake.digest(name),
    facts: () => fake.facts(),
    list: () => fake.list(),
    get: (name) => fake.get(name),
    create: (spec) => fake.create(spec),
    powerOn: (name) => fake.powerOn(name),
    powerOff: (name) => fake.powerOff(name),
    destroy: (name) => fake.destroy(name),
    prepareIncoming: (spec, options) => fake.prepareIncoming(spec, options),
    incomingState: (migrationId) => fake.incomingState(migrationId),
    abortIncoming: (migrationId) => fake.abortIncoming(migrationId),
    migrateOut: (name, target, options, hooks) => fake.migrateOut(name, target, options, hooks),
    settle: (name, migrationId, destination) => fake.settle(name, migrationId, destination),
    usage: () => fake.usage(),
    close: () => fake.close(),
  };
}

class FakeHypervisor implements FakeDriver {
  readonly kind = "sim";
  faults: FakeFaults = {};
  readonly vms = new Map<string, FakeVm>();
  readonly incoming = new IncomingRegister<FakeIncoming>();
  readonly settlements: Settlements;
  readonly outgoing = new OutgoingRuns();
  private killed = false;

  constructor(
    readonly network: FakeNetwork,
    readonly host: HostFacts,
  ) {
    this.settlements = new Settlements(host.name);
  }

  get dead(): boolean {
    return this.killed;
  }

  kill(): void {
    this.killed = true;
    this.vms.clear();
    this.unlisten();
    this.incoming.clear();
  }

  digest(name: string): string | undefined {
    const vm = this.vms.get(name);
    return vm === undefined ? undefined : digestOf(vm);
  }

  /** Throws as a request to a dead process fails. */
  alive(): void {
    if (this.killed) throw new FerryError(ErrorCode.unavailable, `${this.host.name} is dead`);
  }

  vmOrThrow(name: string): FakeVm {
    const vm = this.vms.get(name);
    if (vm === undefined) throw new FerryError(ErrorCode.notFound, `no VM ${name} on ${this.host.name}`);
    return vm;
  }

  freeMB(): number {
    return this.host.memoryMB - memoryHeldMB(this.vms.values());
  }

  status(vm: FakeVm): VmStatus {
    return { name: vm.spec.name, power: vm.power, memoryMB: vm.spec.memoryMB, nics: vm.spec.nics, stateDigest: digestOf(vm), ...(vm.migratingOut === undefined ? {} : { migratingOut: vm.migratingOut }) };
  }

  facts(): Promise<HostFacts> {
    return later(() => {
      this.alive();
      return { ...this.host, freeMemoryMB: this.freeMB() };
    });
  }

  /**
   * Declared, not measured (the sim measures): a running VM's CPU is the sim's model of its
   * workload's dirty rate (src/drivers/sim/usage.ts), its memory the bytes it was created with
   * touched (all of it when unsaid); a paused VM holds its memory and uses no CPU.
   */
  usage(): Promise<HostUsage> {
    return later(() => {
      this.alive();
      const at = Date.now();
      const vms = [...this.vms.values()]
        .filter((vm) => vm.power !== PowerStatus.off && vm.incoming === undefined)
        .map((vm) => {
          const rate = vm.spec.workload?.kind === "idle" ? 0 : (vm.spec.workload?.dirtyRateBytesPerSec ?? 0);
          const cpuMhz = vm.power === PowerStatus.running ? coresToMhz(simCores(vm.spec.vcpus, rate), this.host) : 0;
          return { vm: vm.spec.name, cpuMhz, memoryMB: Math.round((vm.spec.touchedBytes ?? vm.spec.memoryMB * MiB) / MiB), at };
        });
      return hostUsageOf(this.host.name, at, capacityOf(this.host), vms);
    });
  }

  list(): Promise<VmStatus[]> {
    return later(() => {
      this.alive();
      return [...this.vms.values()].map((vm) => this.status(vm));
    });
  }

  get(name: string): Promise<VmStatus | undefined> {
    return later(() => {
      this.alive();
      const vm = this.vms.get(name);
      return vm === undefined ? undefined : this.status(vm);
    });
  }

  create(spec: VmSpec): Promise<VmStatus> {
    return later(() => {
      this.alive();
      if (this.vms.has(spec.name)) throw new FerryError(ErrorCode.conflict, `VM ${spec.name} exists`);
      const vm: FakeVm = { spec, power: PowerStatus.off, ticks: 0, migratingOut: undefined, incoming: undefined };
      this.vms.set(spec.name, vm);
      return this.status(vm);
    });
  }

  powerOn(name: string): Promise<VmStatus> {
    return later(() => {
      this.alive();
      const vm = this.vmOrThrow(name);
      mustBeIdle(name, vm, "power on");
      if (vm.power === PowerStatus.off && vm.spec.memoryMB > this.freeMB()) throw cannotPowerOn(this.host.name, vm.spec, this.freeMB());
      vm.power = PowerStatus.running;
      return this.status(vm);
    });
  }

  powerOff(name: string): Promise<VmStatus> {
    return later(() => {
      this.alive();
      const vm = this.vmOrThrow(name);
      mustBeIdle(name, vm, "power off");
      vm.power = PowerStatus.off;
      return this.status(vm);
    });
  }

  destroy(name: string): Promise<void> {
    return later(() => {
      this.alive();
      mustBeIdle(name, this.vmOrThrow(name), "destroy");
      this.vms.delete(name);
    });
  }

  prepareIncoming(spec: VmSpec, { migrationId, listenHost, fence }: PrepareIncomingOptions): Promise<IncomingMigration> {
    return later(() => {
      this.alive();
      this.incoming.mustBeNew(migrationId, this.host.name);
      if (this.vms.has(spec.name)) throw new FerryError(ErrorCode.conflict, `${this.host.name} already has a VM named "${spec.name}"`, { details: { vm: spec.name, migrationId } });
      if (this.faults.prepareOutOfMemory === true) throw outOfMemory(this.host.name, spec, Math.min(this.freeMB(), spec.memoryMB - 1));
      if (spec.memoryMB > this.freeMB()) throw outOfMemory(this.host.name, spec, this.freeMB());
      const port = this.network.nextPort++;
      const session: FakeIncoming = { migrationId, spec, token: `t-${migrationId}`, endpoint: `${listenHost}:${port}`, fence, state: IncomingState.waiting };
      this.incoming.add(migrationId, session);
      this.vms.set(spec.name, { spec, power: PowerStatus.paused, ticks: 0, migratingOut: undefined, incoming: migrationId });
      this.network.listeners.set(session.endpoint, this.listener(session));
      return { migrationId, host: listenHost, port, token: session.token };
    });
  }

  incomingState(migrationId: string): Promise<IncomingState> {
    return later(() => {
      this.alive();
      return this.incoming.state(migrationId);
    });
  }

  abortIncoming(migrationId: string): Promise<void> {
    return later(() => {
      this.alive();
      const session = this.incoming.get(migrationId);
      if (session === undefined) return;
      if (session.state === IncomingState.running) throw new FerryError(ErrorCode.conflict, `migration ${migrationId} already runs on ${this.host.name}`);
      if (session.state !== IncomingState.failed && session.state !== IncomingState.aborted) {
        this.vms.delete(session.spec.name);
        session.state = IncomingState.aborted;
      }
      this.network.listeners.delete(session.endpoint);
    });
  }

  /** The fake moves the record whatever the options ask (rates, limits); faults decide what goes wrong. */
  migrateOut(name: string, target: IncomingMigration, _options: MigrateOptions, hooks: MigrationHooks): Promise<MigrationReport> {
    return this.outgoing.track(new FakeMigration(this, name, target, { ...hooks, signal: this.outgoing.signal(hooks.signal) }).run());
  }

  settle(name: string, migrationId: string, destination: IncomingState): Promise<SettledOn> {
    return later(() => {
      this.alive();
    }).then(() =>
      this.settlements.settle(name, migrationId, destination, (where) => {
        const vm = this.vmOrThrow(name);
        if (where === "destination") {
          this.vms.delete(name);
          return;
        }
        vm.migratingOut = undefined;
        vm.power = PowerStatus.running;
      }),
    );
  }

  async close(): Promise<void> {
    await this.outgoing.close(`${this.host.name} is closing`);
    this.vms.clear();
    this.unlisten();
    this.incoming.clear();
  }

  /** This host's listeners leave the network. */
  private unlisten(): void {
    for (const session of this.incoming.values()) this.network.listeners.delete(session.endpoint);
  }

  /** The destination's side of `session`, as a source reaches it. */
  private listener(session: FakeIncoming): FakeListener {
    const shell = (): FakeVm | undefined => this.vms.get(session.spec.name);
    return {
      hostName: this.host.name,
      session,
      isDead: () => this.killed,
      streamLost: () => {
        if (session.state !== IncomingState.waiting && session.state !== IncomingState.receiving) return;
        session.state = IncomingState.failed;
        this.vms.delete(session.spec.name);
      },
      commit: async (ticks, clock) => {
        session.state = IncomingState.committing;
        const claim = session.fence === undefined ? undefined : await claimUntilDecided(session.fence, clock, 20);
        const vm = shell();
        if (claim?.won === false || vm === undefined || this.killed) {
          session.state = IncomingState.failed;
          this.vms.delete(session.spec.name);
          return false;
        }
        vm.ticks = ticks;
        vm.power = PowerStatus.running;
        vm.incoming = undefined;
        session.state = IncomingState.running;
        return true;
      },
    };
  }
}

/** One outgoing migration of the fake: three passes, a switchover, COMMIT; faults by FakeFaults. */
class FakeMigration {
  private readonly started: number;
  private pass = 0;
  private bytesSent = 0;
  private phase: Phase = Phase.preparing;
  /** COMMIT went through (or its answer was lost): from here an abort cannot bring the VM back. */
  private committed = false;
  private readonly vm: FakeVm | undefined;
  /** The destination, once the source reached it with the right token. */
  private listener: FakeListener | undefined;

  constructor(
    private readonly source: FakeHypervisor,
    private readonly name: string,
    private readonly target: IncomingMigration,
    private readonly hooks: MigrationHooks,
  ) {
    this.started = hooks.clock.monotonic();
    this.vm = source.vms.get(name);
  }

  private get memoryBytes(): number {
    return (this.vm?.spec.memoryMB ?? 0) * MiB;
  }

  /** `fraction`: a step of preparing or switchover; pre-copy's position comes from the pass and the bytes. */
  private emit(phase: Phase, fraction: number | undefined, message: string): void {
    this.phase = phase;
    const progress: SourceProgress = {
      migrationId: this.target.migrationId, vm: this.name, phase, fraction, pass: this.pass, bytesSent: this.bytesSent, bytesRemaining: Math.max(0, this.memoryBytes - this.bytesSent),
      dirtyRateBytesPerSec: 0, linkRateBytesPerSec: 1e9, expectedDowntimeMs: undefined, throttlePercent: 0, message, committed: this.committed, at: this.hooks.clock.now(),
    };
    this.hooks.onProgress(progress);
  }

  private report(outcome: MigrationReport["outcome"], failure: MigrationReport["failure"], runningOn: string): MigrationReport {
    const { target, bytesSent } = this;
    return {
      migrationId: target.migrationId, vm: this.name, source: this.source.host.name, destination: target.host, outcome, failure, runningOn,
      downtimeMs: outcome === Phase.completed ? 1 : 0, totalMs: this.hooks.clock.monotonic() - this.started, bytesSent, passes: this.pass,
      pagesSent: Math.ceil(bytesSent / 4096), zeroPages: 0, throttlePercentMax: 0, prediction: undefined, verified: outcome === Phase.completed,
    };
  }

  /** Nothing moved for good: the VM runs on the source (unless it was off), and a connected destination drops its shell. */
  private fail(code: FailureCode, message: string): MigrationReport {
    const { vm } = this;
    if (vm !== undefined) {
      vm.migratingOut = undefined;
      if (vm.power === PowerStatus.paused) vm.power = PowerStatus.running;
    }
    this.listener?.streamLost();
    return this.report(code === MigrationFailureCode.aborted ? Phase.cancelled : Phase.failed, { code, message, phase: this.phase }, this.source.host.name);
  }

  private faultIn(phase: Phase): FakeFaults["failIn"] {
    const failIn = this.source.faults.failIn;
    return failIn?.phase === phase ? failIn : undefined;
  }

  /** The destination's listener while it lives. */
  private reachable(): FakeListener | undefined {
    const listener = this.source.network.listeners.get(`${this.target.host}:${this.target.port}`);
    return listener === undefined || listener.isDead() || listener.session.migrationId !== this.target.migrationId ? undefined : listener;
  }

  async run(): Promise<MigrationReport> {
    const start = vmToMigrate(this.source.host.name, this.name, this.vm, this.target, this.source.outgoing.closed ? "fake" : undefined);
    if (start.refused !== undefined) return start.refused;
    const { vm } = start;
    vm.migratingOut = this.target.migrationId;
    try {
      const ended = (await this.connect()) ?? (await this.precopy(vm)) ?? (await this.switchover(vm));
      if (ended !== undefined) return ended;
    } catch (error) {
      if (this.hooks.signal.aborted) return this.fail(MigrationFailureCode.aborted, "aborted");
      return this.fail(MigrationFailureCode.internal, error instanceof Error ? error.message : String(error));
    }
    const hold = this.source.faults.holdAfterCommitMs ?? 0;
    if (hold > 0) await this.hooks.clock.sleep(hold).catch(() => undefined);
    this.source.vms.delete(this.name);
    this.emit(Phase.completed, 1, "completed");
    return this.report(Phase.completed, undefined, this.listener?.hostName ?? this.target.host);
  }

  /** Reaches the destination with the token; a report when it cannot. */
  private connect(): Promise<MigrationReport | undefined> {
    return later(() => {
      this.emit(Phase.preparing, 0.5, "connecting");
      const listener = this.reachable();
      if (listener === undefined) return this.fail(MigrationFailureCode.destinationUnreachable, `nothing listens on ${this.target.host}:${this.target.port}`);
      if (listener.session.token !== this.target.token) return this.fail(MigrationFailureCode.rejectedByDestination, `${listener.hostName} refused the stream: wrong token`);
      const fault = this.faultIn(Phase.preparing);
      if (fault !== undefined) return this.fail(fault.code, `injected ${fault.code}`);
      this.listener = listener;
      listener.session.state = IncomingState.receiving;
      return undefined;
    });
  }

  private async precopy(vm: FakeVm): Promise<MigrationReport | undefined> {
    for (this.pass = 1; this.pass <= PASSES; this.pass++) {
      await this.hooks.clock.sleep(this.source.faults.passMs ?? 5, this.hooks.signal);
      // A killed process migrates nothing more.
      if (this.source.dead) return this.fail(MigrationFailureCode.internal, "killed");
      if (writes(vm.spec)) vm.ticks++;
      this.bytesSent += this.memoryBytes / this.pass;
      this.emit(Phase.precopy, undefined, `pass ${this.pass}`);
      if (this.reachable() === undefined) return this.fail(MigrationFailureCode.streamBroken, "connection reset by peer");
      const fault = this.faultIn(Phase.precopy);
      if (fault !== undefined && this.pass === 2) return this.fail(fault.code, `injected ${fault.code}`);
    }
    this.pass--;
    return undefined;
  }

  /** Pauses the VM, hands its state over and sends COMMIT; a report unless the destination now runs it. */
  private async switchover(vm: FakeVm): Promise<MigrationReport | undefined> {
    vm.power = PowerStatus.paused;
    this.emit(Phase.switchover, 0, "quiesced");
    await this.hooks.clock.sleep(1, this.hooks.signal);
    if (this.source.dead) return this.fail(MigrationFailureCode.internal, "killed");
    const fault = this.faultIn(Phase.switchover);
    if (fault !== undefined) return this.fail(fault.code, `injected ${fault.code}`);
    const listener = this.reachable();
    if (listener === undefined) return this.fail(MigrationFailureCode.streamBroken, "connection reset by peer at switchover");
    // COMMIT: from here the destination owns the VM.
    const drop = this.source.faults.dropAfterCommit;
    if (drop === "not-running") listener.streamLost();
    else if (!(await listener.commit(vm.ticks, this.hooks.clock)) && drop === undefined) {
      return this.fail(MigrationFailureCode.destinationLost, `${listener.hostName} did not resume ${this.name}: its claim of the ownership record lost`);
    }
    this.committed = true;
    this.emit(Phase.switchover, 0.8, "committed");
    if (drop === undefined) return undefined;
    this.source.settlements.await(this.target.migrationId, this.name, this.hooks.fence);
    return this.report(Phase.failed, { code: MigrationFailureCode.destinationLost, message: "COMMIT sent, confirmation lost: uncertain", phase: Phase.switchover }, "");
  }
}

/** Runs `fn` as a promise: a throw becomes a rejection, as in an async function. */
function later<T>(fn: () => T): Promise<T> {
  return new Promise<T>((resolve) => {
    resolve(fn());
  });
}

/** Facts of a fake host: 8 cores × 2400 MHz, `memoryMB`, a VMotion NIC of `vmotionMbps`. */
export function fakeHostFacts(name: string, vmotionIp: string, memoryMB = 4096, vmotionMbps = 1000): HostFacts {
  return {
    name,
    cpu: { vendor: "GenuineIntel", family: 6, model: 63, flags: ["sse2", "pni", "nx", "lm", "vmx"], virtualization: true, cores: 8, mhz: 2400 },
    memoryMB,
    freeMemoryMB: memoryMB,
    nics: [{ name: "vmnic1", speedMbps: vmotionMbps }],
    vswitches: [
      {
        name: "vSwitch1",
        uplinks: ["vmnic1"],
        mtu: 1500,
        portGroups: [{ name: "VMotion", vlan: 0 }],
        vmkernelPorts: [{ name: "vmk1", portGroup: "VMotion", ip: `${vmotionIp}/8`, mtu: 1500, vmotion: true }],
      },
    ],
    datastores: ["shared-ds"],
    vmotionIp,
    driver: "sim",
  };
}
