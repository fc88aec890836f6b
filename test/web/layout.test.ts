// The shell on a laptop screen (1024×768) in a real Chromium against a real `ferry up`: the
// inventory tree is a drawer its toggle opens (closed, none of its links takes Tab focus), a
// new page opens at its top with focus on its heading, the Recent tasks dock hides to a bar
// and resizes by keyboard and by dragging (kept after a reload), a disabled control says why
// beside it, and the search finds objects by IP, MAC, port group and datastore.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Locator, Page } from "playwright-core";
import { screenshot, useWebSuite } from "./harness.ts";

const LAPTOP = { width: 1024, height: 768 } as const;

interface TaskRow { id: string; state: string }
interface Nic { portGroup: string; mac: string; ip?: string }
interface InventoryDoc {
  hosts: { name: string; datastores: string[]; vswitches: { vmkernelPorts: { name: string; ip: string }[] }[] }[];
  vms: { name: string; host: string; power: string; nics: Nic[]; disks: { datastore: string }[] }[];
}

let page: Page;
const suite = useWebSuite((started) => {
  page = started.page;
});

const toggle = (): Locator => page.getByRole("button", { name: "Inventory", exact: true });
const drawer = (): Locator => page.locator("#ferry-inventory");

/** Waits until `probe` (run in the page) returns true: states, not time. */
async function until(probe: () => boolean | Promise<boolean>, what: string): Promise<void> {
  try {
    await page.waitForFunction(probe, undefined, { timeout: 15_000, polling: 50 });
  } catch (error) {
    throw new Error(`waited for ${what}`, { cause: error });
  }
}

/** The element Tab reaches in turn from the page's start, `count` presses: each one's text or label and whether it is inside the inventory drawer. */
async function tabWalk(count: number): Promise<{ name: string; inDrawer: boolean }[]> {
  await page.evaluate(() => {
    (document.activeElement as HTMLElement | null)?.blur();
    window.getSelection()?.removeAllRanges();
  });
  await page.locator("body").focus();
  const stops: { name: string; inDrawer: boolean }[] = [];
  for (let i = 0; i < count; i++) {
    await page.keyboard.press("Tab");
    stops.push(
      await page.evaluate(() => {
        const el = document.activeElement;
        return { name: (el?.getAttribute("aria-label") ?? el?.textContent ?? "").trim().slice(0, 40), inDrawer: el?.closest("#ferry-inventory") !== null && el?.closest("#ferry-inventory") !== undefined };
      }),
    );
  }
  return stops;
}

/** The scroll offset of the page's scrolling area (PatternFly's <main>). */
const mainScrollTop = (): Promise<number> => page.evaluate(() => document.getElementById("ferry-main")?.scrollTop ?? -1);

describe("the shell at 1024×768", () => {
  test("the inventory is a closed drawer out of the Tab order; the toggle opens it over the page, a link in it opens that page at its top with focus on its heading", async () => {
    const { lab } = suite();
    await page.setViewportSize(LAPTOP);
    await page.goto(`${lab.url}/#/`);
    await page.getByRole("heading", { level: 1, name: /^Datacenter/ }).waitFor();
    await until(() => document.querySelector("[aria-label=Inventory][aria-expanded=false]") !== null, "the drawer closed at this width");
    assert.equal(await drawer().getAttribute("inert"), "", "a closed drawer is inert");

    // Closed: no Tab stop inside it, and its links are off-screen.
    const stops = await tabWalk(25);
    assert.deepEqual(stops.filter((s) => s.inDrawer), [], `Tab reached the hidden tree: ${JSON.stringify(stops)}`);
    assert.equal(stops[0]?.name, "Skip to content", "the first Tab stop is the skip link");
    // Nor can a pointer reach them: what is drawn where the link would be is not the link.
    await until(() => {
      const a = [...document.querySelectorAll("#ferry-inventory a")].find((e) => e.textContent === "web01");
      const box = a?.getBoundingClientRect();
      if (box === undefined) return false;
      const hit = document.elementFromPoint(Math.max(0, box.left + box.width / 2), box.top + box.height / 2);
      return hit === null || hit.closest("#ferry-inventory") === null;
    }, "the closed tree's links out of reach");

    // Opened: beside the page's left edge, with focus in its search box.
    await toggle().click();
    assert.equal(await toggle().getAttribute("aria-expanded"), "true");
    await until(() => document.activeElement?.closest("#ferry-inventory") !== null && document.activeElement?.tagName === "INPUT", "focus in the drawer's search box");
    const link = drawer().getByRole("link", { name: "web01", exact: true });
    await until(() => {
      const a = [...document.querySelectorAll("#ferry-inventory a")].find((e) => e.textContent === "web01");
      const box = a?.getBoundingClientRect();
      return box !== undefined && box.left >= 0 && box.right <= window.innerWidth && box.top >= 0 && box.bottom <= window.innerHeight;
    }, "web01's link inside the window");
    assert.equal(await drawer().getAttribute("inert"), null);
    await until(() => {
      const box = document.getElementById("ferry-inventory")?.getBoundingClientRect();
      return box !== undefined && box.left >= 0 && box.width > 100;
    }, "the drawer fully slid in");
    await screenshot(page, "laptop-inventory-drawer");

    // Escape closes it and gives focus back to the toggle.
    await page.keyboard.press("Escape");
    assert.equal(await toggle().getAttribute("aria-expanded"), "false");
    await until(() => document.activeElement?.getAttribute("aria-label") === "Inventory", "focus back on the toggle");

    // A link in it: the drawer closes, the page opens at its top, focus on its heading.
    await toggle().click();
    await link.click();
    await page.waitForURL(/#\/vms\/web01$/);
    const heading = page.getByRole("heading", { level: 1, name: /web01/ });
    await heading.waitFor();
    assert.equal(await toggle().getAttribute("aria-expanded"), "false");
    await until(() => document.activeElement?.tagName === "H1" && document.activeElement.textContent.includes("web01"), "focus on web01's heading");
    assert.equal(await drawer().getAttribute("inert"), "");
  });

  test("a new page opens at its top, not at the last page's scroll position", async () => {
    const { lab } = suite();
    await page.setViewportSize(LAPTOP);
    const inventory = (await lab.api<InventoryDoc>("GET", "/inventory")).body;
    const host = inventory.hosts.find((h) => inventory.vms.some((vm) => vm.host === h.name));
    assert.ok(host !== undefined);
    const vm = inventory.vms.find((v) => v.host === host.name);
    assert.ok(vm !== undefined);
    await page.goto(`${lab.url}/#/hosts/${encodeURIComponent(host.name)}`);
    await page.getByRole("heading", { level: 1, name: new RegExp(host.name) }).waitFor();
    // The host page is longer than the window: scroll to its end.
    await page.evaluate(() => {
      const scroller = document.getElementById("ferry-main");
      scroller?.scrollTo(0, scroller.scrollHeight);
    });
    await until(() => (document.getElementById("ferry-main")?.scrollTop ?? 0) > 200, "the host page scrolled down");
    // Follow the link to one of its VMs from the page itself.
    await page.locator("#ferry-main").getByRole("link", { name: vm.name, exact: true }).first().click();
    await page.getByRole("heading", { level: 1, name: new RegExp(vm.name) }).waitFor();
    await until(() => document.getElementById("ferry-main")?.scrollTop === 0, "the VM page at its top");
    assert.equal(await mainScrollTop(), 0);
    const box = await page.getByRole("heading", { level: 1, name: new RegExp(vm.name) }).boundingBox();
    assert.ok(box !== null && box.y >= 0 && box.y + box.height <= LAPTOP.height, "the heading is in the window");
  });

  test("Recent tasks takes under a third of the screen, hides to a bar and shows again, resizes by keyboard and by dragging, and keeps its size after a reload", async () => {
    const { lab } = suite();
    await page.setViewportSize(LAPTOP);
    await page.evaluate(() => {
      localStorage.removeItem("ferry.tasksDock");
    });
    await page.goto(`${lab.url}/#/`);
    await page.reload();
    const panel = page.getByRole("region", { name: /^Recent tasks/ });
    await panel.waitFor();
    const dock = page.locator(".ferry-dock");
    const height = async (): Promise<number> => (await dock.boundingBox())?.height ?? 0;
    assert.ok((await height()) <= LAPTOP.height / 3, `the dock is ${String(await height())} px high on a ${String(LAPTOP.height)} px screen`);

    // Hide: one bar, the panel gone from view and from the accessibility tree; Show brings it back.
    await page.getByRole("button", { name: "Hide Recent tasks" }).click();
    await panel.waitFor({ state: "hidden" });
    const show = page.getByRole("button", { name: "Show Recent tasks" });
    assert.equal(await show.getAttribute("aria-expanded"), "false");
    assert.ok((await height()) < 60, `the collapsed dock is ${String(await height())} px high`);
    await screenshot(page, "laptop-tasks-collapsed");
    await show.click();
    await panel.waitFor();
    assert.equal(await page.getByRole("button", { name: "Hide Recent tasks" }).getAttribute("aria-expanded"), "true");

    // Keyboard: the separator's value and the dock's height follow the arrows.
    const separator = page.getByRole("separator", { name: "Resize Recent tasks" });
    const value = async (): Promise<number> => Number(await separator.getAttribute("aria-valuenow"));
    const start = await value();
    const startHeight = await height();
    await separator.focus();
    await page.keyboard.press("ArrowUp");
    await page.keyboard.press("ArrowUp");
    await until(() => Number(document.querySelector("[role=separator]")?.getAttribute("aria-valuenow")) > 0, "a value");
    assert.equal(await value(), start + 48);
    assert.ok(Math.abs((await height()) - (startHeight + 48)) <= 2, `height ${String(await height())} after two steps up from ${String(startHeight)}`);
    await page.keyboard.press("End");
    assert.equal(await value(), Number(await separator.getAttribute("aria-valuemin")));

    // Dragging the top edge up by 150 px makes it 150 px taller.
    const before = await value();
    const edge = await separator.boundingBox();
    assert.ok(edge !== null);
    await page.mouse.move(edge.x + edge.width / 2, edge.y + edge.height / 2);
    await page.mouse.down();
    await page.mouse.move(edge.x + edge.width / 2, edge.y + edge.height / 2 - 75, { steps: 3 });
    await page.mouse.move(edge.x + edge.width / 2, edge.y + edge.height / 2 - 150, { steps: 3 });
    await page.mouse.up();
    const dragged = await value();
    assert.ok(Math.abs(dragged - (before + 150)) <= 2, `dragged from ${String(before)} to ${String(dragged)}`);
    await screenshot(page, "laptop-tasks-resized");

    // Kept after a reload.
    await page.reload();
    await panel.waitFor();
    assert.equal(await value(), dragged);
  });

  test("a disabled action says why beside it: Migrate… in the tree's menu while the VM migrates", async () => {
    const { lab } = suite();
    await page.setViewportSize({ width: 1440, height: 900 });
    const inventory = (await lab.api<InventoryDoc>("GET", "/inventory")).body;
    const vms = (await lab.api<{ name: string; migrating: boolean }[]>("GET", "/vms")).body;
    // A running VM that is not migrating and has a destination without errors, moved at 1 Mb/s so it is still on its way while the test looks.
    let started: { vm: string; task: string } | undefined;
    for (const vm of inventory.vms.filter((v) => v.power === "on" && vms.some((s) => s.name === v.name && !s.migrating))) {
      const where = (await lab.api<{ hosts: { host: string; ok: boolean }[] }>("GET", `/vms/${encodeURIComponent(vm.name)}/where`)).body;
      const to = where.hosts.find((h) => h.ok)?.host;
      if (to === undefined) continue;
      const task = await lab.api<TaskRow>("POST", "/migrations", { vm: vm.name, to, bandwidthMbps: 1, acceptWarnings: "all" });
      if (task.status === 202) {
        started = { vm: vm.name, task: task.body.id };
        break;
      }
    }
    assert.ok(started !== undefined, "no VM of the lab could start a migration");
    try {
      await page.goto(`${lab.url}/#/`);
      const row = drawer().locator(".ferry-tree-row").filter({ has: page.getByRole("link", { name: started.vm, exact: true }) });
      await row.getByText("migrating").waitFor();
      await page.getByRole("button", { name: `Actions for ${started.vm}` }).click();
      const migrate = page.getByRole("menuitem", { name: /Migrate…/ });
      await migrate.waitFor();
      assert.equal(await migrate.getAttribute("aria-disabled"), "true");
      // The reason is text beside the item, not a tooltip.
      assert.match((await migrate.textContent()) ?? "", /Already migrating/);
      await page.keyboard.press("Escape");
    } finally {
      await lab.api("DELETE", `/migrations/${started.task}`);
    }
  });

  test("every disabled button on the main pages says why beside it", async () => {
    const { lab } = suite();
    await page.setViewportSize(LAPTOP);
    const inventory = (await lab.api<InventoryDoc>("GET", "/inventory")).body;
    // A VM in each power state: their pages disable different actions.
    const vmPages = ["on", "off", "suspended"].flatMap((power) => inventory.vms.filter((v) => v.power === power).slice(0, 1)).map((v) => `#/vms/${encodeURIComponent(v.name)}`);
    const pages = ["#/", `#/hosts/${encodeURIComponent(inventory.hosts[0]?.name ?? "")}`, ...vmPages];
    const missing: string[] = [];
    for (const hash of pages) {
      await page.goto(`${lab.url}/${hash}`);
      await page.locator("#ferry-main h1").first().waitFor();
      await page.locator("#ferry-main .ferry-loading").first().waitFor({ state: "detached" });
      const found = await page.evaluate(() =>
        [...document.querySelectorAll("#ferry-main button[disabled], #ferry-main button[aria-disabled=true]")].map((button) => {
          const ids = (button.getAttribute("aria-describedby") ?? "").split(/\s+/).filter((id) => id !== "");
          const reason = ids.map((id) => document.getElementById(id)).find((el) => el !== null && el.textContent.trim() !== "" && el.getClientRects().length > 0);
          const a = button.getBoundingClientRect();
          const b = reason?.getBoundingClientRect();
          // Beside it: within a line or two of the button, not below the fold.
          const near = b !== undefined && Math.abs(b.top - a.top) < 80 && Math.abs(b.left - a.right) < 600;
          const label = button.textContent.trim() === "" ? (button.getAttribute("aria-label") ?? "") : button.textContent.trim();
          return { button: label, reason: reason === undefined || reason === null ? null : reason.textContent.trim(), near };
        }),
      );
      for (const f of found) if (f.reason === null || !f.near) missing.push(`${hash} “${f.button}”: ${f.reason === null ? "no reason" : `reason “${f.reason}” not beside it`}`);
    }
    assert.deepEqual(missing, []);
  });
});

describe("inventory search", () => {
  test("finds VMs by IP, MAC (any separators) and port group, and hosts by datastore and VMkernel IP, saying what matched", async () => {
    const { lab } = suite();
    await page.setViewportSize({ width: 1440, height: 900 });
    const inventory = (await lab.api<InventoryDoc>("GET", "/inventory")).body;
    await page.goto(`${lab.url}/#/`);
    const search = page.getByRole("searchbox", { name: "Search inventory" }).or(page.getByLabel("Search inventory"));
    const tree = drawer().getByRole("navigation", { name: "Inventory" });
    const status = drawer().getByRole("status");

    const withIp = inventory.vms.find((v) => v.nics.some((n) => n.ip !== undefined));
    assert.ok(withIp !== undefined);
    const ip = withIp.nics.find((n) => n.ip !== undefined)?.ip ?? "";
    await search.first().fill(ip);
    await status.getByText(/found for/).waitFor();
    const byIp = tree.getByRole("link", { name: withIp.name, exact: true });
    await byIp.waitFor();
    assert.match((await byIp.locator("xpath=..").textContent()) ?? "", new RegExp(`IP ${ip.replace(/\./g, "\\.")}`));
    // Only VMs whose address contains the text.
    const expectedByIp = inventory.vms.filter((v) => v.name.includes(ip) || v.nics.some((n) => n.ip?.includes(ip) === true)).map((v) => v.name).sort();
    assert.deepEqual([...new Set(await shownVmsIn(tree))].sort(), expectedByIp);

    // A MAC typed with dashes and in capitals finds the VM whose MAC has colons.
    const mac = withIp.nics[0]?.mac ?? "";
    await search.first().fill(mac.toUpperCase().replace(/:/g, "-"));
    await tree.getByRole("link", { name: withIp.name, exact: true }).waitFor();
    assert.deepEqual([...new Set(await shownVmsIn(tree))], [withIp.name]);
    assert.match((await tree.getByRole("link", { name: withIp.name, exact: true }).locator("xpath=..").textContent()) ?? "", /MAC /);

    // A port group: every VM with a NIC on it.
    const portGroup = inventory.vms.map((v) => v.nics[0]?.portGroup).find((pg) => pg !== undefined && pg !== "" && inventory.vms.filter((v) => v.nics.some((n) => n.portGroup === pg)).length >= 2) ?? "";
    await search.first().fill(portGroup);
    const onPortGroup = inventory.vms.filter((v) => v.nics.some((n) => n.portGroup.toLowerCase().includes(portGroup.toLowerCase())) || v.name.toLowerCase().includes(portGroup.toLowerCase())).map((v) => v.name).sort();
    await until(() => document.querySelector("#ferry-inventory [role=status]")?.textContent.includes("found") === true, "the count");
    await tree.getByRole("link", { name: onPortGroup[0] ?? "", exact: true }).waitFor();
    assert.deepEqual([...new Set(await shownVmsIn(tree))].sort(), onPortGroup);

    // A datastore only one host mounts: that host is found, saying why.
    const local = inventory.hosts.flatMap((h) => h.datastores.map((ds) => ({ host: h.name, ds }))).find(({ ds }) => inventory.hosts.filter((h) => h.datastores.includes(ds)).length === 1);
    assert.ok(local !== undefined, "the lab has a local datastore");
    await search.first().fill(local.ds);
    const hostLink = tree.getByRole("link", { name: local.host, exact: true });
    await hostLink.waitFor();
    assert.match((await hostLink.locator("xpath=..").textContent()) ?? "", new RegExp(`datastore ${local.ds}`));
    for (const other of inventory.hosts.filter((h) => !h.datastores.includes(local.ds) && !h.name.includes(local.ds))) {
      assert.equal(await tree.getByRole("link", { name: other.name, exact: true }).count(), 0, `${other.name} does not mount ${local.ds}`);
    }

    // A VMkernel port's IP finds its host.
    const vmk = inventory.hosts.flatMap((h) => h.vswitches.flatMap((s) => s.vmkernelPorts.map((p) => ({ host: h.name, ip: p.ip.split("/")[0] ?? "" })))).at(0);
    assert.ok(vmk !== undefined);
    await search.first().fill(vmk.ip);
    await tree.getByRole("link", { name: vmk.host, exact: true }).waitFor();

    // Nothing: said in words.
    await search.first().fill("no-such-thing-anywhere");
    await status.getByText(/^Nothing named like/).waitFor();
    await search.first().fill("");
    await tree.getByRole("link", { name: withIp.name, exact: true }).waitFor();
  });
});

/** The VM links shown in the tree (VM rows carry a power badge; hosts and clusters do not). */
async function shownVmsIn(tree: Locator): Promise<string[]> {
  return tree.locator(".ferry-tree-row").filter({ has: tree.page().locator(".ferry-badge") }).locator("a").allTextContents();
}
