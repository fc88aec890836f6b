import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import { getRequestListener } from "@hono/node-server";
import { ledgerRoutes, storeLedger, LEDGER_BASE } from "../../server/ownership.ts";
import { openSqliteStore } from "../../store/sqlite.ts";
import { openPostgresStore } from "../../store/postgres.ts";
import { startThrowawayPostgres } from "../../store/testing/postgres.ts";
import { Hono } from "hono";
import { ledgerContract } from "./contract.ts";
import { controllerLedger } from "./controller-ledger.ts";
import { datastoreLedger, OWNERS_DIR } from "./datastore-ledger.ts";
import { memoryLedger } from "./memory-ledger.ts";

/** What a datastore ledger tidies after a claim's answer (outside the claim's time), waited for: `probe` asked every 20 ms until it holds. */
async function eventually(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

ledgerContract("memory", () => Promise.resolve({ ledger: memoryLedger(), cleanup: () => Promise.resolve() }));

ledgerContract("datastore directory (two hosts' handles on one mount)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ferry-ledger-"));
  return { ledger: datastoreLedger(dir, "shared01"), other: datastoreLedger(dir, "shared01"), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

ledgerContract("controller store on SQLite", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ferry-ledger-"));
  const store = openSqliteStore(join(dir, "ferry.db"));
  await store.migrateToLatest();
  return { ledger: storeLedger(store, Date.now), cleanup: async () => { await store.close(); await rm(dir, { recursive: true, force: true }); } };
});

ledgerContract("controller store on PostgreSQL", async () => {
  const server = await startThrowawayPostgres();
  const store = openPostgresStore(server.url);
  await store.migrateToLatest();
  // A second connection pool on the same database: another controller's or a racing request's view.
  const second = openPostgresStore(server.url);
  return { ledger: storeLedger(store, Date.now), other: storeLedger(second, Date.now), cleanup: async () => { await store.close(); await second.close(); server.stop(); } };
});

ledgerContract("controller store over HTTP, as agents reach it", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ferry-ledger-"));
  const store = openSqliteStore(join(dir, "ferry.db"));
  await store.migrateToLatest();
  const ledger = storeLedger(store, Date.now);
  const app = new Hono();
  app.route(LEDGER_BASE, ledgerRoutes(ledger));
  const listener = getRequestListener(app.fetch);
  const server = createServer((req, res) => { void listener(req, res); });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Every VM of the suite gets its capability, as the engine grants one per migration.
  const caps = new Map<string, string>();
  for (const vm of ["fresh01", "race01", "old01", "again01", "prep01", "ind01", "ind02"]) caps.set(vm, await ledger.grant(vm, `m-${vm}`));
  const over = (): ReturnType<typeof controllerLedger> => {
    const byVm = (vm: string): ReturnType<typeof controllerLedger> => controllerLedger(url, caps.get(vm) ?? "none-none-none-none");
    return { where: "the controller's store", read: (vm) => byVm(vm).read(vm), claim: (vm, e, o, m) => byVm(vm).claim(vm, e, o, m) };
  };
  return {
    ledger: over(),
    other: over(),
    cleanup: async () => {
      await new Promise<void>((resolve) => { server.close(() => { resolve(); }); });
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

test("datastore records are files only their owner reads, and old generations are pruned", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ferry-ledger-"));
  try {
    const ledger = datastoreLedger(dir, "shared01");
    for (let g = 0; g < 20; g++) assert.equal((await ledger.claim("web01", g, g % 2 === 0 ? "esx01" : "esx02", `m${g}`)).won, true);
    // Pruned after each claim's answer, outside its time: waited for.
    await eventually("the old generations pruned", async () => (await readdir(join(dir, OWNERS_DIR, "web01"))).length <= 9);
    const files = await readdir(join(dir, OWNERS_DIR, "web01"));
    assert.ok(files.includes("20.json"));
    assert.equal((await stat(join(dir, OWNERS_DIR, "web01", "20.json"))).mode & 0o077, 0);
    assert.equal((await ledger.read("web01"))?.generation, 20);
    // A VM name cannot walk out of the owners directory.
    await ledger.claim("../escape", 0, "esx01", undefined);
    assert.deepEqual((await readdir(join(dir, OWNERS_DIR))).sort(), ["%2E%2E%2Fescape", "web01"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a datastore claim readied ahead links the record written then; swept before the claim, it is written whole; left behind, it is swept after an hour", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ferry-ledger-"));
  const clock = { now: 1_000 };
  const vmDir = join(dir, OWNERS_DIR, "web01");
  const readiedFiles = async (): Promise<string[]> => (await readdir(vmDir)).filter((n) => n.startsWith(".claim-"));
  try {
    const ledger = datastoreLedger(dir, "shared01", () => clock.now);
    await ledger.claim("web01", 0, "esx01", undefined);
    await ledger.prepare?.("web01", 1, "esx02", "m1");
    assert.equal((await readiedFiles()).length, 1, "the record waits under its temporary name");
    assert.equal((await stat(join(vmDir, (await readiedFiles())[0] ?? ""))).mode & 0o077, 0);
    clock.now = 5_000;
    const won = await ledger.claim("web01", 1, "esx02", "m1");
    assert.deepEqual({ won: won.won, generation: won.ownership.generation, at: won.ownership.at }, { won: true, generation: 2, at: 1_000 }, "the readied record, written at 1,000, is the one linked");
    assert.deepEqual(await ledger.read("web01"), won.ownership);
    await eventually("the readied file's temporary name removed", async () => (await readiedFiles()).length === 0);

    await ledger.prepare?.("web01", 2, "esx01", "m2");
    for (const name of await readiedFiles()) await rm(join(vmDir, name));
    const whole = await ledger.claim("web01", 2, "esx01", "m2");
    assert.deepEqual({ won: whole.won, generation: whole.ownership.generation }, { won: true, generation: 3 }, "swept before the claim: written whole");

    await ledger.prepare?.("web01", 3, "esx09", "m-abandoned");
    clock.now = Date.now() + 2 * 60 * 60_000;
    await ledger.claim("web01", 3, "esx02", "m3");
    await eventually("the abandoned readied file swept", async () => (await readiedFiles()).length === 0);
    assert.equal((await ledger.read("web01"))?.owner, "esx02");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("the controller ledger refuses a request without the VM's capability, and a capability for another VM", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ferry-ledger-"));
  const store = openSqliteStore(join(dir, "ferry.db"));
  await store.migrateToLatest();
  try {
    const ledger = storeLedger(store, Date.now);
    const app = new Hono();
    app.route(LEDGER_BASE, ledgerRoutes(ledger));
    const cap = await ledger.grant("web01", "m1");
    const none = await app.request(`${LEDGER_BASE}/web01/record`);
    assert.equal(none.status, 401);
    const wrongVm = await app.request(`${LEDGER_BASE}/web02/claims`, { method: "POST", headers: { authorization: `Bearer ${cap}`, "content-type": "application/json" }, body: JSON.stringify({ expected: 0, owner: "esx09" }) });
    assert.equal(wrongVm.status, 401);
    assert.equal(await ledger.read("web02"), undefined, "nothing written");
    const renewed = await ledger.grant("web01", "m2");
    const stale = await app.request(`${LEDGER_BASE}/web01/record`, { headers: { authorization: `Bearer ${cap}` } });
    assert.equal(stale.status, 401, "a new migration's capability retires the old one");
    const fresh = await app.request(`${LEDGER_BASE}/web01/record`, { headers: { authorization: `Bearer ${renewed}` } });
    assert.equal(fresh.status, 404);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
