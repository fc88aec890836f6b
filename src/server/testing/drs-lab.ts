// A DRS test cluster: four twins of the example lab's esx01 in cluster Prod, six VMs started on
// esx01 (so memory is skewed onto one host) and one VM pinned to esx04's CPUs (it cannot move).
import { readFileSync } from "node:fs";
import { parseInventory } from "../../core/inventory/parse.ts";
import type { InventoryInput } from "../../core/inventory/schema.ts";

export const DRS_LAB_HOSTS = ["esx01", "esx02", "esx03", "esx04"] as const;
export const DRS_LAB_BALANCED = ["vm1", "vm2", "vm3", "vm4", "vm5", "vm6"] as const;

export function drsLabInventory(): InventoryInput {
  const file = new URL("../../../examples/lab.yaml", import.meta.url).pathname;
  const lab = parseInventory(readFileSync(file, "utf8"), file);
  if (!lab.ok) throw new Error("examples/lab.yaml does not parse");
  const esx = lab.inventory.hosts.find((h) => h.name === "esx01");
  const web = lab.inventory.vms.find((v) => v.name === "web01");
  if (esx === undefined || web === undefined) throw new Error("examples/lab.yaml has no esx01 or web01");
  const hosts = DRS_LAB_HOSTS.map((name, i) => ({
    ...structuredClone(esx),
    name,
    memoryMB: 8192,
    datastores: ["shared-ds1"],
    vswitches: esx.vswitches.map((vs) => ({ ...vs, vmkernelPorts: vs.vmkernelPorts.map((p) => ({ ...p, ip: `198.19.0.${21 + i}/24` })) })),
  }));
  const vm = (name: string, host: string, n: number, extra: object = {}) => {
    const copy = structuredClone(web);
    delete copy.pool;
    return { ...copy, ...extra, name, host, memoryMB: 1024, disks: [{ name: `${name}.vmdk`, datastore: "shared-ds1", sizeGB: 4 }], nics: [{ name: "nic0", portGroup: "Production", mac: `00:50:56:00:09:${n.toString(16).padStart(2, "0")}`, ip: `198.18.0.${100 + n}` }] };
  };
  return {
    version: 1,
    datacenter: "DrsLab",
    datastores: [{ name: "shared-ds1", shared: true, capacityGB: 2048 }],
    clusters: [{ name: "Prod" }],
    hosts,
    vms: [...DRS_LAB_BALANCED.map((name, i) => vm(name, "esx01", i + 1)), vm("pinned01", "esx04", 20, { cpuAffinity: [0, 1] })],
  };
}
