// A small site for controller tests of concurrency: two (or three) hosts on 1 Gb/s VMotion
// links (vCenter's limit there: 4 migrations per host at once) and `vms` idle sim VMs on
// esx01, each `memoryMB` of guest memory.
import { labVmSpec } from "../../src/cli/commands/up.ts";
import { parseInventory } from "../../src/core/inventory/parse.ts";
import type { VmSpec } from "../../src/drivers/driver.ts";

function hostYaml(name: string, ip: string): string {
  return `  - name: ${name}
    cluster: C
    cpu: { vendor: GenuineIntel, family: 6, model: 63, flags: [fpu, tsc, cx8, apic, cmov, fxsr, sse, sse2, syscall, nx, lm, pni, ssse3, sse4_1, sse4_2], cores: 32, mhz: 2500 }
    memoryMB: 262144
    nics: [{ name: vmnic0, speedMbps: 1000 }, { name: vmnic1, speedMbps: 1000 }]
    vswitches:
      - { name: vSwitch0, uplinks: [vmnic0], portGroups: [{ name: VM Network }] }
      - name: vSwitch1
        uplinks: [vmnic1]
        portGroups: [{ name: VMotion }]
        vmkernelPorts: [{ name: vmk1, portGroup: VMotion, ip: ${ip}/24, vmotion: true }]
    datastores: [ds1]
`;
}

export interface TwinLab {
  readonly yaml: string;
  readonly hosts: readonly string[];
  readonly vms: readonly { readonly host: string; readonly spec: VmSpec }[];
}

export function twinLab(vms: number, memoryMB = 16, hosts = 2): TwinLab {
  const names = Array.from({ length: hosts }, (_, i) => `esx0${i + 1}`);
  const vmLines = Array.from({ length: vms }, (_, i) => `  - { name: vm${String(i).padStart(2, "0")}, host: esx01, memoryMB: ${memoryMB * 16}, files: { config: { datastore: ds1 } }, nics: [{ name: nic0, portGroup: VM Network, mac: "00:50:56:00:20:${i.toString(16).padStart(2, "0")}" }] }`);
  const yaml = `datastores: [{ name: ds1 }]\nclusters: [{ name: C }]\nhosts:\n${names.map((n, i) => hostYaml(n, `198.19.0.${i + 1}`)).join("")}vms:\n${vmLines.join("\n")}\n`;
  const parsed = parseInventory(yaml, "twin lab");
  if (!parsed.ok) throw new Error(`the twin lab does not parse: ${JSON.stringify(parsed.issues[0])}`);
  return { yaml, hosts: names, vms: parsed.inventory.vms.map((vm) => ({ host: vm.host, spec: labVmSpec(vm, undefined, 7) })) };
}
