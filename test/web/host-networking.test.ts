// Host networking in a real Chromium against a real `ferry up`: a VMkernel port with VMotion
// added through the "Add networking…" wizard (the seed's steps), then seen on the host's
// Networking tab and in GET /api/hosts/{name}; removing a host's only VMotion port says so and
// shows the migrations it breaks; and a refusal from the controller shown on the wizard's
// summary in its own words, before Finish. (host-networking-fixes.test.ts: port groups, MTU,
// what a change breaks or fixes.)
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Locator, Page } from "playwright-core";
import { screenshot, useWebSuite } from "./harness.ts";

interface Port { name: string; portGroup: string; ip: string; gateway?: string; vmotion: boolean; mtu: number }
interface VSwitch { name: string; uplinks: string[]; portGroups: { name: string; vlan: number }[]; vmkernelPorts: Port[] }
interface Host { name: string; nics: { name: string; speedMbps: number }[]; vswitches: VSwitch[] }

let page: Page;
const suite = useWebSuite((started) => {
  page = started.page;
});

async function host(name: string): Promise<Host> {
  const res = await suite().lab.api<Host>("GET", `/hosts/${name}`);
  assert.equal(res.status, 200);
  return res.body;
}

async function openNetworking(name: string): Promise<void> {
  await page.goto(`${suite().lab.url}/#/hosts/${name}`);
  await page.getByRole("tab", { name: "Networking" }).click();
  await page.getByRole("button", { name: "Add networking…" }).waitFor();
}

async function openWizard(name: string): Promise<Locator> {
  await page.getByRole("button", { name: "Add networking…" }).click();
  const dialog = page.getByRole("dialog", { name: `Add networking: ${name}` });
  await dialog.waitFor();
  return dialog;
}

describe("host networking", () => {
  test("a VMkernel port with VMotion, added through the wizard on a new vSwitch, shows on the Networking tab and in the API", async () => {
    // Free a physical adapter the way an operator would: remove the host's VMotion port,
    // whose vSwitch then goes too (examples/lab.yaml uses every adapter of every host).
    const name = "esx03";
    const before = await host(name);
    const vmotionSwitch = before.vswitches.find((v) => v.vmkernelPorts.some((p) => p.vmotion));
    assert.ok(vmotionSwitch !== undefined, `${name} has a VMotion port in examples/lab.yaml`);
    const oldPort = vmotionSwitch.vmkernelPorts.find((p) => p.vmotion);
    assert.ok(oldPort !== undefined);
    const nic = vmotionSwitch.uplinks[0];
    assert.ok(nic !== undefined);
    const [address, prefix] = oldPort.ip.split("/");

    await openNetworking(name);
    await page.getByRole("button", { name: `Remove ${oldPort.name}` }).click();
    const confirm = page.getByRole("dialog", { name: `Remove ${oldPort.name} from ${name}?` });
    await confirm.getByText(`${oldPort.name} is ${name}'s only VMotion port`).waitFor();
    // The checker's verdict: every migration to or from the host loses its VMotion network.
    const verdict = confirm.getByRole("region", { name: "What this change does to migrations" });
    await verdict.getByText(/This change breaks \d+ migrations?/).waitFor();
    assert.match((await verdict.textContent()) ?? "", /Breaks VMOTION_PORT_MISSING/);
    const remove = confirm.getByRole("button", { name: "Remove" });
    assert.equal(await remove.getAttribute("aria-disabled"), "true", "Remove waits for the acknowledgement");
    await confirm.getByText("This change breaks migrations: tick the box to make it anyway.").waitFor();
    await confirm.getByRole("checkbox", { name: /^Make this change anyway/ }).check();
    await remove.click();
    await page.getByText(`Removed ${oldPort.name} from ${name}.`).waitFor();
    const freed = await host(name);
    assert.ok(!freed.vswitches.some((v) => v.uplinks.includes(nic)), `${nic} is free after removing ${oldPort.name}`);

    const dialog = await openWizard(name);
    const next = dialog.getByRole("button", { name: "Next" });
    // 1. Connection type: VMkernel.
    assert.equal(await dialog.getByRole("radio", { name: "VMkernel" }).isChecked(), true);
    await next.click();
    // 2. A new vSwitch on the freed adapter; adapters in use are flagged and cannot be chosen.
    await dialog.getByRole("radio", { name: "Create a virtual switch" }).check();
    const used = freed.vswitches.flatMap((v) => v.uplinks);
    for (const u of used) assert.equal(await dialog.getByRole("radio", { name: new RegExp(`^${u} \\(`) }).isDisabled(), true, `${u} is in use`);
    const speed = freed.nics.find((n) => n.name === nic)?.speedMbps ?? 0;
    const nicRadio = dialog.getByRole("radio", { name: new RegExp(`^${nic} \\(`) });
    assert.match((await nicRadio.getAttribute("aria-label")) ?? (await dialog.locator(`label[for="net-nic-${nic}"]`).textContent()) ?? "", new RegExp(speed >= 1000 ? `${String(speed / 1000)} Gb/s` : `${String(speed)} Mb/s`));
    await nicRadio.check();
    const vswitch = await dialog.getByLabel("New vSwitch name").inputValue();
    await next.click();
    // 3. Port group, "Use this port group for VMotion", IP and subnet mask.
    await dialog.getByLabel("Network label (port group)").fill("VMotion");
    const useForVmotion = dialog.getByRole("checkbox", { name: "Use this port group for VMotion" });
    await useForVmotion.check();
    assert.equal(await next.isDisabled(), true, "Next waits for an IP address");
    await dialog.getByLabel("Why Next is disabled").getByText("Enter the port's IPv4 address.").waitFor();
    await dialog.getByLabel("IP address").fill(address ?? "");
    await dialog.getByLabel("Subnet mask").fill("255.255.255.0");
    await next.click();
    // 4. The optional gateway, with the seed's hint.
    await dialog.getByText("A VMotion network that is not routed").waitFor();
    await next.click();
    // 5. Summary: what the port fixes (the host had no VMotion port), then Finish.
    const summary = dialog.getByLabel("New VMkernel port");
    await summary.waitFor();
    const fixes = dialog.getByRole("region", { name: "What this change does to migrations" });
    await fixes.getByText(/This change fixes \d+ migrations?/).waitFor();
    assert.match((await fixes.textContent()) ?? "", /Fixes VMOTION_PORT_MISSING/);
    const summaryText = (await summary.textContent()) ?? "";
    assert.match(summaryText, new RegExp(`${vswitch} \\(new, on ${nic}\\)`));
    assert.match(summaryText, /VMotionenabled/);
    assert.match(summaryText, new RegExp(`${(address ?? "").replace(/\./g, "\\.")}/24`));
    const port = (/VMkernel port(vmk\d+)/.exec(summaryText) ?? [])[1];
    assert.ok(port !== undefined, summaryText);
    await screenshot(page, "host-add-networking");
    await dialog.getByRole("button", { name: "Finish" }).click();
    await dialog.waitFor({ state: "detached" });
    await page.getByText(`Added VMkernel port ${port} on ${name}.`).waitFor();

    // The Networking tab shows it, VMotion on (found by its label: a plain table or a grid).
    const table = page.getByLabel(`VMkernel ports of ${vswitch}`, { exact: true });
    const row = table.getByRole("row").filter({ hasText: port });
    await row.waitFor();
    const cells = await row.locator("td").allTextContents();
    assert.deepEqual(cells.slice(0, 6), [port, "VMotion", `${address ?? ""}/24`, "none", "1500", "on"]);
    await screenshot(page, "host-networking");

    // And the controller has it.
    const after = await host(name);
    const sw = after.vswitches.find((v) => v.name === vswitch);
    assert.ok(sw !== undefined);
    assert.deepEqual(sw.uplinks, [nic]);
    assert.deepEqual(sw.vmkernelPorts.map((p) => [p.name, p.portGroup, p.ip, p.vmotion]), [[port, "VMotion", `${address ?? ""}/${prefix ?? ""}`, true]]);
    assert.equal(sw.vmkernelPorts[0]?.gateway, undefined);
  });

  test("the controller's refusal is shown on the wizard's summary in plain words before Finish, and nothing changes", async () => {
    const name = "esx01";
    const before = await host(name);
    const taken = before.vswitches[0];
    assert.ok(taken !== undefined);
    const takenGroup = taken.portGroups[0]?.name;
    assert.ok(takenGroup !== undefined);

    await openNetworking(name);
    const dialog = await openWizard(name);
    const next = dialog.getByRole("button", { name: "Next" });
    await next.click();
    // Every adapter is in use on this host: the port goes onto an existing vSwitch.
    await dialog.getByRole("radio", { name: `Use ${taken.name}` }).check();
    await next.click();
    await dialog.getByLabel("Network label (port group)").fill(takenGroup);
    await dialog.getByLabel("IP address").fill("127.0.1.41");
    await dialog.getByLabel("Subnet mask").fill("24");
    await next.click();
    await next.click();
    const alert = dialog.getByRole("heading", { name: /The controller would refuse this change/ });
    await alert.waitFor();
    const text = (await dialog.locator(".pf-v6-c-alert").last().textContent()) ?? "";
    assert.match(text, new RegExp(`already has a port group named "${takenGroup}"`));
    assert.doesNotMatch(text, /at \w+ \(|Error:/, "no stack trace");
    // Finish stays disabled and says why, beside it.
    assert.equal(await dialog.getByRole("button", { name: "Finish" }).isDisabled(), true);
    assert.equal(await dialog.locator("#net-finish-reason").textContent(), "The controller would refuse this change.");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    assert.deepEqual(await host(name), before);
  });
});
