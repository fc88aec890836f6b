// Accessibility and weight of the web UI in a real Chromium against a real `ferry up`: axe-core
// (from npm, injected into the page: nothing leaves the machine) finds no WCAG 2.1 A/AA
// violation on the login page and the main pages, contrast included (an aborted migration's
// amber words too); tables are tables, not grids; a skip link is the first Tab stop; a refused
// login is announced and marks the field invalid. A cold load is sent compressed,
// /api/inventory is read once per load, and /favicon.ico is an icon.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Locator, Page } from "playwright-core";
import { screenshot, useWebSuite } from "./harness.ts";

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

interface TaskRow { id: string; state: string; vm: string }
interface InventoryDoc { hosts: { name: string }[]; clusters: { name: string }[]; templates: { name: string }[]; vms: { name: string; power: string }[] }
interface AxeViolation { id: string; impact: string | null; help: string; nodes: { target: string[]; failureSummary?: string }[] }

let page: Page;
const suite = useWebSuite((started) => {
  page = started.page;
});

/** axe-core's WCAG 2.1 A and AA rules over the whole document; each violation as one readable line. */
async function axeViolations(target: Page): Promise<string[]> {
  // evaluate() runs through the DevTools protocol, so the page's Content-Security-Policy does not stop it.
  await target.evaluate(AXE_SOURCE);
  const violations = await target.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (context: Document, options: unknown) => Promise<{ violations: AxeViolation[] }> } }).axe;
    return (await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }, resultTypes: ["violations"] })).violations;
  });
  return violations.map((v) => `${v.id} (${String(v.impact)}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => `${n.target.join(" ")}: ${(n.failureSummary ?? "").split("\n").slice(1, 2).join("").trim()}`).join(" | ")}`);
}

/**
 * WCAG contrast ratio of an element's text colour against the first opaque background behind
 * it. Sent as source text: the test runner's transpiler would add helpers the page lacks.
 */
const CONTRAST = `(el) => {
  const rgb = (css) => (/rgba?\\(([^)]+)\\)/.exec(css)?.[1] ?? "0,0,0").split(",").map((x) => Number(x.trim()));
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map((v) => { const s = v / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  let back = el;
  let bg = "rgb(255, 255, 255)";
  while (back !== null) {
    const value = getComputedStyle(back).backgroundColor;
    const alpha = rgb(value)[3];
    if (value !== "transparent" && (alpha === undefined || alpha > 0.9)) { bg = value; break; }
    back = back.parentElement;
  }
  const a = lum(rgb(getComputedStyle(el).color));
  const b = lum(rgb(bg));
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}`;

async function contrastOf(element: Locator): Promise<number> {
  await element.evaluate((el) => {
    el.setAttribute("data-contrast-probe", "");
  });
  const ratio: unknown = await element.page().evaluate(`(${CONTRAST})(document.querySelector("[data-contrast-probe]"))`);
  assert.equal(typeof ratio, "number");
  return ratio as number;
}

/** Starts a slow migration of some running VM and aborts it (the task ends "Aborted on request"; the panel shows when). */
async function abortedMigration(): Promise<TaskRow> {
  const { lab } = suite();
  const vms = (await lab.api<{ name: string; power: string; migrating: boolean }[]>("GET", "/vms")).body;
  for (const vm of vms.filter((v) => v.power === "on" && !v.migrating)) {
    const where = (await lab.api<{ hosts: { host: string; ok: boolean }[] }>("GET", `/vms/${encodeURIComponent(vm.name)}/where`)).body;
    const to = where.hosts.find((h) => h.ok)?.host;
    if (to === undefined) continue;
    const started = await lab.api<TaskRow>("POST", "/migrations", { vm: vm.name, to, bandwidthMbps: 1, acceptWarnings: "all" });
    if (started.status !== 202) continue;
    assert.equal((await lab.api("DELETE", `/migrations/${started.body.id}`)).status, 202);
    return started.body;
  }
  assert.fail("no VM of the lab could start a migration");
}

describe("accessibility", () => {
  test("a refused login is announced (role=alert), marks the field invalid until it is edited, and the login page passes axe", async () => {
    const { browser, lab } = suite();
    const fresh = await browser.newPage();
    try {
      await fresh.goto(`${lab.url}/#/`);
      const field = fresh.getByLabel("API token");
      assert.equal(await field.getAttribute("aria-invalid"), "false");
      assert.deepEqual(await axeViolations(fresh), []);
      await field.fill("ferry_not_a_token");
      await fresh.getByRole("button", { name: "Log in" }).click();
      const alert = fresh.getByRole("alert");
      await alert.getByText("Cannot log in").waitFor();
      assert.match((await alert.textContent()) ?? "", /not valid/);
      assert.equal(await field.getAttribute("aria-invalid"), "true");
      // The field names the message that explains it.
      const described = (await field.getAttribute("aria-describedby")) ?? "";
      assert.ok(described.split(" ").includes((await alert.getAttribute("id")) ?? "-"), `aria-describedby="${described}"`);
      assert.deepEqual(await axeViolations(fresh), []);
      await screenshot(fresh, "login-refused");
      await field.fill("ferry_another_try");
      assert.equal(await field.getAttribute("aria-invalid"), "false");
    } finally {
      await fresh.close();
    }
  });

  test("axe finds no WCAG A/AA violation on the main pages, an aborted migration's amber words included; no table is exposed as a grid", async () => {
    const { lab } = suite();
    const aborted = await abortedMigration();
    const inventory = (await lab.api<InventoryDoc>("GET", "/inventory")).body;
    const pages = [
      "#/",
      `#/hosts/${encodeURIComponent(inventory.hosts[0]?.name ?? "")}`,
      `#/vms/${encodeURIComponent(aborted.vm)}`,
      `#/vms/${encodeURIComponent(inventory.vms.find((v) => v.power === "off")?.name ?? "")}`,
      `#/clusters/${encodeURIComponent(inventory.clusters[0]?.name ?? "")}`,
      `#/clusters/${encodeURIComponent(inventory.clusters[0]?.name ?? "")}/compatibility`,
      `#/templates/${encodeURIComponent(inventory.templates[0]?.name ?? "")}`,
      `#/tasks/${encodeURIComponent(aborted.id)}`,
    ];
    const found: string[] = [];
    for (const size of [{ width: 1440, height: 900 }, { width: 1024, height: 768 }]) {
      await page.setViewportSize(size);
      for (const hash of pages) {
        await page.goto(`${lab.url}/${hash}`);
        await page.locator("#ferry-main h1").first().waitFor();
        await page.locator(".ferry-loading").first().waitFor({ state: "detached" });
        // The Recent tasks panel lists the aborted migration on every page.
        await page.getByRole("region", { name: /^Recent tasks/ }).getByText(/Aborted on request/).first().waitFor();
        for (const v of await axeViolations(page)) found.push(`${String(size.width)} ${hash}: ${v}`);
        const grids = await page.locator("[role=grid], [role=treegrid]").count();
        if (grids > 0) found.push(`${hash}: ${String(grids)} element(s) with role grid`);
        const tables = await page.locator("table").evaluateAll((ts) => ts.map((t) => t.getAttribute("role")));
        for (const role of tables) if (role !== null && role !== "table") found.push(`${hash}: a table with role ${role}`);
      }
    }
    assert.deepEqual(found, []);
    // The amber words themselves, measured: WCAG AA asks 4.5:1 for text of this size.
    await page.goto(`${lab.url}/#/`);
    const amber = page.getByRole("region", { name: /^Recent tasks/ }).getByText(/Aborted on request/).first();
    await amber.waitFor();
    const contrast = await contrastOf(amber);
    assert.ok(contrast >= 4.5, `"Aborted on request" has ${contrast.toFixed(2)}:1`);
  });

  test("the skip link is the first Tab stop and moves focus to the page's heading, past the masthead and the tree", async () => {
    const { lab } = suite();
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.goto(`${lab.url}/#/`);
    // A fresh load: Tab starts from the top of the document.
    await page.reload();
    await page.getByRole("heading", { level: 1, name: /^Datacenter/ }).waitFor();
    await page.keyboard.press("Tab");
    const skip = page.getByRole("link", { name: "Skip to content" });
    assert.equal(await skip.evaluate((el) => el === document.activeElement), true, "the first Tab stop is the skip link");
    assert.ok(await skip.isVisible(), "the focused skip link is visible");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.activeElement?.tagName === "H1");
    assert.match(page.url(), /#\/$/, "the skip link leaves the route alone");
    // The next Tab stop is inside the page, not in the tree or the masthead.
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement?.closest("#ferry-main") !== null), true);
  });
});

describe("weight", () => {
  test("a cold load is sent compressed (brotli), far under the 2 MB of the uncompressed bundle, and reads /api/inventory once", async () => {
    const { browser, lab } = suite();
    const fresh = await browser.newPage();
    try {
      const cdp = await browser.context.newCDPSession(fresh);
      await cdp.send("Network.enable");
      await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
      const encoded = new Map<string, number>();
      const urls = new Map<string, string>();
      cdp.on("Network.responseReceived", (e: { requestId: string; response: { url: string } }) => {
        urls.set(e.requestId, e.response.url);
      });
      cdp.on("Network.loadingFinished", (e: { requestId: string; encodedDataLength: number }) => {
        encoded.set(e.requestId, e.encodedDataLength);
      });
      const assets: { url: string; encoding: string | null }[] = [];
      let inventoryReads = 0;
      fresh.on("response", (response) => {
        const url = new URL(response.url());
        if (url.pathname.startsWith("/assets/") && /\.(js|css)$/.test(url.pathname)) assets.push({ url: url.pathname, encoding: response.headers()["content-encoding"] ?? null });
      });
      fresh.on("request", (request) => {
        if (new URL(request.url()).pathname === "/api/inventory") inventoryReads++;
      });
      const streamOpened = fresh.waitForRequest((request) => new URL(request.url()).pathname === "/api/events");
      // The login link `ferry up` prints: the token in the fragment.
      await fresh.goto(`${lab.url}/#token=${encodeURIComponent(lab.adminToken)}`);
      await fresh.getByRole("navigation", { name: "Inventory" }).getByRole("link").nth(2).waitFor();
      await fresh.getByRole("region", { name: /^Recent tasks/ }).waitFor();
      await streamOpened;
      await fresh.getByRole("heading", { level: 1 }).first().waitFor();

      assert.ok(assets.length >= 2, `assets seen: ${JSON.stringify(assets)}`);
      for (const a of assets) assert.equal(a.encoding, "br", `${a.url} sent ${String(a.encoding)}`);
      const total = [...encoded.entries()].filter(([id]) => !(urls.get(id) ?? "").includes("/api/")).reduce((sum, [, n]) => sum + n, 0);
      assert.ok(total < 600_000, `a cold load moved ${String(total)} bytes`);
      assert.equal(inventoryReads, 1, "GET /api/inventory once per load");
    } finally {
      await fresh.close();
    }
  });

  test("/favicon.ico is an icon, not the app's HTML, and the page links it", async () => {
    const { lab } = suite();
    await page.goto(`${lab.url}/#/`);
    // Asked by the page itself: the browser trusts the lab's certificate, this process does not.
    const get = (path: string): Promise<{ status: number; type: string | null; head: number[] }> =>
      page.evaluate(async (p) => {
        const response = await fetch(p);
        return { status: response.status, type: response.headers.get("content-type"), head: [...new Uint8Array(await response.arrayBuffer()).subarray(0, 4)] };
      }, path);
    const icon = await get("/favicon.ico");
    assert.equal(icon.status, 200);
    assert.equal(icon.type, "image/x-icon");
    assert.deepEqual(icon.head, [0, 0, 1, 0], "an ICO header");
    assert.equal((await get("/no-such-file.png")).status, 404);
    assert.equal(await page.locator('link[rel="icon"]').getAttribute("href"), "/favicon.ico");
  });
});
