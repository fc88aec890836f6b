// Usage charts in a real Chromium against a real `ferry up` (test/web/drs-lab.ts): the host's
// page charts its CPU and memory used against capacity, the VM's page its own against what it
// is configured with, from the samples the controller takes (every 5 s here, `ferry up
// --usage-interval`: the test waits for samples, up to a few intervals). The chart's
// newest point is a sample GET /api/usage has, and a later sample reaches the open page
// without a reload.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Locator, Page } from "playwright-core";
import { webDrsLabInventory } from "./drs-lab.ts";
import { screenshot, useWebSuite } from "./harness.ts";

interface Point { at: number; cpuMhz: number; memoryMB: number }
interface Report { intervalMs: number; hosts: { host: string; capacity: { cpuMhz: number; memoryMB: number } | null; history: Point[] }[]; vms: { vm: string; history: Point[] }[] }

let page: Page;
const suite = useWebSuite(
  (started) => {
    page = started.page;
  },
  // Samples every 5 s (`ferry up --usage-interval`): the tests wait for the next one.
  { inventoryText: webDrsLabInventory(), usageIntervalMs: 5000 },
);

/** Waits until the chart shows at least `count` samples (the page polls at the sampling interval). */
async function samplesShown(chart: Locator, count: number): Promise<void> {
  await chart.waitFor();
  await chart.page().waitForFunction(
    ({ label, n }) => Number(document.querySelector(`figure[aria-label="${label}"]`)?.getAttribute("data-samples") ?? "0") >= n,
    { label: (await chart.getAttribute("aria-label")) ?? "", n: count },
    { timeout: 150_000, polling: 250 },
  );
}

async function latestShown(chart: Locator): Promise<{ at: number; value: number }> {
  return { at: Number(await chart.getAttribute("data-latest-at")), value: Number(await chart.getAttribute("data-latest")) };
}

describe("usage charts", () => {
  test("a host's page charts CPU and memory used against capacity from the controller's samples, and follows new samples without a reload", async () => {
    await page.goto(`${suite().lab.url}/#/hosts/esx01`);
    const cpu = page.getByRole("figure", { name: "CPU chart" });
    const memory = page.getByRole("figure", { name: "Memory chart" });
    await samplesShown(cpu, 1);
    const report = (await suite().lab.api<Report>("GET", "/usage?host=esx01")).body;
    const host = report.hosts.find((h) => h.host === "esx01");
    assert.ok(host?.capacity !== null && host?.capacity !== undefined, JSON.stringify(report));
    const shown = await latestShown(cpu);
    const sample = host.history.find((p) => p.at === shown.at);
    assert.ok(sample !== undefined, `the chart's newest point (${String(shown.at)}) is one of the controller's samples`);
    assert.equal(shown.value, sample.cpuMhz);
    assert.ok(sample.cpuMhz > 0, "six busy VMs use CPU");
    assert.match((await cpu.locator("figcaption").textContent()) ?? "", new RegExp(`of ${host.capacity.cpuMhz.toLocaleString("en-US")} MHz \\(`));
    await samplesShown(memory, 1);
    const memoryShown = await latestShown(memory);
    assert.equal(memoryShown.value, host.history.find((p) => p.at === memoryShown.at)?.memoryMB);
    assert.equal(await cpu.locator("canvas").count(), 1, "uPlot drew it");

    // The next sample reaches the open page by itself.
    const before = Number(await cpu.getAttribute("data-samples"));
    await samplesShown(cpu, before + 1);
    assert.ok((await latestShown(cpu)).at > shown.at);
    await screenshot(page, "usage-host", { height: 1300 });
  });

  test("a VM's page charts its own CPU and memory against what it is configured with", async () => {
    await page.goto(`${suite().lab.url}/#/vms/web2`);
    const memory = page.getByRole("figure", { name: "Memory chart" });
    await samplesShown(memory, 1);
    const report = (await suite().lab.api<Report>("GET", "/usage?vm=web2")).body;
    const history = report.vms.find((v) => v.vm === "web2")?.history ?? [];
    const shown = await latestShown(memory);
    const sample = history.find((p) => p.at === shown.at);
    assert.ok(sample !== undefined, `the VM chart's newest point is one of the controller's samples: ${JSON.stringify(history)}`);
    assert.equal(shown.value, sample.memoryMB);
    assert.match((await memory.locator("figcaption").textContent()) ?? "", /of 1,024 MB \(/, "its configured memory");
    const cpu = page.getByRole("figure", { name: "CPU chart" });
    assert.equal((await latestShown(cpu)).value, sample.cpuMhz);
    assert.match((await cpu.locator("figcaption").textContent()) ?? "", /of 2,500 MHz \(/, "one vCPU at the host's 2500 MHz");
  });
});
