// The convergence policy through a real controller and real sim agents (issue 16 part 2): the
// task keeps the request's policy; a cluster's policy applies when the request names none; and
// post-copy, which the sim driver does not do, ends the task failed with INCOMPATIBLE, saying
// why, the VM still running on its source.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseInventory } from "../../src/core/inventory/parse.ts";
import { labVmSpec } from "../../src/cli/commands/up.ts";
import { type Lab, migrationReport, startLab } from "./harness.ts";

const LAB_FILE = new URL("../../examples/lab.yaml", import.meta.url).pathname;
// Legacy (esx03) asks for post-copy by cluster setting; Prod keeps the default.
const LAB_TEXT = readFileSync(LAB_FILE, "utf8").replace("  - name: Legacy\n", "  - name: Legacy\n    migration: { convergence: post-copy-after=2 }\n");
const parsed = parseInventory(LAB_TEXT, LAB_FILE);
if (!parsed.ok) throw new Error(`the convergence lab's inventory does not parse: ${JSON.stringify(parsed)}`);
const web02 = parsed.inventory.vms.find((v) => v.name === "web02");
if (web02 === undefined) throw new Error("examples/lab.yaml has no web02");

interface Report { outcome: string; runningOn: string; failure?: { code: string; message: string } }
interface Task { id: string; state: string; source: string; body: { request: { convergence?: unknown }; convergence?: unknown; report?: Report } }

function finished(lab: Lab, id: string): Promise<Report> {
  return migrationReport(lab, id);
}

describe("the convergence policy through the controller", () => {
  let lab: Lab;
  before(async () => {
    lab = await startLab(LAB_TEXT, [{ name: "esx01" }, { name: "esx02" }, { name: "esx03" }], [{ host: "esx01", spec: { ...labVmSpec(web02, undefined, 7), memoryMB: 32, touchedBytes: 16 * 1048576 } }]);
  });
  after(async () => {
    await lab.stop();
  });

  test("the task keeps the request's policy: fail on a guest that converges completes", async () => {
    const started = await lab.api<Task>("POST", "/migrations", { vm: "web02", to: "esx02", acceptWarnings: "all", convergence: { kind: "fail" } });
    assert.equal(started.status < 300, true, JSON.stringify(started.body));
    assert.deepEqual(started.body.body.request.convergence, { kind: "fail" });
    assert.deepEqual(started.body.body.convergence, { kind: "fail" }, "the policy it runs with");
    const report = await finished(lab, started.body.id);
    assert.equal(report.outcome, "completed", report.failure?.message);
  });

  test("post-copy on the sim: failed with INCOMPATIBLE, saying the sim has no post-copy; the VM runs where it was", async () => {
    const started = await lab.api<Task>("POST", "/migrations", { vm: "web02", to: "esx01", acceptWarnings: "all", convergence: { kind: "post-copy", afterPasses: 2 } });
    assert.equal(started.status < 300, true, JSON.stringify(started.body));
    const report = await finished(lab, started.body.id);
    assert.equal(report.outcome, "failed");
    assert.equal(report.failure?.code, "INCOMPATIBLE", report.failure?.message);
    assert.match(report.failure.message, /sim driver, which has no post-copy/);
    assert.equal(report.runningOn, "esx02");
  });

  test("a move out of a cluster whose policy is post-copy takes it when the request names none", async () => {
    const there = await lab.api<Task>("POST", "/migrations", { vm: "web02", to: "esx03", acceptWarnings: "all" });
    assert.equal(there.status < 300, true, JSON.stringify(there.body));
    const arrived = await finished(lab, there.body.id);
    assert.equal(arrived.outcome, "completed", arrived.failure?.message);
    // From esx03 (Legacy: post-copy-after=2) the sim refuses what its cluster asks.
    const back = await lab.api<Task>("POST", "/migrations", { vm: "web02", to: "esx02", acceptWarnings: "all" });
    assert.deepEqual(back.body.body.convergence, { kind: "post-copy", afterPasses: 2 }, "the cluster's policy, in the task");
    assert.equal(there.body.body.convergence !== undefined && (there.body.body.convergence as { kind: string }).kind, "auto-converge", "Prod has none: the default");
    const report = await finished(lab, back.body.id);
    assert.equal(report.failure?.code, "INCOMPATIBLE", report.failure?.message);
    assert.equal(report.runningOn, "esx03");
  });
  test("the cluster's policy cleared through the API: the next move from it runs with the default and completes", async () => {
    const cleared = await lab.api<{ convergence: string | null }>("PUT", "/clusters/Legacy/migration", { convergence: null });
    assert.deepEqual([cleared.status, cleared.body], [200, { convergence: null }]);
    const back = await lab.api<Task>("POST", "/migrations", { vm: "web02", to: "esx02", acceptWarnings: "all" });
    assert.equal(back.status < 300, true, JSON.stringify(back.body));
    assert.deepEqual(back.body.body.convergence, { kind: "auto-converge" });
    const report = await finished(lab, back.body.id);
    assert.equal(report.outcome, "completed", report.failure?.message);
    assert.equal(report.runningOn, "esx02");
  });
});
