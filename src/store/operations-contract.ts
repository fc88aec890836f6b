// The operations part of the store contract: run by storeContract on every store, so SQLite
// and PostgreSQL keep the task list alike.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { OperationRecord, Store } from "./store.ts";

const T0 = 1_800_000_000_000;

function op(id: string, at: number, fields: Partial<OperationRecord> = {}): OperationRecord {
  return { id, kind: "vm.power.on", title: "Power on", object: { kind: "vm", name: "web01" }, initiator: "admin", state: "running", startedAt: at, endedAt: undefined, result: undefined, errorCode: undefined, requestId: `r-${id}`, ...fields };
}

export function operationsContract(store: () => Store): void {
  void test("operations: started running, ended once, read back exactly; listed newest first with object, initiator, state and time filters", async () => {
    const s = store();
    await s.startOperation(op("op-1", T0));
    await s.startOperation(op("op-2", T0 + 10, { kind: "host.network.add", title: "Add networking", object: { kind: "host", name: "esx03" }, initiator: "ops" }));
    await s.startOperation(op("op-3", T0 + 20, { kind: "inventory.import", title: "Import inventory", object: undefined, initiator: undefined, requestId: undefined }));
    await assert.rejects(s.startOperation(op("op-1", T0)), { code: "CONFLICT" });

    const ended = await s.finishOperation("op-1", { state: "succeeded", endedAt: T0 + 5, result: "web01 is powered on on esx01", errorCode: undefined });
    assert.deepEqual(ended, { ...op("op-1", T0), state: "succeeded", endedAt: T0 + 5, result: "web01 is powered on on esx01" }, "milliseconds survive bigint columns; undefined stays undefined");
    const again = await s.finishOperation("op-1", { state: "failed", endedAt: T0 + 9, result: "late", errorCode: "INTERNAL" });
    assert.equal(again?.state, "succeeded", "an ended operation is not ended twice");
    await s.finishOperation("op-2", { state: "failed", endedAt: T0 + 12, result: "vmk1: address in use", errorCode: "CONFLICT" });
    assert.equal(await s.finishOperation("op-9", { state: "failed", endedAt: 1, result: undefined, errorCode: undefined }), undefined);

    assert.deepEqual((await s.listOperations()).map((o) => o.id), ["op-3", "op-2", "op-1"]);
    assert.deepEqual((await s.listOperations({ object: "esx03" })).map((o) => o.id), ["op-2"]);
    assert.deepEqual((await s.listOperations({ initiator: "admin" })).map((o) => o.id), ["op-1"]);
    assert.deepEqual((await s.listOperations({ states: ["running"] })).map((o) => o.id), ["op-3"]);
    assert.deepEqual((await s.listOperations({ states: ["succeeded", "failed"] })).map((o) => o.id), ["op-2", "op-1"]);
    assert.deepEqual((await s.listOperations({ startedBefore: T0 + 20, limit: 1 })).map((o) => o.id), ["op-2"]);
    const imported = await s.getOperation("op-3");
    assert.deepEqual([imported?.object, imported?.initiator, imported?.requestId], [undefined, undefined, undefined]);
    assert.equal((await s.getOperation("op-2"))?.errorCode, "CONFLICT");
  });

  void test("operations: what a stopped controller left running ends failed; pruning keeps the newest and every running one", async () => {
    const s = store();
    const base = T0 + 1_000_000;
    for (let i = 0; i < 6; i++) await s.startOperation(op(`op-p${String(i)}`, base + i, { state: i === 0 ? "running" : "succeeded", endedAt: i === 0 ? undefined : base + i }));
    await s.startOperation(op("op-young", base + 100));
    assert.equal(await s.failStaleOperations(base + 50, base + 200, "the controller stopped before it answered"), 2, "op-p0 here and op-3 from the test before; not the young one");
    const stale = await s.getOperation("op-p0");
    assert.deepEqual([stale?.state, stale?.endedAt, stale?.result, stale?.errorCode], ["failed", base + 200, "the controller stopped before it answered", "UNAVAILABLE"]);
    assert.equal((await s.getOperation("op-young"))?.state, "running");
    const total = (await s.listOperations({ limit: 1000 })).length;
    const removed = await s.pruneOperations(2);
    assert.equal(removed, total - 2);
    assert.deepEqual((await s.listOperations({ limit: 1000 })).map((o) => o.id), ["op-young", "op-p5"]);
  });

  void test("operations: the running ones of one controller end failed, as they now are; another controller's and ended ones stay", async () => {
    const s = store();
    const base = T0 + 2_000_000;
    await s.startOperation(op("op-c1a", base, { controller: "c1" }));
    await s.startOperation(op("op-c1b", base + 1, { controller: "c1", state: "succeeded", endedAt: base + 2 }));
    await s.startOperation(op("op-c2", base + 3, { controller: "c2" }));
    assert.equal((await s.getOperation("op-c2"))?.controller, "c2", "the controller is stored and read back");
    const failed = await s.failOperationsOf("c1", base + 10, "its controller c1 stopped renewing its lease");
    assert.deepEqual(failed, [{ ...op("op-c1a", base, { controller: "c1" }), state: "failed", endedAt: base + 10, result: "its controller c1 stopped renewing its lease", errorCode: "UNAVAILABLE" }]);
    assert.deepEqual(await s.failOperationsOf("c1", base + 20, "again"), [], "once");
    assert.equal((await s.getOperation("op-c1b"))?.state, "succeeded");
    assert.equal((await s.getOperation("op-c2"))?.state, "running");
    // Its controller's own answer, when it comes after all, is the operation's end.
    assert.equal((await s.finishOperation("op-c1a", { state: "succeeded", endedAt: base + 30, result: "done", errorCode: undefined }))?.state, "failed", "an ended operation is not ended twice");
    await s.finishOperation("op-c2", { state: "succeeded", endedAt: base + 31, result: undefined, errorCode: undefined });
  });
}
