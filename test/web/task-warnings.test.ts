// A completed migration that carries a warning, in a real Chromium against a real `ferry up`: the
// migration page says "with a warning" and names it, the tasks panel marks the row. The task is a
// real one (a migration between the lab's sim hosts); the controller's answer is given its
// report's DOWNTIME_OVER_LIMIT warning on the way to the page, as a controller writes it when
// the measured downtime exceeds the limit (the UI under test reads what the schema says).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Page, Route } from "playwright-core";
import { MigrationTaskSchema } from "../../src/core/migration/schema.ts";
import { useWebSuite } from "./harness.ts";

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

const WARNING = { code: "DOWNTIME_OVER_LIMIT", message: "paused 401 ms at switchover, 101 ms over its 300 ms downtime limit" } as const;

/**
 * The controller's answer (read by this process, which trusts the lab's CA), with the task's
 * report carrying the warning; its event sequence is the latest, after every event of the task.
 */
async function withWarning(route: Route, id: string, sequence: number): Promise<void> {
  const { lab } = suite();
  const path = new URL(route.request().url()).pathname.replace(/^\/api/, "") + new URL(route.request().url()).search;
  const answer = await lab.api<unknown>("GET", path);
  const warn = (value: unknown): unknown => {
    const task = MigrationTaskSchema.parse(value);
    if (task.id !== id || task.body.report === undefined) return value;
    return { ...task, body: { ...task.body, report: { ...task.body.report, warnings: [WARNING] } } };
  };
  await route.fulfill({ status: answer.status, headers: { "ferry-event-sequence": String(sequence) }, json: Array.isArray(answer.body) ? answer.body.map(warn) : warn(answer.body) });
}

describe("a completed migration with a warning", () => {
  test("the migration page says so and names it; the tasks panel marks its row", async () => {
    const { lab } = suite();
    const { vm, to } = await cleanPair();
    const started = await lab.api<{ id: string }>("POST", "/migrations", { vm, to });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const id = started.body.id;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const task = MigrationTaskSchema.parse((await lab.api<unknown>("GET", `/migrations/${id}`)).body);
      if (task.state === "completed" && task.body.report !== undefined) break;
      assert.ok(!["failed", "cancelled"].includes(task.state), `the migration ended ${task.state}`);
      assert.ok(Date.now() < deadline, "the migration did not complete within 60 s");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    const { latest } = (await lab.api<{ latest: number }>("GET", "/events/page?after=0")).body;
    await page.route(/\/api\/migrations(\/[^/?]+)?(\?.*)?$/, (route) => withWarning(route, id, latest));
    await page.goto(`${lab.url}/#/tasks/${encodeURIComponent(id)}`);
    // A fresh load: the tasks panel reads its list through the route too (not the events it heard).
    await page.reload();
    const alert = page.getByText(`${vm} now runs on ${to}, with a warning`);
    await alert.waitFor({ timeout: 20_000 });
    await page.getByRole("list", { name: "Warnings" }).getByText(`The VM paused longer than its downtime limit: ${WARNING.message}`).waitFor();

    const row = page.getByRole("row", { name: `Migration of ${vm} to ${to}` });
    await row.getByText("DOWNTIME_OVER_LIMIT").waitFor({ timeout: 20_000 });
    assert.match((await row.textContent()) ?? "", new RegExp(`Moved in .*, but: ${WARNING.message}`));
    assert.equal(await row.getAttribute("data-state"), "completed");
    await page.unroute(/\/api\/migrations(\/[^/?]+)?(\?.*)?$/);
  });
});
