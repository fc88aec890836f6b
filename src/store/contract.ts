// The store contract: every Store implementation runs this same suite (STYLE.md lesson 2).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ObjectKind, Role, type Store } from "./store.ts";

export function storeContract(name: string, open: () => Promise<{ store: Store; cleanup: () => Promise<void> }>): void {
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

    test("tokens: stored by hash, found until revoked, names unique", async () => {
      await store.addToken({ id: "k1", name: "ops", role: Role.operator, hash: "h1", createdAt: 5 });
      await assert.rejects(store.addToken({ id: "k2", name: "ops", role: Role.admin, hash: "h2", createdAt: 6 }), { code: "CONFLICT" });
      assert.equal((await store.findTokenByHash("h1"))?.role, Role.operator);
      assert.equal(await store.revokeToken("ops", 7), true);
      assert.equal(await store.findTokenByHash("h1"), undefined);
      assert.equal((await store.listTokens())[0]?.revokedAt, 7);
    });
  });
}
