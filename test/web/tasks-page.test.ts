// Every operation is a task (issue 15), in a real Chromium against a real `ferry up`: a power
// operation one token runs and one another token is refused appear in Recent tasks without a
// reload, with their state, result and initiator; the Tasks page (#/tasks) lists operations
// and migrations with start and completion times and the initiator, filters them by object,
// user, state and kind, and adds a new operation live.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Locator, Page } from "playwright-core";
import { OperationSchema, type Operation } from "../../src/core/operations/schema.ts";
import { screenshot, useWebSuite } from "./harness.ts";

let page: Page;
const suite = useWebSuite((started) => {
  page = started.page;
});

async function operations(query: string): Promise<Operation[]> {
  const answer = await suite().lab.api<unknown>("GET", `/operations?${query}`);
  assert.equal(answer.status, 200);
  return OperationSchema.array().parse(answer.body);
}

/** Waits until `check` holds, asking again after each failed look (states, not time). */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `${what}: not reached in ${String(timeoutMs)} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const rowsOf = (table: Locator): Locator => table.locator("tbody tr");

describe("Tasks", () => {
  test("Recent tasks shows operations as they start and end: who, state and result, a refusal with its code", async () => {
    const { lab } = suite();
    const vms = (await lab.api<{ name: string; power: string; migrating: boolean }[]>("GET", "/vms")).body;
    const vm = vms.find((v) => v.power === "on" && !v.migrating)?.name;
    assert.ok(vm !== undefined, "the lab runs a VM");
    const operator = await lab.createToken("ops-bob", "operator");
    const viewer = await lab.createToken("viewer-ann", "read-only");

    await page.goto(`${lab.url}/#/`);
    const panel = page.getByRole("region", { name: /^Recent tasks/ });
    await panel.getByRole("link", { name: "All tasks" }).waitFor();

    // Power off by one token, power on refused to another: no reload in between.
    const off = await lab.api<{ power: string }>("POST", `/vms/${vm}/power`, { action: "off" }, operator);
    assert.equal(off.status, 200);
    const offRow = panel.getByRole("row", { name: `Power off on ${vm}` }).first();
    await until("the power-off row succeeded", async () => (await offRow.getAttribute("data-state").catch(() => null)) === "succeeded");
    const offText = (await offRow.textContent()) ?? "";
    assert.match(offText, /Succeeded/);
    assert.match(offText, new RegExp(`${vm} is powered off on \\S+`));
    assert.match(offText, /by ops-bob/);
    assert.equal(await offRow.getByRole("link", { name: vm }).getAttribute("href"), `#/vms/${vm}`);

    const refused = await lab.api("POST", `/vms/${vm}/power`, { action: "on" }, viewer);
    assert.equal(refused.status, 403);
    const refusedRow = panel.getByRole("row", { name: `Power on on ${vm}` }).first();
    await until("the refused power-on row failed", async () => (await refusedRow.getAttribute("data-state").catch(() => null)) === "failed");
    assert.match((await refusedRow.textContent()) ?? "", /Failed[\s\S]*FORBIDDEN[\s\S]*by viewer-ann/);
    assert.match(await panel.getByRole("heading").first().textContent() ?? "", /^Recent tasks/);
    await screenshot(page, "recent-tasks-operations");

    assert.equal((await lab.api("POST", `/vms/${vm}/power`, { action: "on" }, operator)).status, 200);
    await panel.getByRole("row", { name: `Power on on ${vm}` }).and(page.locator('[data-state="succeeded"]')).first().waitFor();
  });

  test("the Tasks page lists tasks with start and completion times and initiator, filters by object, user, state and kind, and grows live", async () => {
    const { lab } = suite();
    await page.goto(`${lab.url}/#/`);
    await page.getByRole("region", { name: /^Recent tasks/ }).getByRole("link", { name: "All tasks" }).click();
    await page.getByRole("heading", { level: 1, name: "Tasks", exact: true }).waitFor();
    assert.equal(await page.getByText("No such page").count(), 0);
    const table = page.getByRole("table", { name: "Tasks", exact: true });
    await table.waitFor();

    // Each row says what the API says: the newest operation's times and initiator.
    const [newest] = await operations("kind=operation&limit=1");
    assert.ok(newest !== undefined && newest.endedAt !== null);
    const row = table.locator(`tr[data-task-id="${newest.id}"]`);
    await row.waitFor();
    assert.equal(await row.locator("td[data-label='Start time'] time").getAttribute("datetime"), new Date(newest.startedAt).toISOString());
    assert.equal(await row.locator("td[data-label='Completion time'] time").getAttribute("datetime"), new Date(newest.endedAt).toISOString());
    assert.equal(((await row.locator("td[data-label='Initiator']").textContent()) ?? "").trim(), newest.initiator);

    const filters = page.getByRole("search", { name: "Filter tasks" });
    // By user: only ops-bob's, and all of them.
    await filters.getByLabel("User").fill("ops-bob");
    const bobs = await operations("user=ops-bob");
    await until("only ops-bob's tasks", async () => (await rowsOf(table).count()) === bobs.length && (await rowsOf(table).locator("td[data-label='Initiator']").allTextContents()).every((t) => t.trim() === "ops-bob"));
    // By state as well: the failed ones of nobody but viewer-ann.
    await filters.getByLabel("User").fill("viewer-ann");
    await filters.getByLabel("State").selectOption("failed");
    const failed = await operations("user=viewer-ann&state=failed");
    assert.ok(failed.length >= 1);
    await until("viewer-ann's failed tasks", async () => {
      const states = await rowsOf(table).evaluateAll((rows) => rows.map((r) => r.getAttribute("data-state")));
      return states.length === failed.length && states.every((s) => s === "failed");
    });
    assert.match((await rowsOf(table).first().textContent()) ?? "", /FORBIDDEN/);
    await screenshot(page, "tasks-page-filtered");

    // By object: every row's target is that VM.
    await filters.getByRole("button", { name: "Clear filters" }).click();
    const target = failed[0]?.object?.name ?? "";
    await filters.getByLabel("Object").fill(target);
    await until(`only ${target}'s tasks`, async () => {
      const targets = await rowsOf(table).locator("td[data-label='Target']").allTextContents();
      return targets.length > 0 && targets.every((t) => t.trim() === target);
    });

    // Live: a new operation shows up without a reload when it matches the filter.
    await filters.getByRole("button", { name: "Clear filters" }).click();
    await until("the filters cleared", async () => (await rowsOf(table).count()) >= bobs.length + failed.length);
    const created = await lab.api("POST", "/tokens", { name: "ci-bot", role: "read-only" });
    assert.equal(created.status, 201);
    const tokenRow = table.getByRole("row", { name: "Create token on ci-bot" });
    await until("the token's task appeared and succeeded", async () => (await tokenRow.getAttribute("data-state").catch(() => null)) === "succeeded");
    assert.match((await tokenRow.textContent()) ?? "", /token ci-bot created \(read-only\)[\s\S]*admin/);
    assert.equal(await tokenRow.getByRole("link").count(), 0, "a token has no page to link to");
    await screenshot(page, "tasks-page");
  });

  test("migrations are tasks on the same page: their hosts, state, initiator and a Details link", async () => {
    const { lab } = suite();
    const vms = (await lab.api<{ name: string; power: string; migrating: boolean }[]>("GET", "/vms")).body.filter((v) => v.power === "on" && !v.migrating);
    let started: { id: string; vm: string; to: string } | undefined;
    for (const vm of vms) {
      const where = (await lab.api<{ hosts: { host: string; ok: boolean; warnings: unknown[] }[] }>("GET", `/vms/${encodeURIComponent(vm.name)}/where`)).body;
      const to = where.hosts.find((h) => h.ok && h.warnings.length === 0);
      if (to === undefined) continue;
      const answer = await lab.api<{ id: string }>("POST", "/migrations", { vm: vm.name, to: to.host });
      if (answer.status === 202) {
        started = { id: answer.body.id, vm: vm.name, to: to.host };
        break;
      }
    }
    assert.ok(started !== undefined, "no VM of the lab could start a migration");
    await page.goto(`${lab.url}/#/tasks`);
    const filters = page.getByRole("search", { name: "Filter tasks" });
    await filters.getByLabel("Kind").selectOption("migration");
    const table = page.getByRole("table", { name: "Tasks", exact: true });
    const row = table.locator(`tr[data-task-id="${started.id}"]`);
    await until("the migration completed on the Tasks page", async () => (await row.getAttribute("data-state").catch(() => null)) === "succeeded", 120_000);
    const text = (await row.textContent()) ?? "";
    assert.match(text, new RegExp(`Migrate \\S+ → ${started.to}`));
    assert.match(text, new RegExp(`${started.vm} runs on ${started.to}`));
    assert.equal(((await row.locator("td[data-label='Initiator']").textContent()) ?? "").trim(), "admin");
    assert.equal(await row.getByRole("link", { name: /^Details of Migrate/ }).getAttribute("href"), `#/tasks/${started.id}`);
    const kinds = await rowsOf(table).evaluateAll((rows) => rows.map((r) => r.getAttribute("data-task-id") ?? ""));
    assert.ok(kinds.every((id) => !id.startsWith("op-")), "the Migrations filter shows no operation");
  });
});
