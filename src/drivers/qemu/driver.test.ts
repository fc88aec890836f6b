// The qemu driver's own cases beyond the shared contract, against real QEMU and the test guest:
// a destination that rejects the stream says why (trap 2), a stream that stops moving is
// cancelled by the watchdog (trap 4), and a completed report carries QEMU's own times (trap 6).
// Each leaves the VM running on the source where it should. Fails, saying what to install, when
// QEMU or the guest is missing; every QEMU is ended by the drivers' close, pass or fail.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createConnection, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { isFerryError } from "../../core/errors.ts";
import { DEFAULT_MIGRATE_OPTIONS, MigrationFailureCode, Phase } from "../../core/migration/types.ts";
import type { SourceProgress } from "../../core/migration/progress.ts";
import { systemClock } from "../clock.ts";
import { IncomingState, PowerStatus, type IncomingMigration, type MigrationHooks, type VmSpec } from "../driver.ts";
import { simHost } from "../sim/testing.ts";
import { probeDirectIo } from "./disks.ts";
import { createQemuDriver, probeAccelerator, type QemuDriver, type QemuDriverOptions, type VmExit } from "./driver.ts";
import { guestBooted } from "./testing/guest-console.ts";
import { imageInfo, requireQemuImg } from "./testing/images.ts";

import { QEMU_BINARY, requireQemu } from "./testing/requirements.ts";

const spec: VmSpec = { name: "db01", memoryMB: 128, vcpus: 1, nics: [], workload: undefined };

interface Pair {
  readonly source: QemuDriver;
  readonly destination: QemuDriver;
  /** The source's QMP sockets and consoles. */
  readonly runDir: string;
}

async function withPair(body: (pair: Pair) => Promise<void>): Promise<void> {
  const images = requireQemu();
  const drivers: QemuDriver[] = [];
  const runDir = await mkdtemp(join(tmpdir(), "ferry-pair-"));
  const make = (name: string, ip: string, peer: () => QemuDriver | undefined): QemuDriver =>
    createQemuDriver({
      host: simHost(name, ip, 1024),
      ...(name === "esx01" ? { runDir } : {}),
      boot: { kernel: images.kernel, initrd: images.initrd, prefixLength: 16 },
      pollMs: 100,
      destinationReason: (target) => Promise.resolve(peer()?.incomingFailure(target.migrationId)),
      destinationState: async (target) => (await peer()?.incomingState(target.migrationId)) ?? IncomingState.unknown,
    });
  const source = make("esx01", "127.0.1.1", () => drivers[1]);
  const destination = make("esx02", "127.0.1.2", () => drivers[0]);
  drivers.push(source, destination);
  try {
    await body({ source, destination, runDir });
  } finally {
    await Promise.all(drivers.map((d) => d.close()));
    await rm(runDir, { recursive: true, force: true });
  }
}

function hooks(events: SourceProgress[] = []): MigrationHooks {
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
    // A relay that forwards the first 2 MiB and then stops reading: the stream neither ends nor
    // moves. The destination's answers go back (the TLS handshake of an encrypted stream needs them).
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
      outbound.on("data", (chunk: Buffer) => inbound.write(chunk));
      inbound.on("error", () => undefined);
      outbound.on("error", () => undefined);
    });
    // On the destination's VMotion IP: an encrypted stream's certificate names that address.
    await new Promise<void>((resolve) => relay.listen(0, target.host, resolve));
    const address = relay.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    try {
      const relayed: IncomingMigration = { ...target, port };
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
  await withPair(async ({ source, destination, runDir }) => {
    await source.create(spec);
    await source.powerOn(spec.name);
    await guestBooted(runDir, spec.name);
    const [pid] = source.pids();
    assert.ok(pid !== undefined);
    // The VM's own QEMU says its version (the engine passes it to the destination): here the installed binary's.
    const installed = /version (\d+\.\d+\.\d+)/.exec(execFileSync(QEMU_BINARY, ["--version"], { encoding: "utf8" }))?.[1];
    assert.equal((await source.get(spec.name))?.hypervisorVersion, installed);
    const target = await destination.prepareIncoming(spec, { migrationId: "times", listenHost: "127.0.1.2" });
    const events: SourceProgress[] = [];
    const report = await source.migrateOut(spec.name, target, DEFAULT_MIGRATE_OPTIONS, hooks(events));
    assert.equal(report.outcome, Phase.completed, report.failure?.message);
    assert.ok(report.totalMs > 0 && report.downtimeMs > 0 && report.bytesSent > 0, JSON.stringify(report));
    // QEMU's page counts: what the guest touched went whole, the rest as zero-page markers.
    assert.ok(report.pagesSent > 0 && report.zeroPages > 0 && (report.pagesSent + report.zeroPages) * 4096 >= spec.memoryMB * 1048576, JSON.stringify(report));
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

// The probe's own 3 s timeout ends it; the test's 30 s limit (not a wall-time assert, which a
// busy machine breaks) catches a probe that would not end.
test("probeAccelerator answers kvm only when a KVM guest really boots, else tcg, within its timeout", { timeout: 30_000 }, async () => {
  const images = requireQemu();
  const accelerator = await probeAccelerator({ boot: { kernel: images.kernel, initrd: images.initrd, prefixLength: 16 }, timeoutMs: 3000 });
  assert.ok((["kvm", "tcg"] as string[]).includes(accelerator), accelerator);
});

test("listeningPort reads the port QEMU chose from query-migrate's socket-address, and nothing else", async () => {
  const { listeningPort } = await import("./driver.ts");
  assert.equal(listeningPort({ status: "setup", "socket-address": [{ type: "inet", host: "198.19.0.2", port: "36351" }] }), 36351);
  assert.equal(listeningPort({ status: "setup" }), undefined);
  assert.equal(listeningPort({ "socket-address": [{ type: "inet", host: "x", port: "0" }] }), undefined);
  assert.equal(listeningPort(null), undefined);
});

interface Datastore {
  readonly driver: QemuDriver;
  /** The mount path of datastore "shared01". */
  readonly dir: string;
}

/** One driver whose host has datastore "shared01" in a fresh temporary directory (ext4 here: O_DIRECT works). */
async function withDatastore(body: (ds: Datastore) => Promise<void>, options: Partial<QemuDriverOptions> = {}): Promise<void> {
  const images = requireQemu();
  requireQemuImg();
  const dir = await mkdtemp(join(tmpdir(), "ferry-ds-"));
  const driver = createQemuDriver({
    host: simHost("esx01", "127.0.1.1", 1024),
    boot: { kernel: images.kernel, initrd: images.initrd, prefixLength: 16 },
    datastorePath: (name) => (name === "shared01" ? dir : undefined),
    ...options,
  });
  try {
    await body({ driver, dir });
  } finally {
    await driver.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const diskVm = (disks: NonNullable<VmSpec["disks"]>, extra: Partial<VmSpec> = {}): VmSpec => ({ ...spec, name: "disk01", disks, ...extra });

test("create makes a missing disk file with qemu-img in its format and size; destroy keeps it unless asked, and never deletes an ISO", { timeout: 30_000 }, async () => {
  await withDatastore(async ({ driver, dir }) => {
    await mkdir(join(dir, "iso"));
    await writeFile(join(dir, "iso", "tools.iso"), "not really an ISO");
    const vm = diskVm(
      [
        { name: "disk0", datastore: "shared01", path: "disk01/disk0.qcow2", format: "qcow2", sizeMB: 64 },
        { name: "disk1", datastore: "shared01", path: "disk01/disk1.raw", format: "raw", sizeMB: 8 },
      ],
      { cdroms: [{ name: "cd0", backing: "file", datastore: "shared01", path: "iso/tools.iso", connected: true }] },
    );
    await driver.create(vm);
    assert.deepEqual(await imageInfo(join(dir, "disk01", "disk0.qcow2")), { format: "qcow2", virtualSize: 64 * 1024 * 1024 });
    assert.deepEqual(await imageInfo(join(dir, "disk01", "disk1.raw")), { format: "raw", virtualSize: 8 * 1024 * 1024 });
    await driver.destroy(vm.name);
    assert.ok(existsSync(join(dir, "disk01", "disk0.qcow2")), "by default the disks stay");
    // The files exist now: a second create uses them (no size needed) and removes them on request.
    await driver.create({ ...vm, disks: vm.disks?.map((d) => ({ ...d, sizeMB: undefined })) });
    await driver.destroy(vm.name, { removeDisks: true });
    assert.equal(existsSync(join(dir, "disk01", "disk0.qcow2")), false);
    assert.equal(existsSync(join(dir, "disk01", "disk1.raw")), false);
    assert.ok(existsSync(join(dir, "iso", "tools.iso")), "an ISO is never deleted");
  });
});

const createRefusals: readonly { readonly what: string; readonly disk: NonNullable<VmSpec["disks"]>[number]; readonly message: RegExp; readonly before?: (dir: string) => Promise<void> }[] = [
  { what: "a datastore this host does not have", disk: { name: "disk0", datastore: "nfs09", path: "disk01/a.qcow2", format: "qcow2", sizeMB: 8 }, message: /esx01 does not have datastore "nfs09", which holds disk disk0 of disk01 \(disk01\/a\.qcow2\)/ },
  { what: "a path that climbs out of the datastore", disk: { name: "disk0", datastore: "shared01", path: "disk01/../../etc/a.qcow2", format: "qcow2", sizeMB: 8 }, message: /must be relative to its datastore, without "\.\."/ },
  { what: "an absolute path", disk: { name: "disk0", datastore: "shared01", path: "/etc/a.qcow2", format: "qcow2", sizeMB: 8 }, message: /must be relative to its datastore/ },
  { what: "a missing disk without a size", disk: { name: "disk0", datastore: "shared01", path: "disk01/a.qcow2", format: "qcow2" }, message: /disk01\/a\.qcow2 does not exist on datastore "shared01" of esx01, and without sizeMB/ },
  {
    what: "a qcow2 image declared raw",
    disk: { name: "disk0", datastore: "shared01", path: "disk01/a.img", format: "raw" },
    message: /disk01\/a\.img on datastore "shared01" is a qcow2 image, not raw/,
    before: async (dir) => {
      await mkdir(join(dir, "disk01"));
      const { runTool } = await import("./testing/images.ts");
      assert.ok((await runTool("qemu-img", ["create", "-q", "-f", "qcow2", join(dir, "disk01", "a.img"), "8M"])).ok);
    },
  },
];
for (const { what, disk, message, before } of createRefusals) {
  test(`create refuses ${what} with INVALID_INPUT, creating nothing`, { timeout: 30_000 }, async () => {
    await withDatastore(async ({ driver, dir }) => {
      await before?.(dir);
      await assert.rejects(driver.create(diskVm([disk])), (e: unknown) => isFerryError(e) && e.code === "INVALID_INPUT" && message.test(e.message));
      assert.equal(await driver.get("disk01"), undefined);
      assert.equal(existsSync(join(dir, "disk01", "a.qcow2")), false);
    });
  });
}

test("a running VM's drives as QEMU shows them: the disk writable with O_DIRECT, the ISO read-only, the empty drive empty", { timeout: 30_000 }, async () => {
  await withDatastore(async ({ driver, dir }) => {
    assert.equal(await probeDirectIo(dir), true, "ext4 takes O_DIRECT");
    await writeFile(join(dir, "tools.iso"), Buffer.alloc(64 * 1024));
    await driver.create(diskVm([{ name: "disk0", datastore: "shared01", path: "disk01/disk0.qcow2", format: "qcow2", sizeMB: 16 }], {
      cdroms: [
        { name: "cd0", backing: "file", datastore: "shared01", path: "tools.iso", connected: true },
        // Disconnected: its datastore need not be on this host.
        { name: "cd1", backing: "file", datastore: "nfs09", path: "x.iso", connected: false },
      ],
    }));
    await driver.powerOn("disk01");
    assert.equal(await driver.runState("disk01"), "running");
    const devices = await driver.blockDevices("disk01");
    assert.deepEqual(devices, [
      { device: "disk0", file: join(dir, "disk01", "disk0.qcow2"), format: "qcow2", readOnly: false, directIo: true },
      { device: "cd0", file: join(dir, "tools.iso"), format: "raw", readOnly: true, directIo: false },
      { device: "cd1", file: undefined, format: undefined, readOnly: false, directIo: undefined },
    ]);
    assert.deepEqual(driver.storageWarnings(), []);
  });
});

test("a datastore without O_DIRECT: its disks run with cache.direct=off and the driver warns once, saying when that is safe", { timeout: 30_000 }, async () => {
  const warned: string[] = [];
  await withDatastore(
    async ({ driver }) => {
      for (const name of ["disk01", "disk02"]) {
        await driver.create({ ...diskVm([{ name: "disk0", datastore: "shared01", path: `${name}.raw`, format: "raw", sizeMB: 8 }]), name });
        await driver.powerOn(name);
        const [disk] = await driver.blockDevices(name);
        assert.equal(disk?.directIo, false);
      }
      assert.equal(warned.length, 1, "one warning per datastore path");
      assert.deepEqual(driver.storageWarnings(), warned);
      assert.match(warned[0] ?? "", /datastore "shared01" on esx01 \(.*\) does not take O_DIRECT: .*cache\.direct=off, safe for migration only between hosts that share one page cache/);
    },
    { probeDirectIo: () => Promise.resolve(false), onStorageWarning: (w) => warned.push(w) },
  );
});

test("power on refuses a disk file that is gone, naming the VM, the file and the datastore; the VM stays off", { timeout: 30_000 }, async () => {
  await withDatastore(async ({ driver, dir }) => {
    await driver.create(diskVm([{ name: "disk0", datastore: "shared01", path: "disk0.qcow2", format: "qcow2", sizeMB: 8 }]));
    await rm(join(dir, "disk0.qcow2"));
    await assert.rejects(driver.powerOn("disk01"), (e: unknown) => isFerryError(e) && e.code === "INVALID_INPUT" && /disk disk0 of disk01: disk0\.qcow2 is not a file on datastore "shared01" of esx01/.test(e.message));
    assert.equal((await driver.get("disk01"))?.power, PowerStatus.off);
    assert.deepEqual(driver.pids(), []);
  });
});

test("a QEMU that ends by itself: the VM is off, and onVmExit says how, with the guest console's last lines", { timeout: 120_000 }, async () => {
  const images = requireQemu();
  const runDir = await mkdtemp(join(tmpdir(), "ferry-exit-"));
  let exited: (exit: VmExit) => void = () => undefined;
  const reported = new Promise<VmExit>((resolve) => (exited = resolve));
  const driver = createQemuDriver({ host: simHost("esx01", "127.0.1.1", 1024), boot: { kernel: images.kernel, initrd: images.initrd, prefixLength: 16 }, runDir, onVmExit: (exit) => { exited(exit); } });
  try {
    await driver.create(spec);
    await driver.powerOn(spec.name);
    // Killed once the guest has said it is ready, so its console has lines to carry.
    await guestBooted(runDir, spec.name);
    const [pid] = driver.pids();
    assert.ok(pid !== undefined);
    process.kill(pid, "SIGKILL");
    const exit = await reported;
    assert.deepEqual({ vm: exit.vm, code: exit.code, signal: exit.signal }, { vm: spec.name, code: null, signal: "SIGKILL" });
    assert.match(exit.console, /ferry-guest: ready/);
    assert.equal((await driver.get(spec.name))?.power, PowerStatus.off);
    assert.deepEqual(driver.pids(), []);
  } finally {
    await driver.close();
    await rm(runDir, { recursive: true, force: true });
  }
});
