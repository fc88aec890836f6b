// Two controller processes on one real PostgreSQL, sharing its store (and a data directory
// for the site CA and admin token): migrations started on each; an event stream on A sees
// B's migrations; the per-host limit holds across both (asserted from the store's admission
// history); A is killed with SIGKILL mid-migration and B settles A's task only after A's
// lease on it expired, with the VM on exactly one host.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import pg from "pg";
import { ApiClient, type SseEvent } from "../../src/api/client.ts";
import { startThrowawayPostgres, type ThrowawayPostgres } from "../../src/store/testing/postgres.ts";
import { startControllerProcess, startLab, stopProcess, type ControllerProcess, type Lab } from "./harness.ts";
import { twinLab } from "../support/twin-lab.ts";
import { assertNeverBack, progressPercents, taskEnded, waitFor } from "../support/tasks.ts";

interface Task { id: string; state: string; vm: string; source: string; destination: string; body: { report?: { outcome: string; runningOn: string } } }

const LEASE_MS = 3000;

// The caller names the response shape it expects; its assertions check it.
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
async function call<T>(c: ControllerProcess, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  return c.api<T>(method, path, body);
}

async function runningOn(lab: Lab, vm: string): Promise<string[]> {
  const out: string[] = [];
  for (const host of lab.agents.keys()) if ((await lab.agent(host).listVms()).some((v) => v.name === vm && v.power === "running")) out.push(host);
  return out;
}

/** The most admissions open at once on `host`, from the store's history of admissions. */
function peakOn(rows: readonly { source: string; destination: string; admitted_at: string; released_at: string | null }[], host: string): number {
  const edges: [number, number][] = [];
  for (const r of rows) {
    if (r.source !== host && r.destination !== host) continue;
    edges.push([Number(r.admitted_at), 1]);
    edges.push([r.released_at === null ? Number.MAX_SAFE_INTEGER : Number(r.released_at), -1]);
  }
  // A release and an admission at the same millisecond: the release first.
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let peak = 0;
  for (const [, d] of edges) peak = Math.max(peak, (open += d));
  return peak;
}

describe("two controllers on one PostgreSQL", () => {
  const site = twinLab(12, 16, 3);
  let postgres: ThrowawayPostgres;
  let db: pg.Client;
  let lab: Lab;
  let b: ControllerProcess;
  before(async () => {
    postgres = await startThrowawayPostgres();
    db = new pg.Client({ connectionString: postgres.url });
    await db.connect();
    const args = ["--postgres", postgres.url, "--lease", String(LEASE_MS)];
    lab = await startLab(site.yaml, site.hosts.map((name) => ({ name })), site.vms, args);
    // B starts once the agents joined A: it reads them from the shared store.
    b = await startControllerProcess(join(lab.dir, "data"), args);
  });
  after(async () => {
    await stopProcess(b.child);
    await lab.stop();
    await db.end();
    postgres.stop();
  });

  test("migrations on both: A's event stream sees B's, and esx01's limit of 4 holds across both", async () => {
    const a = lab.controller;
    const seen = new Set<string>();
    const stop = new AbortController();
    const client = new ApiClient({ url: a.url, token: a.token, fetch: a.fetch });
    const following = client.follow("/events", (e: SseEvent) => {
      const body = JSON.parse(e.data) as { taskId?: string };
      if (body.taskId !== undefined) seen.add(body.taskId);
      return undefined;
    }, stop.signal).catch(() => undefined);
    const started: Task[] = [];
    // Eight moves out of esx01 (1 Gb/s: 4 at once), alternately through A and B.
    for (let i = 0; i < 8; i++) {
      const r = await call<Task>(i % 2 === 0 ? a : b, "POST", "/migrations", { vm: site.vms[i]?.spec.name, to: i % 4 < 2 ? "esx02" : "esx03", bandwidthMbps: 40 });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      started.push(r.body);
    }
    const fromB = started.filter((_, i) => i % 2 === 1).map((t) => t.id);
    await waitFor("A's stream to carry B's migrations", () => Promise.resolve(fromB.every((id) => seen.has(id)) ? true : undefined));
    for (const t of started) {
      const done = await taskEnded<Task>(a, t.id);
      assert.equal(done.state, "completed", JSON.stringify(done.body.report));
    }
    stop.abort();
    await following;
    // Each controller's inventory shows the other's moves (read at its lease renewals).
    for (const [i, t] of started.entries()) {
      const other = i % 2 === 0 ? b : a;
      await waitFor(`${t.vm} on ${t.destination} in the other controller's inventory`, async () => ((await call<{ host: string }>(other, "GET", `/vms/${t.vm}`)).body.host === t.destination ? true : undefined));
    }
    const history = await db.query<{ task_id: string; source: string; destination: string; controller: string; admitted_at: string; released_at: string | null }>("select task_id, source, destination, controller, admitted_at, released_at from admission");
    const ours = history.rows.filter((r) => started.some((t) => t.id === r.task_id));
    assert.equal(ours.length, 8);
    assert.equal(new Set(ours.map((r) => r.controller)).size, 2, "both controllers admitted migrations");
    assert.equal(peakOn(ours, "esx01"), 4, "esx01 ran 4 at once, never more");
  });

  test("A killed mid-migration: B settles A's task only after A's lease expired; the VM runs on one host", async () => {
    const a = lab.controller;
    const vm = site.vms[10]?.spec.name ?? "";
    const from = (await runningOn(lab, vm))[0] ?? "";
    const to = from === "esx02" ? "esx03" : "esx02";
    const r = await call<Task>(a, "POST", "/migrations", { vm, to, bandwidthMbps: 10 });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    await waitFor("the move to be in pre-copy", async () => ((await call<Task>(a, "GET", `/migrations/${r.body.id}`)).body.state === "precopy" ? true : undefined));
    // A dies once its event stream ran ahead of the task row (written at most once a second), if pre-copy lasts that long.
    await waitFor("A's event stream to run ahead of the task row, or pre-copy to end", async () => {
      const row = (await call<{ state: string; percent: number }>(a, "GET", `/migrations/${r.body.id}`)).body;
      const last = (await progressPercents(a, r.body.id)).at(-1) ?? 0;
      return row.state !== "precopy" || last > row.percent ? true : undefined;
    });
    const owner = (await db.query<{ owner: string }>("select owner from task where id = $1", [r.body.id])).rows[0]?.owner;
    await stopProcess(a.child, "SIGKILL");
    // A cannot renew after its death: the lease it left is the last.
    const lease = Number((await db.query<{ lease_until: string }>("select lease_until from task where id = $1", [r.body.id])).rows[0]?.lease_until);
    const taken = await waitFor("B to take the task over", () => {
      const line = b.stderr().split("\n").find((l) => l.includes("took over a task whose controller's lease expired") && l.includes(r.body.id));
      return Promise.resolve(line === undefined ? undefined : (JSON.parse(line) as { at: string; from: string; leaseUntil: number }));
    });
    assert.equal(taken.from, owner);
    assert.ok(Date.parse(taken.at) > lease, `taken at ${taken.at}, A's lease ran to ${new Date(lease).toISOString()}`);
    const done = await taskEnded<Task>(b, r.body.id);
    const hosts = await runningOn(lab, vm);
    assert.equal(hosts.length, 1, `${vm} runs on ${hosts.join(", ")}`);
    assert.equal(done.body.report?.runningOn, hosts[0]);
    const inventory = await call<{ host: string; migrating: boolean }>(b, "GET", `/vms/${vm}`);
    assert.deepEqual([inventory.body.host, inventory.body.migrating], [hosts[0], false]);
    assert.equal((await db.query("select 1 from vm_claim where vm = $1", [vm])).rowCount, 0, "the claim was released");
    // B started its run where A's stream left off (its last event, not the task row, which lags it).
    assertNeverBack(await progressPercents(b, r.body.id), "A's events then B's");
  });
});
