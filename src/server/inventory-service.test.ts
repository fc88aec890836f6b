// The controller's inventory over a real (SQLite) store: edits copy only what they touch and
// write only what changed; a reader's snapshot never changes under it; a refused edit changes
// nothing, in memory or in the store; an import writes only what differs (or all at once, in
// bulk, past a few hundred objects) and later edits still find their versions; a VM row an
// older controller stored with `migrating` loads, and what says migrating is the claims.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { claimsOf } from "../core/inventory/claims.ts";
import { moveVm, setNicConnected } from "../core/inventory/edits.ts";
import { generateInventory } from "../core/lab/generate.ts";
import { InventorySchema } from "../core/inventory/schema.ts";
import { openSqliteStore } from "../store/sqlite.ts";
import { ObjectKind, type Store } from "../store/store.ts";
import { InventoryService } from "./inventory-service.ts";

let store: Store;
let inventory: InventoryService;

before(async () => {
  store = openSqliteStore(":memory:");
  await store.migrateToLatest();
  inventory = await InventoryService.open(store, { claims: claimsOf([{ vm: "vm-claimed", taskId: "m-1", source: "a", destination: "b" }]) });
});
after(async () => {
  await store.close();
});

describe("InventoryService", () => {
  test("an import of 600 objects goes in bulk, one of a few changes only writes those; edits after either find their versions", async () => {
    const generated = InventorySchema.parse(generateInventory({ hosts: 20, vms: 500, seed: 5 }));
    await inventory.replace(generated);
    const rows = await store.listObjects(ObjectKind.vm);
    assert.equal(rows.length, 500);
    assert.ok(rows.every((row) => row.version === 1), "written in one bulk replace");
    const next = structuredClone(generated);
    const first = next.vms[0];
    assert.ok(first !== undefined);
    first.memoryMB += 1;
    let written = -1;
    await inventory.replace(next, { onWrite: (objects) => { written = objects; } });
    assert.equal(written, 1);
    assert.equal((await store.getObject(ObjectKind.vm, first.name))?.version, 2);
    await inventory.change((draft) => { setNicConnected(draft, first.name, first.nics[0]?.name ?? "", false); });
    assert.equal((await store.getObject(ObjectKind.vm, first.name))?.version, 3);
  });

  test("an edit writes the one object it changed; the snapshot a reader held is as it was", async () => {
    const held = inventory.current;
    const vm = held.inventory.vms[3];
    assert.ok(vm !== undefined);
    const to = held.inventory.hosts.find((h) => h.name !== vm.host && h.cluster === held.index.hosts.get(vm.host)?.host.cluster);
    assert.ok(to !== undefined);
    const heldText = JSON.stringify(held.inventory);
    const versions = new Map((await store.listObjects(ObjectKind.vm)).map((row) => [row.name, row.version]));
    const { snapshot } = await inventory.change((draft) => { moveVm(draft, vm.name, to.name, vm.pool); });
    assert.equal(snapshot.generation, held.generation + 1);
    assert.equal(snapshot.index.vms.get(vm.name)?.host, to.name);
    assert.equal(JSON.stringify(held.inventory), heldText, "the reader's snapshot did not move");
    assert.equal(held.index.vms.get(vm.name)?.host, vm.host);
    const changed = (await store.listObjects(ObjectKind.vm)).filter((row) => row.version !== versions.get(row.name)).map((row) => row.name);
    assert.deepEqual(changed, [vm.name]);
    assert.ok(Object.isFrozen(snapshot.index.vms.get(vm.name)), "the new snapshot is frozen too");
  });

  test("a refused edit changes nothing, in memory or in the store", async () => {
    const held = inventory.current;
    const vm = held.inventory.vms[4];
    assert.ok(vm !== undefined);
    await assert.rejects(
      inventory.change((draft) => { moveVm(draft, vm.name, held.inventory.hosts[0]?.name ?? "", undefined); draft.vms.push({ ...structuredClone(vm), nics: [] }); }),
      { code: "INVALID_INPUT", message: `the change would break the inventory: VM "${vm.name}" is defined twice (also at vms[4])` },
    );
    assert.equal(inventory.current, held);
    assert.equal((await store.getObject<{ host: string }>(ObjectKind.vm, vm.name))?.body.host, vm.host);
  });

  test("a VM row stored with `migrating: true` loads without it; migrating is the claims' word", async () => {
    const vm = inventory.current.inventory.vms[5];
    assert.ok(vm !== undefined);
    await store.putObject(ObjectKind.vm, "vm-claimed", { ...structuredClone(vm), name: "vm-claimed", nics: [], migrating: true });
    const reloaded = await inventory.reload();
    assert.equal("migrating" in (reloaded.index.vms.get("vm-claimed") ?? {}), false);
    assert.equal(inventory.claims.claimOf("vm-claimed")?.taskId, "m-1");
    assert.deepEqual(reloaded.checker.check("vm-claimed", vm.host === "esx01" ? "esx02" : "esx01").errors.filter((f) => f.code === "VM_MIGRATING").length, 1);
  });
});
