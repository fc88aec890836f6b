// The sim's pre-copy under faults, the commit window and its settlement, convergence, and the
// link's shares. Faults are the table's parameter (STYLE.md lesson 11): each row says what
// breaks, and the code and phase the report must carry; every row ends with the VM running
// on the source with its memory and state intact, and the destination clean.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { afterEach, describe, test } from "node:test";
import { isFerryError } from "../../core/errors.ts";
import {
  DEFAULT_MIGRATE_OPTIONS,
  MigrationFailureCode,
  Phase,
  type MigrateOptions,
  type MigrationReport,
} from "../../core/migration/types.ts";
import type { SourceProgress } from "../../core/migration/progress.ts";
import { systemClock } from "../clock.ts";
import { IncomingState, PowerStatus, type VmSpec } from "../driver.ts";
import { createSimDriver, type SimDriver } from "./driver.ts";
import type { SimFaults } from "./faults.ts";
import { HostLink } from "./link.ts";
import { FrameDecoder, type Frame } from "./protocol.ts";
import { simHost, smallSpec } from "./testing.ts";

const MiB = 1024 * 1024;

let open: SimDriver[] = [];
afterEach(async () => {
  await Promise.all(open.map((d) => d.close()));
  open = [];
});

function pair(): { source: SimDriver; destination: SimDriver } {
  const source = createSimDriver({ host: simHost("esx01", "127.0.1.1"), clock: systemClock });
  const destination = createSimDriver({ host: simHost("esx02", "127.0.1.2"), clock: systemClock });
  open.push(source, destination);
  return { source, destination };
}

interface Run {
  readonly report: MigrationReport;
  readonly events: SourceProgress[];
  readonly migrationId: string;
}

async function migrate(
  source: SimDriver,
  destination: SimDriver,
  spec: VmSpec,
  options: Partial<MigrateOptions> = {},
  onEvent?: (p: SourceProgress, controller: AbortController) => void,
): Promise<Run> {
  const migrationId = `m-${Math.random().toString(36).slice(2)}`;
  const target = await destination.prepareIncoming(spec, { migrationId, listenHost: "127.0.1.2" });
  const controller = new AbortController();
  const events: SourceProgress[] = [];
  const report = await source.migrateOut(spec.name, target, { ...DEFAULT_MIGRATE_OPTIONS, stallTimeoutMs: 2000, ...options }, {
    signal: controller.signal,
    clock: systemClock,
    onProgress: (p) => {
      events.push(p);
      onEvent?.(p, controller);
    },
  });
  return { report, events, migrationId };
}

async function boot(driver: SimDriver, spec: VmSpec): Promise<void> {
  await driver.create(spec);
  await driver.powerOn(spec.name);
}

async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await systemClock.sleep(20);
  }
}

interface FaultCase {
  readonly name: string;
  readonly sourceFaults?: SimFaults;
  readonly destinationFaults?: SimFaults;
  readonly options?: Partial<MigrateOptions>;
  /** Something done when a progress event of this phase arrives. */
  readonly during?: { readonly phase: Phase; readonly act: (ctx: { destination: SimDriver; controller: AbortController }) => void };
  readonly code: MigrationFailureCode;
  readonly phase: Phase;
}

const faultCases: readonly FaultCase[] = [
  { name: "the source's side of the stream is cut in pre-copy", sourceFaults: { cutStreamAfterBytes: MiB }, code: MigrationFailureCode.streamBroken, phase: Phase.precopy },
  { name: "the destination's side of the stream is cut in pre-copy", destinationFaults: { cutStreamAfterBytes: MiB }, code: MigrationFailureCode.streamBroken, phase: Phase.precopy },
  { name: "the destination stops reading: the stall watchdog fires", destinationFaults: { stallAfterBytes: MiB }, options: { stallTimeoutMs: 1000 }, code: MigrationFailureCode.stalled, phase: Phase.precopy },
  { name: "the destination never answers READY", destinationFaults: { delayBeforeReadyMs: 5000 }, options: { stallTimeoutMs: 1000 }, code: MigrationFailureCode.stalled, phase: Phase.switchover },
  { name: "the destination's copy does not match", destinationFaults: { corruptMemory: true }, code: MigrationFailureCode.checksumMismatch, phase: Phase.switchover },
  {
    name: "the destination goes away in pre-copy",
    options: { bandwidthLimitBytesPerSec: 16 * MiB },
    during: { phase: Phase.precopy, act: ({ destination }) => void destination.close() },
    code: MigrationFailureCode.streamBroken,
    phase: Phase.precopy,
  },
  {
    name: "the destination goes away in switchover, before COMMIT",
    destinationFaults: { delayBeforeReadyMs: 500 },
    during: { phase: Phase.switchover, act: ({ destination }) => void destination.close() },
    code: MigrationFailureCode.streamBroken,
    phase: Phase.switchover,
  },
  {
    name: "an abort in switchover, before COMMIT",
    destinationFaults: { delayBeforeReadyMs: 500 },
    during: { phase: Phase.switchover, act: ({ controller }) => { controller.abort(new Error("operator")); } },
    code: MigrationFailureCode.aborted,
    phase: Phase.switchover,
  },
];

describe("sim pre-copy under faults", () => {
  for (const c of faultCases) {
    test(`${c.name} → ${c.code} in ${c.phase}; the VM runs on the source, intact`, async () => {
      const { source, destination } = pair();
      const spec = smallSpec("web01", { touchedBytes: 32 * MiB });
      await boot(source, spec);
      const before = source.vm(spec.name)?.digest();
      source.setFaults(c.sourceFaults ?? {});
      destination.setFaults(c.destinationFaults ?? {});
      let acted = false;
      const { report, migrationId } = await migrate(source, destination, spec, c.options, (p, controller) => {
        if (c.during !== undefined && !acted && p.phase === c.during.phase) {
          acted = true;
          c.during.act({ destination, controller });
        }
      });
      assert.equal(report.failure?.code, c.code, report.failure?.message);
      assert.equal(report.failure.phase, c.phase);
      assert.equal(report.outcome, c.code === MigrationFailureCode.aborted ? Phase.cancelled : Phase.failed);
      assert.equal(report.runningOn, "esx01");
      const vm = await source.get(spec.name);
      assert.equal(vm?.power, PowerStatus.running);
      assert.equal(vm.migratingOut, undefined);
      assert.equal(vm.stateDigest, before, "memory and device state untouched");
      await eventually("the destination holds no shell", async () => (await destination.get(spec.name)) === undefined);
      const state = await destination.incomingState(migrationId);
      assert.ok(state === IncomingState.failed || state === IncomingState.aborted || state === IncomingState.unknown, state);
    });
  }
});

describe("the destination's listener", () => {
  // In clear (encryption disabled) the protocol itself answers; over TLS (stream-tls.test.ts) the handshake drops such a client first.
  test("garbage on a clear VMotion port is refused and does not disturb the migration", async () => {
    const { source, destination } = pair();
    const spec = smallSpec("web01");
    await boot(source, spec);
    const target = await destination.prepareIncoming(spec, { migrationId: "g-1", listenHost: "127.0.1.2", encryption: "disabled" });
    const answer = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      const socket = connect({ host: target.host, port: target.port }, () => socket.write("GET / HTTP/1.1\r\nHost: esx02\r\n\r\n"));
      socket.on("data", (c: Buffer) => chunks.push(c));
      socket.on("close", () => {
        resolve(Buffer.concat(chunks));
      });
    });
    const frames: Frame[] = [];
    new FrameDecoder().push(answer, { frame: (f) => frames.push(f), pageData: () => undefined });
    assert.deepEqual(
      frames.map((f) => (f.type === "error" ? f.code : f.type)),
      [MigrationFailureCode.protocolError],
    );
    assert.equal(await destination.incomingState("g-1"), IncomingState.waiting);
    const report = await source.migrateOut(spec.name, target, { ...DEFAULT_MIGRATE_OPTIONS, vmotionEncryption: "disabled" }, { signal: new AbortController().signal, clock: systemClock, onProgress: () => undefined });
    assert.equal(report.outcome, Phase.completed, report.failure?.message);
  });

  test("a shell of another size refuses the stream; both ends clean up", async () => {
    const { source, destination } = pair();
    await boot(source, smallSpec("web01"));
    const target = await destination.prepareIncoming(smallSpec("web01", { memoryMB: 64 }), { migrationId: "s-1", listenHost: "127.0.1.2" });
    const report = await source.migrateOut("web01", target, DEFAULT_MIGRATE_OPTIONS, { signal: new AbortController().signal, clock: systemClock, onProgress: () => undefined });
    assert.equal(report.failure?.code, MigrationFailureCode.rejectedByDestination);
    assert.equal((await source.get("web01"))?.power, PowerStatus.running);
    await eventually("the shell is gone", async () => (await destination.get("web01")) === undefined);
    assert.equal(await destination.incomingState("s-1"), IncomingState.failed);
  });
});

describe("the commit window: COMMIT sent, RUNNING lost", () => {
  test("the destination resumed: the report is uncertain, the VM waits paused, settle releases the source copy", async () => {
    const { source, destination } = pair();
    const spec = smallSpec("web01");
    await boot(source, spec);
    const before = source.vm(spec.name)?.digest();
    destination.setFaults({ dropAfterCommit: "running" });
    const { report, migrationId } = await migrate(source, destination, spec);
    assert.equal(report.outcome, Phase.failed);
    assert.equal(report.failure?.code, MigrationFailureCode.destinationLost);
    assert.match(report.failure.message, /uncertain/);
    assert.equal(report.runningOn, "");
    // Never on two hosts: paused here, running there.
    assert.equal((await source.get(spec.name))?.power, PowerStatus.paused);
    assert.equal((await source.get(spec.name))?.migratingOut, migrationId);
    const there = await destination.get(spec.name);
    assert.equal(there?.power, PowerStatus.running);
    assert.equal(there.stateDigest, before);
    const state = await destination.incomingState(migrationId);
    assert.equal(state, IncomingState.running);
    await assert.rejects(source.settle(spec.name, migrationId, IncomingState.verified), (e: unknown) => isFerryError(e) && e.code === "CONFLICT" && e.retryable);
    assert.equal(await source.settle(spec.name, migrationId, state), "destination");
    assert.equal(await source.get(spec.name), undefined);
    assert.equal(await source.settle(spec.name, migrationId, state), "destination", "settling twice answers the same");
  });

  test("the destination did not resume: settle resumes the source copy", async () => {
    const { source, destination } = pair();
    const spec = smallSpec("web01", { workload: { kind: "steady", dirtyRateBytesPerSec: 2 * MiB, workingSetBytes: 2 * MiB, seed: 3 } });
    await boot(source, spec);
    destination.setFaults({ dropAfterCommit: "not-running" });
    const { report, migrationId } = await migrate(source, destination, spec);
    assert.equal(report.failure?.code, MigrationFailureCode.destinationLost);
    assert.equal((await source.get(spec.name))?.power, PowerStatus.paused);
    await eventually("the destination dropped its shell", async () => (await destination.get(spec.name)) === undefined);
    const state = await destination.incomingState(migrationId);
    assert.equal(state, IncomingState.failed);
    assert.equal(await source.settle(spec.name, migrationId, state), "source");
    const vm = await source.get(spec.name);
    assert.equal(vm?.power, PowerStatus.running);
    assert.equal(vm.migratingOut, undefined);
    // The guest picks up where it paused.
    const writes = source.vm(spec.name)?.workload.state().writes ?? 0;
    await eventually("the guest runs again", () => (source.vm(spec.name)?.workload.state().writes ?? 0) > writes);
  });

  test("the watchdog fires after COMMIT: still uncertain, never resumed blindly", async () => {
    const { source, destination } = pair();
    const spec = smallSpec("web01");
    await boot(source, spec);
    destination.setFaults({ holdAfterCommitMs: 5000 });
    const { report, migrationId } = await migrate(source, destination, spec, { stallTimeoutMs: 1000 });
    assert.equal(report.failure?.code, MigrationFailureCode.destinationLost);
    assert.match(report.failure.message, /STALLED|no progress/);
    assert.equal((await source.get(spec.name))?.power, PowerStatus.paused);
    assert.equal(await source.settle(spec.name, migrationId, await destination.incomingState(migrationId)), "destination");
    assert.equal((await destination.get(spec.name))?.power, PowerStatus.running);
  });

  test("settle refuses a migration that is not waiting for it", async () => {
    const { source } = pair();
    await boot(source, smallSpec("web01"));
    await assert.rejects(source.settle("web01", "no-such-migration", IncomingState.running), (e: unknown) => isFerryError(e) && e.code === "CONFLICT");
    assert.equal((await source.get("web01"))?.power, PowerStatus.running);
  });
});

describe("sim pre-copy: state and convergence", () => {
  test("a busy guest arrives verified and keeps running from where it paused", async () => {
    const { source, destination } = pair();
    const spec = smallSpec("db01", { touchedBytes: 16 * MiB, workload: { kind: "bursty", dirtyRateBytesPerSec: 8 * MiB, workingSetBytes: 4 * MiB, seed: 9 } });
    await boot(source, spec);
    const { report, events } = await migrate(source, destination, spec, { bandwidthLimitBytesPerSec: 64 * MiB });
    assert.equal(report.outcome, Phase.completed, report.failure?.message);
    assert.ok(report.verified);
    assert.ok(report.passes >= 1 && report.pagesSent >= (16 * MiB) / 4096);
    const vm = destination.vm(spec.name);
    assert.equal(vm?.power, PowerStatus.running);
    const writes = vm.workload.state().writes;
    assert.ok(writes > 0, "the destination continues the guest's writes, not a fresh start");
    await eventually("the guest writes on the destination", () => vm.workload.state().writes > writes);
    const precopy = events.filter((e) => e.phase === Phase.precopy);
    assert.ok(precopy.some((e) => e.linkRateBytesPerSec > 0));
    assert.ok(events.every((e) => e.fraction === undefined || (e.fraction >= 0 && e.fraction <= 1)));
  });

  // The link is 8 MiB/s; the guest sweeps a 1 MiB working set at 16 MiB/s (twice the link).
  const hot: VmSpec = smallSpec("hot01", { touchedBytes: 2 * MiB, workload: { kind: "hot", dirtyRateBytesPerSec: 16 * MiB, workingSetBytes: MiB, seed: 5 } });
  const tight: Partial<MigrateOptions> = { bandwidthLimitBytesPerSec: 8 * MiB, downtimeLimitMs: 30, maxPasses: 3 };

  test("a hot guest without auto-converge fails NOT_CONVERGING, and stays on the source", async () => {
    const { source, destination } = pair();
    await boot(source, hot);
    const { report } = await migrate(source, destination, hot, { ...tight, autoConverge: false });
    assert.equal(report.failure?.code, MigrationFailureCode.notConverging, report.failure?.message);
    assert.match(report.failure.message, /^not converging: dirty rate \d+ Mb\/s [<>≈] link rate \d+ Mb\/s/);
    assert.equal(report.passes, 3);
    assert.equal((await source.get(hot.name))?.power, PowerStatus.running);
    assert.equal(source.vm(hot.name)?.workload.throttlePercent, 0);
    await eventually("the destination holds no shell", async () => (await destination.get(hot.name)) === undefined);
  });

  test("a hot guest with auto-converge is throttled until it converges", async () => {
    const { source, destination } = pair();
    await boot(source, hot);
    const { report, events } = await migrate(source, destination, hot, { ...tight, autoConverge: true });
    assert.equal(report.outcome, Phase.completed, report.failure?.message);
    assert.ok(report.throttlePercentMax >= 20, `throttled to ${report.throttlePercentMax}%`);
    assert.ok(events.some((e) => e.throttlePercent > 0));
    assert.equal(destination.vm(hot.name)?.workload.throttlePercent, 0, "the throttle ends with the migration");
  });
});

describe("the VMotion link's shares", () => {
  test("one flow gets its own cap; unlimited flows stay unlimited", () => {
    const link = new HostLink(systemClock);
    const a = link.open("high", 8 * MiB);
    assert.equal(a.rate(), 8 * MiB);
    a.close();
    assert.equal(link.open("low", undefined).rate(), undefined);
  });

  test("competing flows share by priority, high 3 : low 1", () => {
    const link = new HostLink(systemClock);
    const high = link.open("high", 8 * MiB);
    const low = link.open("low", 8 * MiB);
    assert.equal(high.rate(), 6 * MiB);
    assert.equal(low.rate(), 2 * MiB);
    const high2 = link.open("high", 8 * MiB);
    assert.equal(high.rate(), (8 * MiB * 3) / 7);
    high2.close();
    low.close();
    assert.equal(high.rate(), 8 * MiB);
  });

  test("a host link's capacity is shared the same way", () => {
    const link = new HostLink(systemClock, 100 * MiB);
    const high = link.open("high", undefined);
    const low = link.open("low", 10 * MiB);
    assert.equal(high.rate(), 75 * MiB);
    assert.equal(low.rate(), 10 * MiB);
  });
});

describe("sim driver basics", () => {
  test("free memory counts running VMs and shells; a VM that does not fit does not power on", async () => {
    const driver = createSimDriver({ host: simHost("esx09", "127.0.1.9", 100), clock: systemClock });
    open.push(driver);
    assert.equal((await driver.facts()).freeMemoryMB, 100);
    await boot(driver, smallSpec("a", { memoryMB: 64 }));
    assert.equal((await driver.facts()).freeMemoryMB, 36);
    await driver.create(smallSpec("b", { memoryMB: 64 }));
    await assert.rejects(driver.powerOn("b"), (e: unknown) => isFerryError(e) && e.code === "REFUSED");
    await assert.rejects(
      driver.prepareIncoming(smallSpec("c", { memoryMB: 40 }), { migrationId: "x", listenHost: "127.0.1.9" }),
      (e: unknown) => isFerryError(e) && e.failureCode === "DESTINATION_OUT_OF_MEMORY",
    );
    const target = await driver.prepareIncoming(smallSpec("c", { memoryMB: 32 }), { migrationId: "y", listenHost: "127.0.1.9" });
    assert.equal((await driver.facts()).freeMemoryMB, 4);
    await assert.rejects(driver.destroy("c"), (e: unknown) => isFerryError(e) && e.code === "CONFLICT");
    await driver.abortIncoming(target.migrationId);
    assert.equal((await driver.facts()).freeMemoryMB, 36);
  });

  test("the failPrepare rule refuses as out of memory", async () => {
    const driver = createSimDriver({ host: simHost("esx09", "127.0.1.9"), clock: systemClock, faults: { failPrepare: "out-of-memory" } });
    open.push(driver);
    await assert.rejects(
      driver.prepareIncoming(smallSpec("c"), { migrationId: "x", listenHost: "127.0.1.9" }),
      (e: unknown) => isFerryError(e) && e.failureCode === "DESTINATION_OUT_OF_MEMORY",
    );
    driver.setFaults({});
    await driver.prepareIncoming(smallSpec("c"), { migrationId: "x", listenHost: "127.0.1.9" });
  });

  test("migrateOut never rejects: an unknown or stopped VM is a failed report", async () => {
    const { source, destination } = pair();
    const target = await destination.prepareIncoming(smallSpec("ghost"), { migrationId: "g", listenHost: "127.0.1.2" });
    const hooks = { signal: new AbortController().signal, clock: systemClock, onProgress: () => undefined };
    const missing = await source.migrateOut("ghost", target, DEFAULT_MIGRATE_OPTIONS, hooks);
    assert.equal(missing.failure?.code, MigrationFailureCode.vmNotFound);
    await source.create(smallSpec("ghost"));
    const off = await source.migrateOut("ghost", target, DEFAULT_MIGRATE_OPTIONS, hooks);
    assert.equal(off.failure?.code, MigrationFailureCode.vmNotRunning);
  });
});
