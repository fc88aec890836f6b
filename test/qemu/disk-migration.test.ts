// A VM with a virtio disk on a shared datastore, moved live by the qemu driver from esx01 to
// esx02 and back: both QEMUs open the one image file (cache.direct=on), the destination takes
// the image's write lock only when it activates at the end of the stream, after the source let
// go at switchover (QEMU's image locking, left on). Checked from outside the guest: QMP
// query-block on the destination, qemu-img's view of the lock, the source QEMU gone, and the
// bytes written into the image before the first move still there after the second. A VM whose
// disk is on a datastore the destination does not have is refused by prepareIncoming with the
// file named, and keeps running on its source. A VM that boots through the firmware from the
// test guest's boot.iso (scripts/build-guest.sh) on the shared datastore prints its ready line
// and moves too, CD-ROM and all.
// The built-in kernel-boot guest (no NIC, loopback 127.0.1.x as the VMotion IPs, like
// src/drivers/qemu/driver.test.ts). Fails, saying what to install, without QEMU, the guest or
// qemu-utils.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { isFerryError } from "../../src/core/errors.ts";
import { DEFAULT_MIGRATE_OPTIONS, Phase } from "../../src/core/migration/types.ts";
import { systemClock } from "../../src/drivers/clock.ts";
import { IncomingState, PowerStatus, type MigrationHooks, type VmSpec } from "../../src/drivers/driver.ts";
import { printVmExit } from "../../src/drivers/qemu/testing/exits.ts";
import { guestBooted } from "../../src/drivers/qemu/testing/guest-console.ts";
import { createQemuDriver, type QemuDriver } from "../../src/drivers/qemu/driver.ts";
import { heldForWriting, qemuIo, requireQemuImg } from "../../src/drivers/qemu/testing/images.ts";
import { requireQemu } from "../../src/drivers/qemu/testing/requirements.ts";
import { parseGuestReady } from "../../src/lab/guest.ts";
import { simHost } from "../../src/drivers/sim/testing.ts";

const MiB = 1024 * 1024;
const hosts = { esx01: "127.0.1.1", esx02: "127.0.1.2" } as const;
type HostName = keyof typeof hosts;

interface Lab {
  /** Datastore "shared01", mounted by both hosts at the same directory. */
  readonly shared: string;
  /** Datastore "local01", on esx01 only. */
  readonly local: string;
  /** esx01's QMP sockets and serial logs. */
  readonly runDir: string;
  /** The test guest's bootable CD image. */
  readonly iso: string;
  readonly drivers: Map<HostName, QemuDriver>;
}

let lab: Lab | undefined;

function mustLab(): Lab {
  if (lab === undefined) throw new Error("the lab did not come up (see the first failure)");
  return lab;
}

function driver(name: HostName): QemuDriver {
  const d = mustLab().drivers.get(name);
  if (d === undefined) throw new Error(`no driver ${name}`);
  return d;
}

const hooks = (): MigrationHooks => ({ signal: new AbortController().signal, clock: systemClock, onProgress: () => undefined });

const guest: VmSpec = {
  name: "disk31",
  memoryMB: 128,
  vcpus: 1,
  nics: [],
  workload: undefined,
  disks: [{ name: "disk0", datastore: "shared01", path: "disk31/disk0.qcow2", format: "qcow2", sizeMB: 64 }],
};

let sequence = 0;

async function move(spec: VmSpec, from: HostName, to: HostName): Promise<{ readonly sourcePid: number }> {
  const [sourcePid] = driver(from).pids();
  assert.ok(sourcePid !== undefined, `${spec.name} has a QEMU on ${from}`);
  const migrationId = `disk-${++sequence}`;
  const target = await driver(to).prepareIncoming(spec, { migrationId, listenHost: hosts[to] });
  // Waiting in `-incoming defer`, the destination has the image open, inactive: the source
  // still holds it for writing, and runs.
  assert.equal(await driver(to).runState(spec.name), "inmigrate");
  assert.equal(await driver(from).runState(spec.name), "running");
  const started = Date.now();
  const report = await driver(from).migrateOut(spec.name, target, { ...DEFAULT_MIGRATE_OPTIONS, autoConverge: false }, hooks());
  assert.equal(report.outcome, Phase.completed, `${from} -> ${to}: ${report.failure?.message ?? ""}`);
  assert.equal(await driver(to).incomingState(migrationId), IncomingState.running);
  console.log(`# ${spec.name} ${from} -> ${to} with its disk: QEMU total ${report.totalMs} ms, downtime ${report.downtimeMs} ms, ${(report.bytesSent / MiB).toFixed(1)} MiB; migrateOut took ${Date.now() - started} ms`);
  return { sourcePid };
}

/** The destination runs the VM with the shared image open writable; the source QEMU is gone. */
async function runsOnlyOn(spec: VmSpec, host: HostName, other: HostName, sourcePid: number): Promise<void> {
  const file = join(mustLab().shared, "disk31", "disk0.qcow2");
  assert.equal(await driver(host).runState(spec.name), "running");
  assert.deepEqual(await driver(host).blockDevices(spec.name), [{ device: "disk0", file, format: "qcow2", readOnly: false, directIo: true }]);
  assert.equal(await driver(other).get(spec.name), undefined, `${spec.name} is gone from ${other}`);
  assert.deepEqual(driver(other).pids(), [], `${other} runs no QEMU`);
  assert.equal(existsSync(`/proc/${sourcePid}`), false, `the source QEMU (PID ${sourcePid}) has exited and been reaped`);
  // The only process left that opens the image is the destination's QEMU, and it writes.
  assert.equal(await heldForWriting(file), true, `${host}'s QEMU holds ${file} for writing`);
}

describe("a VM with a disk on a shared datastore, moved live between two qemu drivers", { timeout: 120_000 }, () => {
  before(async () => {
    const images = requireQemu();
    requireQemuImg();
    const shared = await mkdtemp(join(tmpdir(), "ferry-shared01-"));
    const local = await mkdtemp(join(tmpdir(), "ferry-local01-"));
    const runDir = await mkdtemp(join(tmpdir(), "ferry-run-esx01-"));
    const drivers = new Map<HostName, QemuDriver>();
    const peer = (ip: string): QemuDriver | undefined => drivers.get(ip === hosts.esx01 ? "esx01" : "esx02");
    for (const name of ["esx01", "esx02"] as const) {
      drivers.set(
        name,
        createQemuDriver({
          host: simHost(name, hosts[name], 1024),
          boot: { kernel: images.kernel, initrd: images.initrd, prefixLength: 16 },
          pollMs: 100,
          onVmExit: (exit) => {
          printVmExit(name, exit);
        },
          ...(name === "esx01" ? { runDir } : {}),
          // Both hosts mount shared01 at one directory; only esx01 has local01.
          datastorePath: (datastore) => (datastore === "shared01" ? shared : datastore === "local01" && name === "esx01" ? local : undefined),
          destinationName: (target) => (target.host === hosts.esx01 ? "esx01" : "esx02"),
          destinationReason: (target) => Promise.resolve(peer(target.host)?.incomingFailure(target.migrationId)),
          destinationState: async (target) => (await peer(target.host)?.incomingState(target.migrationId)) ?? IncomingState.unknown,
        }),
      );
    }
    lab = { shared, local, runDir, drivers, iso: join(dirname(images.kernel), "boot.iso") };
  });

  after(async () => {
    await Promise.all([...(lab?.drivers.values() ?? [])].map((d) => d.close()));
    if (lab !== undefined) await Promise.all([lab.shared, lab.local, lab.runDir].map((dir) => rm(dir, { recursive: true, force: true })));
  });

  test("esx01 -> esx02 -> esx01: one image file, writable on the destination, released by the source, its bytes intact", async () => {
    const file = join(mustLab().shared, "disk31", "disk0.qcow2");
    await driver("esx01").create(guest);
    // Bytes written before the VM runs, read back after both moves, with qcow2's own check.
    assert.ok((await qemuIo(file, "qcow2", "write -P 0x5a 0 1M")).ok);
    await driver("esx01").powerOn(guest.name);
    assert.equal(await heldForWriting(file), true, "esx01's QEMU holds the image for writing");
    await guestBooted(mustLab().runDir, guest.name);

    const there = await move(guest, "esx01", "esx02");
    await runsOnlyOn(guest, "esx02", "esx01", there.sourcePid);
    const back = await move(guest, "esx02", "esx01");
    await runsOnlyOn(guest, "esx01", "esx02", back.sourcePid);

    await driver("esx01").powerOff(guest.name);
    assert.equal(await heldForWriting(file), false, "powered off, nobody holds the image");
    const read = await qemuIo(file, "qcow2", "read -P 0x5a 0 1M", true);
    assert.ok(read.ok && !/Pattern verification failed/.test(read.output), read.output);
    const { runTool } = await import("../../src/drivers/qemu/testing/images.ts");
    const check = await runTool("qemu-img", ["check", file]);
    assert.ok(check.ok && /No errors were found/.test(check.output), check.output);
    await driver("esx01").destroy(guest.name, { removeDisks: true });
    assert.equal(existsSync(file), false, "removeDisks deleted the image");
  });

  test("a disk on a datastore the destination does not have: prepareIncoming refuses naming the file, the VM runs on its source", async () => {
    const local: VmSpec = { ...guest, name: "local32", disks: [{ name: "disk0", datastore: "local01", path: "local32.raw", format: "raw", sizeMB: 16 }] };
    await driver("esx01").create(local);
    await driver("esx01").powerOn(local.name);
    try {
      await assert.rejects(
        driver("esx02").prepareIncoming(local, { migrationId: "disk-local", listenHost: hosts.esx02 }),
        (e: unknown) => isFerryError(e) && e.code === "INVALID_INPUT" && /esx02 does not have datastore "local01", which holds disk disk0 of local32 \(local32\.raw\)/.test(e.message),
      );
      assert.equal(await driver("esx02").get(local.name), undefined);
      assert.deepEqual(driver("esx02").pids(), []);
      assert.equal(await driver("esx02").incomingState("disk-local"), IncomingState.unknown, "no incoming migration was registered");
      assert.equal((await driver("esx01").get(local.name))?.power, PowerStatus.running);
      assert.equal(await driver("esx01").runState(local.name), "running");
    } finally {
      await driver("esx01").destroy(local.name, { removeDisks: true });
    }
  });

  test("a VM booted by SeaBIOS from boot.iso on the shared datastore runs, prints its ready line, and moves with its CD-ROM and disk", async () => {
    const { shared, iso, runDir } = mustLab();
    assert.ok(existsSync(iso), `${iso} is missing: run \`bash scripts/build-guest.sh\``);
    await mkdir(join(shared, "iso"));
    await copyFile(iso, join(shared, "iso", "boot.iso"));
    const installer: VmSpec = {
      name: "iso33",
      memoryMB: 256,
      vcpus: 1,
      nics: [],
      boot: "cdrom",
      // An installer's blank disk: SeaBIOS tries the CD-ROM first (bootindex 1), the disk after.
      disks: [{ name: "disk0", datastore: "shared01", path: "iso33/disk0.qcow2", format: "qcow2", sizeMB: 32 }],
      cdroms: [{ name: "cd0", backing: "file", datastore: "shared01", path: "iso/boot.iso", connected: true }],
    };
    await driver("esx01").create(installer);
    await driver("esx01").powerOn(installer.name);
    try {
      assert.equal(await driver("esx01").runState(installer.name), "running");
      // The serial log of esx01's QEMU; the guest has no NIC, so no DHCP lease: "ready ip=none".
      const serial = async (): Promise<string> => {
        const log = (await readdir(runDir)).find((f) => f.startsWith(`${installer.name}-run-`) && f.endsWith(".serial"));
        return log === undefined ? "" : readFile(join(runDir, log), "utf8");
      };
      const started = Date.now();
      while (!(await serial()).includes("ferry-guest: ready") && Date.now() - started < 90_000) await systemClock.sleep(250);
      assert.match(await serial(), /ferry-guest: ready/, "the guest booted from the ISO through the firmware");
      console.log(`# ${installer.name}: SeaBIOS -> isolinux -> ready in ${Date.now() - started} ms after power on`);
      // Ferry gave it no kernel command line (no ferry.ip=) and it has no NIC for a lease.
      assert.equal(parseGuestReady(await serial())?.ip, null);

      const { sourcePid } = await move(installer, "esx01", "esx02");
      assert.equal(await driver("esx02").runState(installer.name), "running");
      assert.deepEqual(await driver("esx02").blockDevices(installer.name), [
        { device: "disk0", file: join(shared, "iso33", "disk0.qcow2"), format: "qcow2", readOnly: false, directIo: true },
        { device: "cd0", file: join(shared, "iso", "boot.iso"), format: "raw", readOnly: true, directIo: false },
      ]);
      assert.equal(existsSync(`/proc/${sourcePid}`), false, "the source QEMU has exited");
    } finally {
      for (const host of ["esx01", "esx02"] as const) if ((await driver(host).get(installer.name)) !== undefined) await driver(host).destroy(installer.name, { removeDisks: true });
    }
  });
});
