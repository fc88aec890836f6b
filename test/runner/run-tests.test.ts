// scripts/run-tests.mjs itself: files run under node's runner with the spec reporter and one
// summary; a failing file fails the run by name; a file that hangs past its limit is killed
// with every process it started (its group and a child in a session of its own), named, and
// fails the run; a process a finished file left in its group is killed with a warning; an
// interrupted runner ends its files, and a runner killed outright has its files' groups end
// themselves. The fixtures are not *.test.ts, so the suite never runs them on its own.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, watch } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

const ROOT = new URL("../..", import.meta.url).pathname;
const FIXTURES = "test/runner/fixtures";

interface Run {
  readonly status: number | null;
  readonly out: string;
  readonly err: string;
}

function runTests(files: readonly string[], env: Record<string, string>, onStart?: (child: ChildProcess) => void): Promise<Run> {
  const child = spawn(process.execPath, ["scripts/run-tests.mjs", ...files], { cwd: ROOT, env: { ...process.env, FORCE_COLOR: "0", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => { out += chunk; });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => { err += chunk; });
  onStart?.(child);
  return new Promise((resolve) => child.once("close", (status) => { resolve({ status, out, err }); }));
}

/** Whether `pid` still runs (a zombie no parent reaps has ended all the same). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

test("files run with the spec reporter under one summary; a failing file fails the run, named", async () => {
  const run = await runTests([`${FIXTURES}/passes.ts`, `${FIXTURES}/fails.ts`], {});
  assert.equal(run.status, 1, run.err);
  assert.match(run.out, /✔ fixture: one that passes/);
  assert.match(run.out, /﹣ fixture: one that is skipped .*# a written reason/);
  assert.match(run.out, /✖ fixture: one that fails/);
  // Each file's own summary is folded into one, in node's words.
  assert.deepEqual(run.out.match(/^ℹ (tests|pass|fail|skipped) \d+$/gm), ["ℹ tests 3", "ℹ pass 1", "ℹ fail 1", "ℹ skipped 1"]);
  assert.match(run.out, /run-tests: 1 of 2 test files failed:\n {2}test\/runner\/fixtures\/fails\.ts\n/);
});

test("a file that hangs is killed with the processes it started, named, and fails the run", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ferry-run-tests-"));
  const pidsFile = join(dir, "pids.json");
  let pids: number[] = [];
  try {
    // The limit is what makes the runner act: generous, so a busy machine still starts the fixture in it.
    const run = await runTests([`${FIXTURES}/hangs.ts`], { FERRY_TEST_FILE_TIMEOUT_S: "8", FERRY_FIXTURE_PIDS: pidsFile });
    assert.ok(existsSync(pidsFile), `the fixture did not reach its hang within the limit:\n${run.out}${run.err}`);
    pids = JSON.parse(readFileSync(pidsFile, "utf8")) as number[];
    assert.equal(run.status, 1, run.err);
    assert.match(run.out, /✔ passes before the hang/);
    assert.match(run.out, /✖ test\/runner\/fixtures\/hangs\.ts did not finish in 8 s and was killed with the \d+ processes it ran:/);
    for (const pid of pids) assert.match(run.out, new RegExp(`^ {4}${pid} sleep 100[01]$`, "m"), "the report names what it killed");
    assert.match(run.out, /^ℹ fail 1$/m);
    assert.match(run.out, /run-tests: 1 of 1 test files failed:\n {2}test\/runner\/fixtures\/hangs\.ts \(killed after 8 s\)/);
    assert.deepEqual(pids.filter(running), [], "the sleep in the file's group and the one in its own session are gone");
  } finally {
    for (const pid of pids.filter(running)) process.kill(pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

test("interrupted (SIGINT), the runner kills the running files with what they started, and exits 130", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ferry-run-tests-"));
  const pidsFile = join(dir, "pids.json");
  let pids: number[] = [];
  try {
    // Interrupt once the fixture has started its processes and hangs (the file it writes says so).
    const hanging = new Promise<void>((resolve) => {
      const watcher = watch(dir, () => {
        if (!existsSync(pidsFile)) return;
        watcher.close();
        resolve();
      });
    });
    const run = await runTests([`${FIXTURES}/hangs.ts`], { FERRY_FIXTURE_PIDS: pidsFile }, (child) => {
      void hanging.then(() => child.kill("SIGINT"));
    });
    pids = JSON.parse(readFileSync(pidsFile, "utf8")) as number[];
    assert.equal(run.status, 130, run.out + run.err);
    assert.equal(run.err, "run-tests: SIGINT: killed the running test files\n");
    assert.deepEqual(pids.filter(running), [], "the fixture's processes are gone with it");
  } finally {
    for (const pid of pids.filter(running)) process.kill(pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a runner killed with SIGKILL cannot clean up: each file's process then ends its own group", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ferry-run-tests-"));
  const pidsFile = join(dir, "pids.json");
  let pids: number[] = [];
  try {
    const hanging = new Promise<void>((resolve) => {
      const watcher = watch(dir, () => {
        if (!existsSync(pidsFile)) return;
        watcher.close();
        resolve();
      });
    });
    const run = await runTests([`${FIXTURES}/hangs.ts`], { FERRY_FIXTURE_PIDS: pidsFile }, (child) => {
      void hanging.then(() => child.kill("SIGKILL"));
    });
    assert.equal(run.status, null);
    pids = JSON.parse(readFileSync(pidsFile, "utf8")) as number[];
    const [grouped] = pids as [number, number];
    // The file's process looks for its runner every 500 ms: wait for its group to go.
    for (let i = 0; i < 600 && running(grouped); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(running(grouped), false, "the sleep in the file's process group is gone");
  } finally {
    // The sleep in a session of its own is beyond a process group's reach: this test ends it.
    for (const pid of pids.filter(running)) process.kill(pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a process a finished file left running in its group is killed and named, as a warning", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ferry-run-tests-"));
  const pidsFile = join(dir, "pids.json");
  let pids: number[] = [];
  try {
    const run = await runTests([`${FIXTURES}/leaks.ts`], { FERRY_FIXTURE_PIDS: pidsFile });
    pids = JSON.parse(readFileSync(pidsFile, "utf8")) as number[];
    assert.equal(run.status, 0, run.out + run.err);
    assert.match(run.out, /run-tests: warning: test\/runner\/fixtures\/leaks\.ts left 1 processes running after it ended \(killed now\):/);
    assert.match(run.out, new RegExp(`^ {4}${pids[0]} sleep 1002$`, "m"));
    assert.deepEqual(pids.filter(running), []);
  } finally {
    for (const pid of pids.filter(running)) process.kill(pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a limit that is not a positive number of seconds is bad input, said in one line", async () => {
  const run = await runTests([`${FIXTURES}/passes.ts`], { FERRY_TEST_FILE_TIMEOUT_S: "ten" });
  assert.equal(run.status, 2);
  assert.equal(run.err, 'run-tests: FERRY_TEST_FILE_TIMEOUT_S must be a positive number of seconds, not "ten"\n');
  assert.equal(run.out, "");
});
