// A small site for tests and benchmarks of concurrency: two (or three) hosts of one cluster,
// each with a VMotion NIC of `nicMbps` (vCenter's limit: 4 migrations per host at once below
// 10 Gb/s, 8 from it) and `vms` idle VMs on esx01 of `vmMemoryMB` in the inventory.
import { labVmSpec } from "../../src/cli/commands/up.ts";
import { parseInventory } from "../../src/core/inventory/parse.ts";
import type { VmSpec } from "../../src/drivers/driver.ts";

export interface TwinLabOptions {
  readonly vms: number;
  readonly hosts?: number;
  readonly nicMbps?: number;
  readonly vmMemoryMB?: number;
}

function hostYaml(name: string, ip: string, nicMbps: number): string {
  return `  - name: ${name}
    cluster: C
    cpu: { vendor: GenuineIntel, family: 6, model: 63, flags: [fpu, tsc, cx8, apic, cmov, fxsr, sse, sse2, syscall, nx, lm, pni, ssse3, sse4_1, sse4_2], cores: 32, mhz: 2500 }
    memoryMB: 262144
    nics: [{ name: vmnic0, speedMbps: ${nicMbps} }, { name: vmnic1, speedMbps: ${nicMbps} }]
    vswitches:
      - { name: vSwitch0, uplinks: [vmnic0], portGroups: [{ name: VM Network }] }
      - name: vSwitch1
        uplinks: [vmnic1]
        portGroups: [{ name: VMotion }]
        vmkernelPorts: [{ name: vmk1, portGroup: VMotion, ip: ${ip}/24, vmotion: true }]
    datastores: [ds1]
`;
}

/** The site as inventory YAML. */
export function twinLabYaml(options: TwinLabOptions): string {
  const { vms, hosts = 2, nicMbps = 1000, vmMemoryMB = 256 } = options;
  const names = Array.from({ length: hosts }, (_, i) => `esx0${i + 1}`);
  const vmLines = Array.from({ length: vms }, (_, i) => `  - { name: vm${String(i).padStart(2, "0")}, host: esx01, memoryMB: ${vmMemoryMB}, files: { config: { datastore: ds1 } }, nics: [{ name: nic0, portGroup: VM Network, mac: "00:50:56:00:20:${i.toString(16).padStart(2, "0")}" }] }`);
  return `datastores: [{ name: ds1 }]\nclusters: [{ name: C }]\nhosts:\n${names.map((n, i) => hostYaml(n, `198.19.0.${i + 1}`, nicMbps)).join("")}vms:\n${vmLines.join("\n")}\n`;
}

export interface TwinLab {
  readonly yaml: string;
  readonly hosts: readonly string[];
  /** Each VM's spec as its sim agent gets it: `memoryMB` of guest memory (labVmSpec's sixteenth of the inventory's, at least 16). */
  readonly vms: readonly { readonly host: string; readonly spec: VmSpec }[];
}

export function twinLab(vms: number, memoryMB = 16, hosts = 2): TwinLab {
  const yaml = twinLabYaml({ vms, hosts, vmMemoryMB: memoryMB * 16 });
  const parsed = parseInventory(yaml, "twin lab");
  if (!parsed.ok) throw new Error(`the twin lab does not parse: ${JSON.stringify(parsed.issues[0])}`);
  return { yaml, hosts: parsed.inventory.hosts.map((h) => h.name), vms: parsed.inventory.vms.map((vm) => ({ host: vm.host, spec: labVmSpec(vm, undefined, 7) })) };
}
