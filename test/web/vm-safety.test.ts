// A VM page's safety in a real Chromium against a real `ferry up`: Power off and Power cycle
// ask first (Cancel and Escape send nothing), Abort asks first on the task page and in Recent
// tasks; busy01 is migrating only while a migration task holds it, and then its page names
// the task and every action is disabled saying why — the controller refuses the same edits
// with CONFLICT; a template's mask waits while a VM taking it migrates.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Locator, Page } from "playwright-core";
import { screenshot, useWebSuite } from "./harness.ts";

interface VmDetail { name: string; host: string; power: string; migrating: boolean }
interface TaskRow { id: string; vm: string; state: string }
interface ErrorBody { code: string; message: string }

let page: Page;
const suite = useWebSuite((started) => {
  page = started.page;
});

const OPEN = (state: string): boolean => !["completed", "failed", "cancelled"].includes(state);

/** Polls `check` until it holds: a state to reach, never a time to sleep (the deadline is for a busy machine). */
async function until(what: string, check: () => Promise<boolean>, deadlineMs = 60_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) assert.fail(`${what}: not reached within ${String(deadlineMs / 1000)} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The reason shown beside a disabled button (the element its aria-describedby names). */
async function reasonOf(button: Locator): Promise<string> {
  assert.equal(await button.getAttribute("aria-disabled"), "true", `${await button.textContent() ?? ""} is disabled`);
  const id = await button.getAttribute("aria-describedby");
  assert.ok(id !== null && id !== "", "the disabled button is described by its reason");
  return (await page.locator(`[id="${id}"]`).textContent()) ?? "";
}

async function vmOf(name: string): Promise<VmDetail> {
  return (await suite().lab.api<VmDetail>("GET", `/vms/${encodeURIComponent(name)}`)).body;
}

/**
 * A slow live migration (1 Mb/s, the least a request may ask) that is still copying when the
 * test acts on it: every test that starts one aborts it, so a busy machine slowing the browser
 * down never lets it end first.
 */
async function startSlowMigration(vm: string, to: string): Promise<string> {
  const started = await suite().lab.api<TaskRow>("POST", "/migrations", { vm, to, bandwidthMbps: 1, acceptWarnings: "all" });
  assert.equal(started.status, 202, JSON.stringify(started.body));
  await until(`${vm} migrating`, async () => (await vmOf(vm)).migrating);
  return started.body.id;
}

async function taskState(id: string): Promise<string> {
  return (await suite().lab.api<TaskRow>("GET", `/migrations/${encodeURIComponent(id)}`)).body.state;
}

describe("VM page safety", () => {
  test("Power off and Power cycle ask first: Cancel and Escape send nothing, the confirm button acts", async () => {
    const { lab } = suite();
    const vm = "floppy01";
    assert.equal((await vmOf(vm)).power, "on");
    // Every power request the page sends: Cancel and Escape must send none.
    const sent: string[] = [];
    page.on("request", (request) => {
      if (request.method() === "POST" && request.url().endsWith(`/api/vms/${vm}/power`)) sent.push(request.postData() ?? "");
    });
    await page.goto(`${lab.url}/#/vms/${vm}`);
    await page.getByRole("heading", { name: new RegExp(`^VM ${vm}`) }).waitFor();

    await page.getByRole("button", { name: "Power off", exact: true }).click();
    const off = page.getByRole("dialog", { name: `Power off ${vm}?` });
    await off.getByText("as if its power cord were pulled").waitFor();
    await screenshot(page, "vm-power-confirm");
    await off.getByRole("button", { name: "Cancel" }).click();
    await off.waitFor({ state: "detached" });
    assert.equal((await vmOf(vm)).power, "on", "Cancel powered nothing off");
    assert.deepEqual(sent, []);

    await page.getByRole("button", { name: "Power off", exact: true }).click();
    await off.getByRole("button", { name: `Power off ${vm}` }).click();
    await off.waitFor({ state: "detached" });
    await page.getByText(`${vm} is powered off.`).waitFor();
    assert.equal((await vmOf(vm)).power, "off");

    // Power on takes nothing away: it acts at once.
    await page.getByRole("button", { name: "Power on", exact: true }).click();
    await page.getByText(new RegExp(`${vm} is powered on; its guest booted with`)).waitFor();

    await page.getByRole("button", { name: "Power cycle", exact: true }).click();
    const cycle = page.getByRole("dialog", { name: `Power cycle ${vm}?` });
    await cycle.waitFor();
    await page.keyboard.press("Escape");
    await cycle.waitFor({ state: "detached" });
    assert.deepEqual(sent.map((body) => (JSON.parse(body) as { action: string }).action), ["off", "on"], "Escape cycled nothing");
    await page.getByRole("button", { name: "Power cycle", exact: true }).click();
    await cycle.getByRole("button", { name: `Power cycle ${vm}` }).click();
    await cycle.waitFor({ state: "detached" });
    await page.getByText(new RegExp(`${vm} is powered on; its guest booted with`)).waitFor();
    assert.deepEqual(sent.map((body) => (JSON.parse(body) as { action: string }).action), ["off", "on", "cycle"]);
    assert.equal((await vmOf(vm)).power, "on");
  });

  test("busy01 is migrating only while a task holds it: its page names the task, every action says why it is disabled, the controller refuses, Abort asks first", async () => {
    const { lab } = suite();
    // Fresh from examples/lab.yaml: nothing moves busy01, so nothing says it migrates.
    assert.equal((await vmOf("busy01")).migrating, false);
    await page.goto(`${lab.url}/#/vms/busy01`);
    const migrate = page.getByRole("button", { name: "Migrate…" });
    await migrate.waitFor();
    assert.notEqual(await migrate.getAttribute("aria-disabled"), "true");
    assert.equal(await page.getByText("busy01 is migrating").count(), 0);

    const id = await startSlowMigration("busy01", "esx02");
    const notice = page.getByText(`Task ${id} moves it from esx01 to esx02`);
    await notice.waitFor();
    await screenshot(page, "vm-migrating");
    for (const [name, what] of [["Migrate…", "migrate it again"], ["Edit settings", "edit its settings"], ["Power cycle", "power it"], ["Power off", "power it"]] as const) {
      const reason = await reasonOf(page.getByRole("button", { name, exact: true }));
      assert.equal(reason, `busy01 is migrating (task ${id}): ${what} once it ends.`, name);
    }
    assert.match(await reasonOf(page.getByRole("button", { name: "Delete…" })), /^busy01 is migrating: delete it once/);
    // A disabled button does nothing when pressed.
    await page.getByRole("button", { name: "Power off", exact: true }).click({ force: true });
    assert.equal(await page.getByRole("dialog").count(), 0);

    // The controller refuses the same, with its catalogue code.
    const edit = await lab.api<ErrorBody>("PATCH", "/vms/busy01", { cpuAffinity: [] });
    assert.deepEqual([edit.status, edit.body.code], [409, "CONFLICT"]);
    assert.match(edit.body.message, /busy01 is migrating .*edit its settings once the migration ends/);
    const mask = await lab.api<ErrorBody>("PATCH", "/vms/busy01", { cpuidMask: { nx: true, sse3: false, sse4: false, custom: [] } });
    assert.deepEqual([mask.status, mask.body.code], [409, "CONFLICT"]);
    const power = await lab.api<ErrorBody>("POST", "/vms/busy01/power", { action: "off" });
    assert.deepEqual([power.status, power.body.code], [409, "CONFLICT"]);

    // The task's page: Abort asks first; Cancel leaves the migration running.
    await page.getByRole("link", { name: id }).click();
    await page.getByRole("heading", { name: "Migration of busy01: esx01 → esx02" }).waitFor();
    await page.getByRole("button", { name: "Abort this migration" }).click();
    const ask = page.getByRole("dialog", { name: "Abort the migration of busy01?" });
    await ask.getByText("busy01 stays on esx01 and keeps running").waitFor();
    await ask.getByRole("button", { name: "Cancel" }).click();
    await ask.waitFor({ state: "detached" });
    assert.ok(OPEN(await taskState(id)), "Cancel aborted nothing");
    await page.getByRole("button", { name: "Abort this migration" }).click();
    await ask.getByRole("button", { name: "Yes, abort the migration" }).click();
    await until("the migration ended", async () => !OPEN(await taskState(id)));
    await until("busy01 released", async () => !(await vmOf("busy01")).migrating);

    await page.goto(`${lab.url}/#/vms/busy01`);
    await page.getByRole("button", { name: "Edit settings" }).waitFor();
    await until("the actions enabled again", async () => (await page.getByRole("button", { name: "Edit settings" }).getAttribute("aria-disabled")) !== "true");
    assert.equal((await vmOf("busy01")).host, "esx01");
  });

  test("a template's mask waits while a VM taking it migrates; Abort in Recent tasks asks first", async () => {
    const { lab } = suite();
    const id = await startSlowMigration("web02", "esx02");
    await page.goto(`${lab.url}/#/templates/tmpl-debian-nx`);
    await page.getByRole("button", { name: "Advanced: SSE3, SSE4 and custom flags" }).click();
    await page.getByRole("checkbox", { name: "Mask SSE4.1 and SSE4.2" }).check();
    const reason = await reasonOf(page.getByRole("button", { name: "Save mask" }));
    assert.equal(reason, "web02 takes this mask and is migrating: change the mask of tmpl-debian-nx once the migration ends.");
    assert.match(await reasonOf(page.getByRole("button", { name: "Clear mask" })), /^web02 takes this mask/);
    const refused = await lab.api<ErrorBody>("PUT", "/templates/tmpl-debian-nx/mask", { cpuidMask: { nx: true, sse3: false, sse4: true, custom: [] } });
    assert.deepEqual([refused.status, refused.body.code], [409, "CONFLICT"]);
    assert.match(refused.body.message, /^web02 is migrating/);

    const row = page.getByRole("region", { name: /^Recent tasks/ }).locator(`[data-task-id="${id}"]`);
    await row.getByRole("button", { name: "Abort the migration of web02" }).click();
    const ask = page.getByRole("dialog", { name: "Abort the migration of web02?" });
    await ask.getByRole("button", { name: "Cancel" }).click();
    await ask.waitFor({ state: "detached" });
    assert.ok(OPEN(await taskState(id)), "Cancel aborted nothing");
    await row.getByRole("button", { name: "Abort the migration of web02" }).click();
    await ask.getByRole("button", { name: "Yes, abort the migration" }).click();
    await until("the migration ended", async () => !OPEN(await taskState(id)));
    await until("web02 released", async () => !(await vmOf("web02")).migrating);

    // Free again: the mask saves.
    await until("Save mask enabled", async () => (await page.getByRole("button", { name: "Save mask" }).getAttribute("aria-disabled")) !== "true");
    await page.getByRole("button", { name: "Save mask" }).click();
    await page.getByText("Set the CPUID mask of tmpl-debian-nx").waitFor();
    const inv = (await lab.api<{ templates: { name: string; cpuidMask?: { sse4: boolean } }[] }>("GET", "/inventory")).body;
    assert.equal(inv.templates.find((t) => t.name === "tmpl-debian-nx")?.cpuidMask?.sse4, true);
  });
});
