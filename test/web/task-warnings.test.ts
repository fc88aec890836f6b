// A completed migration that carries a warning, in a real Chromium against a real `ferry up`: a
// migration asked for a 1 ms downtime limit (no switchover fits in it: the final copy, the
// destination's ownership claim and its resume take longer) completes with DOWNTIME_OVER_LIMIT;
// its page says "with a warning" and names it, and the tasks panel marks its row.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { MigrationTaskSchema } from "../../src/core/migration/schema.ts";
import { screenshot, useWebSuite } from "./harness.ts";

interface HostCheck { host: string; ok: boolean; warnings: unknown[] }
interface Where { vm: string; current: string; hosts: HostCheck[] }
interface VmSummary { name: string; host: string; power: string; migrating: boolean }

let page: Page;
const suite = useWebSuite((started) => {
  page = started.page;
});

async function cleanPair(): Promise<{ vm: string; to: string }> {
  const { lab } = suite();
  const vms = (await lab.api<VmSummary[]>("GET", "/vms")).body.filter((v) => v.power === "on" && !v.migrating);
  for (const vm of vms) {
    const where = (await lab.api<Where>("GET", `/vms/${encodeURIComponent(vm.name)}/where`)).body;
    const to = where.hosts.find((h) => h.ok && h.warnings.length === 0);
    if (to !== undefined) return { vm: vm.name, to: to.host };
  }
  assert.fail("examples/lab.yaml has no running VM with a host it can move to without warnings");
}

describe("a completed migration with a warning", () => {
  test("the migration page says so and names it; the tasks panel marks its row", async () => {
    const { lab } = suite();
    const { vm, to } = await cleanPair();
    const started = await lab.api<{ id: string }>("POST", "/migrations", { vm, to, downtimeMs: 1 });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const id = started.body.id;
    const deadline = Date.now() + 60_000;
    let report;
    for (;;) {
      const task = MigrationTaskSchema.parse((await lab.api<unknown>("GET", `/migrations/${id}`)).body);
      report = task.body.report;
      if (task.state === "completed" && report !== undefined) break;
      assert.ok(!["failed", "cancelled"].includes(task.state), `the migration ended ${task.state}: ${JSON.stringify(report?.failure)}`);
      assert.ok(Date.now() < deadline, "the migration did not complete within 60 s");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const warning = report.warnings[0];
    assert.equal(warning?.code, "DOWNTIME_OVER_LIMIT", `the report says it went over its 1 ms limit: ${JSON.stringify(report)}`);

    await page.goto(`${lab.url}/#/tasks/${encodeURIComponent(id)}`);
    await page.getByText(`${vm} now runs on ${to}, with a warning`).waitFor({ timeout: 20_000 });
    await page.getByRole("list", { name: "Warnings" }).getByText(`The VM paused longer than its downtime limit: ${warning.message}`).waitFor();

    const row = page.getByRole("row", { name: `Migration of ${vm} to ${to}` });
    await row.getByText("DOWNTIME_OVER_LIMIT").waitFor({ timeout: 20_000 });
    assert.ok(((await row.textContent()) ?? "").includes(`but: ${warning.message}`));
    assert.equal(await row.getAttribute("data-state"), "completed");
    await screenshot(page, "migration-warning", { height: 1100 });
  });
});
