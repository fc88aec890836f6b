// Operations a controller left running when its lease expired (several controllers on one
// PostgreSQL): another controller ends them from the leases in the store, says that whether they
// took effect is not known, and announces the change; a live controller's, its own, and ended
// ones stay. An hour later the dead controller leaves the store's list. The store side runs on
// SQLite and PostgreSQL (operations-contract.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { openSqliteStore } from "../store/sqlite.ts";
import type { OperationRecord } from "../store/store.ts";
import { EventHub } from "./events.ts";
import { failOrphanedOperations } from "./operations.ts";
import { FORGET_CONTROLLER_AFTER_MS, forgetDeadControllers } from "./task-leases.ts";
import { createManualClock } from "./testing/manual-clock.ts";

const running = (id: string, controller: string, at: number): OperationRecord => ({ id, kind: "vm.power.on", title: "Power on", object: { kind: "vm", name: "web01" }, initiator: "admin", state: "running", startedAt: at, endedAt: undefined, result: undefined, errorCode: undefined, requestId: `r-${id}`, controller });

test("a controller whose lease expired: its running operations end failed, saying the outcome is unknown, each announced; others stay", async () => {
  const clock = createManualClock();
  const store = openSqliteStore(":memory:", () => clock.now());
  await store.migrateToLatest();
  const events = new EventHub(store, { clock });
  try {
    const t0 = clock.now();
    await store.renewLease({ id: "gone", address: "https://198.18.0.1:8443", startedAt: t0 }, t0 + 30_000, []);
    await store.renewLease({ id: "alive", address: "https://198.18.0.2:8443", startedAt: t0 }, t0 + 90_000, []);
    await store.startOperation(running("op-gone", "gone", t0));
    await store.startOperation(running("op-alive", "alive", t0));
    await store.startOperation(running("op-self", "self", t0));

    assert.equal(await failOrphanedOperations({ store, events, clock }, "self"), 0, "every lease still holds");
    await clock.advance(60_000);
    assert.equal(await failOrphanedOperations({ store, events, clock }, "self"), 1);

    const ended = await store.getOperation("op-gone");
    assert.equal(ended?.state, "failed");
    assert.equal(ended.errorCode, "UNAVAILABLE");
    assert.match(ended.result ?? "", /^the controller gone that ran it stopped renewing its lease \(it ran out at .*\) before it answered: whether it took effect is not known/);
    assert.deepEqual([(await store.getOperation("op-alive"))?.state, (await store.getOperation("op-self"))?.state], ["running", "running"]);
    const announced = await store.eventsAfter(0, { taskId: "op:op-gone", limit: 10 });
    assert.equal(announced.length, 1, "the Tasks page hears of it");
    assert.equal(await failOrphanedOperations({ store, events, clock }, "self"), 0, "once");
    assert.deepEqual(await forgetDeadControllers(store, clock.now()), [], "a recent death stays listed");

    // An hour after its lease ran out, a dead controller leaves the list; a live one (renewing) stays.
    await clock.advance(FORGET_CONTROLLER_AFTER_MS);
    await store.renewLease({ id: "alive", address: "https://198.18.0.2:8443", startedAt: t0 }, clock.now() + 30_000, []);
    assert.deepEqual(await forgetDeadControllers(store, clock.now()), ["gone"]);
    assert.deepEqual((await store.listControllers()).map((c) => c.id), ["alive"]);
    // One that was only paused comes back: its renewal lists it again.
    await store.renewLease({ id: "gone", address: "https://198.18.0.1:8443", startedAt: t0 }, clock.now() + 30_000, []);
    assert.deepEqual((await store.listControllers()).map((c) => c.id).sort(), ["alive", "gone"]);
  } finally {
    await store.close();
  }
});
