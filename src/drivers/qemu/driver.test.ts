// The qemu driver's own cases beyond the shared contract, against real QEMU and the test guest:
// a destination that rejects the stream says why (trap 2), a stream that stops moving is
// cancelled by the watchdog (trap 4), and a completed report carries QEMU's own times (trap 6).
// Each leaves the VM running on the source where it should. Fails, saying what to install, when
// QEMU or the guest is missing; every QEMU is ended by the drivers' close, pass or fail.
import assert from "node:assert/strict";
import { createConnection, createServer, type Socket } from "node:net";
import { test } from "node:test";
import { DEFAULT_MIGRATE_OPTIONS, MigrationFailureCode, Phase, type MigrationProgress } from "../../core/migration/types.ts";
import { systemClock } from "../clock.ts";
import { IncomingState, PowerStatus, type IncomingMigration, type MigrationHooks, type VmSpec } from "../driver.ts";
import { simHost } from "../sim/testing.ts";
import { createQemuDriver, probeAccelerator, type QemuDriver } from "./driver.ts";

import { requireQemu } from "./testing/requirements.ts";

const spec: VmSpec = { name: "db01", memoryMB: 128, vcpus: 1, nics: [], workload: undefined };

interface Pair {
  readonly source: QemuDriver;
  readonly destination: QemuDriver;
}

async function withPair(body: (pair: Pair) => Promise<void>): Promise<void> {
  const images = requireQemu();
  const drivers: QemuDriver[] = [];
  const make = (name: string, ip: string, peer: () => QemuDriver | undefined): QemuDriver =>
    createQemuDriver({
      host: simHost(name, ip, 1024),
      boot: { kernel: images.kernel, initrd: images.initrd, prefixLength: 16 },
      pollMs: 100,
      destinationReason: (target) => Promise.resolve(peer()?.incomingFailure(target.migrationId)),
      destinationState: async (target) => (await peer()?.incomingState(target.migrationId)) ?? IncomingState.unknown,
    });
  const source = make("esx01", "127.0.1.1", () => drivers[1]);
  const destination = make("esx02", "127.0.1.2", () => drivers[0]);
  drivers.push(source, destination);
  try {
    await body({ source, destination });
  } finally {
    await Promise.all(drivers.map((d) => d.close()));
  }
}

function hooks(events: MigrationProgress[] = []): MigrationHooks {
  return { signal: new AbortController().signal, clock: systemClock, onProgress: (p) => events.push(p) };
}

test("a destination built with other RAM rejects the stream: REJECTED_BY_DESTINATION with QEMU's reason, the VM runs on the source", { timeout: 30_000 }, async () => {
  await withPair(async ({ source, destination }) => {
    await source.create(spec);
    await source.powerOn(spec.name);
    const target = await destination.prepareIncoming({ ...spec, memoryMB: 192 }, { migrationId: "reject", listenHost: "127.0.1.2" });
    const report = await source.migrateOut(spec.name, target, DEFAULT_MIGRATE_OPTIONS, hooks());
    assert.equal(report.outcome, Phase.failed);
    assert.equal(report.failure?.code, MigrationFailureCode.rejectedByDestination, report.failure?.message);
    assert.match(report.failure.message, /pc\.ram/, report.failure.message);
    assert.equal(report.runningOn, "esx01");
    assert.equal((await source.get(spec.name))?.power, PowerStatus.running);
    // The destination QEMU prints its reason, then exits (trap 3): on a busy machine the
    // source may have its report a moment before that exit is reaped.
    const deadline = Date.now() + 10_000;
    while ((await destination.incomingState("reject")) !== IncomingState.failed && Date.now() < deadline) await systemClock.sleep(50);
    assert.equal(await destination.incomingState("reject"), IncomingState.failed);
    assert.equal(await destination.get(spec.name), undefined, "the failed destination's QEMU exited by itself (trap 3)");
    assert.deepEqual(destination.pids(), []);
  });
});

test("a stream that stops moving is cancelled by the watchdog: STALLED, the VM runs on the source", { timeout: 30_000 }, async () => {
  await withPair(async ({ source, destination }) => {
    await source.create({ ...spec, workload: { kind: "steady", dirtyRateBytesPerSec: 8 * 1024 * 1024, workingSetBytes: 16 * 1024 * 1024, seed: 1 } });
    await source.powerOn(spec.name);
    const target = await destination.prepareIncoming(spec, { migrationId: "stall", listenHost: "127.0.1.2" });
    // A relay that forwards the first 2 MiB and then stops reading: the stream neither ends nor moves.
    const sockets: Socket[] = [];
    let forwarded = 0;
    const relay = createServer((inbound) => {
      const outbound = createConnection({ host: target.host, port: target.port });
      sockets.push(inbound, outbound);
      inbound.on("data", (chunk: Buffer) => {
        forwarded += chunk.length;
        outbound.write(chunk);
        if (forwarded > 2 * 1024 * 1024) inbound.pause();
      });
      inbound.on("error", () => undefined);
      outbound.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => relay.listen(0, "127.0.1.3", resolve));
    const address = relay.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    try {
      const relayed: IncomingMigration = { ...target, host: "127.0.1.3", port };
      const report = await source.migrateOut(spec.name, relayed, { ...DEFAULT_MIGRATE_OPTIONS, autoConverge: false, bandwidthLimitBytesPerSec: 16 * 1024 * 1024, stallTimeoutMs: 1500 }, hooks());
      assert.equal(report.outcome, Phase.failed, JSON.stringify(report));
      assert.equal(report.failure?.code, MigrationFailureCode.stalled, report.failure?.message);
      assert.equal(report.runningOn, "esx01");
      assert.equal((await source.get(spec.name))?.power, PowerStatus.running);
      await destination.abortIncoming("stall");
      assert.equal(await destination.incomingState("stall"), IncomingState.aborted);
      assert.deepEqual(destination.pids(), []);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => {
        relay.close(() => {
          resolve();
        });
      });
    }
  });
});

test("a completed migration reports QEMU's total time and downtime, and the destination runs the VM", { timeout: 30_000 }, async () => {
  await withPair(async ({ source, destination }) => {
    await source.create(spec);
    await source.powerOn(spec.name);
    const [pid] = source.pids();
    assert.ok(pid !== undefined);
    const target = await destination.prepareIncoming(spec, { migrationId: "times", listenHost: "127.0.1.2" });
    const events: MigrationProgress[] = [];
    const report = await source.migrateOut(spec.name, target, DEFAULT_MIGRATE_OPTIONS, hooks(events));
    assert.equal(report.outcome, Phase.completed, report.failure?.message);
    assert.ok(report.totalMs > 0 && report.downtimeMs > 0 && report.bytesSent > 0, JSON.stringify(report));
    assert.deepEqual(source.pids(), [], "the source QEMU was ended (trap 10)");
    assert.equal(await destination.incomingState("times"), IncomingState.running);
    assert.equal((await destination.get(spec.name))?.power, PowerStatus.running);
    await assert.rejects(source.settle(spec.name, "times", IncomingState.running), /no paused copy/, "a confirmed migration leaves nothing to settle");
    // Back again: the destination's VM is an ordinary VM now.
    const back = await source.prepareIncoming(spec, { migrationId: "times-back", listenHost: "127.0.1.1" });
    const home = await destination.migrateOut(spec.name, back, DEFAULT_MIGRATE_OPTIONS, hooks());
    assert.equal(home.outcome, Phase.completed, home.failure?.message);
    assert.equal((await source.get(spec.name))?.power, PowerStatus.running);
    assert.equal(await destination.get(spec.name), undefined);
  });
});

test("probeAccelerator answers kvm only when a KVM guest really boots, else tcg, within its timeout", { timeout: 30_000 }, async () => {
  const images = requireQemu();
  const started = Date.now();
  const accelerator = await probeAccelerator({ boot: { kernel: images.kernel, initrd: images.initrd, prefixLength: 16 }, timeoutMs: 3000 });
  assert.ok((["kvm", "tcg"] as string[]).includes(accelerator), accelerator);
  assert.ok(Date.now() - started < 20_000, "the probe ends with its timeout");
});

test("listeningPort reads the port QEMU chose from query-migrate's socket-address, and nothing else", async () => {
  const { listeningPort } = await import("./driver.ts");
  assert.equal(listeningPort({ status: "setup", "socket-address": [{ type: "inet", host: "198.19.0.2", port: "36351" }] }), 36351);
  assert.equal(listeningPort({ status: "setup" }), undefined);
  assert.equal(listeningPort({ "socket-address": [{ type: "inet", host: "x", port: "0" }] }), undefined);
  assert.equal(listeningPort(null), undefined);
});
