// Cold migration on real QEMU (TCG): a powered-off VM that boots through the firmware from its
// own disk, a raw image on a datastore both hosts mount (the test guest's boot.iso made
// hybrid, so SeaBIOS boots it as a disk). Two qemu drivers behind real agent apps (in-process,
// no socket), the VM's ownership record on the shared datastore as the controller places it.
// coldMigrate moves it: no QEMU starts anywhere during the move, the disk file is the same file
// (inode, bytes), the record names the destination; the source, given the VM again, cannot
// power it on; the destination powers it on and the guest boots from that disk. A destination
// that does not mount the datastore, or whose datastore of that name is other storage (it cannot
// see the record), refuses, and the VM stays on its source as it was.
// Fails, saying what to install, without QEMU, the guest, xorriso or isolinux's isohdpfx.bin.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createAgent } from "../../src/agent/app.ts";
import { createAgentClient, type AgentClient } from "../../src/agent/client.ts";
import { ErrorCode, FerryError, isFerryError } from "../../src/core/errors.ts";
import { MigrationFailureCode, Phase } from "../../src/core/migration/types.ts";
import type { LedgerRef } from "../../src/core/ownership.ts";
import { systemClock } from "../../src/drivers/clock.ts";
import { PowerStatus, type VmSpec } from "../../src/drivers/driver.ts";
import { createQemuDriver, type QemuDriver } from "../../src/drivers/qemu/driver.ts";
import { requireQemu } from "../../src/drivers/qemu/testing/requirements.ts";
import { simHost } from "../../src/drivers/sim/testing.ts";
import type { GuestImages } from "../../src/lab/guest.ts";
import { coldMigrate } from "../../src/engine/cold.ts";
import { agentRuns, type OwnershipPlan } from "../../src/engine/fence.ts";
import { datastoreLedger } from "../../src/host/ownership/datastore-ledger.ts";

const MiB = 1024 * 1024;
const TOKEN = "cold-migration-token-5d1e";
const ISOHYBRID_MBR = "/usr/lib/ISOLINUX/isohdpfx.bin";
const hosts = { esx01: "127.0.1.61", esx02: "127.0.1.62", esx03: "127.0.1.63", esx04: "127.0.1.64" } as const;
type HostName = keyof typeof hosts;
/** Bytes written past the boot image, read back after the move and the boot: the same disk. */
const MARKER = Buffer.from("ferry cold migration: the same disk\n");
const MARKER_AT = 12 * MiB;

interface Host {
  readonly driver: QemuDriver;
  readonly client: AgentClient;
  readonly runDir: string;
}

interface Lab {
  readonly shared: string;
  readonly dirs: readonly string[];
  readonly hosts: ReadonlyMap<HostName, Host>;
}

let lab: Lab | undefined;

function mustLab(): Lab {
  if (lab === undefined) throw new Error("the lab did not come up (see the first failure)");
  return lab;
}

function host(name: HostName): Host {
  const h = mustLab().hosts.get(name);
  if (h === undefined) throw new Error(`no host ${name}`);
  return h;
}

const ledgerRef: LedgerRef = { kind: "datastore", datastore: "shared01", datastoreName: "shared01" };

function plan(): OwnershipPlan {
  return { ledger: ledgerRef, runsOn: (name, vm) => agentRuns(host(name as HostName).client, vm) };
}

/** The test guest's boot.iso rebuilt as an isohybrid image: SeaBIOS boots it from a disk. */
function bootableDisk(iso: string, work: string, out: string): void {
  for (const [tool, why] of [["xorriso", "apt-get install -y xorriso"], ["osirrox", "apt-get install -y xorriso"]] as const) {
    try {
      execFileSync(tool, ["-version"], { stdio: "ignore" });
    } catch {
      throw new Error(`${tool} is missing: ${why} (scripts/build-guest.sh needs it too)`);
    }
  }
  if (!existsSync(ISOHYBRID_MBR)) throw new Error(`${ISOHYBRID_MBR} is missing: apt-get install -y isolinux`);
  const tree = join(work, "iso");
  execFileSync("osirrox", ["-indev", iso, "-extract", "/", tree], { stdio: "ignore" });
  execFileSync("chmod", ["-R", "u+w", tree]);
  execFileSync("xorriso", ["-as", "mkisofs", "-quiet", "-o", out, "-V", "FERRY_GUEST", "-J", "-r", "-isohybrid-mbr", ISOHYBRID_MBR, "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table", tree], { stdio: "ignore" });
}

function startHost(name: HostName, images: GuestImages, runDir: string, datastorePath: (ds: string) => string | undefined): Host {
  const driver = createQemuDriver({ host: simHost(name, hosts[name], 1024), boot: { kernel: images.kernel, initrd: images.initrd, prefixLength: 16 }, pollMs: 100, runDir, datastorePath });
  const agent = createAgent({
    driver,
    token: TOKEN,
    clock: systemClock,
    hostName: name,
    vmotionIp: hosts[name],
    ledgerFor: (ref) => {
      const path = ref.kind === "datastore" ? datastorePath(ref.datastoreName) : undefined;
      if (ref.kind !== "datastore" || path === undefined) throw new FerryError(ErrorCode.refused, `${name} does not mount datastore ${ref.kind === "datastore" ? ref.datastoreName : "(controller)"}, where the VM's ownership record is kept`);
      return datastoreLedger(path, ref.datastoreName);
    },
  });
  const client = createAgentClient({ baseUrl: `http://${name}.test`, token: TOKEN, name, fetch: (input, init) => Promise.resolve(agent.app.request(input, init)) });
  return { driver, client, runDir };
}

async function markerOf(file: string): Promise<Buffer> {
  const handle = await open(file, "r");
  try {
    const buffer = Buffer.alloc(MARKER.length);
    await handle.read(buffer, 0, MARKER.length, MARKER_AT);
    return buffer;
  } finally {
    await handle.close();
  }
}

async function serialOf(h: Host, vm: string): Promise<string> {
  const logs = (await readdir(h.runDir)).filter((f) => f.startsWith(`${vm}-run-`) && f.endsWith(".serial"));
  const texts = await Promise.all(logs.map((f) => readFile(join(h.runDir, f), "utf8")));
  return texts.join("");
}

async function registered(client: AgentClient, vm: string): Promise<PowerStatus | "absent"> {
  try {
    return (await client.getVm(vm)).power;
  } catch (error) {
    if (isFerryError(error) && error.code === ErrorCode.notFound) return "absent";
    throw error;
  }
}

describe("cold migration of a powered-off disk VM between two qemu hosts", { timeout: 480_000 }, () => {
  const spec: VmSpec = { name: "cold41", memoryMB: 128, vcpus: 1, nics: [], boot: "disk", disks: [{ name: "disk0", datastore: "shared01", path: "cold41/disk0.raw", format: "raw" }] };

  before(async () => {
    const images = requireQemu();
    const shared = await mkdtemp(join(tmpdir(), "ferry-cold-shared01-"));
    const work = await mkdtemp(join(tmpdir(), "ferry-cold-work-"));
    const runs = await Promise.all((["esx01", "esx02", "esx03", "esx04"] as const).map(async (n) => [n, await mkdtemp(join(tmpdir(), `ferry-cold-run-${n}-`))] as const));
    // esx04 has a datastore named shared01 too, but it is other storage (not really shared).
    const impostor = await mkdtemp(join(tmpdir(), "ferry-cold-not-shared01-"));
    lab = { shared, dirs: [shared, impostor, work, ...runs.map(([, d]) => d)], hosts: new Map() };
    const disk = join(shared, "cold41", "disk0.raw");
    await mkdir(dirname(disk), { recursive: true });
    bootableDisk(join(dirname(images.kernel), "boot.iso"), work, disk);
    await truncate(disk, 16 * MiB);
    const handle = await open(disk, "r+");
    await handle.write(MARKER, 0, MARKER.length, MARKER_AT);
    await handle.close();
    const hostsMap = new Map<HostName, Host>();
    for (const [name, runDir] of runs) {
      // esx01 and esx02 mount shared01 at one directory; esx03 does not mount it; esx04's is another.
      hostsMap.set(name, startHost(name, images, runDir, (ds) => (ds !== "shared01" || name === "esx03" ? undefined : name === "esx04" ? impostor : shared)));
    }
    lab = { ...lab, hosts: hostsMap };
  });

  after(async () => {
    await Promise.all([...(lab?.hosts.values() ?? [])].map((h) => h.driver.close()));
    await Promise.all((lab?.dirs ?? []).map((d) => rm(d, { recursive: true, force: true })));
  });

  test("a destination that does not mount the datastore, or mounts other storage by that name, refuses; cold41 stays registered on esx01, off, its record and disk untouched", async () => {
    const disk = join(mustLab().shared, "cold41", "disk0.raw");
    const before = await stat(disk);
    await host("esx01").client.createVm(spec);
    const report = await coldMigrate({ migrationId: "cold-41a", vm: spec, source: host("esx01").client, destination: host("esx03").client, ownership: plan(), signal: new AbortController().signal, onProgress: () => undefined, clock: systemClock });
    assert.equal(report.outcome, Phase.failed);
    assert.equal(report.failure?.code, MigrationFailureCode.rejectedByDestination, report.failure?.message);
    assert.match(report.failure.message, /esx03 does not mount datastore shared01/);
    assert.equal(report.runningOn, "esx01");
    assert.equal(await registered(host("esx01").client, "cold41"), PowerStatus.off);
    assert.equal(await registered(host("esx03").client, "cold41"), "absent");
    const record = await host("esx01").client.readOwnership("cold41", ledgerRef);
    assert.deepEqual({ owner: record.owner, generation: record.generation }, { owner: "esx01", generation: 1 });

    // A "shared01" on esx04 that is other storage: it does not see the record, so it cannot take it.
    const other = await coldMigrate({ migrationId: "cold-41c", vm: spec, source: host("esx01").client, destination: host("esx04").client, ownership: plan(), signal: new AbortController().signal, onProgress: () => undefined, clock: systemClock });
    assert.deepEqual({ outcome: other.outcome, code: other.failure?.code, runningOn: other.runningOn }, { outcome: Phase.failed, code: MigrationFailureCode.rejectedByDestination, runningOn: "esx01" });
    assert.match(other.failure?.message ?? "", /esx04 finds no ownership record of cold41 on datastore shared01, so it cannot take over generation 1/);
    assert.equal(await registered(host("esx04").client, "cold41"), "absent");
    assert.equal(await registered(host("esx01").client, "cold41"), PowerStatus.off);

    const after = await stat(disk);
    assert.deepEqual({ ino: after.ino, size: after.size, mtimeMs: after.mtimeMs }, { ino: before.ino, size: before.size, mtimeMs: before.mtimeMs });
  });

  test("moved cold: registered off on esx02, gone from esx01, no QEMU started, the same disk file; esx01 cannot power it on again; esx02 boots it from that disk", async () => {
    const { shared } = mustLab();
    const disk = join(shared, "cold41", "disk0.raw");
    const before = await stat(disk);
    assert.equal(await registered(host("esx01").client, "cold41"), PowerStatus.off, "left by the previous test, registered and off on esx01");

    const report = await coldMigrate({ migrationId: "cold-41b", vm: spec, source: host("esx01").client, destination: host("esx02").client, ownership: plan(), signal: new AbortController().signal, onProgress: () => undefined, clock: systemClock });
    assert.equal(report.outcome, Phase.completed, report.failure?.message);
    assert.equal(report.runningOn, "esx02");
    assert.equal(await registered(host("esx02").client, "cold41"), PowerStatus.off, "it stays powered off");
    assert.equal(await registered(host("esx01").client, "cold41"), "absent");
    for (const name of ["esx01", "esx02"] as const) assert.deepEqual(host(name).driver.pids(), [], `no QEMU on ${name}: nothing ran during the move`);
    // Never copied, created or deleted: the one file, its bytes, nothing beside it.
    const moved = await stat(disk);
    assert.deepEqual({ ino: moved.ino, size: moved.size, mtimeMs: moved.mtimeMs }, { ino: before.ino, size: before.size, mtimeMs: before.mtimeMs });
    assert.deepEqual(await readdir(join(shared, "cold41")), ["disk0.raw"]);
    const record = await host("esx02").client.readOwnership("cold41", ledgerRef);
    assert.deepEqual({ owner: record.owner, generation: record.generation, migrationId: record.migrationId }, { owner: "esx02", generation: 2, migrationId: "cold-41b" });

    // esx01 given the VM again (a stale registration, by hand): its power-on is refused by the record.
    await host("esx01").client.createVm(spec);
    await assert.rejects(host("esx01").client.powerOn("cold41"), (e: unknown) => isFerryError(e) && e.code === ErrorCode.conflict && /cannot power on cold41 on esx01: esx02 holds cold41 \(generation 2, taken by migration cold-41b\) on datastore shared01/.test(e.message));
    assert.deepEqual(host("esx01").driver.pids(), [], "no QEMU started on esx01");
    await host("esx01").client.destroyVm("cold41");
    assert.ok(existsSync(disk), "removing the stale registration keeps the disk");

    // Powered on at the destination, the guest boots from the same disk.
    assert.equal((await host("esx02").client.powerOn("cold41")).power, PowerStatus.running);
    assert.deepEqual((await host("esx02").driver.blockDevices("cold41")).map((d) => ({ device: d.device, file: d.file, format: d.format, readOnly: d.readOnly })), [{ device: "disk0", file: disk, format: "raw", readOnly: false }]);
    const started = Date.now();
    while (!(await serialOf(host("esx02"), "cold41")).includes("ferry-guest: ready") && Date.now() - started < 300_000) await systemClock.sleep(250);
    assert.match(await serialOf(host("esx02"), "cold41"), /ferry-guest: ready/, "the guest booted through SeaBIOS from disk0");
    console.log(`# cold41 booted from its disk on esx02 in ${Date.now() - started} ms after power on`);
    await host("esx02").client.powerOff("cold41");
    assert.deepEqual(await markerOf(disk), MARKER, "the bytes written before the move are on the disk it booted from");
    await host("esx02").client.destroyVm("cold41", { removeDisks: true });
    assert.equal(existsSync(disk), false);
  });
});
