// The store contract: every Store implementation runs this same suite (STYLE.md lesson 2).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ObjectKind, Role, type Store } from "./store.ts";
import { coordinationContract } from "./coordination-contract.ts";
import { linkRateContract } from "./link-rate-contract.ts";
import { operationsContract } from "./operations-contract.ts";

export interface ContractOptions {
  /**
   * A migrated store that has no room left to grow (SQLite: max_page_count at its size).
   * Undefined: the implementation cannot be filled safely in a test; `fullSkipReason` says why.
   */
  readonly openFull?: () => Promise<{ store: Store; cleanup: () => Promise<void> }>;
  readonly fullSkipReason?: string;
}

export function storeContract(name: string, open: () => Promise<{ store: Store; cleanup: () => Promise<void> }>, options: ContractOptions = {}): void {
  describe(`store contract: ${name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ store, cleanup } = await open());
      await store.migrateToLatest();
      await store.migrateToLatest(); // idempotent
    });
    after(async () => {
      await store.close();
      await cleanup();
    });

    test("objects: put, get, list, optimistic versions, delete", async () => {
      const first = await store.putObject(ObjectKind.host, "esx01", { cpu: "Haswell" });
      assert.equal(first.version, 1);
      const second = await store.putObject(ObjectKind.host, "esx01", { cpu: "Skylake" }, 1);
      assert.equal(second.version, 2);
      await assert.rejects(store.putObject(ObjectKind.host, "esx01", { cpu: "old" }, 1), { code: "CONFLICT" });
      assert.deepEqual((await store.getObject(ObjectKind.host, "esx01"))?.body, { cpu: "Skylake" });
      await store.putObject(ObjectKind.host, "esx02", { cpu: "Haswell" });
      assert.deepEqual((await store.listObjects(ObjectKind.host)).map((o) => o.name), ["esx01", "esx02"]);
      assert.equal(await store.deleteObject(ObjectKind.host, "esx02"), true);
      assert.equal(await store.deleteObject(ObjectKind.host, "esx02"), false);
      assert.equal(await store.getObject(ObjectKind.host, "esx02"), undefined);
    });

    test("replaceObjects swaps whole kinds at once, and a failure leaves the old ones", async () => {
      await store.replaceObjects(Array.from({ length: 1200 }, (_, i) => ({ kind: ObjectKind.vm, name: `vm${String(i).padStart(4, "0")}`, body: { i } })));
      assert.equal((await store.listObjects(ObjectKind.vm)).length, 1200);
      await assert.rejects(store.replaceObjects([{ kind: ObjectKind.vm, name: "dup", body: 1 }, { kind: ObjectKind.vm, name: "dup", body: 2 }]));
      assert.equal((await store.listObjects(ObjectKind.vm)).length, 1200, "nothing half-written");
      await store.replaceObjects([{ kind: ObjectKind.vm, name: "only", body: {} }]);
      // A kind named with no objects left is emptied too (an import without templates).
      await store.putObject(ObjectKind.template, "t1", {});
      await store.replaceObjects([{ kind: ObjectKind.vm, name: "only", body: {} }], [ObjectKind.template]);
      assert.deepEqual(await store.listObjects(ObjectKind.template), []);
      assert.deepEqual((await store.listObjects(ObjectKind.vm)).map((o) => o.name), ["only"]);
    });

    test("applyObjects writes and deletes in one transaction, or not at all", async () => {
      await store.applyObjects([
        { kind: ObjectKind.cluster, name: "Prod", body: { baseline: null } },
        { kind: ObjectKind.cluster, name: "Dev", body: {} },
      ]);
      const prod = await store.getObject(ObjectKind.cluster, "Prod");
      await store.applyObjects([
        { kind: ObjectKind.cluster, name: "Prod", body: { baseline: "Nehalem" }, expectedVersion: prod?.version },
        { kind: ObjectKind.cluster, name: "Dev", body: null },
      ]);
      assert.deepEqual((await store.listObjects(ObjectKind.cluster)).map((o) => [o.name, o.body]), [["Prod", { baseline: "Nehalem" }]]);
      await assert.rejects(
        store.applyObjects([
          { kind: ObjectKind.cluster, name: "Test", body: {} },
          { kind: ObjectKind.cluster, name: "Prod", body: { baseline: "stale" }, expectedVersion: 1 },
        ]),
        { code: "CONFLICT" },
      );
      assert.deepEqual((await store.listObjects(ObjectKind.cluster)).map((o) => o.name), ["Prod"], "the batch left nothing behind");
    });

    test("tasks: create, patch with versions, list newest first with filters and paging", async () => {
      const base = { kind: "migration" as const, vm: "web01", source: "esx01", destination: "esx02", state: "queued", percent: 0, createdBy: "admin", body: { priority: "high" } };
      await store.createTask({ ...base, id: "t1", createdAt: 1000 });
      await store.createTask({ ...base, id: "t2", vm: "web02", createdAt: 2000 });
      await store.createTask({ ...base, id: "t3", createdAt: 3000 });
      await assert.rejects(store.createTask({ ...base, id: "t1", createdAt: 4000 }), { code: "CONFLICT" });
      const moved = await store.updateTask("t1", { state: "precopy", percent: 42.5, body: { priority: "high", pass: 2 } }, 1);
      assert.equal(moved.version, 2);
      assert.equal(moved.state, "precopy");
      await assert.rejects(store.updateTask("t1", { state: "failed" }, 1), { code: "CONFLICT" });
      await assert.rejects(store.updateTask("nope", { state: "failed" }), { code: "NOT_FOUND" });
      assert.deepEqual((await store.getTask("t1"))?.body, { priority: "high", pass: 2 });
      assert.deepEqual((await store.listTasks()).map((t) => t.id), ["t3", "t2", "t1"]);
      assert.deepEqual((await store.listTasks({ vm: "web01" })).map((t) => t.id), ["t3", "t1"]);
      assert.deepEqual((await store.listTasks({ states: ["precopy"] })).map((t) => t.id), ["t1"]);
      assert.deepEqual((await store.listTasks({ before: "t3", limit: 1 })).map((t) => t.id), ["t2"]);
    });

    test("events: a store-wide increasing sequence, read after a given one", async () => {
      const a = await store.appendEvent("t1", 10, { percent: 10 });
      const b = await store.appendEvent("t2", 11, { percent: 5 });
      const c = await store.appendEvent("t1", 12, { percent: 20 });
      assert.ok(a.seq < b.seq && b.seq < c.seq);
      assert.deepEqual((await store.eventsAfter(a.seq)).map((e) => e.seq), [b.seq, c.seq]);
      assert.deepEqual((await store.eventsAfter(0, { taskId: "t1" })).map((e) => e.body), [{ percent: 10 }, { percent: 20 }]);
      assert.equal((await store.eventsAfter(0, { limit: 1 })).length, 1);
    });

    test("events: bounds, and pruning by age and count that spares tasks that have not ended", async () => {
      const before = await store.eventBounds();
      assert.equal(before.prunedThrough, 0);
      const base = { kind: "migration" as const, vm: "db01", source: "esx01", destination: "esx02", percent: 0, createdBy: "admin", body: {} };
      await store.createTask({ ...base, id: "p-open", state: "precopy", createdAt: 100 });
      await store.createTask({ ...base, id: "p-done", state: "completed", createdAt: 100 });
      const seqs: number[] = [];
      // Old (at 1000+): an open task's, an ended task's, a host's (no task); then young ones (at 9000+).
      for (const [task, at] of [["p-open", 1000], ["p-done", 1001], ["host:esx01", 1002], ["p-done", 1003], ["p-open", 9000], ["p-done", 9001], ["host:esx01", 9002]] as const) {
        seqs.push((await store.appendEvent(task, at, { at })).seq);
      }
      const bounds = await store.eventBounds();
      assert.equal(bounds.latest, seqs[6]);
      assert.ok(bounds.oldest <= (seqs[0] ?? 0));
      const ended = ["completed", "failed", "cancelled"];
      // By age: the old events of ended tasks and hosts go; the open task's stay.
      assert.equal(await store.pruneEvents({ before: 5000, keep: 1000, ended }), 3);
      const left = (await store.eventsAfter(0, { limit: 100 })).map((e) => e.seq);
      assert.ok(left.includes(seqs[0] ?? -1), "an open task's old event is kept");
      assert.ok(!left.includes(seqs[1] ?? -1) && !left.includes(seqs[2] ?? -1) && !left.includes(seqs[3] ?? -1));
      assert.equal((await store.eventBounds()).prunedThrough, seqs[3]);
      // By count: all but the newest one (the open task's events survive again).
      assert.equal(await store.pruneEvents({ before: 0, keep: 1, ended }), 1);
      assert.deepEqual((await store.eventsAfter(seqs[3] ?? 0, { limit: 100 })).map((e) => e.seq), [seqs[4], seqs[6]]);
      const after = await store.eventBounds();
      assert.equal(after.prunedThrough, seqs[5]);
      assert.equal(after.latest, seqs[6]);
      // Once the task ended, its events may go too; the newest pruned is still where to resume.
      await store.updateTask("p-open", { state: "failed" });
      await store.pruneEvents({ before: Number.MAX_SAFE_INTEGER, keep: 0, ended });
      const emptied = await store.eventBounds();
      assert.deepEqual(await store.eventsAfter(seqs[3] ?? 0, { limit: 100 }), []);
      assert.equal(emptied.latest, seqs[6]);
      assert.equal(emptied.prunedThrough, seqs[6]);
      assert.ok((await store.appendEvent("t9", 9999, {})).seq > (seqs[6] ?? 0), "sequences never go back after a prune");
    });

    test("events: a task's latest event of a type, looking back past other types and other tasks' events", async () => {
      assert.equal(await store.latestEvent("l1", "progress"), undefined);
      for (let i = 1; i <= 30; i++) await store.appendEvent("l1", i, { type: "progress", percent: i });
      await store.appendEvent("l2", 31, { type: "progress", percent: 99 });
      for (let i = 0; i < 25; i++) await store.appendEvent("l1", 40 + i, { type: "note", i });
      const latest = await store.latestEvent("l1", "progress");
      assert.deepEqual([latest?.taskId, latest?.at, latest?.body], ["l1", 30, { type: "progress", percent: 30 }]);
      assert.equal((await store.latestEvent("l1", "note"))?.at, 64);
      assert.equal(await store.latestEvent("l1", "report"), undefined);
      assert.equal(await store.latestEvent("l3", "progress"), undefined);
    });

    test("tokens: stored by hash, found until revoked, names unique", async () => {
      await store.addToken({ id: "k1", name: "ops", role: Role.operator, hash: "h1", createdAt: 5 });
      await assert.rejects(store.addToken({ id: "k2", name: "ops", role: Role.admin, hash: "h2", createdAt: 6 }), { code: "CONFLICT" });
      assert.equal((await store.findTokenByHash("h1"))?.role, Role.operator);
      assert.equal(await store.revokeToken("ops", 7), true);
      assert.equal(await store.findTokenByHash("h1"), undefined);
      assert.equal((await store.listTokens())[0]?.revokedAt, 7);
    });

    test("tokens: an expiry is kept and read back; an expired token is still found (the caller says expired)", async () => {
      await store.addToken({ id: "k3", name: "ci", role: Role.readOnly, hash: "h3", createdAt: 10, expiresAt: 1010 });
      assert.equal((await store.findTokenByHash("h3"))?.expiresAt, 1010);
      assert.equal((await store.listTokens()).find((t) => t.name === "ops")?.expiresAt, undefined);
    });

    test("audit: appended in order, listed newest first with since/actor/limit, pruned to the newest N", async () => {
      const entry = { method: "POST", route: "/api/tokens", path: "/api/tokens", status: 201, address: "127.0.0.1", message: undefined };
      for (let i = 0; i < 12; i++) await store.appendAudit({ ...entry, at: 100 + i, actor: i % 2 === 0 ? "admin" : undefined, requestId: `r${i}` });
      const all = await store.listAudit({ limit: 100 });
      assert.deepEqual(all.map((e) => e.requestId), Array.from({ length: 12 }, (_, i) => `r${11 - i}`));
      assert.ok(all.every((e, i) => i === 0 || (all[i - 1]?.seq ?? 0) > e.seq));
      assert.deepEqual(all[0], { ...entry, seq: all[0]?.seq, at: 111, actor: undefined, requestId: "r11" });
      assert.deepEqual((await store.listAudit({ since: 109 })).map((e) => e.requestId), ["r11", "r10", "r9"]);
      assert.deepEqual((await store.listAudit({ actor: "admin", limit: 2 })).map((e) => e.requestId), ["r10", "r8"]);
      assert.equal(await store.pruneAudit(5), 7);
      assert.deepEqual((await store.listAudit()).map((e) => e.requestId), ["r11", "r10", "r9", "r8", "r7"]);
      assert.equal(await store.pruneAudit(5), 0);
    });

    coordinationContract(() => store);
    linkRateContract(() => store);
    operationsContract(() => store);

    test("a full store says so: never \"already exists\", and a real duplicate still is CONFLICT", { skip: options.openFull === undefined ? (options.fullSkipReason ?? "no way to fill this store") : false }, async () => {
      const full = await options.openFull?.();
      if (full === undefined) return;
      try {
        let failure: unknown;
        // Tokens until the store has no page left: a few hundred rows at most.
        for (let i = 0; i < 5000 && failure === undefined; i++) {
          await full.store.addToken({ id: `f${i}`, name: `token-${i}-${"x".repeat(200)}`, role: Role.readOnly, hash: `hash-${i}-${"y".repeat(200)}`, createdAt: i }).catch((error: unknown) => {
            failure = error;
          });
        }
        assert.ok(failure !== undefined, "the store never filled up");
        assert.equal((failure as { code?: string }).code, "UNAVAILABLE");
        assert.match((failure as Error).message, /the controller's store is full/);
        assert.doesNotMatch((failure as Error).message, /already exists/);
        await assert.rejects(full.store.appendAudit({ at: 1, actor: "a", address: undefined, method: "POST", route: "/x", path: "/x".repeat(20_000), status: 200, requestId: "r", message: undefined }), /store is full/);
      } finally {
        await full.store.close();
        await full.cleanup();
      }
    });
  });
}
