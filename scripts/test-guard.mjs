// node scripts/test-guard.mjs RUN_TESTS_PID COMMAND [ARG ...]
// scripts/run-tests.mjs starts each test file's runner through this guard, as the leader of a
// process group of its own. Should run-tests die without ending its files (SIGKILL, a crash),
// the guard sees it gone and kills its group: the file's runner, the test process and what it
// started. Otherwise it only waits for COMMAND and ends as it ended. It writes nothing, so a
// closed pipe to a dead run-tests cannot end it before it acts.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

/** Whether `pid` runs (a zombie that no parent reaps has ended all the same). */
function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

const [runTestsPid, command, ...args] = process.argv.slice(2);
const runTests = Number(runTestsPid);
if (!(runTests > 0) || command === undefined) {
  console.error("usage: node scripts/test-guard.mjs RUN_TESTS_PID COMMAND [ARG ...]");
  process.exit(2);
}
const child = spawn(command, args, { stdio: "inherit" });
const check = () => {
  if (!alive(runTests)) process.kill(0, "SIGKILL");
};
const watch = setInterval(check, 500);
child.once("exit", (code, signal) => {
  clearInterval(watch);
  // With run-tests gone, the runner dies of its closed pipe first: what the file started may live on.
  check();
  if (signal !== null) process.kill(process.pid, signal);
  else process.exit(code ?? 1);
});
