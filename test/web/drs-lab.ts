// The browser tests' DRS lab: the controller tests' DRS cluster (four twins of esx01 in Prod,
// src/server/testing/drs-lab.ts) made imbalanced by what the agents measure, not by what the
// inventory declares. `ferry up` gives a VM the sim workload of its name's role (web*: a
// steady 2 MiB/s of dirtied pages, one eighth of a core), so the lab's six one-vCPU VMs, named
// web*, on esx01, whose hosts have two cores, load esx01's CPU to ~40% and leave the other three idle: σ well
// above threshold 5's target from the first usage sample. One powered-off VM on esx01 gives
// maintenance mode its leave / move-cold choice; pinned01 (CPU affinity) stays on esx04.
import { DRS_LAB_BALANCED, drsLabInventory } from "../../src/server/testing/drs-lab.ts";

export const WEB_VMS = DRS_LAB_BALANCED.map((_, i) => `web${String(i + 1)}`);
export const POWERED_OFF_VM = "old1";

export function webDrsLabInventory(): string {
  const lab = drsLabInventory();
  const renamed = new Map<string, string>(DRS_LAB_BALANCED.map((name, i) => [name, WEB_VMS[i] ?? name]));
  const vms = (lab.vms ?? []).map((vm) => {
    const name = renamed.get(vm.name) ?? vm.name;
    return { ...vm, name, disks: (vm.disks ?? []).map((d) => ({ ...d, name: `${name}.vmdk` })) };
  });
  const template = vms[0];
  if (template === undefined) throw new Error("the DRS lab has no VMs");
  const off = { ...template, name: POWERED_OFF_VM, power: "off" as const, disks: [{ name: `${POWERED_OFF_VM}.vmdk`, datastore: "shared-ds1", sizeGB: 4 }], nics: [{ name: "nic0", portGroup: "Production", mac: "00:50:56:00:09:30", ip: "198.18.0.130" }] };
  return JSON.stringify({ ...lab, clusters: [{ name: "Prod", drs: { automation: "manual", threshold: 5, maxMovesPerRun: 64, maxMovesPerHost: 2 } }], vms: [...vms, off] });
}
