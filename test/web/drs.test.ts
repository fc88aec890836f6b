// The cluster's DRS tab in a real Chromium against a real `ferry up` whose cluster is
// imbalanced by measured demand (test/web/drs-lab.ts: six busy VMs on esx01): the tab lists
// the controller's recommendations with reason, gain and cost; Apply starts the move as a
// migration task that completes and the VM runs on its new host; settings saved in the tab
// are the controller's after a reload, and a refusal is shown in its words; a rule added in
// the tab is in the API; a read-only token sees it all and can change nothing; the last hour's σ
// is a chart once the controller has two points of it.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { waitFor, taskEnded } from "../support/tasks.ts";
import { webDrsLabInventory } from "./drs-lab.ts";
import { login, screenshot, useWebSuite } from "./harness.ts";

interface View {
  imbalance: number;
  targetImbalance: number;
  config: { automation: string; threshold: number; maxMovesPerRun: number; maxMovesPerHost: number };
  recommendations: { id: string; vm: string; from: string; to: string; reason: { kind: string; text: string } }[];
  unmovable: { vm: string; reason: string }[];
}
interface Task { state: string; vm: string; destination: string; body: { report?: { runningOn: string }; request: { reason?: string } } }
interface Rule { kind: string; name: string; vms: string[]; hosts?: string[]; mandatory?: boolean; affine?: boolean }

let page: Page;
const suite = useWebSuite(
  (started) => {
    page = started.page;
  },
  { inventoryText: webDrsLabInventory() },
);

async function drsView(): Promise<View> {
  const res = await suite().lab.api<View>("GET", "/clusters/Prod/drs");
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

/** The view once the controller recommends something (the lab is imbalanced from its start). */
function recommended(): Promise<View> {
  return waitFor("a DRS recommendation for Prod", async () => {
    const view = await drsView();
    return view.recommendations.length > 0 ? view : undefined;
  });
}

async function openDrsTab(on: Page = page): Promise<void> {
  await on.goto(`${suite().lab.url}/#/clusters/Prod`);
  await on.getByRole("tab", { name: "DRS" }).click();
  await on.getByRole("meter", { name: "Now" }).waitFor();
}

// PatternFly tables are ARIA grids.
const recommendationsGrid = (on: Page = page) => on.getByRole("table", { name: "DRS recommendations for Prod" });

describe("the cluster's DRS tab", () => {
  test("a read-only token sees the imbalance, the recommendations and the VMs that stay, and no Apply, Save or rule controls", async () => {
    const view = await recommended();
    const token = await suite().lab.createToken("drs-viewer", "read-only");
    const viewer = await suite().browser.newPage();
    try {
      await login(viewer, suite().lab.url, token);
      await openDrsTab(viewer);
      await recommendationsGrid(viewer).getByRole("row").nth(1).waitFor();
      assert.match((await viewer.getByRole("table", { name: "VMs that stay in Prod" }).textContent()) ?? "", /pinned01.*CPU affinity/);
      assert.equal(await viewer.getByRole("button", { name: /^Apply/ }).count(), 0, "no Apply or Apply all");
      assert.equal(await viewer.getByRole("button", { name: "Save settings" }).count(), 0);
      assert.equal(await viewer.getByRole("button", { name: "Add rule" }).count(), 0);
      assert.equal(await viewer.getByRole("button", { name: "Run DRS now" }).count(), 0);
      assert.equal(await viewer.getByLabel("Automation level").isDisabled(), true);
      assert.equal(view.config.automation, "manual");
    } finally {
      await viewer.close();
    }
  });

  test("lists the controller's recommendation with reason, gain and cost; Apply migrates the VM, the task completes, the VM shows on its new host", async () => {
    const view = await recommended();
    await openDrsTab();
    const meter = page.getByRole("meter", { name: "Now" });
    assert.match((await meter.getAttribute("aria-valuetext")) ?? "", new RegExp(`target ${view.targetImbalance.toFixed(3)}`));
    // The σ history: the loop's point at start and one per view already asked make ≥ 2, so it is a chart.
    const history = page.getByRole("figure", { name: "Imbalance history chart" });
    await history.locator(".uplot canvas").waitFor();
    assert.ok(Number(await history.getAttribute("data-points")) >= 2);
    assert.match((await history.locator("figcaption").textContent()) ?? "", new RegExp(`\\d+ points over [\\d.]+ min; .*against the target σ ${view.targetImbalance.toFixed(3)}`));
    // The open tab follows the history: the sampler's next point shows with no click (20 s period).
    const points = Number(await history.getAttribute("data-points"));
    await page.waitForFunction((n) => Number(document.querySelector('[aria-label="Imbalance history chart"]')?.getAttribute("data-points")) > n, points, { timeout: 90_000 });
    const first = view.recommendations[0];
    assert.ok(first !== undefined);
    const row = recommendationsGrid().getByRole("row").filter({ hasText: `${first.from} → ${first.to}` }).filter({ hasText: first.vm });
    await row.waitFor();
    const cells = await row.locator("td").allTextContents();
    assert.equal(cells[0], first.vm);
    assert.match(cells[2] ?? "", new RegExp(`^${first.reason.kind}`), "the reason's kind, then its text");
    assert.match(cells[2] ?? "", /esx01 at \d+% CPU/);
    assert.match(cells[3] ?? "", /^0\.\d{3} → 0\.\d{3}$/, "σ before → after");
    assert.match(cells[4] ?? "", /MiB, .*downtime/, "predicted size, time, downtime");
    await screenshot(page, "drs-tab", { height: 1300 });

    await page.getByRole("button", { name: `Apply ${first.vm} to ${first.to}` }).click();
    const started = page.getByRole("list", { name: "Applied recommendations" });
    await started.waitFor();
    const link = started.getByRole("link");
    const migration = (await link.first().textContent()) ?? "";
    assert.match(migration, /^m-/);
    const task = await taskEnded<Task>(suite().lab, migration);
    assert.equal(task.state, "completed", JSON.stringify(task));
    assert.equal(task.vm, first.vm);
    assert.equal(task.body.report?.runningOn, first.to);
    assert.match(task.body.request.reason ?? "", /^DRS balance/);
    const vm = await suite().lab.api<{ host: string }>("GET", `/vms/${first.vm}`);
    assert.equal(vm.body.host, first.to);

    // The cluster's VM list follows the move (the inventory reloads on the task's events).
    await page.getByRole("tab", { name: "Summary" }).click();
    const vmRow = page.getByRole("table", { name: "VMs of Prod" }).getByRole("row").filter({ has: page.getByRole("link", { name: first.vm, exact: true }) });
    await vmRow.locator("td").nth(1).filter({ hasText: first.to }).waitFor();
  });

  test("settings saved in the tab are the controller's and shown after a reload; a refusal is shown in the controller's words", async () => {
    await openDrsTab();
    await page.getByLabel("Automation level").selectOption("partial");
    await page.getByLabel("Migration threshold").selectOption("4");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.getByText("Saved the DRS settings of Prod.").waitFor();
    const saved = (await drsView()).config;
    assert.deepEqual([saved.automation, saved.threshold], ["partial", 4]);

    await page.reload();
    await openDrsTab();
    assert.equal(await page.getByLabel("Automation level").inputValue(), "partial");
    assert.equal(await page.getByLabel("Migration threshold").inputValue(), "4");
    assert.match((await page.getByRole("meter", { name: "Now" }).getAttribute("aria-valuetext")) ?? "", /target 0\.040/, "threshold 4's target");

    // The controller validates the caps; its words are shown, nothing changes.
    await page.getByLabel("Most moves per run", { exact: true }).fill("0");
    await page.getByRole("button", { name: "Save settings" }).click();
    const refusal = page.locator(".pf-v6-c-alert").filter({ hasText: "The DRS settings were not saved" });
    await refusal.waitFor();
    const text = (await refusal.textContent()) ?? "";
    assert.match(text, /maxMovesPerRun/i);
    assert.doesNotMatch(text, /at \w+ \(|Error:/, "no stack trace");
    assert.equal((await drsView()).config.maxMovesPerRun, saved.maxMovesPerRun);
  });

  test("rules: one added in the tab is in the API and listed in words; removed, it is gone", async () => {
    await openDrsTab();
    await page.getByLabel("Rule name").fill("web-apart");
    await page.getByLabel("Kind").selectOption("vm-anti-affinity");
    const vms = page.getByRole("group", { name: "VMs" });
    await vms.getByLabel("web3", { exact: true }).check();
    await vms.getByLabel("web4", { exact: true }).check();
    await page.getByRole("button", { name: "Add rule" }).click();
    const rules = page.getByRole("table", { name: "DRS rules of the cluster" });
    await rules.getByRole("row").filter({ hasText: "web-apart" }).filter({ hasText: "web3, web4 kept apart" }).waitFor();
    const stored = await suite().lab.api<Rule>("GET", "/drs/rules/web-apart");
    assert.equal(stored.status, 200);
    assert.deepEqual([stored.body.kind, [...stored.body.vms].sort()], ["vm-anti-affinity", ["web3", "web4"]]);

    await page.getByLabel("Rule name").fill("web5-on-esx02");
    await page.getByLabel("Kind").selectOption("vm-host");
    await vms.getByLabel("web5", { exact: true }).check();
    await page.getByRole("group", { name: "Hosts" }).getByLabel("esx02", { exact: true }).check();
    await page.getByLabel("should").check();
    await page.getByRole("button", { name: "Add rule" }).click();
    await rules.getByRole("row").filter({ hasText: "web5 should run on esx02" }).waitFor();
    const vmHost = await suite().lab.api<Rule>("GET", "/drs/rules/web5-on-esx02");
    assert.deepEqual([vmHost.body.kind, vmHost.body.vms, vmHost.body.hosts, vmHost.body.mandatory, vmHost.body.affine], ["vm-host", ["web5"], ["esx02"], false, true]);
    await screenshot(page, "drs-rules", { height: 1500 });

    await page.getByRole("button", { name: "Remove rule web-apart" }).click();
    await page.getByText("Removed rule web-apart.").waitFor();
    assert.equal((await suite().lab.api("GET", "/drs/rules/web-apart")).status, 404);
    // The table follows the removal (it re-reads the rules once the answer is in).
    await rules.getByRole("row").filter({ hasText: "web-apart" }).waitFor({ state: "detached" });
  });
});
