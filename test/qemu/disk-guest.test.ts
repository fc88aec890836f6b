// Ferry's second test guest on real QEMU (TCG): a VM that boots through firmware like any VM a
// user brings. SeaBIOS boots boot.iso from an IDE CD; isolinux starts Debian's bzImage; the init
// takes its address from the lab's DHCP server (a static lease for its MAC) and serves the echo
// service and the records service, which appends numbered, checksummed records to its virtio
// disk and acknowledges each only once it is flushed. A client in another namespace on the same
// L2 segment collects the acks; QEMU is quit mid-stream (a power-off) and every acknowledged
// record must be on the disk image; booted again on the same disk, the log continues after the
// last acknowledged record, written by a new boot.
// Needs root, QEMU and the built guest: without them it FAILS saying what to install.
import assert from "node:assert/strict";
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, constants, existsSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { after, before, describe, test, type TestContext } from "node:test";
import { systemClock } from "../../src/drivers/clock.ts";
import { connectQmp } from "../../src/drivers/qemu/qmp.ts";
import { QEMU_BINARY, requireQemu, requireRoot } from "../../src/drivers/qemu/testing/requirements.ts";
import { startDhcpServer, udhcpdConfig, type DhcpServer } from "../../src/lab/dhcp.ts";
import { guestIso, parseGuestReady } from "../../src/lab/guest.ts";
import { LabNetwork, teardown } from "../../src/lab/netns.ts";
import { readRecord, startRecordClient, verifyRecords, type RecordClient, type RecordsVerdict } from "../../src/lab/records.ts";

const MiB = 1024 * 1024;
const labId = `t${randomBytes(2).toString("hex")}`;
const net = new LabNetwork(labId);
const GUEST_MAC = "52:54:00:12:00:21";
const GUEST_IP = "198.18.0.21";
const CLIENT_CIDR = "198.18.0.100/16";

/** One power-on of the guest: its QEMU process and what it printed. */
interface Boot {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  readonly serialPath: string;
  readonly qmpPath: string;
  readonly startedAt: number;
  readonly exited: Promise<void>;
  stderr: string;
}

interface Lab {
  readonly dir: string;
  readonly disk: string;
  readonly host: string;
  readonly client: string;
  readonly dhcp: DhcpServer;
  records: RecordClient | undefined;
  boot: Boot | undefined;
}

let lab: Lab | undefined;
let boots = 0;

function mustLab(): Lab {
  if (lab === undefined) throw new Error("the lab did not come up (see the first failure)");
  return lab;
}

/** QEMU opens the disk with O_DIRECT (cache.direct=on); tmpfs, for one, refuses it. */
function requireDirectIo(path: string): void {
  try {
    closeSync(openSync(path, constants.O_RDWR | constants.O_DIRECT));
  } catch (error) {
    throw new Error(`the disk image's filesystem does not support O_DIRECT (${(error as Error).message}); set TMPDIR to a disk-backed directory`, { cause: error });
  }
}

/** Powers the guest on from boot.iso with the records disk, in the host namespace on its tap. */
function powerOn(iso: string): Boot {
  const { dir, disk, host } = mustLab();
  boots++;
  const serialPath = join(dir, `serial-${boots}.log`);
  const qmpPath = join(dir, `qmp-${boots}.sock`);
  // The lab's VM as a user would define it: firmware boot from a CD (bootindex), a virtio disk
  // opened with O_DIRECT so the guest's FLUSH reaches the host file, a virtio NIC on the tap.
  const args = [
    "netns", "exec", host, QEMU_BINARY,
    "-machine", "pc-i440fx-7.2", "-accel", "tcg", "-m", "128",
    "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
    "-serial", `file:${serialPath}`,
    "-qmp", `unix:${qmpPath},server=on,wait=off`,
    "-drive", `file=${iso},media=cdrom,if=none,id=cd0,readonly=on`,
    "-device", "ide-cd,drive=cd0,bootindex=1",
    "-blockdev", `node-name=disk0,driver=raw,file.driver=file,file.filename=${disk},file.cache.direct=on`,
    "-device", "virtio-blk-pci,drive=disk0,id=disk0",
    "-netdev", "tap,id=net0,ifname=tap0,script=no,downscript=no",
    "-device", `virtio-net-pci,netdev=net0,mac=${GUEST_MAC}`,
  ];
  const child = spawn("ip", args, { stdio: ["ignore", "pipe", "pipe"] });
  const boot: Boot = {
    child,
    serialPath,
    qmpPath,
    startedAt: performance.now(),
    exited: new Promise((resolve) => child.once("exit", () => {
      resolve();
    })),
    stderr: "",
  };
  child.stderr.on("data", (chunk: Buffer) => (boot.stderr += chunk.toString("utf8")));
  mustLab().boot = boot;
  return boot;
}

function serial(boot: Boot): string {
  return existsSync(boot.serialPath) ? readFileSync(boot.serialPath, "latin1") : "";
}

/** Waits for `pattern` on the serial console; returns the match and ms since power-on. */
async function consoleSays(boot: Boot, pattern: RegExp, timeoutMs: number): Promise<{ match: RegExpExecArray; ms: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(serial(boot));
    if (match !== null) return { match, ms: performance.now() - boot.startedAt };
    const ended = boot.child.exitCode !== null || boot.child.signalCode !== null;
    if (ended || Date.now() > deadline) {
      const tail = serial(boot).trim().split("\n").slice(-8).join("\n");
      assert.fail(`the guest never printed ${String(pattern)} (${ended ? `QEMU exited: ${boot.stderr.trim()}` : `${timeoutMs} ms`}); serial console ends:\n${tail}`);
    }
    await systemClock.sleep(100);
  }
}

/** One line through the guest's echo service from the client namespace: "<n> <line>" back. */
function echo(client: string, line: string): Promise<string> {
  const script = `
const s = require("net").connect(7000, process.argv[1]); let buf = "";
s.setTimeout(5000, () => { console.error("no answer"); process.exit(1); });
s.on("connect", () => s.write(process.argv[2] + "\\n"));
s.on("data", (d) => { buf += d; if (buf.includes("\\n")) { process.stdout.write(buf); s.destroy(); } });
s.on("error", (e) => { console.error(e.message); process.exit(1); });`;
  return new Promise((resolve, reject) => {
    const child = spawn("ip", ["netns", "exec", client, process.execPath, "-e", script, GUEST_IP, line], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString("utf8")));
    child.once("exit", (code) => {
      if (code === 0) resolve(out.trim());
      else reject(new Error(`echo service: ${err.trim()}`));
    });
  });
}

/** Boots until both services answer; reports boot-to-ready times under TCG. */
async function bootUntilServing(t: TestContext, iso: string, label: string): Promise<{ boot: Boot; next: number }> {
  const boot = powerOn(iso);
  const records = await consoleSays(boot, /ferry-guest: records port=7001 disk=\/dev\/vda next=(\d+) boot=iso/, 180_000);
  const ready = await consoleSays(boot, /ferry-guest: ready [^\r\n]*/, 30_000);
  assert.equal(parseGuestReady(ready.match[0])?.ip, `${GUEST_IP}/16`, "the guest took its static lease from the lab's DHCP server");
  assert.equal(await echo(mustLab().client, "hello"), "1 hello");
  t.diagnostic(`${label}: power-on to ready line ${(ready.ms / 1000).toFixed(1)} s under TCG (SeaBIOS, isolinux, bzImage, DHCP); echo answered at ${((performance.now() - boot.startedAt) / 1000).toFixed(1)} s`);
  return { boot, next: Number(records.match[1]) };
}

/** QMP `quit` (a power-off: no guest shutdown), then waits for QEMU's exit. */
async function powerOff(boot: Boot): Promise<void> {
  const qmp = await connectQmp({ path: boot.qmpPath });
  try {
    await qmp.execute("quit").catch(() => undefined); // QEMU may close before it answers.
  } finally {
    await qmp.close();
  }
  await boot.exited;
}

async function verified(what: string, records: RecordClient): Promise<RecordsVerdict> {
  const verdict = await verifyRecords(mustLab().disk, records.acked);
  assert.deepEqual({ missing: verdict.missing, corrupt: verdict.corrupt, outOfOrder: verdict.outOfOrder }, { missing: [], corrupt: [], outOfOrder: false }, `${what}: ${JSON.stringify(verdict)}`);
  assert.ok(verdict.ok);
  return verdict;
}

describe("a guest booted through firmware from an ISO keeps every acknowledged record across a power cycle", { timeout: 600_000 }, () => {
  let iso = "";

  before(async () => {
    requireRoot();
    requireQemu();
    iso = guestIso(process.env["FERRY_GUEST_DIR"]);
    if (!existsSync(iso)) throw new Error(`real-QEMU test cannot run: the guest's ${iso} is not built: run \`bash scripts/build-guest.sh\` (apt-get install -y isolinux syslinux-common xorriso)`);
    const dir = mkdtempSync(join(tmpdir(), "ferry-disk-guest-"));
    // A raw image is a plain file: a sparse 16 MiB one needs no qemu-img.
    const disk = join(dir, "disk.raw");
    writeFileSync(disk, "");
    truncateSync(disk, 16 * MiB);
    requireDirectIo(disk);
    // host: bridge br0 with the guest's tap and the cable to the client; client: eth0 on it.
    const host = await net.addNamespace("host");
    const client = await net.addNamespace("client");
    await net.addBridge(host, "br0");
    await net.addTap(host, "tap0", "br0");
    await net.addVeth({ name: "eth0", namespace: client }, { name: "cl0", namespace: host });
    await net.attach(host, "cl0", "br0");
    await net.addAddress(client, "eth0", CLIENT_CIDR);
    for (const ns of [host, client]) await net.assertNoDefaultRoute(ns);
    const config = join(dir, "udhcpd.conf");
    writeFileSync(config, udhcpdConfig({ interface: "eth0", start: "198.18.0.200", end: "198.18.0.209", leases: [{ mac: GUEST_MAC, ip: GUEST_IP }], leaseFile: join(dir, "udhcpd.leases") }));
    const dhcp = await startDhcpServer(client, config);
    lab = { dir, disk, host, client, dhcp, records: undefined, boot: undefined };
  });

  after(async () => {
    await lab?.records?.stop();
    const pid = lab?.boot?.child.pid;
    if (pid !== undefined && lab?.boot?.child.exitCode === null) process.kill(pid, "SIGKILL");
    await lab?.boot?.exited;
    await lab?.dhcp.stop();
    await teardown(labId);
    if (lab !== undefined) rmSync(lab.dir, { recursive: true, force: true });
  });

  let firstBoot: { lastAck: number; verdict: RecordsVerdict; acks: number } | undefined;

  test("boots from the ISO, takes its DHCP lease, acknowledges records; all of them are on the disk after a power-off", async (t) => {
    const { boot, next } = await bootUntilServing(t, iso, "first boot");
    assert.equal(next, 1, "a zeroed disk starts the log at 1");
    const records = startRecordClient(mustLab().client, GUEST_IP, 7001, { idleMs: 3000 });
    mustLab().records = records;
    const t0 = performance.now();
    await records.waitForMoreAcks(50, 120_000);
    t.diagnostic(`first boot: 50 acks in ${((performance.now() - t0) / 1000).toFixed(1)} s (each record and the header written O_DIRECT with fsync, paced 20 ms)`);
    // Power off mid-stream: acks keep arriving until QEMU is gone.
    await powerOff(boot);
    const verdict = await verified("after the power-off", records);
    const lastAck = records.last?.seq ?? 0;
    assert.deepEqual([...records.acked.keys()], Array.from({ length: lastAck }, (_, i) => i + 1), "acks 1..last, none skipped");
    assert.ok(verdict.highest >= lastAck && verdict.headerNext !== null && verdict.headerNext > lastAck, `log on disk ${JSON.stringify(verdict)} covers ack ${lastAck}`);
    firstBoot = { lastAck, verdict, acks: records.acks.length };
  });

  test("powered on again with the same disk, a new boot continues the log after the last acknowledged record", async (t) => {
    if (firstBoot === undefined) throw new Error("the first boot did not complete (see its failure)");
    const records = mustLab().records;
    assert.ok(records !== undefined);
    const { boot, next } = await bootUntilServing(t, iso, "second boot");
    assert.equal(next, firstBoot.verdict.headerNext, "the init reads the header the first boot left");
    // The client saw its connection die with the first QEMU and reconnects by itself.
    await records.waitFor("acks from the second boot", () => records.acks.length >= firstBoot!.acks + 20, 120_000);
    const fresh = records.acks.slice(firstBoot.acks);
    const firstNew = fresh[0];
    assert.ok(firstNew !== undefined);
    assert.ok(records.breaks.length >= 1, `the power-off broke the client's connection (${records.summary()})`);
    assert.equal(firstNew.seq, firstBoot.verdict.headerNext, "the first record after the power cycle is the header's next");
    assert.ok(fresh.every((a) => a.connection > (records.acks[firstBoot!.acks - 1]?.connection ?? 0)), "the new acks came on a new connection");
    assert.deepEqual(records.conflicts, [], "no record number acknowledged twice");
    assert.deepEqual(records.skips, [], "no number skipped within a connection");
    await powerOff(boot);
    const verdict = await verified("after the second power-off", records);
    const image = readFileSync(mustLab().disk);
    const before = readRecord(image, firstBoot.lastAck);
    const afterCycle = readRecord(image, firstNew.seq);
    assert.ok(before.kind === "record" && afterCycle.kind === "record", "both records are on the disk");
    const bootId = (payload: string): string => /^boot=([0-9a-f]+),n=\d+$/.exec(payload)?.[1] ?? "";
    assert.notEqual(bootId(afterCycle.payload), bootId(before.payload), `a new boot wrote the new records (${before.payload} / ${afterCycle.payload})`);
    assert.match(afterCycle.payload, /,n=1$/, "the new boot numbers its own records from 1");
    t.diagnostic(`log: ${records.acked.size} acknowledged records over two boots, header next=${String(verdict.headerNext)}; ${records.breaks.length} connection break(s): ${records.breaks.map((b) => b.reason).join("; ")}`);
  });
});
