import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { isFerryError } from "../../core/errors.ts";
import { createVmStorage, datastoreFile, parseQueryBlock, probeDirectIo } from "./disks.ts";

describe("datastoreFile", () => {
  test("joins a relative path under the datastore's mount path", () => {
    assert.equal(datastoreFile("/mnt/nfs01", "web01/web01.qcow2", "disk"), "/mnt/nfs01/web01/web01.qcow2");
    assert.equal(datastoreFile("/mnt/nfs01/", "./web01.raw", "disk"), "/mnt/nfs01/web01.raw");
    assert.equal(datastoreFile("/", "srv/a.iso", "cd"), "/srv/a.iso");
  });

  for (const path of ["", "/etc/passwd", "../nfs02/a.qcow2", "web01/../../x", "web01/..", ".", "a\0b", "..\\x"]) {
    test(`refuses ${JSON.stringify(path)} with INVALID_INPUT`, () => {
      assert.throws(() => datastoreFile("/mnt/nfs01", path, "disk d of vm"), (e: unknown) => isFerryError(e) && e.code === "INVALID_INPUT" && e.message.startsWith("disk d of vm: path"));
    });
  }
});

describe("createVmStorage", () => {
  test("a host without a datastore path refuses naming the VM, the ISO and the datastore; a disconnected drive needs none", async () => {
    const storage = createVmStorage({ host: "esx02" });
    const cdrom = { name: "cd0", backing: "file", datastore: "iso01", path: "debian.iso" } as const;
    await assert.rejects(
      storage.resolve({ name: "web01", memoryMB: 64, vcpus: 1, nics: [], cdroms: [{ ...cdrom, connected: true }] }),
      (e: unknown) => isFerryError(e) && e.code === "INVALID_INPUT" && e.message === 'esx02 does not have datastore "iso01", which holds CD-ROM cd0 of web01 (debian.iso)',
    );
    assert.deepEqual(await storage.resolve({ name: "web01", memoryMB: 64, vcpus: 1, nics: [], cdroms: [{ ...cdrom, connected: false }] }), { disks: [], cdroms: [{ kind: "none" }] });
  });

  test("a host CD-ROM drive the host lacks is refused", async () => {
    const storage = createVmStorage({ host: "esx02" });
    await assert.rejects(
      storage.resolve({ name: "web01", memoryMB: 64, vcpus: 1, nics: [], cdroms: [{ name: "cd0", backing: "host", path: "/dev/sr97", connected: true }] }),
      (e: unknown) => isFerryError(e) && e.code === "INVALID_INPUT" && /esx02 has no CD-ROM drive \/dev\/sr97/.test(e.message),
    );
  });
});

test("probeDirectIo answers for a real directory and leaves no probe file behind", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ferry-odirect-"));
  try {
    // ext4 (this machine's /tmp) takes O_DIRECT.
    assert.equal(await probeDirectIo(dir), true);
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("parseQueryBlock reads QEMU 7.2's query-block: device ids from qdev paths, empty drives, and nothing else", () => {
  const devices = parseQueryBlock([
    { device: "", qdev: "/machine/peripheral/disk0/virtio-backend", inserted: { file: "/mnt/a.qcow2", drv: "qcow2", ro: false, cache: { direct: true, writeback: true, "no-flush": false } } },
    { device: "", qdev: "cd0", inserted: { file: "/mnt/a.iso", drv: "raw", ro: true, cache: { direct: false } } },
    { device: "", qdev: "/machine/peripheral/cd1", removable: true },
    { device: "floppy0" },
    "junk",
  ]);
  assert.deepEqual(devices, [
    { device: "disk0", file: "/mnt/a.qcow2", format: "qcow2", readOnly: false, directIo: true },
    { device: "cd0", file: "/mnt/a.iso", format: "raw", readOnly: true, directIo: false },
    { device: "cd1", file: undefined, format: undefined, readOnly: false, directIo: undefined },
  ]);
  assert.deepEqual(parseQueryBlock({}), []);
});
