import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { isFerryError } from "../core/errors.ts";
import { DATASTORE_IDENTITY_FILE, initDatastore, readDatastore, resolveOnDatastore } from "./datastore.ts";

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "ferry-ds-test-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function failsWith(code: string, message: RegExp): (e: unknown) => boolean {
  return (e) => isFerryError(e) && e.code === code && message.test(e.message);
}

function reasonOf(reading: Awaited<ReturnType<typeof readDatastore>>): string {
  assert.equal(reading.ok, false, "the reading fails");
  return reading.reason;
}

describe("datastore identity", () => {
  test("init writes a v1 identity (mode 0644, no temporary left) that read returns", async (t) => {
    const dir = await tempDir(t);
    const before = Date.now();
    const identity = await initDatastore(dir, "nfs-gold");
    assert.equal(identity.version, 1);
    assert.equal(identity.name, "nfs-gold");
    assert.match(identity.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(Date.parse(identity.createdAt) >= before - 1000);
    const file = join(dir, DATASTORE_IDENTITY_FILE);
    assert.deepEqual(JSON.parse(await readFile(file, "utf8")), identity);
    assert.equal((await stat(file)).mode & 0o777, 0o644);
    assert.deepEqual(await readdir(dir), [DATASTORE_IDENTITY_FILE], "neither the temporary file nor a write probe is left");
    assert.deepEqual(await readDatastore(dir), { ok: true, identity, path: dir });
    assert.deepEqual(await readdir(dir), [DATASTORE_IDENTITY_FILE]);
  });

  test("init refuses a datastore that already is one, unless forced (a new uuid)", async (t) => {
    const dir = await tempDir(t);
    const first = await initDatastore(dir, "ds1");
    await assert.rejects(initDatastore(dir, "ds2"), failsWith("CONFLICT", /already Ferry datastore "ds1".*--force/));
    const second = await initDatastore(dir, "ds2", { force: true });
    assert.notEqual(second.uuid, first.uuid);
    const reading = await readDatastore(dir);
    assert.equal(reading.ok && reading.identity.name, "ds2");
  });

  test("init refuses bad names, a missing path and a regular file", async (t) => {
    const dir = await tempDir(t);
    for (const name of ["", "  ", "a/b", "nfs:1"]) {
      await assert.rejects(initDatastore(dir, name), failsWith("INVALID_INPUT", /must not be empty or contain/), JSON.stringify(name));
    }
    await assert.rejects(initDatastore(join(dir, "gone"), "ds"), failsWith("NOT_FOUND", /does not exist/));
    await writeFile(join(dir, "file"), "x");
    await assert.rejects(initDatastore(join(dir, "file"), "ds"), failsWith("INVALID_INPUT", /is not a directory/));
    assert.deepEqual((await readdir(dir)).sort(), ["file"], "nothing was written");
  });

  test("read: one sentence per way a path is not a usable datastore", async (t) => {
    const dir = await tempDir(t);
    assert.match(reasonOf(await readDatastore(join(dir, "gone"))), /gone does not exist \(is the share mounted\?\)\.$/);
    await writeFile(join(dir, "file"), "x");
    assert.match(reasonOf(await readDatastore(join(dir, "file"))), /file is not a directory\.$/);
    const empty = join(dir, "empty");
    await mkdir(empty);
    assert.equal(reasonOf(await readDatastore(empty)), `${empty} is not a Ferry datastore: run \`ferry datastore init ${empty} --name NAME\`.`);
    const cases: [string, string, RegExp][] = [
      ["garbled", "{not json", /is not valid JSON\.$/],
      ["wrong-version", JSON.stringify({ version: 2, uuid: "0b6d52a4-9a53-4f0e-9d7e-1f2a3b4c5d6e", name: "x", createdAt: "2025-01-01T00:00:00.000Z" }), /is not a Ferry datastore identity \(version: /],
      ["no-uuid", JSON.stringify({ version: 1, name: "x", createdAt: "2025-01-01T00:00:00.000Z" }), /identity \(uuid: /],
    ];
    for (const [name, text, reason] of cases) {
      const path = join(dir, name);
      await mkdir(path);
      await writeFile(join(path, DATASTORE_IDENTITY_FILE), text);
      assert.match(reasonOf(await readDatastore(path)), reason, name);
    }
    const unreadable = join(dir, "unreadable");
    await mkdir(join(unreadable, DATASTORE_IDENTITY_FILE), { recursive: true });
    assert.match(reasonOf(await readDatastore(unreadable)), /cannot be read \(EISDIR\)\.$/);
  });

  test("read: a datastore this host cannot write is refused (the write probe fails, as on root-squashed NFS)", async (t) => {
    const dir = await tempDir(t);
    await initDatastore(dir, "ds");
    const squashed = Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" });
    const reading = await readDatastore(dir, { probe: () => Promise.reject(squashed) });
    assert.equal(reasonOf(reading), `${dir} is not writable by this host (EACCES): check the export's permissions and root squashing.`);
  });

  // Root ignores mode bits, so 0555 would not stop the probe; the immutable attribute does.
  test("read: the real probe fails on an immutable directory", async (t) => {
    const dir = await tempDir(t);
    await initDatastore(dir, "ds");
    try {
      execFileSync("chattr", ["+i", dir], { stdio: "pipe" });
    } catch (error) {
      t.skip(`this filesystem has no immutable attribute (chattr +i: ${String(error)}); the injected probe above covers the rule`);
      return;
    }
    try {
      assert.match(reasonOf(await readDatastore(dir)), /is not writable by this host \(EPERM\)/);
    } finally {
      // Before the directory's removal (t.after hooks run in the order they were added).
      execFileSync("chattr", ["-i", dir]);
    }
  });
});

describe("files on a datastore", () => {
  test("a relative path joins the mount path", () => {
    assert.equal(resolveOnDatastore("/mnt/ds1", "vms/web01/disk0.qcow2"), "/mnt/ds1/vms/web01/disk0.qcow2");
    assert.equal(resolveOnDatastore("/mnt/ds1/", "./vms/../iso/boot.iso"), "/mnt/ds1/iso/boot.iso");
  });

  test("absolute paths, escapes and the datastore itself are refused", () => {
    const cases: [string, RegExp][] = [
      ["/etc/passwd", /is absolute/],
      ["../ds2/disk.qcow2", /leaves the datastore at \/mnt\/ds1/],
      ["vms/../../etc/shadow", /leaves the datastore/],
      ["..", /leaves the datastore/],
      [".", /leaves the datastore/],
      ["", /is not a file path/],
      ["vms/a\0b", /is not a file path/],
    ];
    for (const [relative, message] of cases) {
      assert.throws(() => resolveOnDatastore("/mnt/ds1", relative), failsWith("INVALID_INPUT", message), JSON.stringify(relative));
    }
  });
});
