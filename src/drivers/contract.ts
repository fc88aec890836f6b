// The hypervisor driver contract: one suite of node:test cases that every driver runs (sim in
// src/drivers/sim/sim.contract.test.ts, qemu in its own, and the agent's in-memory test fake in
// src/agent/testing/fake.contract.test.ts), as Hono runs one router suite against every
// router. A driver that cannot do a case skips it with a written reason.
// Each case gets a fresh pair of drivers from `setup` and cleans them up, pass or fail.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isFerryError } from "../core/errors.ts";
import { DEFAULT_MIGRATE_OPTIONS, MigrationFailureCode, Phase, type MigrateOptions, type MigrationReport } from "../core/migration/types.ts";
import { createProgressTracker, type SourceProgress } from "../core/migration/progress.ts";
import { systemClock } from "./clock.ts";
import { IncomingState, PowerStatus, type HypervisorDriver, type IncomingMigration, type MigrationHooks, type VmSpec } from "./driver.ts";

export interface ContractEnvironment {
  readonly source: HypervisorDriver;
  readonly destination: HypervisorDriver;
  /** A small VM both hosts can run; cases derive their variants from it. */
  readonly spec: VmSpec;
  /**
   * Resolves once the guest of `vm` on `driver` has booted, for drivers whose guests boot (qemu):
   * the cases migrate a booted guest. A TCG guest moved in its first second of boot was seen
   * to crash on the destination (QEMU-NOTES, trap 14); a user's VM is long past that.
   */
  booted?(driver: HypervisorDriver, vm: string): Promise<void>;
  cleanup(): Promise<void>;
}

/** The cases, by key; a skip names the key and says why. */
export const ContractCase = {
  lifecycle: "create, power on, list, get, power off, destroy",
  migrate: "migrates a running VM: it runs on the destination, is gone from the source, state equal",
  migrateDirty: "migrates while the guest dirties memory",
  progress: "progress: phases come in order, passes and bytes sent never go back; the core's tracker makes of it a percent that never goes back and ends at 100; the commit is marked in switchover, and from then on",
  abort: "abort mid-migration: the VM runs on the source, the destination shell is gone",
  outOfMemory: "a destination without the memory refuses with DESTINATION_OUT_OF_MEMORY; the VM runs on the source",
  wrongToken: "a stream with the wrong token is refused; the VM runs on the source",
  unreachable: "an unreachable destination fails with DESTINATION_UNREACHABLE; the VM runs on the source",
  prepareAbort: "prepareIncoming then abortIncoming leaves nothing behind",
  poweredOff: "migrateOut of a powered-off VM is refused VM_NOT_RUNNING and the VM stays off (never powered on by it)",
  busy: "a migration's VM is busy: a second prepare of its id, power operations and migrateOut of its shell, and a settle with no paused copy are refused",
  usage: "usage: a running VM shows non-negative CPU and memory, a powered-off VM none, a guest that dirties memory more CPU than an idle one; the host's totals are its VMs' sums",
} as const;
export type ContractCase = keyof typeof ContractCase;

export type ContractSkips = Readonly<Partial<Record<ContractCase, string>>>;

const MiB = 1024 * 1024;
const PHASE_ORDER: readonly Phase[] = [Phase.preparing, Phase.precopy, Phase.switchover, Phase.completed];

export function driverContract(name: string, setup: () => Promise<ContractEnvironment>, skips: ContractSkips = {}): void {
  const contractCase = (key: ContractCase, body: (env: ContractEnvironment) => Promise<void>): void => {
    const reason = skips[key];
    if (reason !== undefined) {
      void test(ContractCase[key], { skip: reason }, () => undefined);
      return;
    }
    void test(ContractCase[key], async () => {
      const env = await setup();
      try {
        await body(env);
      } finally {
        await env.cleanup();
      }
    });
  };

  void describe(`driver contract: ${name}`, () => {
    contractCase("lifecycle", async (env) => {
      const { source, spec } = env;
      const created = await source.create(spec);
      assert.equal(created.name, spec.name);
      assert.equal(created.power, PowerStatus.off);
      assert.deepEqual(
        (await source.list()).map((v) => v.name),
        [spec.name],
      );
      await assert.rejects(source.create(spec), (e: unknown) => isFerryError(e) && e.code === "CONFLICT", "a second VM of the same name is refused");
      assert.equal((await source.powerOn(spec.name)).power, PowerStatus.running);
      const running = await source.get(spec.name);
      assert.equal(running?.power, PowerStatus.running);
      assert.equal(running.memoryMB, spec.memoryMB);
      assert.deepEqual(
        running.nics.map((n) => n.mac),
        spec.nics.map((n) => n.mac),
      );
      assert.equal((await source.powerOff(spec.name)).power, PowerStatus.off);
      await source.destroy(spec.name);
      assert.equal(await source.get(spec.name), undefined);
      assert.deepEqual(await source.list(), []);
      await assert.rejects(source.powerOn(spec.name), (e: unknown) => isFerryError(e) && e.code === "NOT_FOUND");
    });

    contractCase("migrate", async (env) => {
      const { source, destination, spec } = env;
      const idle: VmSpec = { ...spec, workload: undefined };
      await running(env, source, idle, true);
      const before = (await source.get(idle.name))?.stateDigest;
      const target = await prepare(destination, idle, "contract-migrate");
      const report = await source.migrateOut(idle.name, target, options(), hooks().hooks);
      assertCompleted(report);
      const destinationName = (await destination.facts()).name;
      assert.equal(report.runningOn, destinationName);
      assert.equal(await source.get(idle.name), undefined, "the source copy is released");
      const after = await destination.get(idle.name);
      assert.equal(after?.power, PowerStatus.running);
      assert.deepEqual(
        after.nics.map((n) => [n.mac, n.ip]),
        idle.nics.map((n) => [n.mac, n.ip]),
        "the VM keeps its MAC and IP",
      );
      if (before !== undefined && after.stateDigest !== undefined) assert.equal(after.stateDigest, before, "memory and device state arrived intact");
      assert.equal(await destination.incomingState(target.migrationId), IncomingState.running);
    });

    contractCase("migrateDirty", async (env) => {
      const { source, destination, spec } = env;
      const busy: VmSpec = { ...spec, workload: { kind: "steady", dirtyRateBytesPerSec: 4 * MiB, workingSetBytes: 4 * MiB, seed: 11 } };
      await running(env, source, busy, true);
      const target = await prepare(destination, busy, "contract-dirty");
      const report = await source.migrateOut(busy.name, target, options(), hooks().hooks);
      assertCompleted(report);
      assert.ok(report.passes >= 1);
      assert.equal(await source.get(busy.name), undefined);
      assert.equal((await destination.get(busy.name))?.power, PowerStatus.running);
    });

    contractCase("progress", async (env) => {
      const { source, destination, spec } = env;
      await running(env, source, spec, true);
      const target = await prepare(destination, spec, "contract-progress");
      const { hooks: h, events } = hooks();
      assertCompleted(await source.migrateOut(spec.name, target, options(), h));
      assert.ok(events.length >= 3, `only ${events.length} progress events`);
      // The driver reports raw figures; the engine folds them through the core's tracker.
      const tracker = createProgressTracker({ migrationId: target.migrationId, vm: spec.name });
      let percent = 0;
      let rank = 0;
      let pass = 0;
      let bytesSent = 0;
      let committed = false;
      for (const e of events) {
        assert.ok(e.committed !== true || e.phase === Phase.switchover || e.phase === Phase.completed, `committed in ${e.phase}`);
        assert.ok(!committed || e.committed === true, `the commit mark went away in ${e.phase}: ${e.message}`);
        committed = e.committed === true;
        const r = PHASE_ORDER.indexOf(e.phase);
        assert.ok(r >= rank, `phase ${e.phase} came after ${PHASE_ORDER[rank] ?? "?"}`);
        rank = r;
        assert.ok(e.pass >= pass && e.bytesSent >= bytesSent, `pass ${e.pass} after ${pass}, ${e.bytesSent} bytes sent after ${bytesSent}`);
        pass = e.pass;
        bytesSent = e.bytesSent;
        assert.ok(e.fraction === undefined || (e.fraction >= 0 && e.fraction <= 1), `fraction ${String(e.fraction)}`);
        assert.equal(e.migrationId, target.migrationId);
        const tracked = tracker.update(e).percent;
        assert.ok(tracked >= percent, `percent went back from ${percent} to ${tracked}`);
        percent = tracked;
      }
      const last = events.at(-1);
      assert.equal(last?.phase, Phase.completed);
      assert.equal(last.committed, true, "a completed migration passed its commit");
      assert.ok(events.some((e) => e.phase === Phase.switchover && e.committed === true), "the commit is marked before the migration completes");
      assert.equal(percent, 100);
      assert.ok(events.some((e) => e.phase === Phase.precopy) && events.some((e) => e.phase === Phase.switchover));
    });

    contractCase("abort", async (env) => {
      const { source, destination, spec } = env;
      // A slow link, so that the abort lands in pre-copy.
      const big: VmSpec = { ...spec, touchedBytes: spec.memoryMB * MiB };
      await running(env, source, big);
      const target = await prepare(destination, big, "contract-abort");
      const controller = new AbortController();
      const { hooks: h } = hooks(controller.signal, (p) => {
        if (p.phase === Phase.precopy && p.bytesSent > 0) controller.abort(new Error("operator asked"));
      });
      const report = await source.migrateOut(big.name, target, options({ bandwidthLimitBytesPerSec: (big.memoryMB * MiB) / 4 }), h);
      assert.equal(report.outcome, Phase.cancelled, JSON.stringify(report.failure));
      assert.equal(report.failure?.code, MigrationFailureCode.aborted);
      assert.equal(report.failure.phase, Phase.precopy);
      await assertRunsOnSource(source, big.name, report);
      await eventually("the destination shell is destroyed", async () => (await destination.get(big.name)) === undefined);
      const state = await destination.incomingState(target.migrationId);
      assert.ok(state === IncomingState.aborted || state === IncomingState.failed, state);
    });

    contractCase("outOfMemory", async (env) => {
      const { source, destination, spec } = env;
      await running(env, source, spec);
      const free = (await destination.facts()).freeMemoryMB;
      await assert.rejects(
        destination.prepareIncoming({ ...spec, memoryMB: free + 1 }, { migrationId: "contract-oom", listenHost: await listenHost(destination) }),
        (e: unknown) => isFerryError(e) && e.failureCode === MigrationFailureCode.destinationOutOfMemory,
      );
      assert.equal((await source.get(spec.name))?.power, PowerStatus.running);
      assert.equal(await destination.get(spec.name), undefined);
    });

    contractCase("wrongToken", async (env) => {
      const { source, destination, spec } = env;
      await running(env, source, spec);
      const target = await prepare(destination, spec, "contract-token");
      const report = await source.migrateOut(spec.name, { ...target, token: `${target.token}-forged` }, options(), hooks().hooks);
      assert.equal(report.outcome, Phase.failed);
      assert.equal(report.failure?.code, MigrationFailureCode.rejectedByDestination, report.failure?.message);
      await assertRunsOnSource(source, spec.name, report);
      await destination.abortIncoming(target.migrationId);
      await eventually("the destination shell is destroyed", async () => (await destination.get(spec.name)) === undefined);
    });

    contractCase("unreachable", async (env) => {
      const { source, destination, spec } = env;
      await running(env, source, spec);
      const target = await prepare(destination, spec, "contract-unreachable");
      await destination.abortIncoming(target.migrationId);
      const report = await source.migrateOut(spec.name, target, options({ stallTimeoutMs: 2000 }), hooks().hooks);
      assert.equal(report.outcome, Phase.failed);
      assert.equal(report.failure?.code, MigrationFailureCode.destinationUnreachable, report.failure?.message);
      await assertRunsOnSource(source, spec.name, report);
    });

    contractCase("poweredOff", async (env) => {
      const { source, destination, spec } = env;
      await source.create(spec);
      const target = await prepare(destination, spec, "contract-off");
      const report = await source.migrateOut(spec.name, target, options(), hooks().hooks);
      assert.equal(report.outcome, Phase.failed);
      assert.equal(report.failure?.code, MigrationFailureCode.vmNotRunning, report.failure?.message);
      assert.equal(report.runningOn, (await source.facts()).name);
      const vm = await source.get(spec.name);
      assert.deepEqual({ power: vm?.power, migratingOut: vm?.migratingOut }, { power: PowerStatus.off, migratingOut: undefined });
      await destination.abortIncoming(target.migrationId);
      await eventually("the destination shell is destroyed", async () => (await destination.get(spec.name)) === undefined);
      assert.equal((await source.get(spec.name))?.power, PowerStatus.off, "still off after the destination gave up");
    });

    contractCase("prepareAbort", async (env) => {
      const { destination, spec } = env;
      const before = await destination.list();
      const free = (await destination.facts()).freeMemoryMB;
      const target = await prepare(destination, spec, "contract-prepare-abort");
      assert.ok((await destination.facts()).freeMemoryMB <= free - spec.memoryMB, "the shell holds its memory");
      await destination.abortIncoming(target.migrationId);
      await eventually("the shell is gone", async () => (await destination.list()).length === before.length);
      assert.deepEqual(await destination.list(), before);
      assert.equal((await destination.facts()).freeMemoryMB, free);
      assert.equal(await destination.incomingState(target.migrationId), IncomingState.aborted);
    });

    contractCase("busy", async (env) => {
      const { source, destination, spec } = env;
      const conflict = (e: unknown): boolean => isFerryError(e) && e.code === "CONFLICT";
      const target = await prepare(destination, spec, "contract-busy");
      await assert.rejects(prepare(destination, { ...spec, name: `${spec.name}-other` }, "contract-busy"), conflict, "one migration id is prepared once");
      await assert.rejects(destination.powerOn(spec.name), conflict, "a shell is not powered on");
      await assert.rejects(destination.powerOff(spec.name), conflict, "a shell is not powered off");
      await assert.rejects(destination.destroy(spec.name), conflict, "a shell is not destroyed (abortIncoming ends it)");
      await running(env, source, spec);
      const out = await destination.migrateOut(spec.name, { ...target, migrationId: "contract-busy-out" }, options(), hooks().hooks);
      assert.deepEqual({ outcome: out.outcome, code: out.failure?.code, phase: out.failure?.phase }, { outcome: Phase.failed, code: MigrationFailureCode.vmNotRunning, phase: Phase.preparing });
      await assert.rejects(source.settle(spec.name, "contract-busy", IncomingState.running), conflict, "no paused copy waits for that migration here");
      assert.equal((await source.get(spec.name))?.power, PowerStatus.running, "a refused settle leaves the VM as it was");
      await destination.abortIncoming(target.migrationId);
      await eventually("the shell is gone", async () => (await destination.get(spec.name)) === undefined);
    });

    contractCase("usage", usageCase);
  });
}

/** The usage case: an idle and a busy guest side by side, measured until the driver tells them apart. */
async function usageCase(env: ContractEnvironment): Promise<void> {
  const { source, spec } = env;
  const idle: VmSpec = { ...spec, workload: undefined };
  const busy: VmSpec = {
    ...spec,
    name: `${spec.name}-busy`,
    nics: spec.nics.map((n, i) => ({ ...n, mac: `00:50:56:00:0f:${(16 + i).toString(16)}`, ip: undefined })),
    workload: { kind: "steady", dirtyRateBytesPerSec: 32 * MiB, workingSetBytes: Math.min(16 * MiB, (spec.memoryMB * MiB) / 2), seed: 5 },
  };
  await source.create(idle);
  const host = (await source.facts()).name;
  const off = await source.usage();
  assert.equal(off.host, host);
  assert.deepEqual(off.vms, [], "a powered-off VM uses nothing");
  assert.ok(off.capacity.cpuMhz > 0 && off.capacity.memoryMB > 0, JSON.stringify(off.capacity));
  await source.powerOn(idle.name);
  await running(env, source, busy, true);
  await env.booted?.(source, idle.name);
  // CPU is a rate between calls: ask until both are measured over a window and the busy one shows.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const sample = await source.usage();
    const [i, b] = [idle.name, busy.name].map((name) => sample.vms.find((v) => v.vm === name));
    assert.ok(i !== undefined && b !== undefined, `both running VMs are listed: ${JSON.stringify(sample.vms)}`);
    for (const vm of [i, b]) {
      assert.ok(Number.isFinite(vm.cpuMhz) && vm.cpuMhz >= 0 && vm.cpuMhz <= sample.capacity.cpuMhz, `${vm.vm} CPU ${vm.cpuMhz} MHz`);
      assert.ok(Number.isFinite(vm.memoryMB) && vm.memoryMB >= 0 && vm.memoryMB <= sample.capacity.memoryMB, `${vm.vm} memory ${vm.memoryMB} MB`);
    }
    assert.ok(Math.abs(sample.cpuMhz - (i.cpuMhz + b.cpuMhz)) < 0.5 && Math.abs(sample.memoryMB - (i.memoryMB + b.memoryMB)) < 0.5, `host totals ${sample.cpuMhz} MHz, ${sample.memoryMB} MB are the VMs' sums`);
    if (b.cpuMhz > i.cpuMhz) break;
    if (Date.now() > deadline) assert.fail(`within 30 s the busy guest never used more CPU than the idle one (busy ${b.cpuMhz} MHz, idle ${i.cpuMhz} MHz)`);
    await systemClock.sleep(250);
  }
  await source.powerOff(busy.name);
  assert.deepEqual((await source.usage()).vms.map((v) => v.vm), [idle.name], "powered off, the busy VM is no longer listed");
}

function options(overrides: Partial<MigrateOptions> = {}): MigrateOptions {
  return { ...DEFAULT_MIGRATE_OPTIONS, stallTimeoutMs: 5000, ...overrides };
}

function hooks(signal: AbortSignal = new AbortController().signal, onEvent?: (p: SourceProgress) => void): { hooks: MigrationHooks; events: SourceProgress[] } {
  const events: SourceProgress[] = [];
  return {
    events,
    hooks: {
      signal,
      clock: systemClock,
      onProgress: (p) => {
        events.push(p);
        onEvent?.(p);
      },
    },
  };
}

/** Creates and powers on `spec`; `booted`: also waits for its guest to boot (the cases whose migration completes). */
async function running(env: ContractEnvironment, driver: HypervisorDriver, spec: VmSpec, booted = false): Promise<void> {
  await driver.create(spec);
  await driver.powerOn(spec.name);
  if (booted) await env.booted?.(driver, spec.name);
}

async function listenHost(driver: HypervisorDriver): Promise<string> {
  return (await driver.facts()).vmotionIp ?? "127.0.0.1";
}

async function prepare(destination: HypervisorDriver, spec: VmSpec, migrationId: string): Promise<IncomingMigration> {
  return destination.prepareIncoming(spec, { migrationId, listenHost: await listenHost(destination) });
}

function assertCompleted(report: MigrationReport): void {
  assert.equal(report.outcome, Phase.completed, `${report.failure?.code ?? ""}: ${report.failure?.message ?? ""}`);
  assert.equal(report.failure, undefined);
  assert.ok(report.downtimeMs >= 0 && report.totalMs >= report.downtimeMs);
}

async function assertRunsOnSource(source: HypervisorDriver, name: string, report: MigrationReport): Promise<void> {
  assert.equal(report.runningOn, (await source.facts()).name);
  const vm = await source.get(name);
  assert.equal(vm?.power, PowerStatus.running, "the VM runs on the source again");
  assert.equal(vm.migratingOut, undefined);
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await systemClock.sleep(20);
  }
}
