// The main flow on a laptop screen (1024×768) in a real Chromium against `ferry up`: a VM
// opened from the inventory drawer, migrated with the wizard to a host with warnings. Why Next
// and Finish wait is said in the wizard's footer, beside the button and in view without
// scrolling however long the step; the move completes and shows in Recent tasks, in view.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Locator, Page } from "playwright-core";
import type { z } from "zod";
import type { WhereResultSchema } from "../../src/api/schemas.ts";
import { screenshot, useWebSuite } from "./harness.ts";

type WhereResult = z.infer<typeof WhereResultSchema>;

const LAPTOP = { width: 1024, height: 768 } as const;

interface VmRow { name: string; power: string; migrating: boolean }
interface TaskRow { id: string; state: string; vm: string; destination: string }

let page: Page;
const suite = useWebSuite((started) => {
  page = started.page;
});

/** A running VM and a host it can move to with warnings only. */
async function pairWithWarnings(): Promise<{ vm: string; host: string }> {
  const { lab } = suite();
  const vms = (await lab.api<VmRow[]>("GET", "/vms")).body.filter((v) => v.power === "on" && !v.migrating);
  for (const vm of vms) {
    const where = (await lab.api<WhereResult>("GET", `/vms/${encodeURIComponent(vm.name)}/where`)).body;
    const host = where.hosts.find((h) => h.ok && h.warnings.length > 0);
    if (host !== undefined) return { vm: vm.name, host: host.host };
  }
  assert.fail("examples/lab.yaml has no VM that can move with warnings only");
}

/** Asserts the element is inside the 1024×768 viewport, whole. */
async function inView(what: Locator, name: string): Promise<void> {
  const box = await what.boundingBox();
  assert.ok(box !== null && box.y >= 0 && box.x >= 0 && box.y + box.height <= LAPTOP.height && box.x + box.width <= LAPTOP.width, `${name} in view at 1024×768: ${JSON.stringify(box)}`);
}

/** The accessible description Next/Finish carries (its aria-describedby's text). */
function description(button: Locator): Promise<string> {
  return button.evaluate((el) => {
    const ids = (el.getAttribute("aria-describedby") ?? "").split(/\s+/).filter((id) => id !== "");
    return ids.map((id) => document.getElementById(id)?.textContent ?? "").join(" ");
  });
}

describe("the migrate flow at 1024×768", () => {
  test("a VM opened from the drawer, moved with the wizard: each wait is explained beside its button, in view; the task completes in Recent tasks", async () => {
    const { lab } = suite();
    const { vm, host } = await pairWithWarnings();
    await page.setViewportSize(LAPTOP);
    await page.goto(`${lab.url}/#/`);
    await page.getByRole("heading", { level: 1, name: /^Datacenter/ }).waitFor();
    // At this width the tree is a closed drawer (inert) until its toggle opens it.
    const toggle = page.locator("[aria-label=Inventory][aria-expanded]");
    await page.locator("[aria-label=Inventory][aria-expanded=false]").waitFor();
    await toggle.click();
    await page.locator("#ferry-inventory:not([inert])").waitFor();
    // The drawer opens with focus in its search box: the VM is found by name, wherever the tree folds it.
    const drawer = page.locator("#ferry-inventory");
    await drawer.getByLabel("Search inventory").first().fill(vm);
    await drawer.getByRole("navigation", { name: "Inventory" }).getByRole("link", { name: vm, exact: true }).first().click();
    await page.getByRole("heading", { name: new RegExp(`^VM ${vm}\\b`) }).waitFor();
    await page.getByRole("main").getByRole("button", { name: "Migrate…", exact: true }).click();
    const dialog = page.getByRole("dialog", { name: `Migrate ${vm}` });
    const next = dialog.getByRole("button", { name: "Next" });
    // Nothing chosen yet: Next says so.
    await dialog.getByLabel("Why Next is disabled").getByText("Choose a target host.").waitFor();
    await dialog.getByRole("radio", { name: new RegExp(`^${host} — `) }).check();
    const why = dialog.getByLabel("Why Next is disabled").getByText(`Read the warnings for ${host}`, { exact: false });
    await why.waitFor();
    assert.equal(await next.isDisabled(), true);
    await inView(why, "the reason Next waits");
    await inView(next, "Next");
    assert.match(await description(next), new RegExp(`Read the warnings for ${host}`), "Next is described by its reason");
    await screenshot(page, "laptop-migrate-reason");
    await dialog.getByRole("checkbox", { name: new RegExp(`read the warnings for ${host}`) }).check();
    await dialog.getByLabel("Why Next is disabled").waitFor({ state: "detached" });
    await next.click();
    await next.click();
    await next.click();
    await dialog.getByRole("heading", { name: "Summary" }).waitFor();
    const finish = dialog.getByRole("button", { name: "Finish" });
    const more = dialog.getByRole("checkbox", { name: /read these warnings too/ });
    // The summary waits for the controller's check; then only new warnings may hold Finish.
    await dialog.getByLabel("Predicted passes").waitFor();
    if ((await more.count()) > 0) {
      await dialog.getByLabel("Why Finish is disabled").getByText(/raise new warnings/).waitFor();
      await more.check();
    }
    await inView(finish, "Finish");
    assert.equal(await finish.isDisabled(), false);
    await finish.click();
    await dialog.waitFor({ state: "detached" });

    const tasks = (await lab.api<TaskRow[]>("GET", `/migrations?vm=${encodeURIComponent(vm)}`)).body;
    const task = tasks.find((t) => t.destination === host);
    assert.ok(task !== undefined, `a task moves ${vm} to ${host}: ${JSON.stringify(tasks)}`);
    const row = page.getByRole("region", { name: /^Recent tasks/ }).getByRole("row", { name: `Migration of ${vm} to ${host}` }).first();
    await row.waitFor();
    // The row follows the task to its end (the dock updates from the controller's events).
    await row.and(page.locator('[data-state="completed"]')).waitFor({ timeout: 180_000 });
    await inView(row, "the task's row in Recent tasks");
    const moved = (await lab.api<{ host: string }>("GET", `/vms/${encodeURIComponent(vm)}`)).body;
    assert.equal(moved.host, host);
  });
});
