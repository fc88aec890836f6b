// A VM's CPU settings in a real Chromium against a real `ferry up`: pinned01's fix followed in
// Edit settings > Resources > Advanced CPU (clearing the scheduling affinity lets it migrate);
// hiding NX on web01 while it runs is pending until a power cycle — the badge shows and the
// checker keeps judging the CPU the guest booted with (NX toward esx03) until then; a custom
// CPUID flag no guest sees ("avx3") is refused by both mask editors and the API, with the known
// names nearest to it.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Locator, Page } from "playwright-core";
import { screenshot, useWebSuite } from "./harness.ts";

interface Finding { code: string; message: string }
interface HostCheck { host: string; errors: Finding[]; warnings: Finding[] }
interface Where { hosts: HostCheck[] }
interface VmDetail { name: string; power: string; cpuAffinity: number[]; bootFlags?: string[]; cpuidMask?: { nx: boolean } }
interface ErrorBody { code: string; message: string }

let page: Page;
const suite = useWebSuite((started) => {
  page = started.page;
});

async function vmOf(name: string): Promise<VmDetail> {
  return (await suite().lab.api<VmDetail>("GET", `/vms/${encodeURIComponent(name)}`)).body;
}

async function findingsToward(vm: string, host: string): Promise<Finding[]> {
  const where = (await suite().lab.api<Where>("GET", `/vms/${encodeURIComponent(vm)}/where`)).body;
  const check = where.hosts.find((h) => h.host === host);
  assert.ok(check !== undefined, `${vm} has a verdict toward ${host}`);
  return check.errors;
}

const isNx = (f: Finding): boolean => f.code === "CPU_FEATURE_MISSING" && /NX/.test(f.message);

/** The reason shown beside a disabled button (the element its aria-describedby names). */
async function reasonOf(button: Locator): Promise<string> {
  assert.equal(await button.getAttribute("aria-disabled"), "true");
  const id = await button.getAttribute("aria-describedby");
  assert.ok(id !== null && id !== "");
  return (await page.locator(`[id="${id}"]`).textContent()) ?? "";
}

async function openEditSettings(vm: string): Promise<Locator> {
  await page.goto(`${suite().lab.url}/#/vms/${vm}`);
  await page.getByRole("button", { name: "Edit settings" }).click();
  const dialog = page.getByRole("dialog", { name: `Edit settings: ${vm}` });
  await dialog.waitFor();
  return dialog;
}

describe("VM CPU settings", () => {
  test("pinned01's fix: clearing Resources > Advanced CPU > Scheduling affinity lets it migrate; a CPU the host lacks is refused", async () => {
    const { lab } = suite();
    assert.deepEqual((await vmOf("pinned01")).cpuAffinity, [2, 3]);
    assert.ok((await findingsToward("pinned01", "esx02")).some((f) => f.code === "CPU_AFFINITY"));

    const dialog = await openEditSettings("pinned01");
    const field = dialog.getByRole("region", { name: "Resources" }).getByRole("group", { name: "Advanced CPU" }).getByRole("textbox", { name: "Scheduling affinity" });
    assert.equal(await field.inputValue(), "2, 3");
    await dialog.getByText("A pinned VM cannot migrate").waitFor();
    await field.fill("4, 40");
    await dialog.getByText("The host has physical CPUs 0 to 11: 40 is not one of them.").first().waitFor();
    assert.equal(await reasonOf(dialog.getByRole("button", { name: "Save" })), "The host has physical CPUs 0 to 11: 40 is not one of them.");
    await field.fill("");
    await dialog.getByText("Physical CPUs of esx01 that pinned01's vCPUs may run on (0 to 11), e.g. 2, 3 or 0-3. Empty: any CPU.").waitFor();
    assert.notEqual(await dialog.getByRole("button", { name: "Save" }).getAttribute("aria-disabled"), "true");
    await screenshot(page, "vm-edit-settings-affinity");
    await dialog.getByRole("button", { name: "Save" }).click();
    await dialog.waitFor({ state: "detached" });
    await page.getByText("pinned01: CPU affinity cleared.").waitFor();
    assert.deepEqual((await vmOf("pinned01")).cpuAffinity, []);
    assert.ok(!(await findingsToward("pinned01", "esx02")).some((f) => f.code === "CPU_AFFINITY"));
    const row = page.locator('[aria-label="Hosts for pinned01"]').getByRole("row").filter({ hasText: "esx02" });
    await row.filter({ hasText: /compatible|warnings/ }).waitFor();

    // A range pins it again, as the summary and the controller say.
    const again = await openEditSettings("pinned01");
    await again.getByRole("textbox", { name: "Scheduling affinity" }).fill("0-1");
    await again.getByRole("button", { name: "Save" }).click();
    await page.getByText("pinned01: CPU affinity set to 0, 1.").waitFor();
    await page.getByText("(pinned to physical CPUs 0, 1)").waitFor();
    assert.deepEqual((await vmOf("pinned01")).cpuAffinity, [0, 1]);
    const refused = await lab.api<ErrorBody>("PATCH", "/vms/pinned01", { cpuAffinity: [12] });
    assert.deepEqual([refused.status, refused.body.code, refused.body.message], [400, "INVALID_INPUT", "esx01 has physical CPUs 0 to 11: 12 is not among them"]);
  });

  test("hiding NX on running web01 is pending until Power cycle: the badge shows and the NX error toward esx03 stays until then", async () => {
    const before = await vmOf("web01");
    assert.equal(before.power, "on");
    assert.ok((await findingsToward("web01", "esx03")).some(isNx), "web01 sees NX, which esx03 lacks");

    const dialog = await openEditSettings("web01");
    await dialog.getByRole("radio", { name: "Hide the NX/XD flag from guest" }).check();
    await dialog.getByText("Takes effect after a power cycle").waitFor();
    await dialog.getByRole("button", { name: "Save" }).click();
    await dialog.waitFor({ state: "detached" });
    await page.getByText("pending power cycle: the guest booted seeing nx").waitFor();
    const saved = await vmOf("web01");
    assert.equal(saved.cpuidMask?.nx, true);
    assert.ok(saved.bootFlags?.includes("nx"), "the CPU the guest booted with is kept");
    assert.ok((await findingsToward("web01", "esx03")).some(isNx), "the guest still has NX until a power cycle");
    const esx03 = page.locator('[aria-label="Hosts for web01"]').getByRole("row").filter({ hasText: "esx03" });
    await esx03.getByText(/NX/).first().waitFor();
    await screenshot(page, "vm-pending-power-cycle");

    await page.getByRole("button", { name: "Power cycle", exact: true }).click();
    await page.getByRole("dialog", { name: "Power cycle web01?" }).getByRole("button", { name: "Power cycle web01" }).click();
    await page.getByText(/web01 is powered on; its guest booted with/).waitFor();
    await page.getByText(/pending power cycle/).waitFor({ state: "detached" });
    const after = await vmOf("web01");
    assert.equal(after.bootFlags?.includes("nx"), false);
    assert.ok(!(await findingsToward("web01", "esx03")).some(isNx), "after the cycle the guest has no NX to miss");
  });

  test("an unknown custom flag (avx3) is refused by the VM's and the template's mask editors and by the API, with the known names suggested", async () => {
    const { lab } = suite();
    const words = /"avx3" is not a CPUID flag Ferry knows: did you mean avx2, avx/;
    const dialog = await openEditSettings("app01");
    await dialog.getByRole("button", { name: "Advanced: SSE3, SSE4 and custom flags" }).click();
    await dialog.getByRole("textbox", { name: "Custom flags to hide" }).fill("avx2 avx3");
    await dialog.getByText(words).first().waitFor();
    assert.match(await reasonOf(dialog.getByRole("button", { name: "Save" })), words);
    await dialog.getByRole("textbox", { name: "Custom flags to hide" }).fill("avx2");
    await dialog.getByText("CPUID flags a guest can see, named as in /proc/cpuinfo.").waitFor();
    assert.notEqual(await dialog.getByRole("button", { name: "Save" }).getAttribute("aria-disabled"), "true");
    await dialog.getByRole("button", { name: "Cancel" }).click();

    await page.goto(`${lab.url}/#/templates/tmpl-debian-nx`);
    await page.getByRole("button", { name: "Advanced: SSE3, SSE4 and custom flags" }).click();
    await page.getByRole("textbox", { name: "Custom flags to hide" }).fill("avx3");
    await page.getByText(words).first().waitFor();
    assert.match(await reasonOf(page.getByRole("button", { name: "Save mask" })), words);

    const mask = { nx: false, sse3: false, sse4: false, custom: ["avx3"] };
    for (const [method, path, body] of [["PATCH", "/vms/app01", { cpuidMask: mask }], ["PUT", "/templates/tmpl-debian-nx/mask", { cpuidMask: mask }], ["PUT", "/clusters/Prod/mask", { cpuidMask: mask }]] as const) {
      const refused = await lab.api<ErrorBody>(method, path, body);
      assert.deepEqual([refused.status, refused.body.code], [400, "INVALID_INPUT"], path);
      assert.match(refused.body.message, words, path);
    }
    assert.equal((await vmOf("app01")).cpuidMask, undefined, "nothing was saved");
  });
});
