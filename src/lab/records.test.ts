import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { after, describe, test } from "node:test";
import { logHeaderSector, parseSector, readRecord, recordSector, RECORD_SECTOR_BYTES, verifyRecordImage, verifyRecords } from "./records.ts";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** A raw image of `sectors` sectors holding records 1..`count` and a header; returns it with the acks. */
function image(count: number, sectors = 64, next = count + 1): { image: Buffer; acked: Map<number, string> } {
  const bytes = Buffer.alloc(sectors * RECORD_SECTOR_BYTES);
  const acked = new Map<number, string>();
  logHeaderSector(next).copy(bytes, 0);
  for (let n = 1; n <= count; n++) {
    const { sector, sha256 } = recordSector(n, `boot=5eed0001,n=${n}`);
    sector.copy(bytes, n * RECORD_SECTOR_BYTES);
    acked.set(n, sha256);
  }
  return { image: bytes, acked };
}

function zero(bytes: Buffer, n: number): void {
  bytes.fill(0, n * RECORD_SECTOR_BYTES, (n + 1) * RECORD_SECTOR_BYTES);
}

describe("records log verification", () => {
  test("a sector is the guest's printf '%-511s\\n' of its text, and parses back", () => {
    const { sector, sha256 } = recordSector(3, "boot=ab12cd34,n=3");
    assert.equal(sector.length, 512);
    assert.equal(sector.at(-1), 0x0a);
    assert.match(sector.toString("latin1"), /^FERRYREC 3 boot=ab12cd34,n=3 [0-9a-f]{64} +\n$/);
    assert.deepEqual(parseSector(sector), { kind: "record", seq: 3, payload: "boot=ab12cd34,n=3", sha256, selfChecked: true });
    assert.deepEqual(parseSector(Buffer.alloc(512)), { kind: "empty" });
    assert.deepEqual(parseSector(Buffer.alloc(512, "x")), { kind: "garbage" });
  });

  test("a good log: every ack present, header past them, one unacknowledged record in flight allowed", () => {
    const { image: bytes, acked } = image(10);
    assert.deepEqual(verifyRecordImage(bytes, acked), { ok: true, highest: 10, headerNext: 11, missing: [], corrupt: [], outOfOrder: false });
    // Record 11 written, power lost before the header moved: not acked, not wrong.
    recordSector(11, "boot=5eed0001,n=11").sector.copy(bytes, 11 * RECORD_SECTOR_BYTES);
    assert.equal(verifyRecordImage(bytes, acked).ok, true);
    // Acks are a subset of the log: records written but never acknowledged are fine.
    assert.equal(verifyRecordImage(bytes, new Map([...acked].slice(0, 4))).ok, true);
    assert.deepEqual(verifyRecordImage(Buffer.alloc(64 * 512), new Map()), { ok: true, highest: 0, headerNext: null, missing: [], corrupt: [], outOfOrder: false });
  });

  test("missing: an acknowledged record's sector is empty, or past the image's end", () => {
    const { image: bytes, acked } = image(10);
    zero(bytes, 7);
    const verdict = verifyRecordImage(bytes, acked);
    assert.equal(verdict.ok, false);
    assert.deepEqual(verdict.missing, [7]);
    assert.equal(verdict.highest, 6);
    const short = image(10, 8);
    assert.deepEqual(verifyRecordImage(short.image, short.acked).missing, [8, 9, 10]);
  });

  test("corrupt: a flipped byte, another checksum than acknowledged, garbage", () => {
    const { image: bytes, acked } = image(10);
    const flipped = 4 * RECORD_SECTOR_BYTES + 20;
    bytes.writeUInt8(bytes.readUInt8(flipped) ^ 0x01, flipped);
    acked.set(5, "0".repeat(64));
    bytes.write("not a record", 6 * RECORD_SECTOR_BYTES, "latin1");
    const verdict = verifyRecordImage(bytes, acked);
    assert.deepEqual(verdict.corrupt, [4, 5, 6]);
    assert.deepEqual(verdict.missing, []);
    assert.equal(verdict.ok, false);
  });

  test("out of order: header behind an ack, a record in another's sector, writes past the one in flight", () => {
    const behind = image(10, 64, 8);
    assert.equal(verifyRecordImage(behind.image, behind.acked).outOfOrder, true);
    const noHeader = image(3);
    zero(noHeader.image, 0);
    assert.equal(verifyRecordImage(noHeader.image, noHeader.acked).outOfOrder, true);
    const swapped = image(10);
    recordSector(4, "boot=5eed0001,n=4").sector.copy(swapped.image, 5 * RECORD_SECTOR_BYTES);
    const verdict = verifyRecordImage(swapped.image, swapped.acked);
    assert.equal(verdict.outOfOrder, true);
    assert.deepEqual(verdict.corrupt, [5]);
    const ahead = image(10);
    recordSector(13, "boot=5eed0001,n=13").sector.copy(ahead.image, 13 * RECORD_SECTOR_BYTES);
    assert.equal(verifyRecordImage(ahead.image, ahead.acked).outOfOrder, true);
  });
});

// The guest's own service script on a file instead of /dev/vda, with busybox's applets first on
// PATH as in the guest: the host-side format and the guest's cannot drift apart unnoticed.
describe("scripts/guest/ferry-records against verifyRecords", () => {
  mkdirSync(join(repoRoot, ".cache"), { recursive: true });
  const dir = mkdtempSync(join(repoRoot, ".cache", "records-test-"));
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function busyboxPath(): string {
    const list = spawnSync("busybox", ["--list"], { encoding: "utf8" });
    if (list.status !== 0) throw new Error("busybox is not installed: apt-get install -y busybox-static");
    const bin = join(dir, "bin");
    mkdirSync(bin, { recursive: true });
    for (const applet of list.stdout.split("\n").filter((a) => a !== "")) symlinkSync("/bin/busybox", join(bin, applet));
    return bin;
  }

  /** Runs one connection's handler until `count` acks, then closes its stdout like a client leaving. */
  async function serve(env: NodeJS.ProcessEnv, count: number): Promise<Map<number, string>> {
    const child = spawn("busybox", ["sh", join(repoRoot, "scripts", "guest", "ferry-records")], { env, stdio: ["ignore", "pipe", "pipe"] });
    const acked = new Map<number, string>();
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    for await (const line of createInterface({ input: child.stdout })) {
      const match = /^ack (\d+) ([0-9a-f]{64})$/.exec(line);
      assert.ok(match !== null, `the service said "${line}" (stderr: ${stderr})`);
      acked.set(Number(match[1]), match[2]!);
      if (acked.size === count) break;
    }
    child.stdout.destroy();
    assert.equal(await exited, 0, `the handler ends quietly when its client goes (stderr: ${stderr})`);
    return acked;
  }

  test("acks land on the disk; a second connection continues after the first's last record", async () => {
    const disk = join(dir, "disk.img");
    writeFileSync(disk, Buffer.alloc(256 * RECORD_SECTOR_BYTES));
    const env = { PATH: busyboxPath(), FERRY_RECORDS_DEV: disk, FERRY_RECORDS_STATE: join(dir, "state"), FERRY_RECORDS_MS: "0" };
    const first = await serve(env, 5);
    assert.deepEqual([...first.keys()], [1, 2, 3, 4, 5]);
    const verdict = await verifyRecords(disk, first);
    assert.equal(verdict.ok, true, JSON.stringify(verdict));
    assert.ok(verdict.headerNext !== null && verdict.headerNext > 5);
    const second = await serve(env, 3);
    // The handler that lost its client wrote at most the records after its last ack, never acked.
    assert.equal(Math.min(...second.keys()), verdict.headerNext);
    const all = new Map([...first, ...second]);
    assert.equal((await verifyRecords(disk, all)).ok, true);
    const image = readFileSync(disk);
    const record = readRecord(image, 5);
    assert.ok(record.kind === "record" && /^boot=[0-9a-f]{8},n=5$/.test(record.payload), JSON.stringify(record));
  });
});
