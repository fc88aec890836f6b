// List-then-watch in a real Chromium against a real `ferry up`: the pages read their lists
// first and watch GET /api/events from the sequence those lists answered (the
// ferry-event-sequence header), never from 0; a `resync` from the controller makes the page
// read its list again and the stream go on after the resync's sequence.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ConsoleMessage, Frame, Page, Request, Response } from "playwright-core";
import { useWebSuite } from "./harness.ts";

let page: Page;
const suite = useWebSuite((started) => {
  page = started.page;
});

const LISTS = ["/api/migrations", "/api/inventory", "/api/hosts", "/api/vms"] as const;

/**
 * The sequence each list answered, every event-stream request, and what the page complained of,
 * counting only the document its `reload()` commits. A list the old document was still reading
 * (the inventory reloads on a migration's events) answers an older sequence than the new
 * document's, whose inventory may then share one stream with the tasks panel: counted, that
 * stale answer asked for a second stream that never comes (a CI run waited 30 min for it).
 */
function recorder(): { sequences: Map<string, number>; streams: URL[]; listLoads: string[]; complaints: string[]; reload: () => Promise<void>; stop: () => void } {
  const sequences = new Map<string, number>();
  const streams: URL[] = [];
  const listLoads: string[] = [];
  const complaints: string[] = [];
  const fresh = new WeakSet<Request>();
  let reloading = false;
  let committed = false;
  const onNavigated = (frame: Frame): void => {
    if (reloading && frame === page.mainFrame()) committed = true;
  };
  const onConsole = (message: ConsoleMessage): void => {
    if (message.type() === "error" || message.type() === "warning") complaints.push(`${message.type()}: ${message.text()}`);
  };
  const onPageError = (error: Error): void => {
    complaints.push(`page error: ${error.message}`);
  };
  const onRequest = (request: Request): void => {
    if (!committed) return;
    fresh.add(request);
    const url = new URL(request.url());
    if (url.pathname === "/api/events") streams.push(url);
    if ((LISTS as readonly string[]).includes(url.pathname)) listLoads.push(url.pathname);
  };
  const onResponse = (response: Response): void => {
    if (!fresh.has(response.request())) return;
    const url = new URL(response.url());
    const header = response.headers()["ferry-event-sequence"];
    if ((LISTS as readonly string[]).includes(url.pathname) && header !== undefined && !sequences.has(url.pathname)) sequences.set(url.pathname, Number(header));
  };
  page.on("framenavigated", onNavigated);
  page.on("request", onRequest);
  page.on("response", onResponse);
  page.on("console", onConsole);
  page.on("pageerror", onPageError);
  return {
    sequences,
    streams,
    listLoads,
    complaints,
    reload: async () => {
      reloading = true;
      await page.reload();
    },
    stop: () => {
      page.off("framenavigated", onNavigated);
      page.off("request", onRequest);
      page.off("response", onResponse);
      page.off("console", onConsole);
      page.off("pageerror", onPageError);
    },
  };
}

/** Waits for a state the page's requests reach; after 60 s fails saying what the page did meanwhile. */
async function until(reached: () => boolean, seen: ReturnType<typeof recorder>, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!reached()) {
    if (Date.now() > deadline) {
      const sequences = [...seen.sequences].map(([path, seq]) => `${path}=${String(seq)}`).join(" ");
      const streams = seen.streams.map((u) => u.search).join(" ");
      const alerts = (await page.getByRole("alert").allTextContents().catch(() => [])).join(" | ");
      assert.fail(`${what}: not reached in 60 s; list sequences ${sequences || "none"}; streams ${streams || "none"}; list loads ${seen.listLoads.join(" ") || "none"}; the page said ${[...seen.complaints, alerts].filter((c) => c !== "").join(" | ") || "nothing"}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("list-then-watch", () => {
  test("the tasks panel and the inventory watch events from the sequence their lists answered, never from 0", async () => {
    const { lab } = suite();
    // A migration makes events, so "from 0" and "from the list's sequence" differ.
    const vms = (await lab.api<{ name: string; power: string; migrating: boolean }[]>("GET", "/vms")).body.filter((v) => v.power === "on" && !v.migrating);
    let started = false;
    for (const vm of vms) {
      const where = (await lab.api<{ hosts: { host: string; ok: boolean; warnings: unknown[] }[] }>("GET", `/vms/${encodeURIComponent(vm.name)}/where`)).body;
      const to = where.hosts.find((h) => h.ok && h.warnings.length === 0);
      if (to === undefined) continue;
      started = (await lab.api("POST", "/migrations", { vm: vm.name, to: to.host })).status === 202;
      if (started) break;
    }
    assert.ok(started, "no VM of the lab could start a migration");
    await page.goto(`${lab.url}/#/`);
    const seen = recorder();
    try {
      await seen.reload();
      // The inventory's stream and the tasks panel's (one, when their sequences are the same).
      await until(() => seen.sequences.size === LISTS.length && seen.streams.length >= (new Set([seen.sequences.get("/api/migrations"), Math.min(...["/api/inventory", "/api/hosts", "/api/vms"].map((p) => seen.sequences.get(p) ?? 0))]).size), seen, "every list answered and its stream opened");
      const tasks = seen.sequences.get("/api/migrations");
      const inventory = Math.min(...(["/api/inventory", "/api/hosts", "/api/vms"] as const).map((p) => seen.sequences.get(p) ?? Number.NaN));
      assert.ok(tasks !== undefined && tasks > 0, `GET /api/migrations answered its sequence (${String(tasks)})`);
      assert.ok(inventory > 0, `the inventory's lists answered their sequences (${String(inventory)})`);
      const afters = seen.streams.map((u) => Number(u.searchParams.get("after")));
      assert.ok(afters.every((a) => a > 0), `no stream starts from 0: ${afters.join(", ")}`);
      assert.ok(afters.includes(tasks), `the tasks panel watches after ${String(tasks)}: ${afters.join(", ")}`);
      assert.ok(afters.includes(inventory), `the inventory watches after ${String(inventory)}: ${afters.join(", ")}`);
    } finally {
      seen.stop();
    }
  });

  test("a resync from the controller reloads the lists, and the stream goes on after the resync's sequence", async () => {
    const { lab } = suite();
    await page.goto(`${lab.url}/#/`);
    const seen = recorder();
    // The controller's answer to a client whose events were pruned, as GET /api/events sends it.
    const latest = 987_654;
    let resyncs = 0;
    await page.route("**/api/events**", async (route) => {
      const after = Number(new URL(route.request().url()).searchParams.get("after"));
      if (after === latest) {
        await route.continue();
        return;
      }
      resyncs++;
      const data = JSON.stringify({ type: "resync", after, oldest: latest - 10, latest, reason: "events were pruned" });
      await route.fulfill({ status: 200, headers: { "content-type": "text/event-stream" }, body: `event: resync\nid: ${String(latest)}\ndata: ${data}\n\n` });
    });
    try {
      await seen.reload();
      // The tasks panel reads its list once for the page, and again after its stream's resync
      // (nothing else reads it again: no task event arrives on a fulfilled stream).
      await until(() => seen.listLoads.filter((p) => p === "/api/migrations").length >= 2, seen, "the tasks list read again after the resync");
      // The streams come back after the resync's sequence (the fulfilled one ended), never before it.
      await until(() => seen.streams.some((u) => u.searchParams.get("after") === String(latest)), seen, `a stream after the resync's ${String(latest)}`);
      assert.ok(resyncs >= 1);
    } finally {
      await page.unroute("**/api/events**");
      seen.stop();
    }
  });
});
