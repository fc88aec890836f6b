// POST /api/vms and DELETE /api/vms/{name} through a real controller app with an agent
// reached in-process: the host acts first, and its refusal writes nothing.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createAgent } from "../agent/app.ts";
import { createAgentClient } from "../agent/client.ts";
import { createFakeDriver, createFakeNetwork, fakeHostFacts } from "../agent/testing/fake-driver.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import type { HypervisorDriver, VmSpec } from "../drivers/driver.ts";
import { systemClock } from "../drivers/clock.ts";
import { testController } from "./testing/controller.ts";
import { vmSpecOf } from "./vm-spec.ts";

async function setup() {
  const controller = await testController();
  const created: VmSpec[] = [];
  const destroyed: string[] = [];
  const plain = createFakeDriver(createFakeNetwork(), fakeHostFacts("esx01", "198.19.0.11"));
  // A host that refuses a disk on a datastore it does not have, as the qemu driver does.
  const driver: HypervisorDriver = {
    ...plain,
    create(spec) {
      const missing = spec.disks?.find((d) => d.datastore === "nowhere");
      if (missing !== undefined) return Promise.reject(new FerryError(ErrorCode.invalidInput, `disk ${missing.name} of ${spec.name} is on datastore "nowhere", which esx01 does not have`));
      created.push(spec);
      return plain.create(spec);
    },
    destroy(name, options) {
      destroyed.push(`${name} removeDisks=${String(options?.removeDisks ?? false)}`);
      return plain.destroy(name, options);
    },
  };
  const agent = createAgent({ driver, token: "t".repeat(24), clock: systemClock, hostName: "esx01", vmotionIp: "198.19.0.11" });
  const client = createAgentClient({ baseUrl: "http://esx01.test", token: "t".repeat(24), name: "esx01", fetch: (input, init) => Promise.resolve(agent.app.request(input, init)) });
  await controller.parts.agents.register({ host: "esx01", url: "http://esx01.test", token: "t".repeat(24) });
  // The directory made its own client for the URL; answer through the in-process agent instead.
  Object.defineProperty(controller.parts.agents, "get", { value: (h: string) => (h === "esx01" ? client : undefined) });
  return { controller, created, destroyed };
}

describe("VMs defined through the API", () => {
  test("created on its host (disks made there), recorded powered off with its machine type; deleted keeping or removing its disks", async () => {
    const { controller, created, destroyed } = await setup();
    const body = { name: "new01", host: "esx01", vcpus: 2, memoryMB: 1024, disks: [{ datastore: "shared-ds1", path: "new01/d0.qcow2", sizeMB: 4096 }], cdroms: [{ hostDevice: "/dev/sr0" }], nics: [{ portGroup: "Production" }] };
    const answer = await controller.call("POST", "/api/vms", { body });
    assert.equal(answer.status, 200, answer.text);
    assert.equal((answer.body as { machine: string }).machine, "pc-i440fx-7.2");
    const vm = controller.inventory.current.index.vms.get("new01");
    assert.equal(vm?.power, "off");
    assert.deepEqual(created.map((s) => [s.name, s.boot, s.machine, s.disks?.map((d) => `${d.datastore}:${d.path}:${d.format}:${String(d.sizeMB)}`), s.cdroms?.map((c) => `${c.backing}:${c.path ?? ""}`)]), [["new01", "disk", "pc-i440fx-7.2", ["shared-ds1:new01/d0.qcow2:qcow2:4096"], ["host:/dev/sr0"]]]);
    const running = await controller.call("DELETE", "/api/vms/web01");
    assert.equal(running.status, 409, "a running VM is not deleted");
    const gone = await controller.call("DELETE", "/api/vms/new01?disks=remove");
    assert.equal(gone.status, 200, gone.text);
    assert.deepEqual(destroyed, ["new01 removeDisks=true"]);
    assert.equal(controller.inventory.current.index.vms.get("new01"), undefined);
  });

  test("the host's refusal, and the inventory's, write nothing", async () => {
    const { controller, created } = await setup();
    const refused = await controller.call("POST", "/api/vms", { body: { name: "bad01", host: "esx01", memoryMB: 512, datastore: "shared-ds1", disks: [{ datastore: "nowhere", path: "x.raw", sizeMB: 8 }] } });
    assert.equal(refused.status, 400);
    assert.match(refused.text, /datastore \\"nowhere\\"/);
    assert.equal(controller.inventory.current.index.vms.get("bad01"), undefined);
    const taken = await controller.call("POST", "/api/vms", { body: { name: "web01", host: "esx01", memoryMB: 512 } });
    assert.equal(taken.status, 409);
    assert.deepEqual(created, []);
  });

  test("the spec a VM record runs from: the built-in guest without disks; firmware boot with them", () => {
    const base = { name: "v", guest: { os: "other", bits: 64 as const }, vcpus: 1, memoryMB: 256, reservation: { cpuMhz: 0, memoryMB: 0 }, cpuAffinity: [], files: { config: { datastore: "ds" } }, disks: [], nics: [], devices: [], host: "h", power: "on" as const, migrating: false };
    assert.equal(vmSpecOf(base, undefined).boot, undefined);
    const withDisk = vmSpecOf({ ...base, machine: "pc-i440fx-7.2", disks: [{ name: "disk0", datastore: "ds", path: "v/d.raw", sizeGB: 0.015625 }], devices: [{ name: "cd0", kind: "cdrom", backing: "client", connected: true }] }, ["sse2"]);
    assert.deepEqual({ boot: withDisk.boot, machine: withDisk.machine, disks: withDisk.disks, cdroms: withDisk.cdroms }, {
      boot: "disk",
      machine: "pc-i440fx-7.2",
      disks: [{ name: "disk0", datastore: "ds", path: "v/d.raw", format: "raw", sizeMB: 16 }],
      cdroms: [{ name: "cd0", backing: "none", datastore: undefined, path: undefined, connected: false }],
    });
  });
});
