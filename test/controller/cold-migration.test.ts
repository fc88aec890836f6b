// Cold migration through a real controller and real sim agents: a powered-off VM is
// re-registered on the destination and stays off; the inventory and both agents agree; the
// source can no longer power it on; and a live request never powers a VM on.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startLab, type Lab } from "./harness.ts";
import { twinLab } from "../support/twin-lab.ts";
import { taskEnded } from "../support/tasks.ts";

interface Task { id: string; state: string; body: { cold?: boolean; prediction?: unknown; report?: { outcome: string; runningOn: string; failure?: { code: string } } } }

const ended = (lab: Lab, id: string): Promise<Task> => taskEnded<Task>(lab, id);

describe("cold migration through the controller", () => {
  const site = twinLab(2, 16);
  let lab: Lab;
  before(async () => {
    lab = await startLab(site.yaml, [{ name: "esx01" }, { name: "esx02" }], site.vms);
  });
  after(async () => {
    await lab.stop();
  });

  test("a powered-off VM moves cold: re-registered on the destination, still off, gone from the source", async () => {
    const off = await lab.api("POST", "/vms/vm00/power", { action: "off" });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    const warned = await lab.api<{ code: string; message: string }>("POST", "/migrations", { vm: "vm00", to: "esx02" });
    assert.equal(warned.status, 422, JSON.stringify(warned.body));
    assert.match(warned.body.message, /VM_POWERED_OFF/);
    const started = await lab.api<Task>("POST", "/migrations", { vm: "vm00", to: "esx02", acceptWarnings: ["VM_POWERED_OFF"] });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    assert.equal(started.body.body.cold, true);
    assert.equal(started.body.body.prediction, undefined, "no memory moves: nothing to predict");
    const done = await ended(lab, started.body.id);
    assert.equal(done.state, "completed", JSON.stringify(done.body.report));
    assert.equal(done.body.report?.runningOn, "esx02");
    assert.deepEqual((await lab.agent("esx01").listVms()).map((v) => v.name).filter((n) => n === "vm00"), [], "the source no longer has it");
    const there = (await lab.agent("esx02").listVms()).find((v) => v.name === "vm00");
    assert.equal(there?.power, "off", "registered on the destination, still off");
    const vm = await lab.api<{ host: string; power: string; migrating: boolean }>("GET", "/vms/vm00");
    assert.deepEqual([vm.body.host, vm.body.power, vm.body.migrating], ["esx02", "off", false]);
    // It powers on where it now is.
    const on = await lab.api("POST", "/vms/vm00/power", { action: "on" });
    assert.equal(on.status, 200, JSON.stringify(on.body));
    assert.equal((await lab.agent("esx02").listVms()).find((v) => v.name === "vm00")?.power, "running");
  });

  test("a live move asked of a VM that is off on its host never powers it on", async () => {
    // The inventory says vm01 runs; its host has it off (powered off behind the controller's back).
    await lab.agent("esx01").powerOff("vm01");
    const started = await lab.api<Task>("POST", "/migrations", { vm: "vm01", to: "esx02" });
    if (started.status === 202) {
      const done = await ended(lab, started.body.id);
      assert.notEqual(done.state, "completed");
    }
    assert.equal((await lab.agent("esx01").listVms()).find((v) => v.name === "vm01")?.power, "off", "still off on its source");
    assert.equal((await lab.agent("esx02").listVms()).find((v) => v.name === "vm01"), undefined, "nothing on the destination");
  });
});
