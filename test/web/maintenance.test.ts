// Maintenance mode from a host's page in a real Chromium against a real `ferry up`
// (test/web/drs-lab.ts): the dialog shows the dry-run plan first (each VM → its destination
// with the predicted time, the ETA, the powered-off VM and the leave / move-cold choice), Enter
// evacuates the host by live migration with progress, the host ends empty of running VMs and
// marked in maintenance, Exit clears it; a VM pinned to its host's CPUs blocks entry and says
// why; a read-only token sees neither action.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { POWERED_OFF_VM, WEB_VMS, webDrsLabInventory } from "./drs-lab.ts";
import { login, screenshot, useWebSuite } from "./harness.ts";

interface Vm { name: string; host: string; power: string }
interface Host { name: string; maintenance: boolean }
interface Status { state: string; moves: { vm: string; to: string; migration: string; state: string }[] }
interface Task { state: string }

let page: Page;
const suite = useWebSuite(
  (started) => {
    page = started.page;
  },
  { inventoryText: webDrsLabInventory() },
);

async function hostPage(name: string, on: Page = page): Promise<void> {
  await on.goto(`${suite().lab.url}/#/hosts/${name}`);
  await on.getByRole("heading", { level: 1, name: new RegExp(`^Host ${name}`) }).waitFor();
}

async function openDialog(name: string) {
  await hostPage(name);
  await page.getByRole("button", { name: "Enter maintenance mode…" }).click();
  const dialog = page.getByRole("dialog", { name: `Enter maintenance mode: ${name}` });
  await dialog.waitFor();
  return dialog;
}

describe("maintenance mode from the host's page", () => {
  test("a read-only token sees no Enter or Exit maintenance mode", async () => {
    const token = await suite().lab.createToken("maintenance-viewer", "read-only");
    const viewer = await suite().browser.newPage();
    try {
      await login(viewer, suite().lab.url, token);
      await hostPage("esx01", viewer);
      await viewer.getByText("Usage, last hour").waitFor();
      assert.equal(await viewer.getByRole("button", { name: /maintenance mode/ }).count(), 0);
    } finally {
      await viewer.close();
    }
  });

  test("a VM pinned to its host's CPUs blocks entry: the plan says why and Enter stays disabled", async () => {
    const dialog = await openDialog("esx04");
    const blocked = dialog.getByRole("list", { name: "Blocked VMs" });
    await blocked.waitFor();
    assert.match((await blocked.textContent()) ?? "", /pinned01: .*CPU affinity/);
    assert.equal(await dialog.getByRole("button", { name: "Enter maintenance mode" }).isDisabled(), true);
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "detached" });
    assert.equal((await suite().lab.api<Host>("GET", "/hosts/esx04")).body.maintenance, false);
  });

  test("Enter shows the plan, then evacuates the host by live migration into maintenance; Exit clears it", async () => {
    const dialog = await openDialog("esx01");
    const planned = dialog.getByRole("table", { name: "Planned moves" });
    await planned.waitFor();
    const rows = planned.getByRole("row");
    assert.equal(await rows.count(), WEB_VMS.length + 1, "a row per running VM, and the header");
    const byVm = new Map<string, string[]>();
    for (const row of await rows.all()) {
      const cells = await row.locator("td").allTextContents();
      if (cells[0] !== undefined) byVm.set(cells[0], cells);
    }
    for (const vm of WEB_VMS) {
      const cells = byVm.get(vm) ?? [];
      assert.ok(cells[1] !== undefined && /^esx0[234]$/.test(cells[1]), `${vm} goes to another host: ${cells.join(" | ")}`);
      assert.match(cells[2] ?? "", /\d+ (ms|s)$/, `${vm}'s predicted time`);
    }
    assert.match((await dialog.getByLabel("Evacuation plan").textContent()) ?? "", /ETA \d/);
    const off = dialog.getByRole("group", { name: "Powered-off VMs" });
    assert.match((await off.textContent()) ?? "", new RegExp(POWERED_OFF_VM));
    assert.equal(await dialog.getByLabel("Leave them registered on this host").isChecked(), true);
    await screenshot(page, "maintenance-plan", { height: 1100 });

    await dialog.getByRole("button", { name: "Enter maintenance mode" }).click();
    await dialog.getByRole("table", { name: "Moves" }).waitFor();
    await dialog.getByRole("heading", { name: /esx01 is in maintenance mode/ }).waitFor({ timeout: 180_000 });
    await screenshot(page, "maintenance-done", { height: 1100 });

    // The controller's view: every move a completed live migration, no running VM left on esx01, the host marked.
    const status = (await suite().lab.api<Status>("GET", "/hosts/esx01/maintenance")).body;
    assert.equal(status.state, "in");
    assert.deepEqual(status.moves.map((m) => m.vm).sort(), [...WEB_VMS].sort());
    for (const move of status.moves) assert.equal((await suite().lab.api<Task>("GET", `/migrations/${move.migration}`)).body.state, "completed", move.vm);
    const vms = (await suite().lab.api<Vm[]>("GET", "/vms")).body;
    for (const vm of WEB_VMS) assert.notEqual(vms.find((v) => v.name === vm)?.host, "esx01", `${vm} left esx01`);
    assert.equal(vms.find((v) => v.name === POWERED_OFF_VM)?.host, "esx01", "the powered-off VM was left registered");
    assert.equal((await suite().lab.api<Host>("GET", "/hosts/esx01")).body.maintenance, true);

    await dialog.getByRole("button", { name: "Done" }).click();
    await page.getByRole("heading", { level: 1 }).getByText("maintenance").waitFor();
    await page.getByRole("button", { name: "Exit maintenance mode" }).click();
    await page.getByRole("button", { name: "Enter maintenance mode…" }).waitFor();
    assert.equal((await suite().lab.api<Host>("GET", "/hosts/esx01")).body.maintenance, false);
    assert.equal(await page.getByRole("heading", { level: 1 }).getByText("maintenance").count(), 0);
  });
});
