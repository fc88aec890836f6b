// VM settings in a real Chromium against a real `ferry up`: a VM that a connected host- or
// client-backed device blocks (found through the API, not named here) becomes migratable
// once its Connected box is cleared in Edit settings — the compatibility view and the VM's
// "where" list say so. And a read-only token sees no edit or migrate control anywhere.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { screenshot, useWebSuite } from "./harness.ts";

interface Finding { code: string; severity: string; subject: { kind: string; name: string }; message: string; fix: string }
interface HostCheck { host: string; ok: boolean; errors: Finding[]; warnings: Finding[] }
interface Where { vm: string; current: string; hosts: HostCheck[] }
interface Device { name: string; kind: string; backing: string; connected: boolean }
interface Vm { name: string; host: string; power: string; migrating: boolean; devices: Device[] }
interface HostEntry { name: string; cluster?: string }

let page: Page;
const suite = useWebSuite((started) => {
  page = started.page;
});

const KIND_WORDS: Readonly<Record<string, string>> = { cdrom: "CD-ROM", floppy: "Floppy", serial: "Serial port", parallel: "Parallel port", usb: "USB" };

/** A VM, one of its connected host/client devices, and a host in its cluster that only that device blocks. */
async function findBlockedVm(): Promise<{ vm: Vm; device: Device; host: string; cluster: string }> {
  const lab = suite().lab;
  const hosts = (await lab.api<HostEntry[]>("GET", "/hosts")).body;
  const vms = (await lab.api<{ name: string }[]>("GET", "/vms")).body;
  for (const { name } of vms) {
    const vm = (await lab.api<Vm>("GET", `/vms/${encodeURIComponent(name)}`)).body;
    if (vm.migrating) continue;
    const devices = vm.devices.filter((d) => d.connected && (d.backing === "host" || d.backing === "client"));
    if (devices.length !== 1) continue;
    const device = devices[0]!;
    const cluster = hosts.find((h) => h.name === vm.host)?.cluster;
    if (cluster === undefined) continue;
    const where = (await lab.api<Where>("GET", `/vms/${encodeURIComponent(name)}/where`)).body;
    const target = where.hosts.find((h) => hosts.find((x) => x.name === h.host)?.cluster === cluster && h.errors.length > 0 && h.errors.every((f) => f.subject.kind === "device" && f.subject.name === device.name));
    if (target !== undefined) return { vm, device, host: target.host, cluster };
  }
  assert.fail("examples/lab.yaml has no VM that only a connected host or client device keeps from a host of its cluster");
}

describe("VM settings", () => {
  test("clearing a host-backed device's Connected box in Edit settings makes the blocked VM migratable", async () => {
    const { lab } = suite();
    const { vm, device, host, cluster } = await findBlockedVm();

    // Before: the compatibility view shows errors for that pair, and why.
    await page.goto(`${lab.url}/#/clusters/${encodeURIComponent(cluster)}/compatibility`);
    const blocked = page.getByRole("button", { name: new RegExp(`^${vm.name} to ${host}: errors`) });
    await blocked.click();
    const reasons = page.getByRole("complementary", { name: "Reasons" });
    await reasons.getByText(`${vm.name} → ${host}`).waitFor();
    assert.match((await reasons.textContent()) ?? "", new RegExp(`${device.name}[\\s\\S]*Fix:`));
    await screenshot(page, "compatibility-blocked");

    // Edit settings: the device with its backing, its Connected box cleared, saved.
    await page.goto(`${lab.url}/#/vms/${encodeURIComponent(vm.name)}`);
    await page.getByRole("button", { name: "Edit settings" }).click();
    const dialog = page.getByRole("dialog", { name: `Edit settings: ${vm.name}` });
    const group = dialog.getByRole("group", { name: `${device.name} (${KIND_WORDS[device.kind] ?? device.kind})` });
    assert.match((await group.textContent()) ?? "", new RegExp(`Backing: ${device.backing === "host" ? "host device" : "client device"}`));
    const connected = group.getByRole("checkbox", { name: "Connected" });
    assert.equal(await connected.isChecked(), true);
    await connected.uncheck();
    await screenshot(page, "vm-edit-settings");
    await dialog.getByRole("button", { name: "Save" }).click();
    await dialog.waitFor({ state: "detached" });
    await page.getByText(`${vm.name}: ${device.name} disconnected.`).waitFor();

    // The controller has it, and its checker now lets the VM go there.
    const saved = (await lab.api<Vm>("GET", `/vms/${encodeURIComponent(vm.name)}`)).body;
    assert.equal(saved.devices.find((d) => d.name === device.name)?.connected, false);
    const where = (await lab.api<Where>("GET", `/vms/${encodeURIComponent(vm.name)}/where`)).body;
    assert.equal(where.hosts.find((h) => h.host === host)?.ok, true);

    // The VM page's "where" list shows the host as migratable (compatible or warnings only).
    const whereRow = page.locator(`[aria-label="Hosts for ${vm.name}"]`).getByRole("row").filter({ hasText: host });
    await whereRow.filter({ hasText: /compatible|warnings/ }).waitFor();
    assert.doesNotMatch((await whereRow.textContent()) ?? "", /errors/);

    // And so does the compatibility view.
    await page.goto(`${lab.url}/#/clusters/${encodeURIComponent(cluster)}/compatibility`);
    const cell = page.getByRole("button", { name: new RegExp(`^${vm.name} to ${host}: (compatible|warnings)`) });
    await cell.click();
    await reasons.getByText(`${vm.name} → ${host}`).waitFor();
    assert.doesNotMatch((await reasons.textContent()) ?? "", /Error \(/);
    await screenshot(page, "compatibility");
  });

  test("a read-only token sees no edit or migrate control, and a bad token the server's message", async () => {
    const { lab, browser } = suite();
    const viewer = await lab.createToken("viewer", "read-only");
    const ro = await browser.newPage();
    try {
      await ro.goto(`${lab.url}/#/`);
      await ro.getByLabel("API token").fill("ferry_not-a-token");
      await ro.getByRole("button", { name: "Log in" }).click();
      await ro.getByText("the token is not valid").waitFor();

      // The link `ferry up` prints: the token in the fragment, taken once and cleared from the address.
      await ro.goto(`${lab.url}/#token=${encodeURIComponent(viewer)}`);
      await ro.getByText("viewer (read-only)").waitFor();
      assert.ok(!ro.url().includes(viewer), `the token left the address bar: ${ro.url()}`);
      assert.ok(!ro.url().includes("token="), ro.url());
      await ro.getByRole("navigation", { name: "Inventory" }).getByRole("link", { name: "web01" }).waitFor();
      await screenshot(ro, "inventory");
      assert.equal(await ro.getByRole("button", { name: /^Actions for / }).count(), 0, "no VM actions menu in the tree");
      // The search keeps what matches, with the path to it.
      const tree = ro.getByRole("navigation", { name: "Inventory" });
      await tree.getByLabel("Search inventory").fill("web0");
      await tree.getByRole("link", { name: "app01", exact: true }).waitFor({ state: "detached" });
      assert.ok((await tree.getByRole("link", { name: /^web0/ }).count()) >= 1);
      assert.equal(await tree.getByRole("link", { name: "esx01", exact: true }).count(), 1, "the host on the way to a match stays");
      await tree.getByLabel("Search inventory").fill("");
      await tree.getByRole("link", { name: "app01", exact: true }).waitFor();

      await ro.goto(`${lab.url}/#/vms/web01`);
      await ro.getByRole("heading", { name: /^VM web01/ }).waitFor();
      assert.equal(await ro.getByRole("button", { name: "Migrate…" }).count(), 0);
      assert.equal(await ro.getByRole("button", { name: "Edit settings" }).count(), 0);

      await ro.goto(`${lab.url}/#/hosts/esx01`);
      await ro.getByRole("tab", { name: "Networking" }).click();
      await ro.locator('[aria-label^="VMkernel ports of "]').first().waitFor();
      assert.equal(await ro.getByRole("button", { name: "Add networking…" }).count(), 0);
      assert.equal(await ro.getByRole("button", { name: /^(Edit|Remove) vmk/ }).count(), 0);

      const cluster = (await lab.api<HostEntry>("GET", "/hosts/esx01")).body.cluster ?? "";
      await ro.goto(`${lab.url}/#/clusters/${encodeURIComponent(cluster)}`);
      await ro.getByRole("heading", { name: `Cluster ${cluster}` }).waitFor();
      assert.equal(await ro.getByRole("button", { name: "Set CPUID mask for all VMs" }).count(), 0);

      // The server agrees: the token cannot edit even if a control were there.
      const denied = await lab.api<{ code: string }>("PATCH", "/vms/web01", { nics: [{ name: "nic0", connected: false }] }, viewer);
      assert.equal(denied.status, 403);
    } finally {
      await ro.close();
    }
  });

  test("the CPUID mask for a whole cluster, after a confirmation, and on a template behind the advanced warning", async () => {
    const { lab } = suite();
    interface Inv { clusters: { name: string }[]; hosts: HostEntry[]; vms: (Vm & { cpuidMask?: { nx: boolean; sse3: boolean; sse4: boolean; custom: string[] } })[]; templates: { name: string; cpuidMask?: { nx: boolean; sse4: boolean } }[] }
    const inv = (await lab.api<Inv>("GET", "/inventory")).body;
    // The cluster with the fewest VMs: the mask changes what the other tests see least.
    const sizes = inv.clusters.map((c) => ({ name: c.name, vms: inv.vms.filter((vm) => inv.hosts.find((h) => h.name === vm.host)?.cluster === c.name) })).filter((c) => c.vms.length > 0).sort((a, b) => a.vms.length - b.vms.length);
    const cluster = sizes[0];
    assert.ok(cluster !== undefined);
    assert.ok(cluster.vms.some((vm) => vm.cpuidMask?.nx !== true), "some VM of the cluster exposes NX/XD before");

    await page.goto(`${lab.url}/#/clusters/${encodeURIComponent(cluster.name)}`);
    await page.getByRole("button", { name: "Set CPUID mask for all VMs" }).click();
    const dialog = page.getByRole("dialog", { name: `Set CPUID mask for all VMs of ${cluster.name}` });
    await dialog.getByRole("radio", { name: "Hide the NX/XD flag from guest" }).check();
    const n = String(cluster.vms.length);
    // A flag no guest sees holds Apply, saying why beside it; cleared, Apply is back.
    await dialog.getByRole("button", { name: "Advanced: SSE3, SSE4 and custom flags" }).click();
    const custom = dialog.getByRole("textbox", { name: "Custom flags to hide" });
    await custom.fill("avx3");
    const apply = dialog.getByRole("button", { name: `Apply to ${n} VMs…` });
    assert.equal(await apply.getAttribute("aria-disabled"), "true");
    assert.match((await dialog.locator(".ferry-button-with-reason").textContent()) ?? "", /avx3.*avx2/);
    await custom.fill("");
    assert.notEqual(await apply.getAttribute("aria-disabled"), "true");
    await apply.click();
    // Nothing is sent before the confirmation.
    await dialog.getByText(`Set this mask on ${n} VMs?`).waitFor();
    assert.ok((await lab.api<Inv>("GET", "/inventory")).body.vms.some((vm) => cluster.vms.some((c) => c.name === vm.name) && vm.cpuidMask?.nx !== true));
    await dialog.getByRole("button", { name: `Yes, set it on ${n} VMs` }).click();
    await dialog.waitFor({ state: "detached" });
    await page.getByText(new RegExp(`on ${n} VMs of ${cluster.name}`)).waitFor();
    const masked = (await lab.api<Inv>("GET", "/inventory")).body.vms.filter((vm) => cluster.vms.some((c) => c.name === vm.name));
    assert.deepEqual(masked.map((vm) => [vm.name, vm.cpuidMask?.nx]), cluster.vms.map((vm) => [vm.name, true]));

    const template = inv.templates[0];
    assert.ok(template !== undefined, "examples/lab.yaml has a template");
    await page.goto(`${lab.url}/#/templates/${encodeURIComponent(template.name)}`);
    await page.getByRole("button", { name: "Advanced: SSE3, SSE4 and custom flags" }).click();
    await page.getByText("Do not change these masks without cause").waitFor();
    const sse4 = page.getByRole("checkbox", { name: "Mask SSE4.1 and SSE4.2" });
    await sse4.check();
    await page.getByRole("button", { name: "Save mask" }).click();
    await page.getByText(`Set the CPUID mask of ${template.name}`).waitFor();
    const saved = (await lab.api<Inv>("GET", "/inventory")).body.templates.find((t) => t.name === template.name);
    assert.equal(saved?.cpuidMask?.sse4, true);
    assert.equal(saved.cpuidMask.nx, template.cpuidMask?.nx ?? false, "the NX/XD choice is kept");
  });
  test("a mask set on a running VM is pending until Power cycle, which boots the guest with it", async () => {
    const { lab } = suite();
    interface Full extends Vm { cpuidMask?: { nx: boolean }; bootFlags?: string[] }
    const vms = (await lab.api<{ name: string }[]>("GET", "/vms")).body;
    let vm: Full | undefined;
    for (const { name } of vms) {
      const full = (await lab.api<Full>("GET", `/vms/${encodeURIComponent(name)}`)).body;
      if (full.power === "on" && !full.migrating && full.cpuidMask?.nx !== true) {
        vm = full;
        break;
      }
    }
    assert.ok(vm !== undefined, "a running VM that exposes NX/XD");
    await page.goto(`${lab.url}/#/vms/${encodeURIComponent(vm.name)}`);
    // First cycle: the guest boots with the CPU as configured, NX/XD included.
    await page.getByRole("button", { name: "Power cycle" }).click();
    await page.getByRole("dialog", { name: `Power cycle ${vm.name}?` }).getByRole("button", { name: `Power cycle ${vm.name}` }).click();
    await page.getByText(new RegExp(`${vm.name} is powered on; its guest booted with: .*\\bnx\\b`)).waitFor();

    await page.getByRole("button", { name: "Edit settings" }).click();
    const dialog = page.getByRole("dialog", { name: `Edit settings: ${vm.name}` });
    await dialog.getByRole("radio", { name: "Hide the NX/XD flag from guest" }).check();
    await dialog.getByRole("button", { name: "Save" }).click();
    await dialog.waitFor({ state: "detached" });
    await page.getByText(/pending power cycle: the guest booted seeing nx/).waitFor();

    await page.getByRole("button", { name: "Power cycle" }).click();
    await page.getByRole("dialog", { name: `Power cycle ${vm.name}?` }).getByRole("button", { name: `Power cycle ${vm.name}` }).click();
    await page.getByText(new RegExp(`${vm.name} is powered on; its guest booted with:`)).waitFor();
    await page.getByText(/pending power cycle/).waitFor({ state: "detached" });
    const after = (await lab.api<Full>("GET", `/vms/${encodeURIComponent(vm.name)}`)).body;
    assert.equal(after.bootFlags?.includes("nx"), false, "the guest booted without NX/XD");
  });
});
