// Through a real controller and sim agents: the wizard's preview predicts what the started
// task stores as its prediction, and a finished task keeps one sample per pre-copy pass
// (the detail page's chart) whose numbers agree with the report.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseInventory } from "../../src/core/inventory/parse.ts";
import { labVmSpec } from "../../src/cli/commands/up.ts";
import { startLab, type Lab } from "./harness.ts";

const LAB_FILE = new URL("../../examples/lab.yaml", import.meta.url).pathname;
const LAB_TEXT = readFileSync(LAB_FILE, "utf8");
const parsed = parseInventory(LAB_TEXT, LAB_FILE);
if (!parsed.ok) throw new Error("examples/lab.yaml does not parse");
const web01 = parsed.inventory.vms.find((v) => v.name === "web01")!;

interface Sample { pass: number; at: number; bytesSent: number; bytesRemaining: number; dirtyRateBytesPerSec: number; linkRateBytesPerSec: number }
interface Task { id: string; state: string; body: { prediction?: unknown; passes?: Sample[]; report?: { outcome: string; passes: number; bytesSent: number } } }

let lab: Lab;
before(async () => {
  // 32 MiB (16 touched) dirtied at 2 MiB/s over a 40 Mb/s link: a few passes, not one.
  lab = await startLab(LAB_TEXT, [{ name: "esx01", linkMbps: 40 }, { name: "esx02", linkMbps: 40 }], [{ host: "esx01", spec: { ...labVmSpec(web01, undefined, 3), memoryMB: 32, touchedBytes: 16 * 1048576 } }]);
});
after(async () => {
  await lab.stop();
});

test("preview predicts what the task stores; the task keeps a sample per pass", async () => {
  const request = { vm: "web01", to: "esx02", bandwidthMbps: 40 };
  const preview = await lab.api<{ prediction: unknown; predictedFrom: string; refusal: string | null; ok: boolean }>("POST", "/migrations/preview", request);
  assert.equal(preview.status, 200);
  assert.equal(preview.body.predictedFrom, "agent");
  assert.equal(preview.body.ok, true);
  assert.equal(preview.body.refusal, null);
  assert.equal((await lab.api<unknown[]>("GET", "/migrations")).body.length, 0, "a preview starts nothing");

  const started = await lab.api<Task>("POST", "/migrations", request);
  assert.equal(started.status, 202);
  assert.deepEqual(started.body.body.prediction, preview.body.prediction);

  const deadline = Date.now() + 60_000;
  let task: Task;
  for (;;) {
    task = (await lab.api<Task>("GET", `/migrations/${started.body.id}`)).body;
    if (task.body.report !== undefined) break;
    assert.ok(Date.now() < deadline, `still ${task.state}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(task.body.report.outcome, "completed");
  const samples = task.body.passes ?? [];
  assert.ok(samples.length >= 2, `passes kept: ${JSON.stringify(samples)}`);
  assert.deepEqual(samples.map((s) => s.pass), samples.map((_, i) => i + 1), "one sample per pass, in order");
  assert.equal(samples[samples.length - 1]!.pass, task.body.report.passes);
  for (let i = 1; i < samples.length; i++) {
    assert.ok(samples[i]!.bytesSent >= samples[i - 1]!.bytesSent && samples[i]!.at >= samples[i - 1]!.at);
  }
  assert.ok(samples.every((s) => s.linkRateBytesPerSec > 0));
  assert.ok(samples[samples.length - 1]!.bytesSent <= task.body.report.bytesSent);
});

test("preview of a VM its source agent does not run: the refusal start would give, a prediction from the inventory", async () => {
  // web02 is in the inventory on esx01, but was never created on esx01's agent here.
  const preview = await lab.api<{ predictedFrom: string; refusal: string | null; prediction: unknown }>("POST", "/migrations/preview", { vm: "web02", to: "esx02" });
  assert.equal(preview.status, 200);
  assert.equal(preview.body.predictedFrom, "inventory");
  assert.match(preview.body.refusal ?? "", /web02 is not on its source host's agent \(esx01\)/);
  assert.ok(preview.body.prediction !== null);
  const started = await lab.api<{ code: string; message: string }>("POST", "/migrations", { vm: "web02", to: "esx02" });
  assert.equal(started.body.message, preview.body.refusal, "the same words as POST /migrations");
});
