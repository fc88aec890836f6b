// Power-on asks the controller's ownership ledger (where the records of VMs without disks on
// their agent are): a VM whose record names another host is not started where the inventory
// says it is.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { testController, type TestController } from "./testing/controller.ts";

let ctl: TestController;
before(async () => {
  ctl = await testController();
});
after(async () => {
  await ctl.store.close();
});

test("a VM is powered on only where the controller's ownership record lets it run", async () => {
  const vm = ctl.inventory.current.inventory.vms.find((v) => v.power === "on");
  assert.ok(vm !== undefined, "the lab has a running VM");
  const other = ctl.inventory.current.inventory.hosts.find((h) => h.name !== vm.host)?.name ?? "";
  const off = await ctl.call("POST", `/api/vms/${vm.name}/power`, { body: { action: "off" } });
  assert.equal(off.status, 200, off.text);
  await ctl.parts.migrations.ledger.claim(vm.name, 0, other, "m-elsewhere");
  const refused = await ctl.call("POST", `/api/vms/${vm.name}/power`, { body: { action: "on" } });
  assert.equal(refused.status, 409, refused.text);
  assert.equal((refused.body as { message: string }).message, `${vm.name} may not be powered on on ${vm.host}: its ownership record says ${other} holds ${vm.name} (generation 1, taken by migration m-elsewhere)`);
  assert.equal(ctl.inventory.current.index.vms.get(vm.name)?.power, "off", "nothing changed");
  await ctl.parts.migrations.ledger.claim(vm.name, 1, vm.host, undefined);
  const on = await ctl.call("POST", `/api/vms/${vm.name}/power`, { body: { action: "on" } });
  assert.equal(on.status, 200, on.text);
});
