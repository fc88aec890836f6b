// The coordination part of the store contract (claims, admissions, leases): run by
// storeContract on every store, so SQLite and PostgreSQL answer alike.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Store } from "./store.ts";

const OPEN = ["queued", "precopy"];

export function coordinationContract(store: () => Store): void {
  void test("claims: one migration holds a VM; a second gets the holder; release ends only its own", async () => {
    const s = store();
    const claim = { vm: "web01", taskId: "m-1", source: "esx01", destination: "esx02", controller: "c1", at: 1 };
    assert.deepEqual(await s.claimVm(claim), { claimed: true });
    assert.deepEqual(await s.claimVm(claim), { claimed: true }, "the same task claiming again holds it still");
    const second = await s.claimVm({ ...claim, taskId: "m-2", controller: "c2" });
    assert.equal(second.claimed, false);
    assert.equal("holder" in second ? second.holder.taskId : "", "m-1");
    assert.equal(await s.releaseClaim("web01", "m-2"), false, "another task's release leaves the claim");
    assert.deepEqual((await s.listClaims()).map((c) => c.taskId), ["m-1"]);
    assert.equal(await s.releaseClaim("web01", "m-1"), true);
    assert.deepEqual(await s.claimVm({ ...claim, taskId: "m-2" }), { claimed: true });
    await s.releaseClaim("web01", "m-2");
  });

  void test("claims raced: of 20 concurrent claims of one VM exactly one wins", async () => {
    const s = store();
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => s.claimVm({ vm: "raced01", taskId: `m-r${i}`, source: "a", destination: "b", controller: `c${i % 2}`, at: i })));
    const winners = outcomes.filter((o) => o.claimed);
    assert.equal(winners.length, 1);
    const holder = (await s.listClaims()).find((c) => c.vm === "raced01");
    for (const o of outcomes) if (!o.claimed) assert.equal(o.holder.taskId, holder?.taskId);
  });

  void test("admissions: decide sees every running one, concurrent admits never exceed a limit", async () => {
    const s = store();
    // A limit of 2 per source host, enforced by `decide` alone: the store serialises the calls.
    const tryAdmit = (id: string, controller: string) =>
      s.admit(controller, (running) => (running.filter((r) => r.source === "esx09").length < 2 ? [{ taskId: id, source: "esx09", destination: "esx10", datastores: ["ds1"], priority: "normal" }] : []));
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => tryAdmit(`m-a${i}`, `c${i % 2}`)));
    assert.equal(results.filter((r) => r.length === 1).length, 2);
    const open = await s.listAdmissions({ open: true });
    assert.equal(open.filter((a) => a.source === "esx09").length, 2);
    assert.deepEqual(open[0]?.datastores, ["ds1"]);
    for (const a of open) await s.releaseAdmission(a.taskId);
    assert.equal((await s.listAdmissions({ open: true })).length, 0);
    const history = await s.listAdmissions();
    assert.ok(history.every((a) => a.releasedAt !== undefined && a.releasedAt >= a.admittedAt));
  });

  void test("leases: an owner renews its tasks; another takes a task only once its lease expired", async () => {
    const s = store();
    await s.createTask({ id: "m-lease", kind: "migration", vm: "db01", source: "esx01", destination: "esx02", state: "precopy", percent: 10, createdAt: 1, createdBy: "ops", body: {}, owner: "c1", leaseUntil: 1000 });
    await s.renewLease({ id: "c1", address: "https://a:1", startedAt: 1 }, 5000, OPEN);
    assert.equal((await s.getTask("m-lease"))?.leaseUntil, 5000);
    assert.deepEqual((await s.listControllers()).map((c) => [c.id, c.leaseUntil]), [["c1", 5000]]);
    assert.equal(await s.takeTask("m-lease", "c2", 4999, 9000, OPEN), undefined, "a live lease is not taken");
    await assert.rejects(s.updateTask("m-lease", { percent: 20 }, undefined, "c2"), { code: "CONFLICT" });
    const takers = await Promise.all(["c2", "c3"].map((c) => s.takeTask("m-lease", c, 5001, 9000, OPEN)));
    const taken = takers.filter((t) => t !== undefined);
    assert.equal(taken.length, 1, "exactly one controller takes an expired task");
    const owner = taken[0]?.owner ?? "";
    assert.equal((await s.getTask("m-lease"))?.owner, owner);
    await assert.rejects(s.updateTask("m-lease", { percent: 30 }, undefined, "c1"), { code: "CONFLICT" }, "the old owner's writes are refused");
    assert.equal((await s.updateTask("m-lease", { percent: 30 }, undefined, owner)).percent, 30);
    assert.equal(await s.takeTask("m-lease", "c1", 10_000, 20_000, ["completed"]), undefined, "only tasks in the open states");
    await s.removeController("c1");
    assert.deepEqual(await s.listControllers(), []);
  });

  void test("objectsChangedSince: the count, and the objects written from a time on", async () => {
    const s = store();
    const before = (await s.objectsChangedSince(0)).count;
    await s.putObject("vm", "changed-since-1", { name: "changed-since-1" });
    const all = await s.objectsChangedSince(0);
    assert.equal(all.count, before + 1);
    assert.deepEqual(all.changed.find((o) => o.name === "changed-since-1"), { kind: "vm", name: "changed-since-1", version: 1 });
    const written = await s.getObject("vm", "changed-since-1");
    assert.ok(written !== undefined);
    assert.deepEqual((await s.objectsChangedSince(written.updatedAt + 1)).changed.filter((o) => o.name === "changed-since-1"), []);
    assert.equal((await s.objectsChangedSince(written.updatedAt)).changed.find((o) => o.name === "changed-since-1")?.version, 1);
    await s.deleteObject("vm", "changed-since-1");
  });
}
