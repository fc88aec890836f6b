// Through a real controller and sim agent processes: a VM whose disconnected devices name what
// its destination lacks (floppy01: an ISO on esx02's local datastore; dmz01: a NIC on the
// Isolated port group only esx01 has) moves, and the inventory records where it runs. The
// controller used to refuse the record (the inventory's references wanted a disconnected
// device's datastore and a disconnected NIC's port group on the VM's host), so the task said
// completed while the inventory still named the source.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { labVmSpec } from "../../src/cli/commands/up.ts";
import type { MigrationReport } from "../../src/core/migration/types.ts";
import { LAB_TEXT, labVm, startLab, type Lab } from "./harness.ts";
import { taskEnded } from "../support/tasks.ts";

const vm = labVm;
const MiB = 1048576;

interface MigrationTask { id: string; state: string; body: { report?: MigrationReport } }

let lab: Lab;
before(async () => {
  const small = { memoryMB: 16, touchedBytes: 4 * MiB };
  lab = await startLab(LAB_TEXT, [{ name: "esx01" }, { name: "esx02" }], [
    { host: "esx02", spec: { ...labVmSpec(vm("floppy01"), undefined, 5), ...small } },
    { host: "esx01", spec: { ...labVmSpec(vm("dmz01"), undefined, 6), ...small } },
  ]);
});
after(async () => {
  await lab.stop();
});

for (const [name, from, to] of [["floppy01", "esx02", "esx01"], ["dmz01", "esx01", "esx02"]] as const) {
  test(`${name} moves ${from} → ${to} with its disconnected devices, and the inventory records it`, async () => {
    const started = await lab.api<{ id: string }>("POST", "/migrations", { vm: name, to, acceptWarnings: "all" });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const task = await taskEnded<MigrationTask>(lab, started.body.id);
    assert.equal(task.state, "completed", JSON.stringify(task.body.report?.failure));
    assert.equal(task.body.report?.runningOn, to);
    assert.deepEqual(task.body.report.warnings?.filter((w) => w.code === "INVENTORY_NOT_RECORDED") ?? [], []);
    const record = await lab.api<{ host: string }>("GET", `/vms/${name}`);
    assert.equal(record.status, 200);
    assert.equal(record.body.host, to, "the inventory names the host the VM runs on");
  });
}
