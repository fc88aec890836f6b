// Every fix the checker gives that names a UI place is followed in a real Chromium against
// `ferry up` on examples/lab.yaml, and the place must be there: the findings come from the
// controller (GET /vms/{vm}/where at both priorities for every VM, and a running migration
// for VM_MIGRATING), each finding's `ui.place` is opened — the object's page, then each tab,
// button, group and finally the control — and a place whose step is missing is named in the
// failure. The words shown never carry the command line's or the inventory file's.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Locator, Page } from "playwright-core";
import { useWebSuite } from "./harness.ts";

interface UiStep { kind: "tab" | "button" | "group" | "checkbox" | "radio" | "field"; name: string }
interface UiPlace { page: "vm" | "host" | "cluster" | "task"; object: string; steps: UiStep[] }
interface Finding { code: string; severity: string; message: string; fix: string; ui?: { text: string; place?: UiPlace } }
interface HostCheck { host: string; errors: Finding[]; warnings: Finding[] }
interface Where { vm: string; hosts: HostCheck[] }
interface VmSummary { name: string; power: string; migrating: boolean }

let page: Page;
const suite = useWebSuite((s) => {
  page = s.page;
});

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const route: Record<UiPlace["page"], string> = { vm: "vms", host: "hosts", cluster: "clusters", task: "tasks" };

function placeText(place: UiPlace): string {
  const words: Record<UiPlace["page"], string> = { vm: "VM", host: "Host", cluster: "Cluster", task: "Task" };
  return [`${words[place.page]} ${place.object}`, ...place.steps.map((s) => s.name)].join(" > ");
}

/** The control a step names, inside `scope`. */
function stepLocator(scope: Locator, s: UiStep): Locator {
  switch (s.kind) {
    case "tab":
      return scope.getByRole("tab", { name: s.name, exact: true });
    case "button":
      return scope.getByRole("button", { name: s.name, exact: true });
    case "group": {
      // A fieldset by its legend ("cdrom0 (CD-ROM)") or a region by its label.
      const name = new RegExp(`^${escape(s.name)}(\\s|$)`);
      return scope.getByRole("group", { name }).or(scope.getByRole("region", { name }));
    }
    case "checkbox":
      return scope.getByRole("checkbox", { name: s.name, exact: true });
    case "radio":
      return scope.getByRole("radio", { name: s.name, exact: true });
    case "field":
      // By accessible name: a required field's label carries an aria-hidden "*" that getByLabel's text match would include.
      return scope.getByRole("textbox", { name: s.name, exact: true }).or(scope.getByRole("spinbutton", { name: s.name, exact: true })).or(scope.getByLabel(s.name, { exact: true }));
  }
}

/**
 * Opens the place's page and follows its steps; returns null when every step was found, or
 * which step is missing. Buttons are pressed (they open a dialog or expand a section); after
 * that the search goes on in the page's main area and any open dialog.
 */
async function follow(url: string, place: UiPlace): Promise<string | null> {
  if ((await page.getByRole("dialog").count()) > 0) await page.keyboard.press("Escape");
  await page.goto(`${url}/#/${route[place.page]}/${encodeURIComponent(place.object)}`);
  await page.locator("main h1").first().waitFor();
  let scope = page.locator("main, [role=dialog]");
  for (const [i, s] of place.steps.entries()) {
    const found = stepLocator(scope, s).first();
    try {
      await found.waitFor({ state: "visible", timeout: 10_000 });
    } catch {
      return `${placeText(place)}: no ${s.kind} "${s.name}" (step ${String(i + 1)} of ${String(place.steps.length)})`;
    }
    const last = i === place.steps.length - 1;
    if (s.kind === "group") scope = found;
    else if (!last && (s.kind === "tab" || s.kind === "button")) {
      await found.click();
      // A button that opened a dialog: what follows is in the dialog (or still on the page).
      scope = page.locator("main, [role=dialog]");
    }
  }
  return null;
}

const CLI_WORDS = [/`/, /\bin the inventory\b/, /\bferry\s+[a-z]/, /\bdocs\//, /:\s*(false|true)\b/];

describe("fix texts that name a UI place", () => {
  test("every place the checker names for the lab's findings is in the UI", async () => {
    const { lab, url } = { lab: suite().lab, url: suite().lab.url };
    // A migration that runs while the findings are read: its VM's VM_MIGRATING names its task page's Abort.
    const vms = (await lab.api<VmSummary[]>("GET", "/vms")).body;
    const running = await lab.api<{ id: string }>("POST", "/migrations", { vm: "web02", to: "esx02", bandwidthMbps: 8 });
    assert.equal(running.status, 202, JSON.stringify(running.body));
    try {
      const findings: Finding[] = [];
      for (const vm of vms) {
        for (const priority of ["high", "low"]) {
          const where = await lab.api<Where>("GET", `/vms/${encodeURIComponent(vm.name)}/where?priority=${priority}`);
          assert.equal(where.status, 200);
          for (const h of where.body.hosts) findings.push(...h.errors, ...h.warnings);
        }
      }
      assert.ok(findings.some((f) => f.code === "VM_MIGRATING" && f.ui?.place?.object === running.body.id), "the running migration's VM names its task");
      // Every finding has UI words, free of the command line's.
      for (const f of findings) {
        assert.ok(f.ui !== undefined && f.ui.text.length > 0, `${f.code} has UI words`);
        for (const w of CLI_WORDS) assert.doesNotMatch(f.ui.text, w, `${f.code}: ${f.ui.text}`);
      }
      // One follow per distinct place.
      const places = new Map<string, { place: UiPlace; codes: Set<string> }>();
      for (const f of findings) {
        const place = f.ui?.place;
        if (place === undefined) continue;
        const key = placeText(place);
        const known = places.get(key) ?? { place, codes: new Set<string>() };
        known.codes.add(f.code);
        places.set(key, known);
      }
      const kinds = new Set([...places.values()].flatMap((p) => [...p.codes]));
      for (const code of ["DEVICE_HOST_ONLY", "CPU_AFFINITY", "CPU_FEATURE_MISSING", "VM_MIGRATING", "PORTGROUP_MISSING", "VMOTION_MTU_MISMATCH"]) assert.ok(kinds.has(code), `the lab gives ${code} a place`);
      const missing: string[] = [];
      for (const { place, codes } of places.values()) {
        const problem = await follow(url, place);
        if (problem !== null) missing.push(`${problem} [${[...codes].join(", ")}]`);
      }
      assert.deepEqual(missing, [], `places the checker names that the UI lacks:\n${missing.join("\n")}`);
    } finally {
      if ((await page.getByRole("dialog").count()) > 0) await page.keyboard.press("Escape");
      await lab.api("DELETE", `/migrations/${running.body.id}`);
    }
  });

  test("the UI shows the fix in its own words, never the command line's: iso01's connected host CD-ROM", async () => {
    const { lab } = suite();
    const where = await lab.api<Where>("GET", "/vms/iso01/where");
    const finding = where.body.hosts.flatMap((h) => h.errors).find((f) => f.code === "DEVICE_HOST_ONLY");
    assert.ok(finding?.ui?.place !== undefined, JSON.stringify(finding));
    assert.match(finding.fix, /connected: false/, "the CLI's words stay in `fix`");
    await page.goto(`${lab.url}/#/vms/iso01`);
    const reasons = page.getByRole("region", { name: "Where it can migrate" });
    await reasons.getByText(finding.ui.text, { exact: false }).first().waitFor();
    assert.equal(await reasons.getByText("connected: false").count(), 0, "no inventory words on the page");
    // The link beside the fix opens the page where it is done.
    await reasons.getByRole("link", { name: "Open iso01's page" }).first().click();
    await page.getByRole("heading", { name: /^VM iso01\b/ }).waitFor();
  });
});
