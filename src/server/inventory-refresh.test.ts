// Two controllers' inventories over one store (as on PostgreSQL): what one writes, the other
// takes at its next refresh, as an unwritten edit (one VM moved, one added) or, for a removal,
// by reading it all again; nothing changed, nothing done.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { moveVm } from "../core/inventory/edits.ts";
import { generateInventory } from "../core/lab/generate.ts";
import { InventorySchema } from "../core/inventory/schema.ts";
import { openSqliteStore } from "../store/sqlite.ts";
import type { Store } from "../store/store.ts";
import { InventoryService } from "./inventory-service.ts";

let store: Store;

before(async () => {
  store = openSqliteStore(":memory:");
  await store.migrateToLatest();
});
after(async () => {
  await store.close();
});

test("refresh takes another controller's writes: a move and an addition as an edit, a removal by a reload", async () => {
  const a = await InventoryService.open(store);
  await a.replace(InventorySchema.parse(generateInventory({ hosts: 20, vms: 200, seed: 9 })));
  const b = await InventoryService.open(store);
  assert.equal(await b.refresh(), false, "nothing changed");
  const vm = a.current.inventory.vms.find((v) => v.power === "on");
  assert.ok(vm !== undefined);
  const cluster = a.current.index.hosts.get(vm.host)?.host.cluster;
  const other = a.current.inventory.hosts.find((h) => h.cluster === cluster && h.name !== vm.host && h.datastores.includes(vm.files.config.datastore) && vm.disks.every((d) => h.datastores.includes(d.datastore)));
  assert.ok(other !== undefined, "a host to move to");
  await a.change((draft) => {
    moveVm(draft, vm.name, other.name, undefined);
  });
  assert.equal(b.current.index.vms.get(vm.name)?.host, vm.host, "not seen before a refresh");
  const generation = b.current.generation;
  assert.equal(await b.refresh(), true);
  assert.equal(b.current.index.vms.get(vm.name)?.host, other.name);
  assert.equal(b.current.generation, generation + 1);
  // b can edit the object a wrote: it holds its version now.
  await b.change((draft) => {
    moveVm(draft, vm.name, vm.host, undefined);
  });
  assert.equal(await a.refresh(), true);
  assert.equal(a.current.index.vms.get(vm.name)?.host, vm.host);
  // A removal is not an object written: the count tells, and the whole is read again.
  const gone = a.current.inventory.vms[a.current.inventory.vms.length - 1]?.name ?? "";
  await a.replace(InventorySchema.parse({ ...a.current.inventory, vms: a.current.inventory.vms.filter((v) => v.name !== gone) }));
  assert.equal(await b.refresh(), true);
  assert.equal(b.current.index.vms.has(gone), false);
  assert.equal(b.current.inventory.vms.length, a.current.inventory.vms.length);
  assert.equal(await b.refresh(), false);
});
