// The migrate wizard, the Recent tasks panel and the migration detail page in a real Chromium
// against a real `ferry up` (controller + simulated hosts of examples/lab.yaml). The VM/host
// pairs are found through the API at the start (GET /vms/{name}/where), not guessed: a clean
// compatible pair, an incompatible one, and one with warnings only.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Locator, Page } from "playwright-core";
import { login, screenshot, startWebSuite, type WebSuite } from "./harness.ts";

interface Finding { code: string; severity: string; message: string; fix: string; ui: { text: string } }
interface HostCheck { host: string; ok: boolean; errors: Finding[]; warnings: Finding[]; low?: HostCheck }
interface Where { vm: string; current: string; hosts: HostCheck[] }
interface VmSummary { name: string; host: string; power: string; migrating: boolean; memoryMB: number }
interface Preview { ok: boolean; refusal: string | null; warnings: Finding[]; prediction: { passes: number; totalMs: number; bytes: number; downtimeMs: number } | null }
interface TaskRow { id: string; state: string; percent: number; vm: string; destination: string; body: { report?: { outcome: string; runningOn: string; passes: number; warnings?: { message: string }[] } } }

interface Pair { vm: string; from: string; host: HostCheck }

let suite: WebSuite;
let page: Page;
let stopSuite: (() => Promise<void>) | undefined;
const where = new Map<string, Where>();
const taken = new Set<string>();

/** Every running VM that is not migrating, with its where answer as of now. */
async function refreshWhere(): Promise<void> {
  where.clear();
  const vms = (await suite.lab.api<VmSummary[]>("GET", "/vms")).body;
  for (const vm of vms.filter((v) => v.power === "on" && !v.migrating)) {
    const high = await suite.lab.api<Where>("GET", `/vms/${encodeURIComponent(vm.name)}/where?priority=high`);
    const low = await suite.lab.api<Where>("GET", `/vms/${encodeURIComponent(vm.name)}/where?priority=low`);
    assert.equal(high.status, 200);
    assert.equal(low.status, 200);
    // Each host's check at high priority (the default), with its check at low priority beside it.
    where.set(vm.name, { ...high.body, hosts: high.body.hosts.map((h) => ({ ...h, ...(low.body.hosts.find((l) => l.host === h.host) === undefined ? {} : { low: low.body.hosts.find((l) => l.host === h.host)! }) })) });
  }
}

/** A running VM and a host whose check (as of now) matches `want`; VMs no other test used first. */
async function findPair(want: (h: HostCheck) => boolean, prefer: (vm: string) => boolean = () => true): Promise<Pair> {
  await refreshWhere();
  const candidates: Pair[] = [];
  for (const w of where.values()) {
    for (const h of w.hosts) if (want(h)) candidates.push({ vm: w.vm, from: w.current, host: h });
  }
  const fresh = candidates.filter((c) => !taken.has(c.vm));
  const pair = fresh.find((c) => prefer(c.vm)) ?? fresh[0] ?? candidates.find((c) => prefer(c.vm)) ?? candidates[0];
  assert.ok(pair !== undefined, `examples/lab.yaml has no VM/host pair for this test (checked ${[...where.keys()].join(", ")})`);
  taken.add(pair.vm);
  return pair;
}

/** Polls `check` every 100 ms until it holds; fails naming `what`. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `${what}: not within ${String(timeoutMs)} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const clean = (h: HostCheck): boolean => h.ok && h.warnings.length === 0;
/** Refused at both priorities: nothing but a fix makes this move possible. */
const blocked = (h: HostCheck): boolean => h.errors.length > 0 && (h.low?.errors.length ?? 1) > 0;
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

async function openWizard(vm: string): Promise<Locator> {
  await page.goto(`${suite.lab.url}/#/vms/${encodeURIComponent(vm)}`);
  await page.getByRole("button", { name: "Migrate…" }).click();
  const dialog = page.getByRole("dialog", { name: `Migrate ${vm}` });
  await dialog.getByRole("heading", { name: "Select target host" }).waitFor();
  // Every host has been checked once the radios are there.
  await dialog.getByRole("radiogroup", { name: "Target host" }).getByRole("radio").first().waitFor();
  return dialog;
}

const hostRadio = (dialog: Locator, host: string): Locator => dialog.getByRole("radio", { name: new RegExp(`^${escape(host)} — `) });

/** Polls the task's bar in the Recent tasks panel until it completes; every value seen, in order. */
async function watchTaskBar(vm: string, destination: string, timeoutMs: number): Promise<number[]> {
  const row = page.getByRole("region", { name: /^Recent tasks/ }).getByRole("row", { name: `Migration of ${vm} to ${destination}` }).first();
  const bar = row.getByRole("progressbar", { name: `Progress of ${vm}` });
  const seen: number[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // The state first: a bar read after it saw "completed" shows the end.
    const state = await row.getAttribute("data-state");
    const value = Number(await bar.getAttribute("aria-valuenow"));
    if (seen[seen.length - 1] !== value) seen.push(value);
    if (state === "failed" || state === "cancelled") assert.fail(`the migration of ${vm} ended ${state}: ${(await row.textContent()) ?? ""}`);
    if (state === "completed") return seen;
    assert.ok(Date.now() < deadline, `the migration of ${vm} did not end in ${String(timeoutMs)} ms; bar values ${seen.join(", ")}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

before(async () => {
  suite = await startWebSuite();
  stopSuite = () => suite.stop();
  page = suite.page;
});

after(async () => {
  await stopSuite?.();
});

describe("migrate wizard", () => {
  test("a full migration: host, pool, priority, summary with the prediction, Finish; the task reaches 100% and the VM shows on its new host", async () => {
    // A VM that dirties memory (web/app servers in the lab) makes a pre-copy with several passes.
    const pair = await findPair(clean, (vm) => /^(web|app)/.test(vm));
    const dialog = await openWizard(pair.vm);
    await screenshot(page, "migrate-1-target-host");

    const next = dialog.getByRole("button", { name: "Next" });
    assert.equal(await next.isDisabled(), true, "Next waits for a host");
    await hostRadio(dialog, pair.host.host).check();
    await next.click();

    await dialog.getByRole("heading", { name: "Resource pool" }).waitFor();
    const pools = dialog.getByRole("radiogroup", { name: "Resource pool" }).getByRole("radio");
    assert.ok((await pools.count()) >= 1);
    const own = dialog.getByRole("radio", { name: /the VM's pool now/ });
    if ((await own.count()) > 0) assert.equal(await own.isChecked(), true, "the VM's own pool is the default");
    const pool = ((await dialog.getByRole("radio", { checked: true }).getAttribute("id")) ?? "").replace(/^migrate-pool-/, "");
    await screenshot(page, "migrate-2-resource-pool");
    await next.click();

    await dialog.getByRole("heading", { name: "Priority" }).waitFor();
    await dialog.getByRole("radio", { name: "High priority" }).check();
    assert.ok(await dialog.getByText("refused if they are not available").isVisible());
    assert.ok(await dialog.getByText("Always proceeds, may take longer").isVisible());
    await screenshot(page, "migrate-3-priority");
    await next.click();

    await dialog.getByRole("heading", { name: "Summary" }).waitFor();
    const predictedPasses = dialog.getByLabel("Predicted passes");
    await predictedPasses.waitFor();
    // What the summary shows is what the controller predicts for these choices.
    const preview = await suite.lab.api<Preview>("POST", "/migrations/preview", { vm: pair.vm, to: pair.host.host, pool, priority: "high" });
    assert.equal(preview.status, 200);
    assert.ok(preview.body.prediction !== null && preview.body.refusal === null, JSON.stringify(preview.body));
    assert.equal(Number(await predictedPasses.textContent()), preview.body.prediction.passes);
    assert.match((await dialog.getByLabel("Predicted time").textContent()) ?? "", /\d/);
    assert.match((await dialog.getByLabel("Predicted downtime").textContent()) ?? "", /\d+ ms|\d s/);
    assert.ok(await dialog.getByText("Passed: no errors, no warnings").isVisible());
    await screenshot(page, "migrate-4-summary");

    await dialog.getByRole("button", { name: "Finish" }).click();
    await dialog.waitFor({ state: "detached" });

    const seen = await watchTaskBar(pair.vm, pair.host.host, 120_000);
    assert.equal(seen[seen.length - 1], 100, `bar values ${seen.join(", ")}`);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, `the bar went backwards: ${seen.join(", ")}`);
    const task = (await suite.lab.api<TaskRow[]>("GET", `/migrations?vm=${pair.vm}`)).body[0];
    assert.equal(task?.state, "completed");
    assert.equal(task.body.report?.runningOn, pair.host.host);
    // The row says how it went, as the report says: passes and downtime, or the warning a busy
    // machine may earn (a switchover over the downtime limit) after "but:".
    const row = page.getByRole("region", { name: /^Recent tasks/ }).getByRole("row", { name: `Migration of ${pair.vm} to ${pair.host.host}` }).first();
    const warnings = task.body.report.warnings ?? [];
    const said = warnings.length === 0 ? /^Moved in .+, \d+ pass(es)?, downtime \d+ ms$/ : new RegExp(`^Moved in .+, but: ${escape(warnings.map((w) => w.message).join("; "))}$`);
    await row.getByText(said).waitFor({ timeout: 30_000 });

    // The tree and the VM's page follow without a reload.
    const tree = page.getByRole("navigation", { name: "Inventory" });
    await tree.locator(`xpath=//li[./span/a[normalize-space()="${pair.host.host}"]]//a[normalize-space()="${pair.vm}"]`).waitFor();
    assert.equal(await tree.locator(`xpath=//li[./span/a[normalize-space()="${pair.from}"]]//a[normalize-space()="${pair.vm}"]`).count(), 0);
    await page.goto(`${suite.lab.url}/#/vms/${encodeURIComponent(pair.vm)}`);
    await page.getByRole("region", { name: "Summary" }).getByRole("link", { name: pair.host.host, exact: true }).waitFor();
  });

  test("a blocked migration: the incompatible host shows its reasons and Next stays disabled", async () => {
    const pair = await findPair(blocked);
    const dialog = await openWizard(pair.vm);
    const radio = dialog.getByRole("radio", { name: new RegExp(`^${escape(pair.host.host)} — incompatible: ${String(pair.host.errors.length)} error`) });
    const reasons = dialog.getByRole("list", { name: `Reasons for ${pair.host.host}` });
    for (const f of pair.host.errors) {
      assert.ok(await reasons.getByText(f.message, { exact: true }).first().isVisible(), `reason shown: ${f.message}`);
      // The fix in the UI's words (Finding.ui), never the command line's (Finding.fix).
      assert.ok(await reasons.getByText(`Fix: ${f.ui.text}`, { exact: true }).first().isVisible(), `fix shown: ${f.ui.text}`);
    }
    await radio.check();
    await dialog.getByText(`${pair.vm} cannot move to ${pair.host.host}`).waitFor();
    assert.equal(await dialog.getByRole("button", { name: "Next" }).isDisabled(), true);
    await screenshot(page, "migrate-blocked");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "detached" });
    assert.equal((await suite.lab.api<TaskRow[]>("GET", `/migrations?vm=${pair.vm}`)).body.length, 0, "nothing started");
  });

  test("a warning must be acknowledged before Next enables, and the migration then starts", async () => {
    const pair = await findPair((h) => h.ok && h.warnings.length > 0);
    const dialog = await openWizard(pair.vm);
    await hostRadio(dialog, pair.host.host).check();
    const reasons = dialog.getByRole("list", { name: `Reasons for ${pair.host.host}` });
    for (const w of pair.host.warnings) assert.ok(await reasons.getByText(w.message, { exact: true }).first().isVisible(), `warning shown: ${w.message}`);
    const next = dialog.getByRole("button", { name: "Next" });
    assert.equal(await next.isDisabled(), true, "Next waits for the acknowledgement");
    await dialog.getByLabel("Why Next is disabled").getByText(`Read the warnings for ${pair.host.host}`, { exact: false }).waitFor();
    const ack = dialog.getByRole("checkbox", { name: new RegExp(`read the warnings for ${escape(pair.host.host)}`) });
    await screenshot(page, "migrate-warnings");
    await ack.check();
    assert.equal(await next.isDisabled(), false);
    await ack.uncheck();
    assert.equal(await next.isDisabled(), true);
    await ack.check();
    await next.click();
    await next.click();
    await next.click();
    await dialog.getByRole("heading", { name: "Summary" }).waitFor();
    await dialog.getByLabel("Predicted passes").waitFor();
    const finish = dialog.getByRole("button", { name: "Finish" });
    // Pool and priority may raise warnings of their own: those need a second acknowledgement.
    const more = dialog.getByRole("checkbox", { name: /read these warnings too/ });
    if ((await more.count()) > 0) await more.check();
    await finish.click();
    await dialog.waitFor({ state: "detached" });
    const tasks = (await suite.lab.api<TaskRow[]>("GET", `/migrations?vm=${pair.vm}`)).body;
    assert.equal(tasks.length, 1, "the acknowledged warnings were accepted: the task exists");
    const seen = await watchTaskBar(pair.vm, pair.host.host, 120_000);
    assert.equal(seen[seen.length - 1], 100, `bar values ${seen.join(", ")}`);
  });
  test("a host that only low priority can use: chosen at low priority, High disabled with the reason", async () => {
    const pair = await findPair((h) => h.errors.length > 0 && h.low !== undefined && h.low.errors.length === 0);
    const dialog = await openWizard(pair.vm);
    const radio = dialog.getByRole("radio", { name: new RegExp(`^${escape(pair.host.host)} — compatible with low priority only`) });
    await radio.check();
    await dialog.getByText(`${pair.host.host} takes ${pair.vm} at low priority`).waitFor();
    const ack = dialog.getByRole("checkbox", { name: new RegExp(`read the warnings for ${escape(pair.host.host)}`) });
    if ((pair.host.low?.warnings.length ?? 0) > 0) await ack.check();
    const next = dialog.getByRole("button", { name: "Next" });
    await next.click();
    await next.click();
    await dialog.getByRole("heading", { name: "Priority" }).waitFor();
    assert.equal(await dialog.getByRole("radio", { name: "Low priority" }).isChecked(), true);
    assert.equal(await dialog.getByRole("radio", { name: "High priority" }).isDisabled(), true);
    assert.ok(await dialog.getByText(pair.host.errors[0]!.message, { exact: false }).first().isVisible());
    await next.click();
    await dialog.getByLabel("Predicted passes").waitFor();
    const more = dialog.getByRole("checkbox", { name: /read these warnings too/ });
    if ((await more.count()) > 0) await more.check();
    await dialog.getByRole("button", { name: "Finish" }).click();
    await dialog.waitFor({ state: "detached" });
    const task = (await suite.lab.api<(TaskRow & { body: { request?: { priority?: string } } })[]>("GET", `/migrations?vm=${pair.vm}`)).body[0];
    assert.equal(task?.body.request?.priority, "low");
    const seen = await watchTaskBar(pair.vm, pair.host.host, 120_000);
    assert.equal(seen[seen.length - 1], 100, `bar values ${seen.join(", ")}`);
  });
  test("the controller's refusal at Finish is shown in the wizard in its own words", async () => {
    const pair = await findPair(clean);
    const dialog = await openWizard(pair.vm);
    await hostRadio(dialog, pair.host.host).check();
    const next = dialog.getByRole("button", { name: "Next" });
    await next.click();
    await next.click();
    await next.click();
    await dialog.getByLabel("Predicted passes").waitFor();
    // Someone else starts the same VM's migration while the summary is open (slowly: 8 Mb/s).
    const other = await suite.lab.api<TaskRow>("POST", "/migrations", { vm: pair.vm, to: pair.host.host, bandwidthMbps: 8 });
    assert.equal(other.status, 202);
    await dialog.getByRole("button", { name: "Finish" }).click();
    const alert = dialog.getByText("The controller refused to start the migration");
    await alert.waitFor();
    await dialog.getByText(`${pair.vm} is already migrating (task ${other.body.id}`, { exact: false }).waitFor();
    assert.equal(await dialog.isVisible(), true, "the wizard stays open on a refusal");
    await screenshot(page, "migrate-refused");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    assert.equal((await suite.lab.api<TaskRow>("DELETE", `/migrations/${other.body.id}`)).status, 202);
    await watchTaskBar(pair.vm, pair.host.host, 30_000).then(
      () => assert.fail("the aborted migration completed"),
      (error: unknown) => {
        assert.match(String(error), /ended (cancelled|failed)/);
      },
    );
  });
});

describe("recent tasks and the migration detail page", () => {
  test("a running migration: the panel's bar moves by phase, the detail page charts each pass, then predicted vs measured", async () => {
    const pair = await findPair(clean, (vm) => /^(web|app|db)/.test(vm));
    // A bandwidth cap that makes the migration last ~8 s, from the controller's own prediction.
    const probe = await suite.lab.api<Preview>("POST", "/migrations/preview", { vm: pair.vm, to: pair.host.host, bandwidthMbps: 1000 });
    assert.ok(probe.body.prediction !== null);
    const bandwidthMbps = Math.max(8, Math.round((probe.body.prediction.bytes * 8) / 1e6 / 8));
    const started = await suite.lab.api<TaskRow>("POST", "/migrations", { vm: pair.vm, to: pair.host.host, bandwidthMbps });
    assert.equal(started.status, 202, JSON.stringify(started.body));

    await page.goto(`${suite.lab.url}/#/`);
    const panel = page.getByRole("region", { name: /^Recent tasks/ });
    const row = panel.getByRole("row", { name: `Migration of ${pair.vm} to ${pair.host.host}` }).first();
    // Pre-copy is 10–90%: wait until the bar is inside it, with a rate shown.
    const bar = row.getByRole("progressbar", { name: `Progress of ${pair.vm}` });
    await until("the bar inside pre-copy (10–90%)", async () => {
      const v = Number(await bar.getAttribute("aria-valuenow"));
      return v > 10 && v < 90;
    }, 30_000);
    assert.match((await row.textContent()) ?? "", /Pre-copy/);
    assert.match((await row.textContent()) ?? "", /Mb\/s/);
    assert.equal(await row.getByRole("button", { name: `Abort the migration of ${pair.vm}` }).isVisible(), true);
    await screenshot(page, "tasks-running");

    await row.getByRole("link", { name: `Details of the migration of ${pair.vm}` }).click();
    await page.getByRole("heading", { name: `Migration of ${pair.vm}: ${pair.from} → ${pair.host.host}` }).waitFor();
    await page.getByRole("list", { name: "Phase timeline" }).waitFor();
    // uPlot draws into a canvas; its legend carries the series names.
    await page.locator(".ferry-chart canvas").first().waitFor();
    assert.ok(await page.getByText("bytes remaining (MiB)").first().isVisible());
    await page.getByText(/pass(es)?; after the last one/).waitFor({ timeout: 30_000 });
    await screenshot(page, "migration-detail-running", { height: 1500 });

    // A plain table (PatternFly's default grid role is for interactive tables; either is accepted here).
    const measured = page.getByRole("table", { name: "Predicted vs measured" }).or(page.getByRole("grid", { name: "Predicted vs measured" }));
    await measured.waitFor({ timeout: 60_000 });
    const task = (await suite.lab.api<TaskRow>("GET", `/migrations/${started.body.id}`)).body;
    assert.equal(task.state, "completed");
    const measuredPasses = measured.getByRole("row", { name: /^Passes/ });
    assert.match((await measuredPasses.textContent()) ?? "", new RegExp(`${String(task.body.report?.passes)}$`));
    await page.getByText(`${pair.vm} now runs on ${pair.host.host}`).waitFor();
    await screenshot(page, "migration-detail", { height: 1700 });
  });

  test("Abort from the panel: the migration ends cancelled, its failure in plain words, the VM still on its source", async () => {
    const pair = await findPair(clean);
    // Slow enough (8 Mb/s) that it is still copying when Abort is clicked.
    const started = await suite.lab.api<TaskRow>("POST", "/migrations", { vm: pair.vm, to: pair.host.host, bandwidthMbps: 8 });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    await page.goto(`${suite.lab.url}/#/`);
    const row = page.getByRole("region", { name: /^Recent tasks/ }).getByRole("row", { name: `Migration of ${pair.vm} to ${pair.host.host}` }).first();
    await until("the migration in pre-copy", async () => (await row.getAttribute("data-state")) === "precopy", 30_000);
    await row.getByRole("button", { name: `Abort the migration of ${pair.vm}` }).click();
    await page.getByRole("dialog", { name: `Abort the migration of ${pair.vm}?` }).getByRole("button", { name: "Yes, abort the migration" }).click();
    await until("the migration ended", async () => ["cancelled", "failed"].includes((await row.getAttribute("data-state")) ?? ""), 30_000);
    const task = (await suite.lab.api<TaskRow>("GET", `/migrations/${started.body.id}`)).body;
    assert.equal(task.body.report?.runningOn, pair.from);
    await row.getByText(`Aborted on request`).waitFor();
    await row.getByText(`${pair.vm} still runs on ${pair.from}`).waitFor();
    assert.equal(await row.getByRole("button", { name: /^Abort/ }).count(), 0, "no Abort on an ended task");
    const vm = (await suite.lab.api<VmSummary>("GET", `/vms/${pair.vm}`)).body;
    assert.deepEqual([vm.host, vm.migrating], [pair.from, false]);
  });

  test("a read-only user sees the tasks but no Abort and no Migrate…", async () => {
    const token = await suite.lab.createToken("web-viewer", "read-only");
    const viewer = await suite.browser.newPage();
    try {
      await login(viewer, suite.lab.url, token);
      const panel = viewer.getByRole("region", { name: /^Recent tasks/ });
      await panel.getByRole("row", { name: /^Migration of / }).first().waitFor();
      assert.equal(await panel.getByRole("button", { name: /^Abort/ }).count(), 0);
      await panel.getByRole("link", { name: /^Details of the migration/ }).first().waitFor();
      const vm = [...where.keys()][0]!;
      await viewer.goto(`${suite.lab.url}/#/vms/${vm}`);
      await viewer.getByRole("heading", { name: new RegExp(`^VM ${escape(vm)}`) }).waitFor();
      assert.equal(await viewer.getByRole("button", { name: "Migrate…" }).count(), 0);
    } finally {
      await viewer.close();
    }
  });
});
