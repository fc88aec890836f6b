// The `sim` hypervisor driver: VMs with real memory and a seeded workload, living in the
// agent's process, migrated with Ferry's own pre-copy protocol over real TCP between agents.
// Nothing above the hypervisor line is faked: bytes move, dirty pages are re-sent, downtime
// is measured. Faults can be injected by rule (faults.ts), at creation or at runtime.
import type { Clock } from "../../core/clock.ts";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { MigrationFailureCode, Phase, VmotionEncryption, type MigrateOptions, type MigrationReport } from "../../core/migration/types.ts";
import { createStreamCredentials, type StreamCredentials } from "../../pki/ephemeral.ts";
import { cannotPowerOn, checkNewVm, IncomingRegister, memoryHeldMB, mustBeIdle, OutgoingRuns, outOfMemory, Settlements, vmToMigrate } from "../bookkeeping.ts";
import { describedFacts, PowerStatus, type HostDescription, type HypervisorDriver, type IncomingMigration, type MigrationHooks, type PrepareIncomingOptions, type SettledOn, type VmSpec, type VmStatus } from "../driver.ts";
import { NO_FAULTS, type SimFaults } from "./faults.ts";
import { HostLink } from "./link.ts";
import { IncomingSession } from "./precopy-dest.ts";
import { runPrecopySource } from "./precopy-source.ts";
import { SimUsage } from "./usage.ts";
import { SimVm } from "./vm.ts";

/** A sim host as its config describes it, with the sim's own knobs. */
export interface SimHostDescription extends HostDescription {
  /** The VMotion link's rate, shared by outgoing migrations by priority; default: as fast as loopback goes. */
  readonly vmotionLinkBytesPerSec?: number | undefined;
}

export interface SimDriverOptions {
  readonly host: SimHostDescription;
  readonly clock: Clock;
  readonly faults?: SimFaults | undefined;
}

export interface SimDriver extends HypervisorDriver {
  readonly kind: "sim";
  /** Replaces the fault rules; streams already open read the new rules at their next step. */
  setFaults(faults: SimFaults): void;
  faults(): SimFaults;
  /** The VM itself (memory, workload, digest), for tests and benchmarks. */
  vm(name: string): SimVm | undefined;
}

/** One sim host's explicit state: its VMs, fault rules and VMotion link, and the drivers' shared bookkeeping. */
class SimHost {
  readonly host: SimHostDescription;
  readonly clock: Clock;
  faults: SimFaults;
  readonly vms = new Map<string, SimVm>();
  /** Finished incoming migrations stay queryable (a settlement asks after them), a bounded number. */
  readonly incoming = new IncomingRegister<IncomingSession>();
  /** Migrations whose report was uncertain: the VM waits paused here for `settle`, with the migration's fence. */
  readonly settlements: Settlements;
  readonly outgoing = new OutgoingRuns();
  readonly link: HostLink;
  /** The workloads' write counters between usage calls (usage.ts). */
  readonly usage = new SimUsage();

  constructor(options: SimDriverOptions) {
    this.host = options.host;
    this.clock = options.clock;
    this.faults = options.faults ?? NO_FAULTS;
    this.settlements = new Settlements(options.host.name);
    this.link = new HostLink(options.clock, options.host.vmotionLinkBytesPerSec);
  }

  get name(): string {
    return this.host.name;
  }

  freeMB(): number {
    return this.host.memoryMB - memoryHeldMB(this.vms.values());
  }

  mustGet(name: string): SimVm {
    const vm = this.vms.get(name);
    if (vm === undefined) throw new FerryError(ErrorCode.notFound, `${this.name} has no VM named "${name}"`, { details: { vm: name } });
    return vm;
  }

  notClosed(): void {
    if (this.outgoing.closed) throw new FerryError(ErrorCode.unavailable, `the sim driver of ${this.name} is closed`);
  }
}

export function createSimDriver(options: SimDriverOptions): SimDriver {
  const sim = new SimHost(options);
  return {
    kind: "sim",
    setFaults: (next) => {
      sim.faults = next;
    },
    faults: () => sim.faults,
    vm: (name) => sim.vms.get(name),
    facts: () => Promise.resolve(describedFacts(sim.host, sim.freeMB(), "sim")),
    list: () => Promise.resolve([...sim.vms.values()].map((vm) => vm.status())),
    get: (name) => Promise.resolve(sim.vms.get(name)?.status()),
    create: (spec) => later(() => createVm(sim, spec)),
    powerOn: (name) => later(() => powerOnVm(sim, name)),
    powerOff: (name) => later(() => powerOffVm(sim, name)),
    destroy: (name) => later(() => {
      destroyVm(sim, name);
    }),
    prepareIncoming: (spec, incomingOptions) => prepareIncoming(sim, spec, incomingOptions),
    incomingState: (migrationId) => Promise.resolve(sim.incoming.state(migrationId)),
    abortIncoming: (migrationId) => {
      sim.incoming.get(migrationId)?.abort(`${sim.name} was asked to abort incoming migration ${migrationId}`);
      return Promise.resolve();
    },
    migrateOut: (name, target, migrateOptions, hooks) => migrateOut(sim, name, target, migrateOptions, hooks),
    // The ownership record decides (a claim that cannot reach it throws: the VM stays paused).
    settle: (name, migrationId, destination) => sim.settlements.settle(name, migrationId, destination, (where) => {
      settleHere(sim, name, where);
    }),
    usage: () => Promise.resolve(sim.usage.measure(describedFacts(sim.host, sim.freeMB(), "sim"), sim.vms.values(), sim.clock.now(), sim.clock.monotonic())),
    close: () => close(sim),
  };
}

function createVm(sim: SimHost, spec: VmSpec): VmStatus {
  sim.notClosed();
  checkNewVm(sim.name, spec, sim.vms.has(spec.name));
  if (sim.faults.refuseCreate === true) throw new FerryError(ErrorCode.refused, `${sim.name} refuses to register ${spec.name} (fault rule refuseCreate)`, { details: { vm: spec.name } });
  const vm = new SimVm(spec);
  sim.vms.set(spec.name, vm);
  return vm.status();
}

function powerOnVm(sim: SimHost, name: string): VmStatus {
  sim.notClosed();
  const vm = sim.mustGet(name);
  mustBeIdle(name, vm, "power on");
  if (vm.power === PowerStatus.running) return vm.status();
  // A paused VM holds its memory: it resumes where it stopped, never reboots. (One waiting
  // for an uncertain switchover's settlement is still migrating out: mustBeIdle refused it.)
  if (vm.power === PowerStatus.paused) {
    vm.resume(sim.clock);
    return vm.status();
  }
  if (vm.spec.memoryMB > sim.freeMB()) throw cannotPowerOn(sim.name, vm.spec, sim.freeMB());
  vm.boot(sim.clock);
  return vm.status();
}

function powerOffVm(sim: SimHost, name: string): VmStatus {
  const vm = sim.mustGet(name);
  mustBeIdle(name, vm, "power off");
  vm.shutdown();
  return vm.status();
}

function destroyVm(sim: SimHost, name: string): void {
  const vm = sim.mustGet(name);
  mustBeIdle(name, vm, "destroy");
  vm.shutdown();
  sim.vms.delete(name);
}

/** Reserves the VM's memory in a paused shell and listens on `listenHost` for its stream. */
async function prepareIncoming(sim: SimHost, spec: VmSpec, { migrationId, listenHost, fence, encryption, postcopy }: PrepareIncomingOptions): Promise<IncomingMigration> {
  sim.notClosed();
  // The sim's protocol is pre-copy only (src/engine): a post-copy policy is refused before anything moves.
  if (postcopy === true) {
    throw new FerryError(ErrorCode.refused, `${sim.name} runs the sim driver, which has no post-copy: migrate ${spec.name} with the auto-converge or fail policy`, { failureCode: MigrationFailureCode.incompatible, details: { vm: spec.name, migrationId } });
  }
  sim.incoming.mustBeNew(migrationId, sim.name);
  if (sim.vms.has(spec.name)) throw new FerryError(ErrorCode.conflict, `${sim.name} already has a VM named "${spec.name}"`, { details: { vm: spec.name, migrationId } });
  const free = sim.freeMB();
  if (sim.faults.failPrepare === "out-of-memory") throw outOfMemory(sim.name, spec, Math.min(free, spec.memoryMB - 1));
  if (spec.memoryMB > free) throw outOfMemory(sim.name, spec, free);
  // Before the shell exists: a host that cannot encrypt refuses (required) with nothing to undo.
  const tls = await streamKeyFor(sim.name, listenHost, encryption ?? VmotionEncryption.required, sim.faults.noStreamTls === true);
  const shell = new SimVm(spec);
  shell.makeShell(migrationId);
  sim.vms.set(spec.name, shell);
  const session = new IncomingSession({
    hostName: sim.name,
    migrationId,
    shell,
    clock: sim.clock,
    faults: () => sim.faults,
    fence,
    onResumed: () => undefined,
    onShellDestroyed: () => {
      if (sim.vms.get(spec.name) === shell) sim.vms.delete(spec.name);
    },
  });
  let port: number;
  try {
    port = await session.listen(listenHost, tls);
  } catch (error) {
    session.abort("could not listen");
    throw new FerryError(ErrorCode.unavailable, `${sim.name} cannot listen on ${listenHost}: ${error instanceof Error ? error.message : String(error)}`, { cause: error, details: { listenHost } });
  }
  sim.incoming.add(migrationId, session);
  return { migrationId, host: listenHost, port, token: session.token, ...(tls === undefined ? {} : { tls: { issuer: tls.issuer, certificate: tls.certificate } }) };
}

/** Pre-copies `name` to `target` (precopy-source.ts); an uncertain end leaves it paused here for settle(). */
async function migrateOut(sim: SimHost, name: string, target: IncomingMigration, migrateOptions: MigrateOptions, hooks: MigrationHooks): Promise<MigrationReport> {
  const start = vmToMigrate(sim.name, name, sim.vms.get(name), target, sim.outgoing.closed ? "sim" : undefined);
  if (start.refused !== undefined) return start.refused;
  const { vm } = start;
  vm.migratingOut = target.migrationId;
  const run = runPrecopySource({
    hostName: sim.name,
    vm,
    target,
    options: migrateOptions,
    // Closing the driver aborts its migrations too (each resumes its VM here).
    hooks: { ...hooks, signal: sim.outgoing.signal(hooks.signal) },
    flow: sim.link.open(migrateOptions.priority, migrateOptions.bandwidthLimitBytesPerSec),
    faults: () => sim.faults,
    release: () => {
      vm.shutdown();
      vm.migratingOut = undefined;
      if (sim.vms.get(name) === vm) sim.vms.delete(name);
    },
  });
  const report = await sim.outgoing.track(run);
  if (report.outcome === Phase.failed && report.runningOn === "") sim.settlements.await(target.migrationId, name, hooks.fence);
  return report;
}

/** A settlement's decision, carried out on the paused copy here. */
function settleHere(sim: SimHost, name: string, where: SettledOn): void {
  const vm = sim.mustGet(name);
  if (where === "destination") {
    // The destination holds the VM: the paused copy here is released, never resumed.
    vm.shutdown();
    sim.vms.delete(name);
  } else {
    // This host won the record back: the destination can never take it now.
    vm.migratingOut = undefined;
    vm.resume(sim.clock);
  }
}

async function close(sim: SimHost): Promise<void> {
  await sim.outgoing.close(`the sim driver of ${sim.name} is closing`);
  for (const session of sim.incoming.values()) session.close(`${sim.name} is shutting down`);
  for (const vm of sim.vms.values()) vm.shutdown();
  sim.vms.clear();
}

/**
 * The migration's own TLS credentials for a listener on `listenHost`, or undefined for a
 * stream in clear: `disabled`, or `opportunistic` on a host that cannot encrypt. `required` on
 * such a host refuses with ENCRYPTION_UNAVAILABLE.
 */
async function streamKeyFor(hostName: string, listenHost: string, encryption: VmotionEncryption, unable: boolean): Promise<StreamCredentials | undefined> {
  if (encryption === VmotionEncryption.disabled) return undefined;
  let reason = "its TLS is switched off (fault rule)";
  if (!unable) {
    try {
      return await createStreamCredentials(listenHost);
    } catch (error) {
      reason = error instanceof Error ? error.message : String(error);
    }
  }
  if (encryption === VmotionEncryption.opportunistic) return undefined;
  throw new FerryError(ErrorCode.refused, `${hostName} cannot encrypt the VMotion stream (${reason}) and encryption is required; nothing was sent`, {
    failureCode: MigrationFailureCode.encryptionUnavailable, details: { listenHost },
  });
}

/** Runs `fn` as a promise: a throw becomes a rejection, as in an async function. */
function later<T>(fn: () => T): Promise<T> {
  return new Promise<T>((resolve) => {
    resolve(fn());
  });
}
