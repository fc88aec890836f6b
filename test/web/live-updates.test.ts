// Live updates across a lost event stream, in a real Chromium against a real `ferry up`:
// while GET /api/events cannot be reached the UI says it is reconnecting; a migration that
// ends meanwhile shows up once the stream is back — replayed from where it stopped — without
// reloading the page; and an edit made outside the page (the API, as the CLI makes it) shows
// on the open page from its operation's event.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { useWebSuite } from "./harness.ts";

interface HostCheck { host: string; ok: boolean; warnings: unknown[] }
interface Where { vm: string; current: string; hosts: HostCheck[] }
interface VmSummary { name: string; host: string; power: string; migrating: boolean }
interface Task { id: string; state: string }

let page: Page;
const suite = useWebSuite((started) => {
  page = started.page;
});

async function cleanPair(): Promise<{ vm: string; from: string; to: string }> {
  const { lab } = suite();
  const vms = (await lab.api<VmSummary[]>("GET", "/vms")).body.filter((v) => v.power === "on" && !v.migrating);
  for (const vm of vms) {
    const where = (await lab.api<Where>("GET", `/vms/${encodeURIComponent(vm.name)}/where`)).body;
    const to = where.hosts.find((h) => h.ok && h.warnings.length === 0);
    if (to !== undefined) return { vm: vm.name, from: where.current, to: to.host };
  }
  assert.fail("examples/lab.yaml has no running VM with a host it can move to without warnings");
}

describe("live updates", () => {
  test("a lost event stream shows 'reconnecting'; after it is back, what happened meanwhile shows without a reload", async () => {
    const { lab } = suite();
    const { vm, from, to } = await cleanPair();
    await page.goto(`${lab.url}/#/vms/${encodeURIComponent(vm)}`);
    const hostField = page.getByRole("region", { name: "Summary" }).locator("dd").first();
    await page.getByRole("heading", { name: new RegExp(`^VM ${vm}`) }).waitFor();
    assert.equal((await hostField.textContent())?.trim(), from);

    // The stream cannot be reached: every attempt fails at the network level.
    await page.route("**/api/events**", (route) => route.abort("connectionreset"));
    await page.reload();
    await page.getByText("Live updates lost: reconnecting…").waitFor({ timeout: 20_000 });
    // A marker that a reload would wipe out.
    await page.evaluate(() => {
      (window as unknown as { ferryMarker: string }).ferryMarker = "same page";
    });

    // Meanwhile the VM moves (through the API, as another operator would).
    const started = await lab.api<Task>("POST", "/migrations", { vm, to });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const deadline = Date.now() + 60_000;
    for (;;) {
      const task = (await lab.api<Task>("GET", `/migrations/${started.body.id}`)).body;
      if (task.state === "completed") break;
      assert.ok(!["failed", "cancelled"].includes(task.state), `the migration ended ${task.state}`);
      assert.ok(Date.now() < deadline, "the migration did not complete within 60 s");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    // Without the stream, the page has not heard of it.
    assert.equal((await hostField.textContent())?.trim(), from);

    // The stream is back: the notice goes, the VM shows on its new host, same page.
    await page.unroute("**/api/events**");
    await page.getByText("Live updates lost: reconnecting…").waitFor({ state: "detached", timeout: 20_000 });
    await page.waitForFunction(([h]) => document.querySelector('[aria-label="Summary"] dd')?.textContent.trim() === h, [to], { timeout: 20_000 });
    assert.equal(await page.evaluate(() => (window as unknown as { ferryMarker?: string }).ferryMarker), "same page");
    const tree = page.getByRole("navigation", { name: "Inventory" });
    await tree.getByRole("link", { name: vm, exact: true }).waitFor();
  });
  test("a VM powered off outside the page (the API, as the CLI does it) shows off on its open page, from the operation's event", async () => {
    const { lab } = suite();
    const vms = (await lab.api<VmSummary[]>("GET", "/vms")).body.filter((v) => v.power === "on" && !v.migrating);
    const vm = vms.at(-1);
    assert.ok(vm !== undefined, "a running VM");
    await page.goto(`${lab.url}/#/vms/${encodeURIComponent(vm.name)}`);
    await page.getByRole("heading", { name: new RegExp(`^VM ${vm.name}\\b`) }).waitFor();
    assert.equal(await page.getByRole("heading", { name: new RegExp(`^VM ${vm.name} off\\b`) }).count(), 0);
    const off = await lab.api<unknown>("POST", `/vms/${encodeURIComponent(vm.name)}/power`, { action: "off" });
    assert.ok(off.status >= 200 && off.status < 300, JSON.stringify(off.body));
    await page.getByRole("heading", { name: new RegExp(`^VM ${vm.name} off\\b`) }).waitFor();
    const on = await lab.api<unknown>("POST", `/vms/${encodeURIComponent(vm.name)}/power`, { action: "on" });
    assert.ok(on.status >= 200 && on.status < 300, JSON.stringify(on.body));
  });
});
