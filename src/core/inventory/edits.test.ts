import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { addVmkernelNetworking, deployFromTemplate, editVmkernelPort, moveVm, removeVmkernelPort, setCpuidMask, setDeviceConnected } from "./edits.ts";
import { checkReferences } from "./references.ts";
import { bentInventory } from "../testing/inventory.ts";
import { indexInventory } from "./index.ts";
import { createChecker } from "../check/checker.ts";

const draft = () => structuredClone(bentInventory().inventory);

describe("host networking, as the seed's steps 1-4", () => {
  test("a new vSwitch on a chosen NIC with a VMotion VMkernel port, IP and no gateway", () => {
    const d = draft();
    d.hosts[1]!.vswitches = d.hosts[1]!.vswitches.filter((v) => v.name !== "vSwitch1");
    assert.equal(createChecker(indexInventory(d)).check("web01", "esx02").errors[0]?.code, "VMOTION_PORT_MISSING");
    addVmkernelNetworking(d, "esx02", { vswitch: "vSwitch1", nic: "vmnic1", portGroup: "VMotion", port: "vmk1", vmotion: true, ip: "198.19.0.2/24" });
    assert.deepEqual(checkReferences(d), []);
    assert.equal(createChecker(indexInventory(d)).check("web01", "esx02").ok, true);
  });

  test("refuses a missing NIC, a NIC already in use and duplicate names, each in one sentence", () => {
    const d = draft();
    assert.throws(() => { addVmkernelNetworking(d, "esx02", { vswitch: "vSwitch9", portGroup: "VM2", port: "vmk9", vmotion: true, ip: "198.19.0.9/24" }); }, /needs a physical adapter: choose one of vmnic0, vmnic1/);
    assert.throws(() => { addVmkernelNetworking(d, "esx02", { vswitch: "vSwitch9", nic: "vmnic7", portGroup: "VM2", port: "vmk9", vmotion: true, ip: "198.19.0.9/24" }); }, { code: "NOT_FOUND" });
    assert.throws(() => { addVmkernelNetworking(d, "esx02", { vswitch: "vSwitch9", nic: "vmnic1", portGroup: "VM2", port: "vmk9", vmotion: true, ip: "198.19.0.9/24" }); }, /vmnic1 already uplinks vSwitch1/);
    assert.throws(() => { addVmkernelNetworking(d, "esx02", { vswitch: "vSwitch1", portGroup: "VMotion", port: "vmk9", vmotion: true, ip: "198.19.0.9/24" }); }, /already has a port group named "VMotion"/);
    assert.throws(() => { addVmkernelNetworking(d, "esx09", { vswitch: "v", portGroup: "p", port: "vmk9", vmotion: true, ip: "198.19.0.9/24" }); }, { code: "NOT_FOUND" });
  });

  test("edit the VMotion switch, gateway and IP; remove a port and its empty vSwitch", () => {
    const d = draft();
    editVmkernelPort(d, "esx02", "vmk1", { vmotion: false });
    assert.equal(createChecker(indexInventory(d)).check("web01", "esx02").errors[0]?.code, "VMOTION_NOT_ENABLED");
    editVmkernelPort(d, "esx02", "vmk1", { vmotion: true, ip: "198.19.0.22/24", gateway: "198.19.0.254" });
    assert.equal(d.hosts[1]!.vswitches[1]!.vmkernelPorts[0]!.gateway, "198.19.0.254");
    editVmkernelPort(d, "esx02", "vmk1", { gateway: null });
    assert.equal(d.hosts[1]!.vswitches[1]!.vmkernelPorts[0]!.gateway, undefined);
    removeVmkernelPort(d, "esx02", "vmk1");
    assert.deepEqual(d.hosts[1]!.vswitches.map((v) => v.name), ["vSwitch0"]);
    assert.throws(() => { removeVmkernelPort(d, "esx02", "vmk1"); }, { code: "NOT_FOUND" });
  });
});

describe("VM settings", () => {
  test("clearing a host CD-ROM's Connected box makes a blocked VM migratable", () => {
    const d = draft();
    d.vms[0]!.devices = [{ name: "cd0", kind: "cdrom", backing: "host", path: "/dev/sr0", connected: true }];
    assert.equal(createChecker(indexInventory(d)).check("web01", "esx02").ok, false);
    setDeviceConnected(d, "web01", "cd0", false);
    const result = createChecker(indexInventory(d)).check("web01", "esx02");
    assert.equal(result.ok, true);
    assert.equal(result.warnings[0]?.code, "DEVICE_HOST_ONLY");
    assert.throws(() => { setDeviceConnected(d, "web01", "floppy9", false); }, /web01 has no device named "floppy9" \(it has cd0\)/);
  });

  test("masks on a VM, a template, and every VM of a cluster at once", () => {
    const d = draft();
    d.vms.push({ ...structuredClone(d.vms[0]!), name: "web02", host: "esx02", nics: [] });
    assert.deepEqual(setCpuidMask(d, { cluster: "Prod" }, { nx: true, sse3: false, sse4: false, custom: [] }).sort(), ["web01", "web02"]);
    assert.equal(d.vms[1]!.cpuidMask?.nx, true);
    assert.deepEqual(setCpuidMask(d, { vm: "web01" }, null), ["web01"]);
    assert.equal(d.vms[0]!.cpuidMask, undefined);
    assert.throws(() => setCpuidMask(d, { cluster: "Nope" }, null), { code: "NOT_FOUND" });
  });

  test("a VM deployed from a template carries the template's mask and fresh MACs", () => {
    const d = draft();
    d.templates = [{ name: "tmpl", guest: { os: "x", bits: 64 }, vcpus: 1, memoryMB: 512, reservation: { cpuMhz: 0, memoryMB: 0 }, cpuAffinity: [], files: { config: { datastore: "shared-ds" } }, disks: [{ name: "tmpl.vmdk", datastore: "shared-ds", sizeGB: 8 }], nics: [{ name: "nic0", portGroup: "Production", mac: "00:50:56:aa:aa:aa", connected: true }], devices: [], cpuidMask: { nx: true, sse3: false, sse4: false, custom: [] } }];
    const vm = deployFromTemplate(d, { template: "tmpl", name: "app07", host: "esx01", pool: "Prod-root" });
    assert.equal(vm.template, "tmpl");
    assert.equal(vm.disks[0]!.name, "app07.vmdk");
    assert.notEqual(vm.nics[0]!.mac, "00:50:56:aa:aa:aa");
    assert.deepEqual(checkReferences(d), []);
    d.hosts[1]!.cpu.flags = d.hosts[1]!.cpu.flags.filter((f) => f !== "nx");
    vm.power = "on";
    assert.equal(createChecker(indexInventory(d)).check("app07", "esx02").ok, true, "the inherited NX mask makes the NX-less host legal");
    assert.throws(() => deployFromTemplate(d, { template: "tmpl", name: "app07", host: "esx01" }), { code: "CONFLICT" });
  });

  test("a completed migration moves the VM into the pool it is given", () => {
    const d = draft();
    moveVm(d, "web01", "esx02", "Prod-root");
    assert.equal(d.vms[0]!.host, "esx02");
    assert.equal(d.vms[0]!.pool, "Prod-root");
  });
});
