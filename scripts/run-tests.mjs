#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with node's own test runner (spec reporter), two
// files at a time (what `--test-concurrency=2` gave), each file in a process group of its own
// with a time limit: a file that hangs is killed with every process it started and named, and
// the run fails. Node 20's --test takes no globs, so the file list is built here.
// Usage: node scripts/run-tests.mjs [path-substring ...]   (filters the file list)
//        node scripts/run-tests.mjs path/to/file.ts ...    (runs exactly these files)
// Environment: FERRY_TEST_FILE_TIMEOUT_S   seconds one file may run (default 1800: the QEMU lab
//              files give single tests up to 10 min on a busy machine, so a file may need more)
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { spawn, spawnSync } from "node:child_process";

const root = new URL("..", import.meta.url).pathname;
const filters = process.argv.slice(2);
const CONCURRENCY = 2;
const timeoutSeconds = Number(process.env.FERRY_TEST_FILE_TIMEOUT_S ?? "1800");
if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
  console.error(`run-tests: FERRY_TEST_FILE_TIMEOUT_S must be a positive number of seconds, not "${process.env.FERRY_TEST_FILE_TIMEOUT_S}"`);
  process.exit(2);
}

function walk(dir) {
  let out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out = out.concat(walk(path));
    else if (entry.name.endsWith(".test.ts")) out.push(relative(root, path));
  }
  return out;
}

const isFile = (arg) => arg.endsWith(".ts") && existsSync(arg) && statSync(arg).isFile();
const files = filters.length > 0 && filters.every(isFile)
  ? filters.map((f) => relative(root, resolve(f)))
  : ["src", "test"]
    .flatMap((d) => { try { return walk(join(root, d)); } catch { return []; } })
    .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
    .sort();

if (files.length === 0) {
  console.error(`no test files match ${filters.join(", ") || "src/**/*.test.ts"}`);
  process.exit(2);
}

// The real-QEMU tests boot Ferry's test guest: build it first (0.2 s when up to date). When it
// cannot be built (no kernel package, not root to install it), those tests fail saying why.
if (files.some((f) => /qemu|lab|bench/.test(f))) {
  const guest = spawnSync("bash", [join(root, "scripts", "build-guest.sh")], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  if (guest.status !== 0) console.error("run-tests: the test guest could not be built; the QEMU tests will fail (see above)");
}

// ---- processes: a file's runner, its process group and everything it started ----

/** pid → { state, ppid, pgid, cmd } for every process we can read in /proc. */
function processTable() {
  const table = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0").join(" ").trim() || stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      table.set(Number(name), { state: fields[0], ppid: Number(fields[1]), pgid: Number(fields[2]), cmd });
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

/** The runner's process group plus every descendant (a detached child leaves the group, not the tree). */
function processesOf(leader, table) {
  const found = new Set([...table].filter(([, p]) => p.pgid === leader).map(([pid]) => pid));
  found.add(leader);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of table) {
      if (!found.has(pid) && found.has(p.ppid)) { found.add(pid); grew = true; }
    }
  }
  return found;
}

const signal = (pid, sig) => { try { process.kill(pid, sig); return true; } catch { return false; } };

/**
 * Ends a file's runner and everything it started. Each process is stopped (SIGSTOP) before the
 * next look, so none can fork or be re-parented away while we collect them; then all are killed.
 * Returns what was killed, to name in the report.
 */
function killAll(leader) {
  const stopped = new Map();
  for (let round = 0; round < 20; round++) {
    const table = processTable();
    const fresh = [...processesOf(leader, table)].filter((pid) => !stopped.has(pid) && pid !== process.pid);
    if (fresh.length === 0) break;
    for (const pid of fresh) if (signal(pid, "SIGSTOP")) stopped.set(pid, table.get(pid)?.cmd ?? "?");
  }
  signal(-leader, "SIGKILL");
  for (const pid of stopped.keys()) signal(pid, "SIGKILL");
  return stopped;
}

/** Whether `pid` still runs (a zombie that no parent reaps has ended all the same). */
function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** A SIGKILL is delivered when the process next runs: wait (up to 5 s) until all have ended. */
async function whenGone(pids) {
  for (let i = 0; i < 500 && [...pids].some(alive); i++) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** Processes still running in a finished file's group (its runner is gone): killed, and returned. */
function killLeftovers(leader) {
  const left = new Map([...processTable()].filter(([, p]) => p.pgid === leader && p.state !== "Z").map(([pid, p]) => [pid, p.cmd]));
  for (const pid of left.keys()) signal(pid, "SIGKILL");
  return left;
}

// ---- one file ----

const GUARD = join(root, "scripts", "test-guard.mjs");
const SUMMARY = /^ℹ (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) ([\d.]+)$/;
const ANSI = /\x1b\[[0-9;]*m/g;
const running = new Set();

/**
 * Runs one file under node's test runner in a new process group. Output arrives line by line
 * (`onLine`); the runner's closing summary lines are taken out and returned as counts.
 */
function runFile(file, onLine) {
  return new Promise((resolve) => {
    // On a terminal the spec reporter colours its lines, which node decides from stderr being a
    // terminal: the file's runner then writes its (rare) stderr straight to ours.
    const tty = process.stdout.isTTY === true;
    const env = { ...process.env, ...(tty ? { FORCE_COLOR: "1" } : {}) };
    // Started from inside a test (this runner's own test), node would take the file's runner for
    // one of its test children and speak its private protocol on stdout.
    delete env.NODE_TEST_CONTEXT;
    // Through the guard, which ends the file's group should this runner die without doing so.
    const child = spawn(process.execPath, [GUARD, String(process.pid), process.execPath, "--import", "tsx", "--test", "--test-reporter=spec", file], { cwd: root, env, stdio: ["ignore", "pipe", tty ? "inherit" : "pipe"], detached: true });
    const counts = {};
    let timedOut;
    let pending = "";
    const take = (chunk) => {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        const m = SUMMARY.exec(line.replace(ANSI, ""));
        if (m) counts[m[1]] = Number(m[2]);
        else onLine(line);
      }
    };
    child.stdout.setEncoding("utf8").on("data", take);
    child.stderr?.setEncoding("utf8").on("data", take);
    const entry = { child, kill: () => killAll(child.pid) };
    running.add(entry);
    let closed = false;
    const finish = async () => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      running.delete(entry);
      if (pending !== "") take("\n");
      const leftovers = timedOut === undefined ? killLeftovers(child.pid) : new Map();
      await whenGone([...(timedOut ?? new Map()).keys(), ...leftovers.keys()]);
      resolve({ file, code: child.exitCode, signal: child.signalCode, counts, timedOut, leftovers });
    };
    // After a kill, something that escaped it may still hold the pipes: stop waiting for them.
    const abandonPipes = () => setTimeout(() => { child.stdout.destroy(); child.stderr?.destroy(); void finish(); }, 2000);
    const timer = setTimeout(() => {
      timedOut = entry.kill();
      if (child.exitCode !== null || child.signalCode !== null) abandonPipes();
      else child.once("exit", abandonPipes);
    }, timeoutSeconds * 1000);
    child.once("close", () => void finish());
  });
}

// ---- the run: two files at a time, output in file order, the running head file live ----

const queue = [...files];
const records = []; // in start order: { lines: string[], done: boolean }
function flush() {
  while (records.length > 0) {
    const head = records[0];
    for (const line of head.lines.splice(0)) process.stdout.write(line + "\n");
    if (!head.done) return;
    records.shift();
  }
}

const totals = { tests: 0, suites: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
const failed = [];
const leaked = [];
const took = []; // [file, seconds]: the slowest are named at the end, where CI time goes
let stopping = false;
const started = performance.now();

async function worker() {
  for (let file = queue.shift(); file !== undefined && !stopping; file = queue.shift()) {
    const record = { lines: [], done: false };
    records.push(record);
    const fileStarted = performance.now();
    const result = await runFile(file, (line) => { record.lines.push(line); flush(); });
    took.push([file, (performance.now() - fileStarted) / 1000]);
    for (const key of Object.keys(totals)) totals[key] += result.counts[key] ?? 0;
    if (result.timedOut !== undefined) {
      totals.tests += 1;
      totals.fail += 1;
      record.lines.push(`✖ ${file} did not finish in ${timeoutSeconds} s and was killed with the ${result.timedOut.size} processes it ran:`);
      for (const [pid, cmd] of result.timedOut) record.lines.push(`    ${pid} ${cmd.slice(0, 160)}`);
      failed.push(`${file} (killed after ${timeoutSeconds} s)`);
    } else if (result.code !== 0) {
      if (result.counts.tests === undefined) { totals.tests += 1; totals.fail += 1; }
      failed.push(result.code === null ? `${file} (ended by ${result.signal})` : file);
    }
    if (result.leftovers.size > 0) {
      record.lines.push(`run-tests: warning: ${file} left ${result.leftovers.size} processes running after it ended (killed now):`);
      for (const [pid, cmd] of result.leftovers) record.lines.push(`    ${pid} ${cmd.slice(0, 160)}`);
      leaked.push(file);
    }
    record.done = true;
    flush();
  }
}

async function interrupted(sig) {
  stopping = true;
  const killed = [...running].flatMap((entry) => [...entry.kill().keys()]);
  await whenGone(killed);
  flush();
  console.error(`run-tests: ${sig}: killed the running test files`);
  process.exit(130);
}
process.once("SIGINT", () => void interrupted("SIGINT"));
process.once("SIGTERM", () => void interrupted("SIGTERM"));

await Promise.all(Array.from({ length: Math.min(CONCURRENCY, files.length) }, () => worker()));
// Interrupted, the signal handler reports and exits once what it killed has gone.
if (!stopping) {
  for (const [key, value] of Object.entries(totals)) console.log(`ℹ ${key} ${value}`);
  console.log(`ℹ duration_ms ${(performance.now() - started).toFixed(3)}`);
  if (files.length > 1) {
    const slowest = took.sort((a, b) => b[1] - a[1]).slice(0, 15);
    console.log(`\nrun-tests: the slowest files (wall time, ${CONCURRENCY} at a time):`);
    for (const [file, seconds] of slowest) console.log(`  ${seconds.toFixed(0).padStart(5)} s  ${file}`);
  }
  if (leaked.length > 0) console.log(`\nrun-tests: warning: ${leaked.length} test files left processes running: ${leaked.join(", ")}`);
  if (failed.length > 0) {
    console.log(`\nrun-tests: ${failed.length} of ${files.length} test files failed:`);
    for (const f of failed) console.log(`  ${f}`);
  }
  process.exit(failed.length > 0 ? 1 : 0);
}
