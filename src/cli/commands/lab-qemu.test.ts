import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { isFerryError } from "../../core/errors.ts";
import { labDir, preflight, processStartTime, stillRunning, type QemuLabState } from "./lab-qemu.ts";

describe("qemu lab processes and state", () => {
  const home = mkdtempSync(join(tmpdir(), "ferry-lab-state-"));
  const previous = process.env["FERRY_HOME"];
  process.env["FERRY_HOME"] = home;
  after(() => {
    if (previous === undefined) delete process.env["FERRY_HOME"];
    else process.env["FERRY_HOME"] = previous;
    rmSync(home, { recursive: true, force: true });
  });

  test("a recorded process is recognised by PID and start time; a reused PID or an exited process is not", async () => {
    const me = { role: "test", pid: process.pid, startTime: processStartTime(process.pid) };
    assert.ok(me.startTime !== undefined && /^\d+$/.test(me.startTime));
    assert.equal(stillRunning(me), true);
    assert.equal(stillRunning({ ...me, startTime: "1" }), false, "same PID, another start time: another program");
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    const pid = child.pid ?? 0;
    const recorded = { role: "sleep", pid, startTime: processStartTime(pid) };
    assert.equal(stillRunning(recorded), true);
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await exited;
    assert.equal(stillRunning(recorded), false);
  });

  test("lab up refuses a lab id whose lab up still runs, naming its PID", { skip: spawnSync("qemu-system-x86_64", ["--version"], { stdio: "ignore" }).status === 0 ? false : "preflight checks QEMU before the state file" }, async () => {
    const state: QemuLabState = { labId: "s1", hosts: 2, owner: { role: "ferry lab up", pid: process.pid, startTime: processStartTime(process.pid) }, agents: [], controller: undefined };
    mkdirSync(labDir("s1"), { recursive: true });
    writeFileSync(join(labDir("s1"), "state.json"), JSON.stringify(state));
    await assert.rejects(preflight("s1", true), (e) => isFerryError(e) && e.code === "CONFLICT" && e.message.startsWith(`lab s1 is already up (ferry lab up, PID ${process.pid})`));
    // The same state left by a process that is gone is no obstacle (nothing of the lab exists).
    writeFileSync(join(labDir("s1"), "state.json"), JSON.stringify({ ...state, owner: { ...state.owner, startTime: "1" } }));
    await preflight("s1", true);
  });
});
