import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { bentInventory } from "../testing/inventory.ts";
import { createChecker } from "../check/checker.ts";
import { indexInventory } from "./index.ts";
import { checkReferences } from "./references.ts";
import { removePortGroup, renamePortGroup, setPortGroup } from "./portgroups.ts";
import { createVm, defaultMachineType, FALLBACK_MACHINE, setDiskLocation } from "./vm-create.ts";

const draft = () => structuredClone(bentInventory().inventory);

describe("a VM defined by Ferry", () => {
  test("the machine type is the host's newest concrete i440FX type, never an alias; the fallback when the host says nothing", () => {
    assert.equal(defaultMachineType(["pc", "q35", "pc-i440fx-7.1", "pc-i440fx-7.2", "pc-q35-7.2", "pc-i440fx-2.12"]), "pc-i440fx-7.2");
    assert.equal(defaultMachineType(["pc-i440fx-8.0", "pc-i440fx-10.1"]), "pc-i440fx-10.1");
    assert.equal(defaultMachineType(undefined), FALLBACK_MACHINE);
    assert.equal(defaultMachineType(["q35"]), FALLBACK_MACHINE);
  });

  test("created powered off with its disks, CD-ROMs, NICs and a MAC made when none is given; the inventory stays valid", () => {
    const d = draft();
    d.hosts[0]!.hypervisor = { kind: "qemu", version: "8.0.0", machineTypes: ["pc", "pc-i440fx-8.0"], accelerator: "kvm" };
    const vm = createVm(d, {
      name: "new01",
      host: "esx01",
      vcpus: 2,
      memoryMB: 2048,
      disks: [{ datastore: "shared-ds", path: "new01/disk0.qcow2", sizeMB: 10240 }, { datastore: "shared-ds", path: "images/data.raw" }],
      cdroms: [{ datastore: "shared-ds", path: "debian.iso" }, { hostDevice: "/dev/sr0" }],
      nics: [{ portGroup: "Production" }, { portGroup: "Production", mac: "52:54:00:AA:BB:CC", ip: "198.18.10.9" }],
    });
    assert.deepEqual(checkReferences(d), []);
    assert.equal(vm.power, "off");
    assert.equal(vm.machine, "pc-i440fx-8.0");
    assert.deepEqual(vm.disks.map((x) => `${x.name} ${x.datastore}:${x.path ?? ""} ${x.format ?? ""} ${x.sizeGB}`), ["disk0 shared-ds:new01/disk0.qcow2 qcow2 10", "disk1 shared-ds:images/data.raw raw 1"]);
    assert.deepEqual(vm.devices.map((x) => `${x.name} ${x.backing} ${x.path ?? ""}`), ["cd0 file debian.iso", "cd1 host /dev/sr0"]);
    assert.match(vm.nics[0]?.mac ?? "", /^02:46(:[0-9a-f]{2}){4}$/);
    assert.equal(vm.nics[1]?.mac, "52:54:00:aa:bb:cc");
    assert.deepEqual(vm.files.config, { datastore: "shared-ds", path: "new01/new01.json" });
  });

  test("refuses a taken name or MAC, an unknown host, and a VM with nowhere to keep its configuration", () => {
    const d = draft();
    const base = { host: "esx01", vcpus: 1, memoryMB: 512, disks: [], cdroms: [], nics: [] };
    assert.throws(() => createVm(d, { ...base, name: "web01" }), { code: "CONFLICT" });
    const mac = d.vms[0]!.nics[0]!.mac;
    assert.throws(() => createVm(d, { ...base, name: "x", nics: [{ portGroup: "Production", mac: mac.toUpperCase() }] }), /MAC .* is already used/);
    assert.throws(() => createVm(d, { ...base, name: "x", host: "esx09" }), { code: "NOT_FOUND" });
    d.hosts[0]!.datastores = [];
    assert.throws(() => createVm(d, { ...base, name: "x" }), /needs a datastore for its configuration/);
  });

  test("a disk moved from a local to a shared datastore while the VM is off: recorded, and the storage error is gone", () => {
    const d = draft();
    createVm(d, { name: "local9", host: "esx01", vcpus: 1, memoryMB: 512, disks: [{ datastore: "esx01-local", path: "local9/d.raw", sizeMB: 16 }], cdroms: [], nics: [] });
    d.vms.find((v) => v.name === "local9")!.power = "on";
    assert.equal(createChecker(indexInventory(d)).check("local9", "esx02").errors[0]?.code, "STORAGE_NOT_VISIBLE");
    assert.throws(() => { setDiskLocation(d, "local9", "disk0", "shared-ds", "local9/d.raw"); }, /move a disk only while the VM is powered off/);
    d.vms.find((v) => v.name === "local9")!.power = "off";
    assert.throws(() => { setDiskLocation(d, "local9", "disk7", "shared-ds", "x"); }, /has no disk named "disk7" \(it has disk0\)/);
    setDiskLocation(d, "local9", "disk0", "shared-ds", "local9/d.raw");
    assert.deepEqual(checkReferences(d), []);
    d.vms.find((v) => v.name === "local9")!.power = "on";
    assert.deepEqual(createChecker(indexInventory(d)).check("local9", "esx02").errors.map((f) => f.code), []);
  });
});

describe("VM port groups of a host", () => {
  test("create, move to another vSwitch, change VLAN; rename takes the host's VMkernel ports and VMs along; remove refuses while used", () => {
    const d = draft();
    const esx01 = () => d.hosts.find((h) => h.name === "esx01")!;
    const groups = () => esx01().vswitches.flatMap((v) => v.portGroups.map((g) => `${v.name}/${g.name}/${g.vlan}`));
    const vSwitch = esx01().vswitches[0]!.name;
    setPortGroup(d, "esx01", "Backend", { vswitch: vSwitch, vlan: 0 });
    assert.ok(groups().includes(`${vSwitch}/Backend/0`));
    setPortGroup(d, "esx01", "Backend", { vswitch: vSwitch, vlan: 30 });
    assert.ok(groups().includes(`${vSwitch}/Backend/30`));
    assert.throws(() => { setPortGroup(d, "esx01", "X", { vswitch: "vSwitch9", vlan: 0 }); }, /no vSwitch named "vSwitch9"/);
    const used = d.vms.find((v) => v.host === "esx01" && v.nics.length > 0)!;
    const old = used.nics[0]!.portGroup;
    renamePortGroup(d, "esx01", old, "Renamed");
    assert.equal(used.nics[0]!.portGroup, "Renamed", "the host's VMs follow a rename");
    assert.deepEqual(checkReferences(d), []);
    assert.throws(() => { renamePortGroup(d, "esx01", "Renamed", "Backend"); }, { code: "CONFLICT" });
    assert.throws(() => { removePortGroup(d, "esx01", "Renamed"); }, /is used by .*: move (it|them) to another port group first/);
    assert.throws(() => { removePortGroup(d, "esx01", "backend"); }, /no port group named "backend" \(names are case-sensitive\)/);
    removePortGroup(d, "esx01", "Backend");
    assert.ok(!groups().some((g) => g.includes("/Backend/")));
  });
});
