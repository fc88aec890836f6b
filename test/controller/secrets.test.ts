// Secrets at rest: another local user (`nobody`) reads nothing in the controller's data
// directory (ferry.db and its -wal/-shm, admin.token, the CA's and the controller's keys),
// even with the directory's parent open to everyone and a umask of 022.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startControllerProcess, stopProcess, type ControllerProcess } from "./harness.ts";

const LAB = new URL("../../examples/lab.yaml", import.meta.url).pathname;

let dir: string;
let controller: ControllerProcess | undefined;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "ferry-secrets-"));
  // Only the data directory's own modes may protect it: its parent is world-readable.
  chmodSync(dir, 0o755);
  controller = await startControllerProcess(join(dir, "data"), ["-i", LAB]);
});
after(async () => {
  await stopProcess(controller?.child);
  rmSync(dir, { recursive: true, force: true });
});

function filesUnder(path: string): string[] {
  return readdirSync(path, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? [join(path, e.name), ...filesUnder(join(path, e.name))] : [join(path, e.name)]));
}

/** Runs `argv` as nobody:nogroup with no supplementary groups. */
function asNobody(argv: readonly string[]): { status: number | null; stdout: string } {
  const result = spawnSync("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", ...argv], { encoding: "utf8" });
  return { status: result.status, stdout: result.stdout };
}

test("nobody reads no file in the controller's data directory", { skip: process.getuid?.() === 0 ? false : "switching to nobody needs root" }, async () => {
  const data = join(dir, "data");
  // A write or two, so SQLite has its -wal and -shm files.
  const created = await controller!.api("POST", "/tokens", { name: "reader", role: "read-only" });
  assert.equal(created.status, 201);
  const files = filesUnder(data);
  for (const name of ["ferry.db", "ferry.db-wal", "ferry.db-shm", "admin.token"]) assert.ok(existsSync(join(data, name)), `${name} exists`);
  assert.equal(statSync(data).mode & 0o777, 0o700);
  for (const file of files) {
    const mode = statSync(file).mode & 0o777;
    assert.equal(mode, statSync(file).isDirectory() ? 0o700 : 0o600, `${file} is ${mode.toString(8)}`);
  }
  assert.notEqual(asNobody(["ls", data]).status, 0, "nobody cannot list the data directory");
  for (const file of files.filter((f) => statSync(f).isFile())) {
    const read = asNobody(["cat", file]);
    assert.notEqual(read.status, 0, `nobody read ${file}`);
    assert.equal(read.stdout, "");
  }
});
