import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createChecker } from "../core/check/checker.ts";
import { isFerryError } from "../core/errors.ts";
import { indexInventory } from "../core/inventory/index.ts";
import { checkReferences } from "../core/inventory/references.ts";
import { InventorySchema } from "../core/inventory/schema.ts";
import { tcgUnsupported } from "../drivers/qemu/cpu-model.ts";
import { LabNetwork } from "./netns.ts";
import { LAB_PORT_GROUP, QEMU_LAB_MAX_HOSTS, qemuLabGuests, qemuLabInventory, qemuLabLayout } from "./qemu-lab.ts";

describe("qemu lab layout and inventory", () => {
  const lab = new LabNetwork("u1");

  test("N hosts: their namespaces, bridges, probe and VMotion addresses, all inside 198.18.0.0/15 and link names within 15 bytes", () => {
    const layout = qemuLabLayout(lab, QEMU_LAB_MAX_HOSTS);
    assert.equal(layout.hosts.length, 8);
    assert.deepEqual(layout.hosts.map((h) => h.name), ["esx01", "esx02", "esx03", "esx04", "esx05", "esx06", "esx07", "esx08"]);
    const esx02 = layout.hosts[1];
    assert.deepEqual(esx02 && { ns: esx02.namespace, bridges: esx02.bridges, probe: esx02.probeFrom, vmk: esx02.vmk }, {
      ns: "ferry-u1-esx02",
      bridges: { [LAB_PORT_GROUP]: "br-vm" },
      probe: { [LAB_PORT_GROUP]: "198.18.255.2" },
      vmk: { port: "vmk1", phys: "v-esx02", ip: "198.19.0.2" },
    });
    for (const h of layout.hosts) for (const link of [h.uplink.host, h.uplink.phys, h.vmk.port, h.vmk.phys]) assert.ok(Buffer.byteLength(link) <= 15, link);
    for (const bad of [0, 9, 1.5]) assert.throws(() => qemuLabLayout(lab, bad), (e) => isFerryError(e) && e.code === "USAGE");
  });

  test("the inventory is valid, its hosts present only what TCG can, and guest01 may move to every other host", () => {
    const layout = qemuLabLayout(lab, 3);
    const guests = qemuLabGuests(layout, 2);
    assert.deepEqual(guests.map((g) => `${g.name} ${g.host} ${g.ip} ${g.mac}`), ["guest01 esx01 198.18.0.11 52:54:00:12:00:0b", "guest02 esx02 198.18.0.12 52:54:00:12:00:0c"]);
    const inventory = InventorySchema.parse(qemuLabInventory(layout, guests));
    assert.deepEqual(checkReferences(inventory), []);
    for (const host of inventory.hosts) {
      // vme: in every QEMU model; QEMU drops it quietly under TCG (cpu-model.ts).
      assert.deepEqual(tcgUnsupported(host.cpu.flags).filter((f) => f !== "vme"), [], host.name);
      assert.deepEqual(host.vswitches.flatMap((v) => v.vmkernelPorts).map((p) => `${p.name} ${p.ip} ${String(p.vmotion)}`), [`vmk1 198.19.0.${host.name.slice(-1)}/16 true`]);
    }
    assert.notDeepEqual(inventory.hosts[0]?.cpu.flags, inventory.hosts[1]?.cpu.flags, "two CPU generations");
    const checker = createChecker(indexInventory(inventory));
    for (const to of ["esx02", "esx03"]) {
      const result = checker.check("guest01", to);
      assert.deepEqual(result.errors.map((f) => f.code), [], `guest01 → ${to}`);
    }
  });

  test("--cpus: each host stands for its own CPU, with no cluster baseline, so the seed's CPU rules apply between them", () => {
    const layout = qemuLabLayout(lab, 3, ["Nehalem", "Penryn", "Opteron_G2"]);
    assert.deepEqual(layout.hosts.map((h) => h.cpuModel), ["Nehalem", "Penryn", "Opteron_G2"]);
    assert.equal(layout.baseline, undefined);
    const inventory = InventorySchema.parse(qemuLabInventory(layout, qemuLabGuests(layout, 1)));
    assert.equal(inventory.clusters[0]?.baseline, undefined);
    assert.deepEqual(inventory.hosts.map((h) => `${h.cpu.vendor} ${h.cpu.family}/${h.cpu.model}`), ["GenuineIntel 6/26", "GenuineIntel 6/23", "AuthenticAMD 15/6"]);
    const checker = createChecker(indexInventory(inventory));
    // A guest on the Nehalem sees SSE4.2 and POPCNT: the Penryn lacks them, the Opteron is another vendor.
    const toPenryn = checker.check("guest01", "esx02").errors;
    assert.deepEqual(toPenryn.map((f) => f.code), ["CPU_FEATURE_MISSING"]);
    assert.match(toPenryn[0]?.message ?? "", /SSE4\.2[\s\S]*POPCNT|POPCNT[\s\S]*SSE4\.2/);
    assert.ok(checker.check("guest01", "esx03").errors.some((f) => f.code === "CPU_VENDOR_MISMATCH"));
    assert.deepEqual(qemuLabLayout(lab, 2).baseline, "Nehalem", "the default lab keeps its baseline");
    for (const bad of [[], ["Haswell"]]) assert.throws(() => qemuLabLayout(lab, 2, bad), (e) => isFerryError(e) && e.code === "USAGE");
  });
});
