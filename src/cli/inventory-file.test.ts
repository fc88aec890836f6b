import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { isFerryError } from "../core/errors.ts";
import type { CliIo } from "./io.ts";
import { loadInventoryFile, writeFileAtomic } from "./inventory-file.ts";

function ioWith(files: Record<string, string>): CliIo {
  return {
    out: () => undefined,
    err: () => undefined,
    readText: (path) => {
      const text = files[path];
      return text === undefined ? Promise.reject(new Error(`no ${path}`)) : Promise.resolve(text);
    },
    isTty: false,
  };
}

const HOST = "hosts:\n  - name: esx01\n    cpu: { vendor: GenuineIntel, family: 6, model: 26, flags: [sse2] }\n    memoryMB: 4096\n";

test("a valid file loads", async () => {
  const inventory = await loadInventoryFile("lab.yaml", ioWith({ "lab.yaml": HOST }));
  assert.equal(inventory.hosts[0]?.name, "esx01");
});

test("one problem is a one-line invalid-input error", async () => {
  await assert.rejects(loadInventoryFile("lab.yaml", ioWith({ "lab.yaml": HOST.replace("family: 6", "family: six") })), (error: unknown) => {
    assert.ok(isFerryError(error));
    assert.equal(error.code, "INVALID_INPUT");
    assert.equal(error.message, 'lab.yaml:3:42: hosts[0].cpu.family: expected a number, got "six"');
    return true;
  });
});

test("several problems are one error: a count, then one problem per line, and the issues as details", async () => {
  const text = HOST.replace("family: 6", "family: six").replace("memoryMB", "memoryMb");
  await assert.rejects(loadInventoryFile("lab.yaml", ioWith({ "lab.yaml": text })), (error: unknown) => {
    assert.ok(isFerryError(error));
    assert.equal(error.code, "INVALID_INPUT");
    assert.deepEqual(error.message.split("\n"), [
      "3 problems in lab.yaml:",
      "lab.yaml:2:5: hosts[0].memoryMB: missing required field `memoryMB`",
      'lab.yaml:3:42: hosts[0].cpu.family: expected a number, got "six"',
      "lab.yaml:4:5: hosts[0].memoryMb: unknown field `memoryMb`; did you mean `memoryMB`?",
    ]);
    assert.equal((error.details as { issues: unknown[] }).issues.length, 3);
    return true;
  });
});

test("writeFileAtomic replaces a file whole and leaves no temporary file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ferry-write-"));
  try {
    const file = join(dir, "lab.yaml");
    await writeFile(file, "old\n");
    await writeFileAtomic(file, "new\n");
    assert.equal(await readFile(file, "utf8"), "new\n");
    assert.deepEqual(await readdir(dir), ["lab.yaml"]);
    await assert.rejects(writeFileAtomic(join(dir, "missing", "lab.yaml"), "x"), { code: "IO", message: `cannot write ${join(dir, "missing", "lab.yaml")}: no such directory` });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
