import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseDiskMove } from "./manage.ts";
import { parseCdrom, parseDisk, parseNic, parseSizeMB } from "./vm-create.ts";

describe("ferry vm create: its arguments", () => {
  test("sizes, disks, CD-ROMs and NICs as a user types them", () => {
    assert.equal(parseSizeMB("512M"), 512);
    assert.equal(parseSizeMB("10G"), 10240);
    assert.equal(parseSizeMB("2048"), 2048);
    assert.equal(parseSizeMB("1.5G"), 1536);
    assert.deepEqual(parseDisk("shared:web01/disk0.qcow2,10G"), { datastore: "shared", path: "web01/disk0.qcow2", sizeMB: 10240 });
    assert.deepEqual(parseDisk("shared:images/old.raw"), { datastore: "shared", path: "images/old.raw" });
    assert.deepEqual(parseCdrom("shared:iso/debian.iso"), { datastore: "shared", path: "iso/debian.iso" });
    assert.deepEqual(parseCdrom("host:/dev/sr0"), { hostDevice: "/dev/sr0" });
    assert.deepEqual(parseNic("VM Network"), { portGroup: "VM Network" });
    assert.deepEqual(parseNic("VM Network,52:54:00:12:00:0b,198.18.0.11"), { portGroup: "VM Network", mac: "52:54:00:12:00:0b", ip: "198.18.0.11" });
    assert.deepEqual(parseDiskMove("disk0=shared:web01/disk0.qcow2"), { name: "disk0", datastore: "shared", path: "web01/disk0.qcow2" });
  });

  test("each mistake is one USAGE sentence naming the form it takes", () => {
    for (const [fn, text, says] of [
      [parseSizeMB, "ten", /512M or 10G/],
      [parseSizeMB, "0", /whole, positive/],
      [parseSizeMB, "0.3M", /whole, positive/],
      [parseDisk, "disk.raw", /DATASTORE:path\[,size\]/],
      [parseDisk, "shared:", /DATASTORE:path/],
      [parseCdrom, "debian.iso", /DATASTORE:file.iso or host:\/dev\/sr0/],
      [parseNic, ",52:54:00:00:00:01", /PORTGROUP\[,mac\[,ip\]\]/],
      [parseDiskMove, "shared:x.raw", /DISK=DATASTORE:path/],
    ] as const) {
      assert.throws(() => (fn as (t: string) => unknown)(text), (e: unknown) => (e as { code?: string }).code === "USAGE" && says.test((e as Error).message), text);
    }
  });
});
