// The host-networking fixes Ferry recommends, done in a real Chromium against a real `ferry up`
// (examples/lab.yaml): a VM port group created through Add networking (the fix for a missing
// port group), renamed, edited and removed from its row; a VMkernel port's MTU edited (the fix
// for VMOTION_MTU_MISMATCH); and every change judged by the checker before it is made — the
// wizard's summary and each dialog list the migrations it breaks or fixes, a change that
// breaks one waits for an explicit "anyway", and the Remove prompt says truthfully which
// VMotion port remains.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Locator, Page } from "playwright-core";
import { login, screenshot, useWebSuite } from "./harness.ts";

interface Port { name: string; portGroup: string; ip: string; vmotion: boolean; mtu: number }
interface VSwitch { name: string; portGroups: { name: string; vlan: number }[]; vmkernelPorts: Port[] }
interface Host { name: string; vswitches: VSwitch[] }
interface Finding { code: string }
interface Check { errors: Finding[]; warnings: Finding[] }

let page: Page;
const suite = useWebSuite((started) => {
  page = started.page;
});

async function host(name: string): Promise<Host> {
  const res = await suite().lab.api<Host>("GET", `/hosts/${name}`);
  assert.equal(res.status, 200);
  return res.body;
}

/** The checker's codes for a migration, as POST /api/check gives them. */
async function check(vm: string, to: string): Promise<{ errors: string[]; warnings: string[] }> {
  const res = await suite().lab.api<Check>("POST", "/check", { vm, host: to });
  assert.equal(res.status, 200);
  return { errors: res.body.errors.map((f) => f.code), warnings: res.body.warnings.map((f) => f.code) };
}

async function openNetworking(name: string): Promise<void> {
  await page.goto(`${suite().lab.url}/#/hosts/${name}`);
  await page.getByRole("tab", { name: "Networking" }).click();
  await page.getByRole("button", { name: "Add networking…" }).waitFor();
}

/** The checker's verdict inside a dialog, once it has answered. */
async function verdict(dialog: Locator, title: string | RegExp): Promise<string> {
  const region = dialog.getByRole("region", { name: "What this change does to migrations" });
  await region.getByText(title).waitFor();
  return (await region.textContent()) ?? "";
}

const portGroupsOf = (h: Host, vswitch: string) => h.vswitches.find((v) => v.name === vswitch)?.portGroups ?? [];

describe("host networking fixes", () => {
  test("a second VMotion port on another vSwitch: the summary shows the migrations it breaks before Finish; the Remove prompt names the port VMotion falls back to", async () => {
    const name = "esx03";
    assert.deepEqual((await check("web02", name)).errors, [], "web02 → esx03 has warnings only in examples/lab.yaml");
    // ferry up gives each host's VMotion port a loopback address of its own.
    const vmk1Ip = (await host(name)).vswitches.flatMap((v) => v.vmkernelPorts).find((p) => p.name === "vmk1")?.ip;
    assert.ok(vmk1Ip !== undefined);
    await openNetworking(name);
    await page.getByRole("button", { name: "Add networking…" }).click();
    const dialog = page.getByRole("dialog", { name: `Add networking: ${name}` });
    const next = dialog.getByRole("button", { name: "Next" });
    await next.click();
    await dialog.getByRole("radio", { name: "Use vSwitch0" }).check();
    await next.click();
    await dialog.getByLabel("Network label (port group)").fill("VMotion-0");
    await dialog.getByLabel("IP address").fill("198.19.5.13");
    await next.click();
    await next.click();
    const text = await verdict(dialog, /This change breaks \d+ migrations?/);
    // web02 (NX hidden by its template) could move to esx03 with warnings: now it cannot.
    assert.match(text, /web02: esx01 → esx03 \(warnings → errors\)/);
    assert.match(text, /Breaks VMOTION_VSWITCH_MISMATCH/);
    const finish = dialog.getByRole("button", { name: "Finish" });
    assert.equal(await finish.isDisabled(), true, "Finish waits for the acknowledgement");
    // On a laptop screen the reason, the box and Finish are in view without scrolling.
    const size = page.viewportSize();
    await page.setViewportSize({ width: 1024, height: 768 });
    try {
      for (const what of [dialog.locator("#net-finish-reason"), dialog.getByRole("checkbox", { name: /^Make this change anyway/ }), finish]) {
        const box = await what.boundingBox();
        assert.ok(box !== null && box.y >= 0 && box.y + box.height <= 768, `in view at 1024×768: ${JSON.stringify(box)}`);
      }
    } finally {
      if (size !== null) await page.setViewportSize(size);
    }
    assert.equal(await dialog.locator("#net-finish-reason").textContent(), "This change breaks migrations: tick the box to make it anyway.");
    await screenshot(page, "host-add-networking-impact");
    await dialog.getByRole("checkbox", { name: /^Make this change anyway: it breaks/ }).check();
    await finish.click();
    await page.getByText(`Added VMkernel port vmk0 on ${name}.`).waitFor();
    assert.ok((await check("web02", name)).errors.includes("VMOTION_VSWITCH_MISMATCH"), "the checker agrees with the summary");

    // Removing vmk1, the second VMotion port, leaves VMotion on vmk0, which migrations use now.
    await page.getByRole("button", { name: "Remove vmk1", exact: true }).click();
    const second = page.getByRole("dialog", { name: `Remove vmk1 from ${name}?` });
    await second.getByText(`${name} keeps VMotion on vmk0 (VMotion-0 on vSwitch0, 198.19.5.13/24), which migrations use now; vmk1 is a second VMotion port they do not use.`).waitFor();
    assert.doesNotMatch((await second.textContent()) ?? "", /can neither send nor receive/);
    await second.getByRole("button", { name: "Cancel" }).click();

    // Removing vmk0 gives VMotion back to vmk1, and fixes what adding it broke: no "anyway" needed.
    await page.getByRole("button", { name: "Remove vmk0", exact: true }).click();
    const confirm = page.getByRole("dialog", { name: `Remove vmk0 from ${name}?` });
    await confirm.getByText(`vmk0 carries ${name}'s VMotion now; after it goes, migrations use vmk1 (VMotion on vSwitch1, ${vmk1Ip}).`).waitFor();
    const fixed = await verdict(confirm, /This change fixes \d+ migrations?/);
    assert.match(fixed, /web02: esx01 → esx03 \(errors → warnings\)/);
    assert.equal(await confirm.getByRole("checkbox", { name: /^Make this change anyway/ }).count(), 0);
    await confirm.getByRole("button", { name: "Remove" }).click();
    await page.getByText(`Removed vmk0 from ${name}.`).waitFor();
    assert.deepEqual((await check("web02", name)).errors, []);
  });

  test("a VMkernel port's MTU is edited on its row: the dialog shows the mismatch warnings it clears, and the checker agrees", async () => {
    const name = "esx03";
    assert.ok((await check("web01", name)).warnings.includes("VMOTION_MTU_MISMATCH"), "esx03's VMotion port has MTU 9000, esx01's 1500");
    await openNetworking(name);
    await page.getByRole("button", { name: "Edit vmk1", exact: true }).click();
    const dialog = page.getByRole("dialog", { name: `Edit vmk1 on ${name}` });
    const mtu = dialog.getByRole("textbox", { name: "MTU" });
    assert.equal(await mtu.inputValue(), "9000");
    const save = dialog.getByRole("button", { name: "Save" });
    await mtu.fill("100");
    await dialog.getByText("Enter a whole number from 576 to 9216").waitFor();
    assert.equal(await save.getAttribute("aria-disabled"), "true");
    await dialog.getByText("Enter an MTU.").waitFor();
    await mtu.fill("1500");
    const text = await verdict(dialog, "This change alters only warnings");
    assert.match(text, /web01: esx01 → esx03 \(errors → errors\)Clears warning VMOTION_MTU_MISMATCH/);
    await dialog.locator('button:not([aria-disabled="true"])', { hasText: "Save" }).waitFor();
    await screenshot(page, "host-edit-mtu");
    await save.click();
    await page.getByText(`Changed vmk1 on ${name}.`).waitFor();
    const row = page.getByLabel("VMkernel ports of vSwitch1", { exact: true }).getByRole("row").filter({ hasText: "vmk1" });
    // The tab reloads the inventory after the notice: wait for the row to show it.
    await row.locator("td").nth(4).getByText("1500", { exact: true }).waitFor();
    const after = await host(name);
    assert.equal(after.vswitches.flatMap((v) => v.vmkernelPorts).find((p) => p.name === "vmk1")?.mtu, 1500);
    assert.ok(!(await check("web01", name)).warnings.includes("VMOTION_MTU_MISMATCH"));
  });

  test("a VM port group is created with Add networking, renamed, edited and removed from its row, each judged by the checker first", async () => {
    const name = "esx03";
    assert.ok((await check("web01", name)).errors.includes("PORTGROUP_MISSING"), "esx03 spells it \"production\"");
    await openNetworking(name);
    await page.getByRole("button", { name: "Add networking…" }).click();
    const wizard = page.getByRole("dialog", { name: `Add networking: ${name}` });
    const next = wizard.getByRole("button", { name: "Next" });
    await wizard.getByRole("radio", { name: "Virtual machine port group" }).check();
    await next.click();
    // A VM port group goes on an existing vSwitch: no new one is offered.
    assert.equal(await wizard.getByRole("radio", { name: "Create a virtual switch" }).count(), 0);
    await wizard.getByRole("radio", { name: "Use vSwitch0" }).check();
    await next.click();
    const label = wizard.getByLabel("Network label (port group)");
    await label.fill("DMZ");
    // Beside the field, and beside Next in the footer.
    await wizard.locator("form").getByText(`${name} already has a port group named "DMZ".`).waitFor();
    await wizard.getByLabel("Why Next is disabled").getByText(`${name} already has a port group named "DMZ".`).waitFor();
    assert.equal(await next.isDisabled(), true);
    await label.fill("Production");
    await wizard.getByText(`${name} has "production", which differs only in case`).waitFor();
    await wizard.getByLabel("VLAN ID (optional)").fill("10");
    await next.click();
    // No gateway step for a VM port group: straight to the summary, and the fix it makes.
    await wizard.getByLabel("New port group").waitFor();
    const fixes = await verdict(wizard, /This change fixes \d+ migrations?/);
    assert.match(fixes, /web01: esx01 → esx03 \(errors → errors\)/);
    assert.match(fixes, /Fixes PORTGROUP_MISSING/);
    await wizard.getByRole("button", { name: "Finish" }).click();
    await page.getByText(`Added port group Production on ${name}.`).waitFor();
    assert.deepEqual(portGroupsOf(await host(name), "vSwitch0").find((g) => g.name === "Production"), { name: "Production", vlan: 10 });
    assert.ok(!(await check("web01", name)).errors.includes("PORTGROUP_MISSING"));

    // Rename: a taken name is refused beside the field; renaming away breaks the fix again.
    await page.getByRole("button", { name: "Rename Production", exact: true }).click();
    const rename = page.getByRole("dialog", { name: `Rename port group Production on ${name}` });
    const to = rename.getByLabel("New name");
    await to.fill("DMZ");
    const renameButton = rename.getByRole("button", { name: "Rename" });
    await rename.getByText(`${name} already has a port group named "DMZ".`).first().waitFor();
    assert.equal(await renameButton.getAttribute("aria-disabled"), "true");
    await to.fill("Prod-VMs");
    const broken = await verdict(rename, /This change breaks \d+ migrations?/);
    assert.match(broken, /Breaks PORTGROUP_MISSING/);
    await rename.getByRole("checkbox", { name: /^Make this change anyway/ }).check();
    await renameButton.click();
    await page.getByText(`Renamed port group Production to Prod-VMs on ${name}.`).waitFor();
    assert.deepEqual(portGroupsOf(await host(name), "vSwitch0").find((g) => g.name === "Prod-VMs"), { name: "Prod-VMs", vlan: 10 });

    // Edit: its VLAN.
    await page.getByRole("button", { name: "Edit Prod-VMs", exact: true }).click();
    const edit = page.getByRole("dialog", { name: `Edit port group Prod-VMs on ${name}` });
    await edit.getByLabel("VLAN ID").fill("20");
    await edit.getByRole("region", { name: "What this change does to migrations" }).or(edit.getByText("No migration changes")).first().waitFor();
    await edit.getByRole("button", { name: "Save" }).click();
    await page.getByText(`Changed port group Prod-VMs on ${name}.`).waitFor();
    assert.equal(portGroupsOf(await host(name), "vSwitch0").find((g) => g.name === "Prod-VMs")?.vlan, 20);

    // Remove: one that a VMkernel port uses is refused before the button is pressed.
    await page.getByRole("button", { name: "Remove VMotion", exact: true }).click();
    const refused = page.getByRole("dialog", { name: `Remove port group VMotion from ${name}?` });
    await refused.getByRole("heading", { name: /The controller would refuse this change/ }).waitFor();
    await refused.getByText(/carries VMkernel port vmk1: remove it first/).waitFor();
    assert.equal(await refused.getByRole("button", { name: "Remove" }).getAttribute("aria-disabled"), "true");
    await refused.getByRole("button", { name: "Cancel" }).click();
    // An unused one goes.
    await page.getByRole("button", { name: "Remove Prod-VMs", exact: true }).click();
    const remove = page.getByRole("dialog", { name: `Remove port group Prod-VMs from ${name}?` });
    await remove.getByText("No migration changes").waitFor();
    await remove.getByRole("button", { name: "Remove" }).click();
    await page.getByText(`Removed port group Prod-VMs from ${name}.`).waitFor();
    assert.equal(portGroupsOf(await host(name), "vSwitch0").some((g) => g.name === "Prod-VMs"), false);
    await screenshot(page, "host-port-groups");
  });

  test("a read-only token sees the port groups and VMkernel ports but no Add networking, Edit, Rename or Remove", async () => {
    const token = await suite().lab.createToken("viewer-net", "read-only");
    const viewer = await suite().browser.newPage();
    try {
      await login(viewer, suite().lab.url, token);
      await viewer.goto(`${suite().lab.url}/#/hosts/esx03`);
      await viewer.getByRole("tab", { name: "Networking" }).click();
      await viewer.getByLabel("Port groups of vSwitch0", { exact: true }).getByText("production", { exact: true }).waitFor();
      for (const name of ["Add networking…", "Edit production", "Rename production", "Remove production", "Edit vmk1", "Remove vmk1"]) {
        assert.equal(await viewer.getByRole("button", { name, exact: true }).count(), 0, name);
      }
    } finally {
      await viewer.close();
    }
  });
});
