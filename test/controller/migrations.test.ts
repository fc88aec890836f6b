// Migrations through a real controller process and real sim agent processes: a live move
// end to end, warnings that must be accepted, abort, the queue's reasons, a second
// migration of a busy VM, and a controller killed mid-migration that settles on restart.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseInventory } from "../../src/core/inventory/parse.ts";
import { labVmSpec } from "../../src/cli/commands/up.ts";
import { runFerry } from "../../src/cli/testing/io.ts";
import { startLab, type Lab } from "./harness.ts";
import { assertNeverBack, progressPercents, waitFor } from "../support/tasks.ts";
import { startThrowawayPostgres, type ThrowawayPostgres } from "../../src/store/testing/postgres.ts";

const LAB_FILE = new URL("../../examples/lab.yaml", import.meta.url).pathname;
const LAB_TEXT = readFileSync(LAB_FILE, "utf8");
const parsed = parseInventory(LAB_TEXT, LAB_FILE);
if (!parsed.ok) throw new Error("examples/lab.yaml does not parse");
const inventory = parsed.inventory;
const spec = (name: string, memoryMB?: number) => {
  const vm = inventory.vms.find((v) => v.name === name)!;
  const s = labVmSpec(vm, undefined, 7);
  return memoryMB === undefined ? s : { ...s, memoryMB, touchedBytes: Math.floor((memoryMB * 1048576) / 2) };
};

interface Task { id: string; state: string; vm: string; source: string; destination: string; body: { report?: { outcome: string; runningOn: string; failure?: { code: string; phase: string } }; waitingReason?: string } }

async function waitForTask(lab: Lab, id: string, timeoutMs = 60_000): Promise<Task> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await lab.api<Task>("GET", `/migrations/${id}`);
    if (["completed", "failed", "cancelled"].includes(body.state) && body.body.report !== undefined) return body;
    if (Date.now() > deadline) throw new Error(`task ${id} still ${body.state}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until the task is in `state` (a phase), so a fault lands there and not wherever a sleep ends. */
async function waitForState(lab: Lab, id: string, state: string, timeoutMs = 60_000): Promise<Task> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await lab.api<Task>("GET", `/migrations/${id}`);
    if (body.state === state) return body;
    if (["completed", "failed", "cancelled"].includes(body.state)) throw new Error(`task ${id} ended ${body.state} before it was ${state}`);
    if (Date.now() > deadline) throw new Error(`task ${id} still ${body.state}, not ${state}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function runningOn(lab: Lab, vm: string): Promise<string[]> {
  const out: string[] = [];
  for (const host of lab.agents.keys()) {
    const vms = await lab.agent(host).listVms();
    if (vms.some((v) => v.name === vm && v.power === "running")) out.push(host);
  }
  return out;
}

describe("migrations through the controller", () => {
  let lab: Lab;
  before(async () => {
    lab = await startLab(LAB_TEXT, [{ name: "esx01", linkMbps: 1000 }, { name: "esx02", linkMbps: 1000 }, { name: "esx03", linkMbps: 100 }], [
      { host: "esx01", spec: spec("web01", 32) },
      { host: "esx01", spec: spec("web02", 32) },
      { host: "esx01", spec: spec("pinned01", 16) },
      { host: "esx01", spec: spec("dmz01", 64) },
      { host: "esx01", spec: spec("app01", 16) },
    ]);
  });
  after(async () => {
    await lab.stop();
  });

  const ferry = (...args: string[]) => runFerry([...args, "--controller", lab.controller.url, "--token", lab.controller.token]);

  test("ferry migrate --watch moves a running VM live; the inventory and the hosts agree", async () => {
    const r = await ferry("migrate", "web01", "--to", "esx02", "--watch");
    assert.equal(r.status, 0, r.err + r.out);
    assert.match(r.out, /web01 now runs on esx02: migrated from esx01 in .* of downtime, state verified/);
    assert.match(r.out, /predicted/);
    assert.deepEqual(await runningOn(lab, "web01"), ["esx02"]);
    const vm = await lab.api<{ host: string; migrating: boolean }>("GET", "/vms/web01");
    assert.equal(vm.body.host, "esx02");
    assert.equal(vm.body.migrating, false);
  });

  test("warnings stop a migration until accepted; errors refuse it", async () => {
    const stopped = await ferry("migrate", "web02", "--to", "esx03");
    assert.equal(stopped.status, 1);
    assert.match(stopped.err, /stopped on 2 warning\(s\).*--yes/s);
    assert.match(stopped.err, /VMOTION_LINK_SLOW/);
    const blocked = await ferry("migrate", "pinned01", "--to", "esx02");
    assert.equal(blocked.status, 1);
    assert.match(blocked.err, /CPU_AFFINITY/);
    const accepted = await ferry("migrate", "web02", "--to", "esx03", "--yes", "--json");
    assert.equal(accepted.status, 0, accepted.err);
    const task = JSON.parse(accepted.out) as Task & { body: { acceptedWarnings: string[]; requestedBy: string } };
    assert.deepEqual([...task.body.acceptedWarnings].sort(), ["VMOTION_LINK_SLOW", "VMOTION_MTU_MISMATCH"]);
    assert.equal(task.body.requestedBy, "admin");
    const done = await waitForTask(lab, task.id);
    assert.equal(done.state, "completed", JSON.stringify(done.body.report));
    assert.deepEqual(await runningOn(lab, "web02"), ["esx03"]);
  });

  test("a second migration of a VM already migrating is refused; abort leaves the VM on its source", async () => {
    const started = await lab.api<Task>("POST", "/migrations", { vm: "dmz01", to: "esx02", bandwidthMbps: 20, acceptWarnings: "all" });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const again = await lab.api<{ code: string; message: string }>("POST", "/migrations", { vm: "dmz01", to: "esx02" });
    assert.equal(again.status, 409);
    assert.match(again.body.message, /dmz01 is already migrating \(task m-/);
    // 64 MiB at 20 Mb/s: pre-copy lasts about half a minute, so the abort lands in it.
    await waitForState(lab, started.body.id, "precopy");
    const aborted = await ferry("abort", started.body.id);
    assert.equal(aborted.status, 0, aborted.err);
    const done = await waitForTask(lab, started.body.id);
    assert.equal(done.state, "cancelled", JSON.stringify(done.body.report));
    assert.deepEqual([done.body.report?.failure?.code, done.body.report?.failure?.phase], ["ABORTED", "precopy"]);
    assert.equal(done.body.report?.runningOn, "esx01");
    assert.deepEqual(await runningOn(lab, "dmz01"), ["esx01"]);
    const vm = await lab.api<{ host: string; migrating: boolean }>("GET", "/vms/dmz01");
    assert.deepEqual([vm.body.host, vm.body.migrating], ["esx01", false]);
  });

  test("a controller killed mid-migration settles the task on restart, the VM on exactly one host", async () => {
    const started = await lab.api<Task>("POST", "/migrations", { vm: "app01", to: "esx02", priority: "low", bandwidthMbps: 40, acceptWarnings: "all" });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    // Killed while the stream runs (16 MiB at 40 Mb/s: a few seconds of pre-copy).
    const hit = await waitForState(lab, started.body.id, "precopy");
    assert.equal(hit.state, "precopy");
    // Killed once its event stream ran ahead of its task row (written at most once a second), if
    // pre-copy lasts that long: a restart that started from the row would then step back.
    await waitFor("the event stream to run ahead of the task row, or pre-copy to end", async () => {
      const row = (await lab.api<{ state: string; percent: number }>("GET", `/migrations/${started.body.id}`)).body;
      const last = (await progressPercents(lab, started.body.id)).at(-1) ?? 0;
      return row.state !== "precopy" || last > row.percent ? true : undefined;
    });
    await lab.restartController("SIGKILL");
    const done = await waitForTask(lab, started.body.id);
    assert.ok(["completed", "failed"].includes(done.state), done.state);
    const hosts = await runningOn(lab, "app01");
    assert.equal(hosts.length, 1, `app01 runs on ${hosts.join(", ")}`);
    const vm = await lab.api<{ host: string; migrating: boolean }>("GET", "/vms/app01");
    assert.deepEqual([vm.body.host, vm.body.migrating], [hosts[0], false], "the inventory says where the VM really runs");
    assert.equal(done.body.report?.runningOn, hosts[0]);
    // The restarted controller's run starts where the stream left off, not at the task row's (lagging) percent.
    assertNeverBack(await progressPercents(lab, started.body.id), "the events before and after the restart");
  });
});

describe("the same on PostgreSQL", () => {
  let lab: Lab;
  let pg: ThrowawayPostgres;
  before(async () => {
    pg = await startThrowawayPostgres();
    lab = await startLab(LAB_TEXT, [{ name: "esx01" }, { name: "esx02" }], [{ host: "esx01", spec: spec("web01", 32) }], ["--postgres", pg.url]);
  });
  after(async () => {
    await lab.stop();
    pg.stop();
  });

  test("a live migration through a controller whose store is PostgreSQL", async () => {
    const r = await runFerry(["migrate", "web01", "--to", "esx02", "--watch", "--json", "--controller", lab.controller.url, "--token", lab.controller.token]);
    assert.equal(r.status, 0, r.err);
    const last = JSON.parse(r.out.trim().split("\n").pop()!) as { type: string; report: { outcome: string; runningOn: string } };
    assert.deepEqual([last.type, last.report.outcome, last.report.runningOn], ["report", "completed", "esx02"]);
    assert.deepEqual(await runningOn(lab, "web01"), ["esx02"]);
  });
});
