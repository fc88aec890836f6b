// The migrate wizard's pool preselection, its words for a powered-off VM, and what Finish
// leaves behind, in a real Chromium against `ferry up` on examples/lab.yaml:
// - legacy01 (pool Legacy-root, cluster Legacy) to a Prod host preselects Prod-root, the root
//   pool of Prod — not Prod-Gold, a fixed child pool — and says why; a VM staying in its
//   cluster keeps its own pool and says so;
// - a powered-off VM is "moved cold", never "the running VM … live";
// - after Finish, keyboard focus is on the notice's Details link (not <body>), and that link
//   opens the task Finish created, although an older task of the same VM exists.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Locator, Page } from "playwright-core";
import { useWebSuite } from "./harness.ts";

interface TaskRow { id: string; state: string; vm: string; destination: string; body: { request?: { pool?: string } } }

let page: Page;
const suite = useWebSuite((s) => {
  page = s.page;
});

async function openWizard(vm: string, heading = new RegExp(`^VM ${vm}\\b`)): Promise<Locator> {
  // A dialog a failed test left open hides the page from the accessibility tree.
  if ((await page.getByRole("dialog").count()) > 0) await page.keyboard.press("Escape");
  await page.goto(`${suite().lab.url}/#/vms/${encodeURIComponent(vm)}`);
  await page.getByRole("heading", { name: heading }).waitFor();
  await page.getByRole("main").getByRole("button", { name: "Migrate…", exact: true }).click();
  const dialog = page.getByRole("dialog", { name: `Migrate ${vm}` });
  await dialog.waitFor();
  return dialog;
}

/** Chooses `host`, acknowledges its warnings if it has any, and goes on to the pool step. */
async function toPoolStep(dialog: Locator, host: string): Promise<void> {
  await dialog.getByRole("radio", { name: new RegExp(`^${host} — `) }).check();
  const ack = dialog.getByRole("checkbox", { name: new RegExp(`read the warnings for ${host}`) });
  if ((await ack.count()) > 0) await ack.check();
  await dialog.getByRole("button", { name: "Next" }).click();
  await dialog.getByRole("heading", { name: "Resource pool" }).waitFor();
}

describe("the migrate wizard's pool, words and Finish", () => {
  test("legacy01 to a Prod host preselects Prod's root pool with the reason; web01 within Prod keeps its own", async () => {
    const { lab } = suite();
    const where = await lab.api<{ hosts: { host: string; ok: boolean }[] }>("GET", "/vms/legacy01/where");
    const prodHost = where.body.hosts.find((h) => h.ok && (h.host === "esx01" || h.host === "esx02"));
    assert.ok(prodHost !== undefined, `legacy01 can move to a Prod host: ${JSON.stringify(where.body)}`);
    let dialog = await openWizard("legacy01");
    await toPoolStep(dialog, prodHost.host);
    assert.equal(await dialog.getByRole("radio", { name: /^Prod-root\b/ }).isChecked(), true, "Prod-root preselected");
    assert.equal(await dialog.getByRole("radio", { name: /^Prod-Gold\b/ }).isChecked(), false, "not the fixed child pool");
    await dialog.getByText("Prod-root is preselected: it is the root pool of cluster Prod, and legacy01's pool now, Legacy-root, does not belong to cluster Prod.").waitFor();
    assert.equal(await dialog.getByText("the pool the VM is in now will do").count(), 0, "no claim that the current pool will do");
    // The summary asks the controller about the pool shown.
    await dialog.getByRole("button", { name: "Next" }).click();
    await dialog.getByRole("button", { name: "Next" }).click();
    await dialog.getByRole("heading", { name: "Summary" }).waitFor();
    await dialog.getByLabel("Migration summary").getByText("Prod-root", { exact: true }).waitFor();
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "detached" });

    dialog = await openWizard("web01");
    await toPoolStep(dialog, "esx02");
    assert.equal(await dialog.getByRole("radio", { name: /^Prod-root\b/ }).isChecked(), true);
    await dialog.getByText("Prod-root is preselected: it is web01's pool now, and it belongs to cluster Prod, so the same pool will do.").waitFor();
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "detached" });
  });

  test("a powered-off VM is moved cold, and the wizard never says 'running … live'", async () => {
    const { lab } = suite();
    const off = await lab.api<unknown>("POST", "/vms/app01/power", { action: "off" });
    assert.ok(off.status >= 200 && off.status < 300, `power off app01: ${String(off.status)} ${JSON.stringify(off.body)}`);
    // Powered off behind the page's back: a reload reads the inventory as it is now.
    await page.reload();
    const dialog = await openWizard("app01", /^VM app01 off\b/);
    await dialog.getByText("Move the powered-off VM to another host, cold", { exact: false }).waitFor();
    assert.equal(await dialog.getByText("Move the running VM").count(), 0);
    assert.equal(await dialog.getByText(/, live\.|running VM/).count(), 0, "no live move promised for a cold move");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "detached" });
    // Its page and the running VMs' wizard still say live for a running VM.
    const running = await openWizard("web02");
    await running.getByText("Move the running VM to another host, live.").waitFor();
    await running.getByRole("button", { name: "Cancel" }).click();
  });

  test("after Finish, focus is on the notice's Details link, which opens the task just created, not an older one of the same VM", async () => {
    const { lab } = suite();
    // An older task of web02: started slowly, then aborted.
    const older = await lab.api<TaskRow>("POST", "/migrations", { vm: "web02", to: "esx02", bandwidthMbps: 8 });
    assert.equal(older.status, 202, JSON.stringify(older.body));
    assert.equal((await lab.api<unknown>("DELETE", `/migrations/${older.body.id}`)).status, 202);
    for (;;) {
      const t = (await lab.api<TaskRow>("GET", `/migrations/${older.body.id}`)).body;
      if (["cancelled", "failed", "completed"].includes(t.state)) break;
      await page.waitForTimeout(200); // polling the API for a state, not timing an outcome
    }
    const dialog = await openWizard("web02");
    await dialog.getByRole("radio", { name: /^esx02 — / }).check();
    const ack = dialog.getByRole("checkbox", { name: /read the warnings for esx02/ });
    if ((await ack.count()) > 0) await ack.check();
    const next = dialog.getByRole("button", { name: "Next" });
    await next.click();
    await next.click();
    await next.click();
    await dialog.getByRole("heading", { name: "Summary" }).waitFor();
    const finish = dialog.getByRole("button", { name: "Finish" });
    await page.waitForFunction(() => {
      const b = [...document.querySelectorAll("button")].find((x) => x.textContent === "Finish");
      return b !== undefined && !b.disabled;
    });
    const more = dialog.getByRole("checkbox", { name: /read these warnings too/ });
    if ((await more.count()) > 0) await more.check();
    await finish.click();
    await dialog.waitFor({ state: "detached" });

    const details = page.getByRole("link", { name: "Details of the migration of web02 just started" });
    await details.waitFor();
    await page.waitForFunction(() => document.activeElement?.id === "ferry-migration-started-details").catch(async (error: unknown) => {
      const focused = await page.evaluate(() => `${document.activeElement?.tagName ?? "none"} "${document.activeElement?.textContent.slice(0, 60) ?? ""}"`);
      assert.fail(`focus is on ${focused}, not the Details link: ${String(error)}`);
    });
    const tasks = (await lab.api<TaskRow[]>("GET", "/migrations?vm=web02")).body;
    const created = tasks.find((t) => t.id !== older.body.id);
    assert.ok(created !== undefined && tasks.length === 2, `two tasks of web02: ${JSON.stringify(tasks.map((t) => t.id))}`);
    // Keyboard: Enter on the focused link opens the new task's page.
    await page.keyboard.press("Enter");
    await page.waitForFunction((id) => window.location.hash === `#/tasks/${id}`, created.id);
    await page.getByRole("heading", { name: /^Migration of web02: esx01 → esx02/ }).waitFor();
    assert.equal(await details.count(), 0, "the notice is gone once followed");
  });
});
