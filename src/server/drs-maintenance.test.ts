// The evacuation plan's ETA runs the moves as the migration scheduler will: as many at a time
// as it admits from the evacuated host (its per-host limit), each on the lane that frees first.
// Six equal VMs leave esx01 of the DRS test cluster; with a fixed two at a time the ETA was
// three moves long where the scheduler runs them in one or two waves.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { scheduleMs } from "../core/drs/evacuate.ts";
import { hostLimit } from "../core/migration/admission.ts";
import { vmotionNicMbps } from "./prediction.ts";
import { drsLabInventory } from "./testing/drs-lab.ts";
import { testController, type TestController } from "./testing/controller.ts";

let ctl: TestController;
const dir = mkdtempSync(join(tmpdir(), "ferry-maintenance-eta-"));
before(async () => {
  const file = join(dir, "drs-lab.json");
  writeFileSync(file, JSON.stringify(drsLabInventory()));
  ctl = await testController(file);
});
after(async () => {
  await ctl.store.close();
  rmSync(dir, { recursive: true, force: true });
});

test("the ETA schedules the moves at the evacuated host's admission limit", async () => {
  const dry = await ctl.call("POST", "/api/hosts/esx01/maintenance", { body: { action: "enter", dryRun: true } });
  assert.equal(dry.status, 200, dry.text);
  const plan = (dry.body as { plan: { moves: { vm: string; cost: { totalMs: number } }[]; blocked: unknown[]; etaMs: number } }).plan;
  assert.deepEqual(plan.blocked, []);
  const durations = plan.moves.map((m) => m.cost.totalMs);
  assert.equal(durations.length, 6, "six VMs leave esx01");
  const limit = hostLimit(vmotionNicMbps(ctl.inventory.current, "esx01")).limit;
  assert.ok(limit > 2, `esx01's limit is ${limit}`);
  assert.equal(plan.etaMs, scheduleMs(durations, limit));
  // Equal VMs: at the limit the ETA is shorter than two at a time would say.
  assert.ok(plan.etaMs < scheduleMs(durations, 2), `ETA ${plan.etaMs} ms against ${scheduleMs(durations, 2)} ms two at a time`);
});
