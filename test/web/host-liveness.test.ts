// A host that is not responding, as the web UI shows it, in a real Chromium against a real
// `ferry up`: the tree and the host page say "not responding", the host's VMs show power
// "unknown" with the last recorded power. The controller's answer to GET /api/hosts is taken
// as it is and only esx02's state is changed before the page gets it: freezing an agent of
// `ferry up` for the 30 s its heartbeats need is the controller tests' job
// (test/controller/liveness.test.ts), which check the same API answer end to end.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { useWebSuite } from "./harness.ts";

interface HostSummary { name: string; state: string }
interface VmSummary { name: string; host: string; power: string }

let page: Page;
const suite = useWebSuite((started) => {
  page = started.page;
});

describe("a host that is not responding", () => {
  test("the tree, the host page and its VMs' pages say so; the power shown is unknown", async () => {
    const { lab } = suite();
    const vm = (await lab.api<VmSummary[]>("GET", "/vms")).body.find((v) => v.host === "esx02" && v.power === "on");
    assert.ok(vm !== undefined, "examples/lab.yaml has a running VM on esx02");
    const hosts = (await lab.api<HostSummary[]>("GET", "/hosts")).body.map((h) => (h.name === "esx02" ? { ...h, state: "notResponding" } : h));
    await page.route("**/api/hosts", (route) => route.fulfill({ json: hosts }));
    await page.goto(`${lab.url}/#/hosts/esx02`);
    await page.reload();
    await page.getByRole("heading", { name: /^Host esx02/ }).getByText("not responding").waitFor();
    await page.getByText("not responding: its agent misses the controller's heartbeats").waitFor();
    const treeRow = (name: string) => page.locator(".ferry-tree-row", { has: page.getByRole("link", { name, exact: true }) });
    await treeRow("esx02").getByText("not responding").waitFor();
    await treeRow(vm.name).getByText("unknown").waitFor();
    assert.equal(await treeRow("esx01").getByText("not responding").count(), 0, "esx01 answers");

    await page.goto(`${lab.url}/#/vms/${encodeURIComponent(vm.name)}`);
    await page.getByRole("heading", { name: new RegExp(`^VM ${vm.name}`) }).getByText("unknown").waitFor();
    await page.getByText(`unknown: esx02 is not responding (last recorded on)`).waitFor();

    await page.unroute("**/api/hosts");
    await page.reload();
    await page.getByRole("heading", { name: new RegExp(`^VM ${vm.name}`) }).getByText("on", { exact: true }).waitFor();
  });
});
