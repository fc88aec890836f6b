// A hypervisor driver in memory, for testing the agent and the engine in-process: VMs are
// records with a state counter, and a migration between two fakes of one FakeNetwork moves
// the record through prepare/precopy/switchover with progress events and the driver
// contract's guarantees (the source owns the VM until the destination runs it). Faults are
// plain fields a test sets. The real protocol is the sim driver's; this only keeps the
// agent's and engine's tests free of sockets and timing.
import { createHash } from "node:crypto";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { MigrationFailureCode, Phase, type MigrateOptions, type MigrationFailureCode as FailureCode, type MigrationProgress, type MigrationReport } from "../../core/migration/types.ts";
import {
  IncomingState,
  PowerStatus,
  type HostFacts,
  type HypervisorDriver,
  type IncomingMigration,
  type MigrationHooks,
  type VmSpec,
  type VmStatus,
} from "../../drivers/driver.ts";

interface FakeVm {
  spec: VmSpec;
  power: PowerStatus;
  /** Advances while running; the digest covers it, so a lost write would show. */
  ticks: number;
  migratingOut: string | undefined;
}

interface FakeIncoming {
  readonly migrationId: string;
  readonly spec: VmSpec;
  readonly token: string;
  readonly endpoint: string;
  state: IncomingState;
}

/** Where fakes find each other by "host:port", as real drivers do over TCP. */
export interface FakeNetwork {
  readonly endpoints: Map<string, FakeDriver>;
  nextPort: number;
}

export function createFakeNetwork(): FakeNetwork {
  return { endpoints: new Map(), nextPort: 40_000 };
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
  settle(name: string, migrationId: string, destination: IncomingState): Promise<"source" | "destination">;
}

const digestOf = (vm: FakeVm): string => createHash("sha256").update(`${vm.spec.name}|${vm.spec.memoryMB}|${vm.ticks}`).digest("hex").slice(0, 16);

export function createFakeDriver(network: FakeNetwork, host: HostFacts): FakeDriver {
  const vms = new Map<string, FakeVm>();
  const incoming = new Map<string, FakeIncoming>();
  /** Migrations whose outcome is uncertain: the paused VM waits for settle(). */
  const awaiting = new Map<string, string>();
  const settled = new Map<string, "source" | "destination">();
  let dead = false;

  const status = (vm: FakeVm): VmStatus => ({
    name: vm.spec.name,
    power: vm.power,
    memoryMB: vm.spec.memoryMB,
    nics: vm.spec.nics,
    stateDigest: digestOf(vm),
    ...(vm.migratingOut === undefined ? {} : { migratingOut: vm.migratingOut }),
  });
  // As the sim driver: a powered-off VM holds no memory.
  const usedMB = (): number => [...vms.values()].reduce((sum, vm) => sum + (vm.power === PowerStatus.off ? 0 : vm.spec.memoryMB), 0);
  const alive = (): void => {
    if (dead) throw new FerryError(ErrorCode.unavailable, `${host.name} is dead`);
  };
  const vmOrThrow = (name: string): FakeVm => {
    const vm = vms.get(name);
    if (vm === undefined) throw new FerryError(ErrorCode.notFound, `no VM ${name} on ${host.name}`);
    return vm;
  };

  const driver: FakeDriver = {
    kind: "sim",
    host,
    faults: {},
    get dead() {
      return dead;
    },
    kill() {
      dead = true;
      vms.clear();
      for (const inc of incoming.values()) network.endpoints.delete(inc.endpoint);
      incoming.clear();
    },
    digest: (name) => {
      const vm = vms.get(name);
      return vm === undefined ? undefined : digestOf(vm);
    },
    facts: () => {
      alive();
      return Promise.resolve({ ...host, freeMemoryMB: host.memoryMB - usedMB() });
    },
    list: () => {
      alive();
      return Promise.resolve([...vms.values()].map(status));
    },
    get: (name) => {
      alive();
      const vm = vms.get(name);
      return Promise.resolve(vm === undefined ? undefined : status(vm));
    },
    create: (spec) => {
      alive();
      if (vms.has(spec.name)) return Promise.reject(new FerryError(ErrorCode.conflict, `VM ${spec.name} exists`));
      const vm: FakeVm = { spec, power: PowerStatus.off, ticks: 0, migratingOut: undefined };
      vms.set(spec.name, vm);
      return Promise.resolve(status(vm));
    },
    powerOn: (name) => {
      alive();
      const vm = vmOrThrow(name);
      vm.power = PowerStatus.running;
      return Promise.resolve(status(vm));
    },
    powerOff: (name) => {
      alive();
      const vm = vmOrThrow(name);
      vm.power = PowerStatus.off;
      return Promise.resolve(status(vm));
    },
    destroy: (name) => {
      alive();
      vmOrThrow(name);
      vms.delete(name);
      return Promise.resolve();
    },
    prepareIncoming: (spec, { migrationId, listenHost }) => {
      alive();
      if (driver.faults.prepareOutOfMemory === true || spec.memoryMB > host.memoryMB - usedMB()) {
        return Promise.reject(
          new FerryError(ErrorCode.refused, `${host.name} has no room for ${spec.memoryMB} MB`, { details: { failureCode: MigrationFailureCode.destinationOutOfMemory } }),
        );
      }
      const port = network.nextPort++;
      const endpoint = `${listenHost}:${port}`;
      const inc: FakeIncoming = { migrationId, spec, token: `t-${migrationId}`, endpoint, state: IncomingState.waiting };
      incoming.set(migrationId, inc);
      vms.set(spec.name, { spec, power: PowerStatus.paused, ticks: 0, migratingOut: undefined });
      network.endpoints.set(endpoint, driver);
      const target: IncomingMigration = { migrationId, host: listenHost, port, token: inc.token };
      return Promise.resolve(target);
    },
    incomingState: (migrationId) => {
      alive();
      return Promise.resolve(incoming.get(migrationId)?.state ?? IncomingState.unknown);
    },
    abortIncoming: (migrationId) => {
      alive();
      const inc = incoming.get(migrationId);
      if (inc === undefined) return Promise.resolve();
      if (inc.state === IncomingState.running) {
        return Promise.reject(new FerryError(ErrorCode.conflict, `migration ${migrationId} already runs on ${host.name}`));
      }
      if (inc.state !== IncomingState.failed && inc.state !== IncomingState.aborted) {
        vms.delete(inc.spec.name);
        inc.state = IncomingState.aborted;
      }
      network.endpoints.delete(inc.endpoint);
      return Promise.resolve();
    },
    migrateOut: (name, target, options, hooks) => migrateOut(name, target, options, hooks),
    settle: (name, migrationId, destination) => {
      alive();
      const done = settled.get(migrationId);
      if (done !== undefined) return Promise.resolve(done);
      if (awaiting.get(migrationId) !== name) return Promise.reject(new FerryError(ErrorCode.conflict, `${host.name} holds no paused copy of ${name} for ${migrationId}`));
      const vm = vmOrThrow(name);
      let where: "source" | "destination";
      switch (destination) {
        case IncomingState.running:
          vms.delete(name);
          where = "destination";
          break;
        case IncomingState.failed:
        case IncomingState.aborted:
        case IncomingState.unknown:
          vm.migratingOut = undefined;
          vm.power = PowerStatus.running;
          where = "source";
          break;
        case IncomingState.waiting:
        case IncomingState.receiving:
        case IncomingState.verified:
        case IncomingState.committing:
          return Promise.reject(new FerryError(ErrorCode.conflict, `the destination has not settled (${destination})`, { retryable: true }));
      }
      awaiting.delete(migrationId);
      settled.set(migrationId, where);
      return Promise.resolve(where);
    },
    close: () => {
      vms.clear();
      incoming.clear();
      return Promise.resolve();
    },
  };

  async function migrateOut(name: string, target: IncomingMigration, _options: MigrateOptions, hooks: MigrationHooks): Promise<MigrationReport> {
    const started = hooks.clock.monotonic();
    let pass = 0;
    let bytesSent = 0;
    let percent = 0;
    let phase: Phase = Phase.preparing;
    const vm = vms.get(name);
    const memoryBytes = (vm?.spec.memoryMB ?? 0) * 1048576;
    const emit = (p: Phase, pct: number, message: string): void => {
      phase = p;
      percent = Math.max(percent, pct);
      const progress: MigrationProgress = {
        migrationId: target.migrationId, vm: name, phase: p, percent, pass, bytesSent, bytesRemaining: Math.max(0, memoryBytes - bytesSent),
        dirtyRateBytesPerSec: 0, linkRateBytesPerSec: 1e9, etaMs: undefined, expectedDowntimeMs: undefined, throttlePercent: 0, message, at: hooks.clock.now(),
      };
      hooks.onProgress(progress);
    };
    const report = (outcome: MigrationReport["outcome"], failure: MigrationReport["failure"], runningOn: string): MigrationReport => ({
      migrationId: target.migrationId, vm: name, source: host.name, destination: target.host, outcome, failure, runningOn,
      downtimeMs: outcome === Phase.completed ? 1 : 0, totalMs: hooks.clock.monotonic() - started, bytesSent, passes: pass,
      pagesSent: Math.ceil(bytesSent / 4096), zeroPages: 0, throttlePercentMax: 0, prediction: undefined, verified: outcome === Phase.completed,
    });
    const fail = (code: FailureCode, message: string): MigrationReport => {
      if (vm !== undefined) {
        vm.migratingOut = undefined;
        if (vm.power === PowerStatus.paused) vm.power = PowerStatus.running;
      }
      return report(code === MigrationFailureCode.aborted ? Phase.cancelled : Phase.failed, { code, message, phase }, host.name);
    };
    if (vm === undefined) return fail(MigrationFailureCode.vmNotFound, `no VM ${name} on ${host.name}`);
    if (vm.power !== PowerStatus.running) return fail(MigrationFailureCode.vmNotRunning, `${name} is ${vm.power}`);
    vm.migratingOut = target.migrationId;
    const peer = network.endpoints.get(`${target.host}:${target.port}`);
    const inc = (): FakeIncoming | undefined => (peer === undefined || peer.dead ? undefined : peerIncoming(peer, target.migrationId));
    const faultIn = (p: Phase): FakeFaults["failIn"] => (driver.faults.failIn?.phase === p ? driver.faults.failIn : undefined);
    try {
      emit(Phase.preparing, 5, "connecting");
      const first = inc();
      if (first === undefined || first.token !== target.token) return fail(MigrationFailureCode.destinationUnreachable, `nothing listens on ${target.host}:${target.port}`);
      const f0 = faultIn(Phase.preparing);
      if (f0 !== undefined) return fail(f0.code, `injected ${f0.code}`);
      first.state = IncomingState.receiving;
      for (pass = 1; pass <= 3; pass++) {
        await hooks.clock.sleep(driver.faults.passMs ?? 5, hooks.signal);
        // A killed process migrates nothing more.
        if (dead) return fail(MigrationFailureCode.internal, "killed");
        vm.ticks++;
        bytesSent += memoryBytes / pass;
        emit(Phase.precopy, 10 + 25 * pass, `pass ${pass}`);
        if (inc() === undefined) return fail(MigrationFailureCode.streamBroken, "connection reset by peer");
        const f1 = faultIn(Phase.precopy);
        if (f1 !== undefined && pass === 2) return fail(f1.code, `injected ${f1.code}`);
      }
      pass--;
      vm.power = PowerStatus.paused;
      emit(Phase.switchover, 90, "quiesced");
      await hooks.clock.sleep(1, hooks.signal);
      if (dead) return fail(MigrationFailureCode.internal, "killed");
      const f2 = faultIn(Phase.switchover);
      if (f2 !== undefined) return fail(f2.code, `injected ${f2.code}`);
      const last = inc();
      if (last === undefined) return fail(MigrationFailureCode.streamBroken, "connection reset by peer at switchover");
      // COMMIT: from here the destination owns the VM.
      const drop = driver.faults.dropAfterCommit;
      if (drop === "not-running") {
        last.state = IncomingState.failed;
        peerDestroyShell(peer, name);
      } else {
        last.state = IncomingState.running;
        peerResume(peer, name, vm.ticks);
      }
      if (drop !== undefined) {
        awaiting.set(target.migrationId, name);
        return report(Phase.failed, { code: MigrationFailureCode.destinationLost, message: "COMMIT sent, confirmation lost: uncertain", phase: Phase.switchover }, "");
      }
    } catch (error) {
      if (hooks.signal.aborted) return fail(MigrationFailureCode.aborted, "aborted");
      throw error;
    }
    const hold = driver.faults.holdAfterCommitMs ?? 0;
    if (hold > 0) await hooks.clock.sleep(hold).catch(() => undefined);
    vms.delete(name);
    emit(Phase.completed, 100, "completed");
    return report(Phase.completed, undefined, target.host);
  }

  (driver as FakeDriver & { [INTERNAL]: Internals })[INTERNAL] = {
    incoming: (id) => incoming.get(id),
    destroyShell: (vmName) => {
      vms.delete(vmName);
    },
    resume: (vmName, ticks) => {
      const vm = vms.get(vmName);
      if (vm !== undefined) {
        vm.ticks = ticks;
        vm.power = PowerStatus.running;
      }
    },
  };
  return driver;
}

const INTERNAL = Symbol("fake-driver-internals");
interface Internals {
  incoming(id: string): FakeIncoming | undefined;
  resume(vm: string, ticks: number): void;
  destroyShell(vm: string): void;
}
function internals(peer: FakeDriver): Internals {
  return (peer as FakeDriver & { [INTERNAL]: Internals })[INTERNAL];
}
function peerIncoming(peer: FakeDriver, migrationId: string): FakeIncoming | undefined {
  return internals(peer).incoming(migrationId);
}
function peerDestroyShell(peer: FakeDriver | undefined, vm: string): void {
  if (peer !== undefined) internals(peer).destroyShell(vm);
}
function peerResume(peer: FakeDriver | undefined, vm: string, ticks: number): void {
  if (peer !== undefined) internals(peer).resume(vm, ticks);
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
