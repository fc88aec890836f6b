// The `sim` hypervisor driver: VMs with real memory and a seeded workload, living in the
// agent's process, migrated with Ferry's own pre-copy protocol over real TCP between agents.
// Nothing above the hypervisor line is faked: bytes move, dirty pages are re-sent, downtime
// is measured. Faults can be injected by rule (faults.ts), at creation or at runtime.
import type { Clock } from "../../core/clock.ts";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import type { Cpu, PhysicalNic, VSwitch } from "../../core/inventory/schema.ts";
import { unmovedReport } from "../../core/migration/report.ts";
import { MigrationFailureCode, Phase, VmotionEncryption, type MigrateOptions, type MigrationReport } from "../../core/migration/types.ts";
import { createStreamCredentials, type StreamCredentials } from "../../pki/ephemeral.ts";
import { cannotPowerOn, IncomingRegister, memoryHeldMB, OutgoingRuns, outOfMemory, Settlements } from "../bookkeeping.ts";
import { describedFacts, PowerStatus, type HypervisorDriver, type IncomingMigration, type MigrationHooks, type VmSpec } from "../driver.ts";
import { NO_FAULTS, type SimFaults } from "./faults.ts";
import { HostLink } from "./link.ts";
import { IncomingSession } from "./precopy-dest.ts";
import { runPrecopySource } from "./precopy-source.ts";
import { SimVm } from "./vm.ts";

/** A sim host as its config describes it: HostFacts without what the driver computes. */
export interface SimHostDescription {
  readonly name: string;
  readonly cpu: Cpu;
  readonly memoryMB: number;
  readonly nics: readonly PhysicalNic[];
  readonly vswitches: readonly VSwitch[];
  readonly datastores: readonly string[];
  readonly vmotionIp: string | undefined;
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

export function createSimDriver(options: SimDriverOptions): SimDriver {
  const { host, clock } = options;
  let faults: SimFaults = options.faults ?? NO_FAULTS;
  const vms = new Map<string, SimVm>();
  // Finished incoming migrations stay queryable (a settlement asks after them), a bounded number.
  const incoming = new IncomingRegister<IncomingSession>();
  /** Migrations whose report was uncertain: the VM waits paused here for `settle`, with the migration's fence. */
  const settlements = new Settlements(host.name);
  const outgoing = new OutgoingRuns();
  const link = new HostLink(clock, host.vmotionLinkBytesPerSec);

  const freeMB = (): number => host.memoryMB - memoryHeldMB(vms.values());

  const mustGet = (name: string): SimVm => {
    const vm = vms.get(name);
    if (vm === undefined) throw new FerryError(ErrorCode.notFound, `${host.name} has no VM named "${name}"`, { details: { vm: name } });
    return vm;
  };
  const mustBeIdle = (vm: SimVm, action: string): void => {
    if (vm.migratingOut !== undefined) throw new FerryError(ErrorCode.conflict, `cannot ${action} ${vm.name}: it is migrating out (${vm.migratingOut})`, { details: { vm: vm.name, migrationId: vm.migratingOut } });
    if (vm.incoming !== undefined) throw new FerryError(ErrorCode.conflict, `cannot ${action} ${vm.name}: it is the shell of incoming migration ${vm.incoming}; abort that instead`, { details: { vm: vm.name, migrationId: vm.incoming } });
  };
  const notClosed = (): void => {
    if (outgoing.closed) throw new FerryError(ErrorCode.unavailable, `the sim driver of ${host.name} is closed`);
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

  const driver: SimDriver = {
    kind: "sim",

    setFaults(next) {
      faults = next;
    },
    faults: () => faults,
    vm: (name) => vms.get(name),

    facts() {
      return Promise.resolve(describedFacts(host, freeMB(), "sim"));
    },

    list() {
      return Promise.resolve([...vms.values()].map((vm) => vm.status()));
    },

    get(name) {
      return Promise.resolve(vms.get(name)?.status());
    },

    create: (spec) => later(() => {
      notClosed();
      if (spec.name === "") throw new FerryError(ErrorCode.invalidInput, "a VM needs a name");
      if (!Number.isInteger(spec.memoryMB) || spec.memoryMB <= 0) throw new FerryError(ErrorCode.invalidInput, `${spec.name}: memoryMB must be a positive integer, not ${spec.memoryMB}`);
      if (vms.has(spec.name)) throw new FerryError(ErrorCode.conflict, `${host.name} already has a VM named "${spec.name}"`, { details: { vm: spec.name } });
      if (faults.refuseCreate === true) throw new FerryError(ErrorCode.refused, `${host.name} refuses to register ${spec.name} (fault rule refuseCreate)`, { details: { vm: spec.name } });
      const vm = new SimVm(spec);
      vms.set(spec.name, vm);
      return vm.status();
    }),

    powerOn: (name) => later(() => {
      notClosed();
      const vm = mustGet(name);
      mustBeIdle(vm, "power on");
      if (vm.power === PowerStatus.running) return vm.status();
      // A paused VM holds its memory: it resumes where it stopped, never reboots. (One waiting
      // for an uncertain switchover's settlement is still migrating out: mustBeIdle refused it.)
      if (vm.power === PowerStatus.paused) {
        vm.resume(clock);
        return vm.status();
      }
      if (vm.spec.memoryMB > freeMB()) throw cannotPowerOn(host.name, vm.spec, freeMB());
      vm.boot(clock);
      return vm.status();
    }),

    powerOff: (name) => later(() => {
      const vm = mustGet(name);
      mustBeIdle(vm, "power off");
      vm.shutdown();
      return vm.status();
    }),

    destroy: (name) => later((): void => {
      const vm = mustGet(name);
      mustBeIdle(vm, "destroy");
      vm.shutdown();
      vms.delete(name);
    }),

    async prepareIncoming(spec: VmSpec, { migrationId, listenHost, fence, encryption }) {
      notClosed();
      incoming.mustBeNew(migrationId, host.name);
      if (vms.has(spec.name)) throw new FerryError(ErrorCode.conflict, `${host.name} already has a VM named "${spec.name}"`, { details: { vm: spec.name, migrationId } });
      const free = freeMB();
      if (faults.failPrepare === "out-of-memory") throw outOfMemory(host.name, spec, Math.min(free, spec.memoryMB - 1));
      if (spec.memoryMB > free) throw outOfMemory(host.name, spec, free);
      // Before the shell exists: a host that cannot encrypt refuses (required) with nothing to undo.
      const tls = await streamKeyFor(host.name, listenHost, encryption ?? VmotionEncryption.required, faults.noStreamTls === true);
      const shell = new SimVm(spec);
      shell.makeShell(migrationId);
      vms.set(spec.name, shell);
      const session = new IncomingSession({
        hostName: host.name,
        migrationId,
        shell,
        clock,
        faults: () => faults,
        fence,
        onResumed: () => undefined,
        onShellDestroyed: () => {
          if (vms.get(spec.name) === shell) vms.delete(spec.name);
        },
      });
      let port: number;
      try {
        port = await session.listen(listenHost, tls);
      } catch (error) {
        session.abort("could not listen");
        throw new FerryError(ErrorCode.unavailable, `${host.name} cannot listen on ${listenHost}: ${error instanceof Error ? error.message : String(error)}`, { cause: error, details: { listenHost } });
      }
      incoming.add(migrationId, session);
      return { migrationId, host: listenHost, port, token: session.token, ...(tls === undefined ? {} : { tls: { issuer: tls.issuer, certificate: tls.certificate } }) };
    },

    incomingState(migrationId) {
      return Promise.resolve(incoming.state(migrationId));
    },

    abortIncoming(migrationId) {
      incoming.get(migrationId)?.abort(`${host.name} was asked to abort incoming migration ${migrationId}`);
      return Promise.resolve();
    },

    async migrateOut(name: string, target: IncomingMigration, migrateOptions: MigrateOptions, hooks: MigrationHooks) {
      const vm = vms.get(name);
      if (outgoing.closed) return refusedReport(name, target, MigrationFailureCode.internal, `the sim driver of ${host.name} is closed`);
      if (vm === undefined) return refusedReport(name, target, MigrationFailureCode.vmNotFound, `${host.name} has no VM named "${name}"`);
      if (vm.incoming !== undefined) return refusedReport(name, target, MigrationFailureCode.vmNotRunning, `${name} on ${host.name} is the shell of incoming migration ${vm.incoming}`);
      if (vm.migratingOut !== undefined) return refusedReport(name, target, MigrationFailureCode.vmNotRunning, `${name} is already migrating out of ${host.name} (${vm.migratingOut})`);
      if (vm.power !== PowerStatus.running) return refusedReport(name, target, MigrationFailureCode.vmNotRunning, `${name} is ${vm.power} on ${host.name}; only a running VM migrates live`);
      vm.migratingOut = target.migrationId;
      // Closing the driver aborts its migrations too (each resumes its VM here).
      const signal = outgoing.signal(hooks.signal);
      const run = runPrecopySource({
        hostName: host.name,
        vm,
        target,
        options: migrateOptions,
        hooks: { ...hooks, signal },
        flow: link.open(migrateOptions.priority, migrateOptions.bandwidthLimitBytesPerSec),
        faults: () => faults,
        release: () => {
          vm.shutdown();
          vm.migratingOut = undefined;
          if (vms.get(name) === vm) vms.delete(name);
        },
      });
      const report = await outgoing.track(run);
      if (report.outcome === Phase.failed && report.runningOn === "") settlements.await(target.migrationId, name, hooks.fence);
      return report;
    },

    // The ownership record decides (a claim that cannot reach it throws: the VM stays paused).
    settle: (name, migrationId, destination) =>
      settlements.settle(name, migrationId, destination, (where) => {
        const vm = mustGet(name);
        if (where === "destination") {
          // The destination holds the VM: the paused copy here is released, never resumed.
          vm.shutdown();
          vms.delete(name);
        } else {
          // This host won the record back: the destination can never take it now.
          vm.migratingOut = undefined;
          vm.resume(clock);
        }
      }),

    async close() {
      await outgoing.close(`the sim driver of ${host.name} is closing`);
      for (const session of incoming.values()) session.close(`${host.name} is shutting down`);
      for (const vm of vms.values()) vm.shutdown();
      vms.clear();
    },
  };
  return driver;
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
    details: { failureCode: MigrationFailureCode.encryptionUnavailable, listenHost },
  });
}

/** Runs `fn` as a promise: a throw becomes a rejection, as in an async function. */
function later<T>(fn: () => T): Promise<T> {
  return new Promise<T>((resolve) => {
    resolve(fn());
  });
}
