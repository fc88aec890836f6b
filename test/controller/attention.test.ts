// A migration whose outcome nobody can prove, through the real controller: both agents
// frozen (SIGSTOP) right after COMMIT, before the destination claimed web01's ownership record.
// The controller does not take silence for death: the task ends "needs attention", the VM
// stays marked migrating, and `ferry migrate resolve` refuses the host that does not hold the
// record. When the source answers again, the record settles it: web01 runs on esx01 only, the
// destination's late claim loses, and the inventory agrees.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { stringify } from "yaml";
import { runFerry } from "../../src/cli/testing/io.ts";
import { hostEntry, startAgents, stopAllAgents, TOKEN, type AgentProcess } from "../support/agents.ts";
import { waitFor } from "../support/fencing.ts";
import { startControllerProcess, stopProcess, type ControllerProcess } from "./harness.ts";

interface Task { id: string; state: string; body: { report?: { outcome: string; runningOn: string; failure?: { code: string; message: string } } } }

const dir = mkdtempSync(join(tmpdir(), "ferry-attention-"));
let controller: ControllerProcess | undefined;
after(async () => {
  await stopAllAgents();
  await stopProcess(controller?.child);
  rmSync(dir, { recursive: true, force: true });
});

const VM = { name: "web01", memoryMB: 48, vcpus: 1, touchedBytes: 16 * 1048576, nics: [{ name: "eth0", mac: "00:50:56:0b:00:01", ip: "198.18.0.31", portGroup: "VM Network" }], workload: { kind: "idle" as const, dirtyRateBytesPerSec: 0, workingSetBytes: 0, seed: 7 } };

function inventory(): string {
  return stringify({
    version: 1,
    datacenter: "Lab",
    datastores: [{ name: "shared-ds1", shared: true, capacityGB: 100 }],
    clusters: [{ name: "Prod" }],
    hosts: [hostEntry({ name: "esx01", index: 1 }), hostEntry({ name: "esx02", index: 2 })],
    vms: [{ name: "web01", host: "esx01", memoryMB: 48, vcpus: 1, files: { config: { datastore: "shared-ds1" } }, nics: [{ name: "eth0", portGroup: "VM Network", mac: "00:50:56:0b:00:01", ip: "198.18.0.31" }] }],
  });
}

test("both agents frozen after COMMIT: needs attention; resolve refuses the host without the record; the source's word settles it", async () => {
  const file = join(dir, "inventory.yaml");
  writeFileSync(file, inventory());
  controller = await startControllerProcess(join(dir, "data"), ["-i", file]);
  const c = controller;
  const [esx01, esx02] = (await startAgents([
    { name: "esx01", index: 1, controllerCa: c.caFile },
    { name: "esx02", index: 2, controllerCa: c.caFile },
  ])) as [AgentProcess, AgentProcess];
  for (const agent of [esx01, esx02]) assert.equal((await c.api("POST", "/agents", { host: agent.name, url: agent.api, token: TOKEN })).status, 200);
  await esx01.client.createVm(VM);
  await esx01.client.powerOn("web01");
  await esx02.client.setFaults([{ holdBeforeClaimMs: 4000 }]);
  const ferry = (...args: string[]) => runFerry([...args, "--controller", c.url, "--token", c.token]);

  const started = await c.api<Task>("POST", "/migrations", { vm: "web01", to: "esx02", acceptWarnings: "all" });
  assert.equal(started.status, 202, JSON.stringify(started.body));
  const id = started.body.id;
  try {
    await waitFor("esx02 to hold the complete state after COMMIT", async () => (await esx02.client.incomingState(id)).state === "committing");
    esx02.pause();
    esx01.pause();
    await waitFor("the task to need attention", async () => (await c.api<Task>("GET", `/migrations/${id}`)).body.state === "needs-attention", 120_000);
    const task = (await c.api<Task>("GET", `/migrations/${id}`)).body;
    assert.equal(task.body.report?.failure?.code, "OWNERSHIP_UNKNOWN");
    assert.equal(task.body.report.runningOn, "", "the report does not say where the VM runs: nobody could be asked");
    assert.equal((await c.api<{ migrating: boolean; host: string }>("GET", "/vms/web01")).body.migrating, true, "still marked migrating: nothing may move or edit it");

    const refused = await ferry("migrate", "resolve", id, "--run-on", "esx02");
    assert.equal(refused.status, 1, refused.out);
    assert.match(refused.err, /esx02 does not hold web01's ownership record: esx01 holds web01/);

    // The source answers again; its claim settles it (by the controller's own retries or by the operator's decision).
    esx01.resume();
    await waitFor("the task to settle", async () => {
      const now = (await c.api<Task>("GET", `/migrations/${id}`)).body;
      if (now.state !== "needs-attention") return true;
      await ferry("migrate", "resolve", id, "--run-on", "esx01");
      return false;
    }, 120_000);
    const settled = (await c.api<Task>("GET", `/migrations/${id}`)).body;
    assert.equal(settled.state, "failed", JSON.stringify(settled.body.report));
    assert.equal(settled.body.report?.runningOn, "esx01");

    esx02.resume();
    await waitFor("esx02's late claim to lose", async () => (await esx02.client.incomingState(id)).state === "failed");
    assert.deepEqual((await esx01.client.listVms()).map((v) => [v.name, v.power]), [["web01", "running"]]);
    assert.deepEqual(await esx02.client.listVms(), []);
    const vm = (await c.api<{ migrating: boolean; host: string }>("GET", "/vms/web01")).body;
    assert.deepEqual([vm.host, vm.migrating], ["esx01", false]);
  } finally {
    esx01.resume();
    esx02.resume();
  }
});
