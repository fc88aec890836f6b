// A DRS test cluster: four two-core twins of the example lab's esx01 in cluster Prod, six
// one-vCPU VMs started on esx01 and one VM pinned to esx04's CPUs (it cannot move). Declared,
// the six skew memory onto esx01 (what a balancer without agents counts); measured, they skew
// its CPU, each running drsLabWorkload (what the agents' usage samples show).
import { readFileSync } from "node:fs";
import { parseInventory } from "../../core/inventory/parse.ts";
import type { InventoryInput } from "../../core/inventory/schema.ts";
import type { WorkloadSpec } from "../../drivers/driver.ts";

export const DRS_LAB_HOSTS = ["esx01", "esx02", "esx03", "esx04"] as const;
export const DRS_LAB_BALANCED = ["vm1", "vm2", "vm3", "vm4", "vm5", "vm6"] as const;

/**
 * What each of the six runs on a sim agent: 4 MiB/s of dirtied pages is a quarter of a core
 * (src/drivers/sim/usage.ts), so the six load esx01's 2 × 2500 MHz to ~80% and leave the other
 * three idle: σ ≈ 0.17 from the first usage sample, twice threshold 3's target, so a busy
 * machine that slows the guests' writers down still leaves the cluster imbalanced.
 */
export function drsLabWorkload(seed: number): WorkloadSpec {
  return { kind: "steady", dirtyRateBytesPerSec: 4 * 1024 * 1024, workingSetBytes: 8 * 1024 * 1024, seed };
}

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
    cpu: { ...esx.cpu, cores: 2 },
    datastores: ["shared-ds1"],
    vswitches: esx.vswitches.map((vs) => ({ ...vs, vmkernelPorts: vs.vmkernelPorts.map((p) => ({ ...p, ip: `198.19.0.${21 + i}/24` })) })),
  }));
  const vm = (name: string, host: string, n: number, extra: object = {}) => {
    const copy = structuredClone(web);
    delete copy.pool;
    return { ...copy, ...extra, name, host, vcpus: 1, memoryMB: 1024, disks: [{ name: `${name}.vmdk`, datastore: "shared-ds1", sizeGB: 4 }], nics: [{ name: "nic0", portGroup: "Production", mac: `00:50:56:00:09:${n.toString(16).padStart(2, "0")}`, ip: `198.18.0.${100 + n}` }] };
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
