// DRS maintenance mode with real QEMU guests, on Ferry's production path (issue 14, "Done
// when": maintenance mode evacuates a host with real migrations in the QEMU lab, at least two
// real guests). `ferry lab up --driver qemu --hosts 3 --guests 2` as a child process (hosts
// are network namespaces, an agent inside each, the controller in `mgmt`; lab up returns once
// each guest answers on port 7000, so no guest is moved in its first second of boot: QEMU-NOTES
// trap 14), guest02 live-migrated to esx01 so both guests share it; then, in order:
//   1. `ferry host maintenance enter esx01 --dry-run --json`: the plan names both guests, each
//      to another host, with its predicted cost, and the ETA; nothing moves;
//   2. `ferry host maintenance enter esx01`: both guests leave by live migration while one echo
//      connection per guest stays open; each answers on its IP on its new host, the tasks say
//      why (DRS maintenance), esx01 runs no QEMU and is in maintenance mode;
//   3. `ferry host maintenance exit esx01` clears it.
// Needs root, QEMU and the test guest: without them it FAILS saying what to install.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { HostSummary, MaintenanceAnswer, VmSummary } from "../../src/api/schemas.ts";
import type { QemuLabSummary } from "../../src/cli/commands/lab-qemu.ts";
import type { MigrationReport } from "../../src/core/migration/types.ts";
import { requireQemu, requireRoot } from "../../src/drivers/qemu/testing/requirements.ts";
import { execRunner } from "../../src/lab/netns.ts";
import { startEchoClient, type EchoClient, type EchoReport } from "./echo-client.ts";
import { controllerGet, keepLabLogs, labCli } from "./support.ts";

const labId = `d${randomBytes(2).toString("hex")}`;
const cli = labCli("lab-drs");
const { ferry, home } = cli;
const BIN = new URL("../../bin/ferry.js", import.meta.url).pathname;
const GUESTS = ["guest01", "guest02"] as const;

interface Lab {
  readonly summary: QemuLabSummary;
  readonly controller: { readonly url: string; readonly token: string };
}

let lab: Lab | undefined;
const echoClients: EchoClient[] = [];

function mustLab(): Lab {
  if (lab === undefined) throw new Error("the lab did not come up (see the before hook's failure)");
  return lab;
}

function guestOf(name: string): QemuLabSummary["guests"][number] {
  const guest = mustLab().summary.guests.find((g) => g.name === name);
  assert.ok(guest !== undefined, `the lab has no guest ${name}`);
  return guest;
}

/** The controller's REST API, through the lab's relay on 127.0.0.1. */
function api<T>(path: string): Promise<T> {
  return controllerGet<T>(mustLab().controller, path);
}

/** `ferry ARGS --json`, which must succeed; its parsed output. */
const { ferryJson } = cli;

/**
 * `ferry ARGS` with no time limit of its own (the lab's `ferry` gives up after 90 s): an
 * evacuation of two guests under TCG on a busy machine may take longer, and the test waits
 * for the command's own end, not for a clock.
 */
function ferryToTheEnd(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: cli.env, encoding: "utf8", maxBuffer: 16 * 1048576 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr });
    });
  });
}

async function vmRows(): Promise<Map<string, { host: string; power: string; migrating: boolean }>> {
  const rows = await ferryJson<VmSummary[]>("vms");
  return new Map(rows.map((v) => [v.name, { host: v.host, power: v.power, migrating: v.migrating }]));
}

async function hostRow(name: string): Promise<HostSummary> {
  const row = (await ferryJson<HostSummary[]>("hosts")).find((h) => h.name === name);
  assert.ok(row !== undefined, `ferry hosts does not list ${name}`);
  return row;
}

/** The QEMU processes running inside namespace `ns` (a zombie is not running: QEMU-NOTES 12). */
async function qemusIn(ns: string): Promise<number[]> {
  const pids = (await execRunner("ip", ["netns", "pids", ns])).split(/\s+/).filter((p) => p !== "").map(Number);
  return pids.filter((pid) => {
    const stat = `/proc/${pid}/stat`;
    if (!existsSync(stat)) return false;
    const state = /\) (\w)/.exec(readFileSync(stat, "utf8"))?.[1];
    return state !== "Z" && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("qemu-system");
  });
}

/** One connection's continuity: it stayed open, every line got its own answer, none was lost. */
function assertContinuous(report: EchoReport, during: string): void {
  assert.equal(report.closed, false, `the echo connection broke during ${during}: ${report.error}`);
  assert.equal(report.bad, 0, `every answer carried the next number during ${during}: nothing lost, nothing repeated`);
  assert.ok(report.sent > 50, `the client kept sending (${report.sent} lines)`);
  assert.equal(report.replies, report.sent, `every line got its answer during ${during}`);
}

before(
  async () => {
    requireRoot();
    requireQemu();
    const summary = await cli.up(["--driver", "qemu", "--hosts", "3", "--guests", "2", "--id", labId, "--listen", "127.0.0.1:0"], 300_000);
    const controller = JSON.parse(readFileSync(join(home, "controller.json"), "utf8")) as { url: string; token: string };
    lab = { summary, controller };
    // lab up places guests round-robin (guest02 on esx02); a live migration puts both on esx01.
    const run = await ferryToTheEnd("migrate", "guest02", "--to", "esx01", "--watch", "--json");
    const report = (JSON.parse(run.stdout.trim().split("\n").pop() ?? "{}") as { report?: MigrationReport }).report;
    assert.equal(run.code, 0, `ferry migrate guest02 --to esx01: ${run.stderr.trim()}`);
    assert.equal(report?.outcome, "completed", JSON.stringify(report?.failure));
  },
  { timeout: 480_000 },
);

after(async () => {
  for (const echo of echoClients) echo.kill();
  keepLabLogs(home, labId);
  await cli.cleanup(labId);
});

describe(`ferry host maintenance with real QEMU guests (lab ${labId})`, () => {
  test("enter --dry-run: the plan moves both guests off esx01, with each move's predicted cost and the ETA; nothing moves", { timeout: 120_000 }, async (t) => {
    const before = await vmRows();
    for (const g of GUESTS) assert.deepEqual(before.get(g), { host: "esx01", power: "on", migrating: false }, `${g} starts on esx01`);

    const answer = await ferryJson<MaintenanceAnswer>("host", "maintenance", "enter", "esx01", "--dry-run");
    assert.equal(answer.dryRun, true);
    const plan = answer.plan;
    assert.ok(plan !== undefined, JSON.stringify(answer));
    assert.equal(plan.host, "esx01");
    assert.deepEqual(plan.blocked, [], "no guest is blocked");
    assert.deepEqual(plan.powerOff, []);
    assert.deepEqual(plan.moves.map((m) => m.vm).sort(), [...GUESTS]);
    for (const m of plan.moves) {
      assert.equal(m.from, "esx01");
      assert.ok(["esx02", "esx03"].includes(m.to), `${m.vm} goes to another host of the lab, not ${m.to}`);
      assert.equal(m.reason.kind, "maintenance");
      // The prediction of a 128 MiB guest: at least its touched memory crosses the link, in some time.
      assert.ok(m.cost.bytes > 1048576 && m.cost.totalMs > 0 && m.cost.downtimeMs >= 0, `${m.vm}: ${JSON.stringify(m.cost)}`);
    }
    const longest = Math.max(...plan.moves.map((m) => m.cost.totalMs));
    const sum = plan.moves.reduce((s, m) => s + m.cost.totalMs, 0);
    assert.ok(plan.etaMs >= longest - 1 && plan.etaMs <= sum + 1, `ETA ${plan.etaMs} ms lies between the longest move (${longest}) and all of them in a row (${sum})`);
    // Nothing moved and the host is not entering.
    assert.equal(answer.status.state, "out");
    const still = await vmRows();
    for (const g of GUESTS) assert.equal(still.get(g)?.host, "esx01");
    t.diagnostic(`plan: ${plan.moves.map((m) => `${m.vm} → ${m.to} ${(m.cost.bytes / 1048576).toFixed(0)} MiB ${Math.round(m.cost.totalMs)} ms`).join(", ")}; ETA ${Math.round(plan.etaMs)} ms`);
  });

  test("enter: both guests leave esx01 by live migration, each keeps its client connection and answers on its new host; esx01 is empty and in maintenance", { timeout: 900_000 }, async (t) => {
    const { summary } = mustLab();
    const echoes = new Map<string, EchoClient>();
    for (const g of GUESTS) {
      const echo = startEchoClient(summary.client.namespace, guestOf(g).ip);
      echoClients.push(echo);
      echoes.set(g, echo);
    }
    for (const echo of echoes.values()) {
      await echo.connected(60_000);
      await echo.waitForMoreReplies(25, 60_000);
    }

    const t0 = performance.now();
    const run = await ferryToTheEnd("host", "maintenance", "enter", "esx01", "--json");
    const measuredMs = performance.now() - t0;
    assert.equal(run.code, 0, `ferry host maintenance enter esx01 exited ${run.code}: ${run.stderr.trim()} ${run.stdout.trim()}`);
    const answer = JSON.parse(run.stdout) as MaintenanceAnswer;
    assert.equal(answer.status.state, "in", answer.status.message);
    assert.deepEqual(answer.status.moves.map((m) => `${m.vm} ${m.state} cold=${String(m.cold)}`).sort(), GUESTS.map((g) => `${g} completed cold=false`));

    // Each guest runs on the host its move went to, which is not esx01, and the task says why it moved.
    const rows = await vmRows();
    for (const m of answer.status.moves) {
      assert.notEqual(m.to, "esx01");
      assert.deepEqual(rows.get(m.vm), { host: m.to, power: "on", migrating: false }, `ferry vms says ${m.vm} runs on ${m.to}`);
      const task = await api<{ state: string; body: { request: { reason?: string }; report?: MigrationReport } }>(`/migrations/${m.migration}`);
      assert.equal(task.state, "completed");
      assert.match(task.body.request.reason ?? "", /^DRS maintenance/);
      assert.equal(task.body.report?.runningOn, m.to);
      t.diagnostic(`${m.vm} → ${m.to}: total ${Math.round(task.body.report.totalMs)} ms, downtime ${String(task.body.report.downtimeMs)} ms`);
    }
    // The guests' QEMUs left esx01's namespace; esx01 is in maintenance mode.
    assert.deepEqual(await qemusIn(`ferry-${labId}-esx01`), [], "no QEMU runs on esx01");
    const esx01 = await hostRow("esx01");
    assert.equal(esx01.maintenance, true);
    assert.equal(esx01.vms, 0, "the controller counts no VM on esx01");

    // Each guest keeps answering the connection opened before the move, from its new host.
    for (const [g, echo] of echoes) {
      await echo.waitForMoreReplies(25, 60_000);
      assertContinuous(await echo.stop(), `${g}'s evacuation`);
    }
    const eta = answer.plan?.etaMs ?? Number.NaN;
    t.diagnostic(`evacuation measured ${Math.round(measuredMs)} ms (CLI start to the host in maintenance) against the plan's ETA ${Math.round(eta)} ms`);
  });

  test("exit: esx01 leaves maintenance mode and may take VMs again", { timeout: 120_000 }, async () => {
    const checkToEsx01 = async (): Promise<string[]> => {
      const check = await ferry("check", "--vm", "guest01", "--to", "esx01", "--json");
      assert.ok(check.code === 0 || check.code === 1, `ferry check exited ${check.code}: ${check.stderr}`);
      return (JSON.parse(check.stdout) as { errors: { code: string }[] }).errors.map((f) => f.code);
    };
    assert.ok((await checkToEsx01()).includes("HOST_MAINTENANCE"), "in maintenance, esx01 is refused as a destination");
    const answer = await ferryJson<MaintenanceAnswer>("host", "maintenance", "exit", "esx01");
    assert.equal(answer.status.state, "out", answer.status.message);
    assert.equal((await hostRow("esx01")).maintenance, false);
    const after = await checkToEsx01();
    assert.ok(!after.includes("HOST_MAINTENANCE"), `out of maintenance, esx01 is a destination again: ${after.join(", ")}`);
  });
});
