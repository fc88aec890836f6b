// Liveness through a real controller process and real sim agent processes: an agent frozen
// with SIGSTOP misses its heartbeats and its host becomes "not responding" (migrations to it
// refused with the checker's finding, its VMs' power unknown); SIGCONT brings it back and
// reconciles what it runs with the inventory; a controller restart reconciles every host.
// Every state is waited for (polling the API or reading SSE), never slept into.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseInventory } from "../../src/core/inventory/parse.ts";
import { labVmSpec } from "../../src/cli/commands/up.ts";
import { runFerry } from "../../src/cli/testing/io.ts";
import type { HostSummary, VmSummary } from "../../src/api/schemas.ts";
import { startLab, type Lab } from "./harness.ts";

const LAB_FILE = new URL("../../examples/lab.yaml", import.meta.url).pathname;
const LAB_TEXT = readFileSync(LAB_FILE, "utf8");
const parsed = parseInventory(LAB_TEXT, LAB_FILE);
if (!parsed.ok) throw new Error("examples/lab.yaml does not parse");
const inventory = parsed.inventory;
const spec = (name: string) => {
  const vm = inventory.vms.find((v) => v.name === name);
  if (vm === undefined) throw new Error(`no ${name} in examples/lab.yaml`);
  return { ...labVmSpec(vm, undefined, 7), memoryMB: 16, touchedBytes: 8 * 1048576 };
};

type HostEvent = Record<string, unknown> & { seq: number; type: string };

/** Reads the stored and live events of `task` over SSE until `done` holds for what was read (or 60 s pass). */
async function eventsUntil(lab: Lab, task: string, done: (events: readonly HostEvent[]) => boolean): Promise<HostEvent[]> {
  const abort = new AbortController();
  const timer = setTimeout(() => { abort.abort(); }, 60_000);
  const events: HostEvent[] = [];
  try {
    const response = await lab.controller.fetch(`${lab.controller.url}/api/events?task=${encodeURIComponent(task)}&after=0`, { headers: { authorization: `Bearer ${lab.controller.token}` }, signal: abort.signal });
    assert.equal(response.status, 200);
    const reader = (response.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    while (!done(events)) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffer += value;
      const frames = buffer.split("\n\n");
      buffer = frames.pop() ?? "";
      for (const frame of frames) {
        const data = frame.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
        if (data !== "") events.push(JSON.parse(data) as HostEvent);
      }
    }
    await reader.cancel().catch(() => undefined);
  } catch (error) {
    if (!abort.signal.aborted) throw error;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  assert.ok(done(events), `events of ${task} never got there: ${JSON.stringify(events)}`);
  return events;
}

/** Polls GET /api/hosts until `host` is in `state`. */
async function hostState(lab: Lab, host: string, state: HostSummary["state"]): Promise<HostSummary> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const hosts = (await lab.api<HostSummary[]>("GET", "/hosts")).body;
    const found = hosts.find((h) => h.name === host);
    if (found?.state === state && found.lastSeenAt !== null) return found;
    if (Date.now() > deadline) throw new Error(`${host} is ${found?.state ?? "missing"}, not ${state}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("liveness: heartbeats, not responding, reconciliation", () => {
  let lab: Lab;
  let stopped: number | undefined;
  before(async () => {
    lab = await startLab(LAB_TEXT, [{ name: "esx01" }, { name: "esx02" }], [
      { host: "esx01", spec: spec("web01") },
      { host: "esx02", spec: spec("db01") },
    ], ["--heartbeat", "2000", "--heartbeat-timeout", "2000"]);
  });
  after(async () => {
    // A frozen agent is thawed before it is stopped (by its PID, in lab.stop).
    if (stopped !== undefined) process.kill(stopped, "SIGCONT");
    await lab.stop();
  });

  const ferry = (...args: string[]) => runFerry([...args, "--controller", lab.controller.url, "--token", lab.controller.token]);

  /** What is true while esx02's agent (`pid`) is frozen. */
  const frozen = async (pid: number): Promise<void> => {
    assert.ok(pid > 0);
    const silent = await hostState(lab, "esx02", "notResponding");
    assert.equal(silent.connected, true, "the inventory's flag is not written by a heartbeat");

    const refused = await lab.api<{ code: string; message: string; details: { errors: { code: string }[] } }>("POST", "/migrations", { vm: "web01", to: "esx02", acceptWarnings: "all" });
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.match(refused.body.message, /HOST_DISCONNECTED: The destination host esx02 is not responding/);
    assert.deepEqual(refused.body.details.errors.map((f) => f.code), ["HOST_DISCONNECTED"]);
    const vms = (await lab.api<VmSummary[]>("GET", "/vms")).body;
    const db01 = vms.find((v) => v.name === "db01");
    assert.deepEqual([db01?.power, db01?.recordedPower, db01?.hostState], ["unknown", "on", "notResponding"]);
    assert.deepEqual([vms.find((v) => v.name === "web01")?.power, vms.find((v) => v.name === "web01")?.hostState], ["on", "connected"]);
    const table = await ferry("hosts");
    assert.equal(table.status, 0, table.err);
    assert.match(table.out, /esx02\s*│[^\n]*│\s*not responding\s*│/);
    const vmTable = await ferry("vms");
    assert.match(vmTable.out, /db01\s*│\s*esx02\s*│\s*not responding\s*│[^\n]*│\s*unknown\s*│/);
    await eventsUntil(lab, "host:esx02", (events) => events.some((e) => e.type === "host" && e["state"] === "notResponding"));
  };

  test("a frozen agent's host becomes not responding: migrations to it refused with the finding, its VMs unknown; thawed, it is reconciled", async () => {
    await hostState(lab, "esx02", "connected");
    // Behind the controller's back: db01 powered off and a VM nobody imported started on esx02.
    await lab.agent("esx02").powerOff("db01");
    await lab.agent("esx02").createVm({ ...spec("web02"), name: "rogue01" });
    await lab.agent("esx02").powerOn("rogue01");

    const pid = lab.agents.get("esx02")?.child.pid;
    assert.ok(pid !== undefined);
    process.kill(pid, "SIGSTOP");
    stopped = pid;
    try {
      await frozen(pid);
    } finally {
      // Thawed whatever happened, so the next test finds esx02 answering.
      process.kill(pid, "SIGCONT");
      stopped = undefined;
    }
    await hostState(lab, "esx02", "connected");
    const events = await eventsUntil(lab, "host:esx02", (list) => list.some((e) => e.type === "reconciled"));
    // examples/lab.yaml has more VMs on esx02 than this lab created there: those are gone (floppy01 one of them).
    const differences = events.filter((e) => e.type === "reconcile" && ["db01", "rogue01", "floppy01"].includes(String(e["vm"]))).map((e) => [e["kind"], e["vm"], e["corrected"]]);
    assert.deepEqual(differences, [
      ["powerDiffers", "db01", true],
      ["vmGone", "floppy01", true],
      ["vmUnknown", "rogue01", false],
    ]);
    assert.deepEqual(events.filter((e) => e.type === "host").map((e) => e["state"]), ["notResponding", "connected"]);
    const after = await lab.api<{ power: string }>("GET", "/vms/db01");
    assert.equal(after.body.power, "off", "the agent's word on power is the truth");
    // The same record through GET /api/host-events and `ferry events`.
    const listed = await ferry("events", "--host", "esx02");
    assert.equal(listed.status, 0, listed.err);
    assert.match(listed.out, /esx02\s*│\s*not responding\s*│/);
    assert.match(listed.out, /esx02\s*│\s*powerDiffers \(corrected\)\s*│\s*db01\s*│/);
    assert.match(listed.out, /vmUnknown\s*│\s*rogue01/);
    assert.match(listed.out, /esx02\s*│\s*reconciled\s*│\s*-\s*│\s*esx02: \d+ differences with the inventory, \d+ corrected/);
    const bad = await ferry("events", "--host", "esx99");
    assert.deepEqual([bad.status, bad.err.trim()], [2, 'ferry: no host named "esx99"']);
  });

  test("a controller restart reconciles every host at its first answer: a VM moved behind its back is found where it runs", async () => {
    // web01 goes from esx01 to esx02 without the controller.
    await lab.agent("esx01").powerOff("web01");
    await lab.agent("esx01").destroyVm("web01");
    await lab.agent("esx02").createVm(spec("web01"));
    await lab.agent("esx02").powerOn("web01");
    await lab.restartController();
    const esx01 = await eventsUntil(lab, "host:esx01", (list) => list.some((e) => e.type === "reconciled"));
    const esx02 = await eventsUntil(lab, "host:esx02", (list) => list.filter((e) => e.type === "reconciled").length >= 2);
    // Gone from esx01 and found on esx02: one difference, under whichever host was compared first.
    const web01Differences = [...esx01, ...esx02].filter((e) => e.type === "reconcile" && e["vm"] === "web01").map((e) => [e["host"], e["kind"], e["corrected"]]);
    assert.equal(web01Differences.length, 1, JSON.stringify(web01Differences));
    assert.deepEqual(web01Differences[0]?.slice(1), ["vmMoved", true]);
    const web01 = await lab.api<{ host: string; power: string }>("GET", "/vms/web01");
    assert.deepEqual([web01.body.host, web01.body.power], ["esx02", "on"]);
  });
});
