// Sim hosts and VMs for tests and benchmarks: small, so a suite of migrations runs in seconds.
import type { VmSpec, WorkloadSpec } from "../driver.ts";
import type { SimHostDescription } from "./driver.ts";

const MiB = 1024 * 1024;

/** A sim host with `memoryMB` of RAM whose VMotion IP is `vmotionIp` (127.0.1.N in the lab). */
export function simHost(name: string, vmotionIp: string, memoryMB = 4096): SimHostDescription {
  return {
    name,
    cpu: { vendor: "GenuineIntel", family: 6, model: 85, flags: ["sse2", "pni", "ssse3", "sse4_1", "sse4_2", "nx", "lm", "vmx"], virtualization: true, cores: 8, mhz: 2400 },
    memoryMB,
    nics: [{ name: "vmnic0", speedMbps: 10_000 }],
    vswitches: [
      {
        name: "vSwitch0",
        uplinks: ["vmnic0"],
        mtu: 1500,
        portGroups: [{ name: "VM Network", vlan: 0 }],
        vmkernelPorts: [{ name: "vmk1", portGroup: "VMotion", ip: `${vmotionIp}/8`, mtu: 1500, vmotion: true }],
      },
    ],
    datastores: ["shared01"],
    vmotionIp,
  };
}

/** A 32 MiB VM with 8 MiB touched and, unless told otherwise, an idle guest. */
export function smallSpec(name: string, overrides: Partial<Omit<VmSpec, "name">> & { readonly workload?: WorkloadSpec | undefined } = {}): VmSpec {
  return {
    name,
    memoryMB: 32,
    vcpus: 1,
    nics: [{ name: "eth0", mac: "00:50:56:00:00:01", ip: "198.18.0.10", portGroup: "VM Network" }],
    touchedBytes: 8 * MiB,
    workload: undefined,
    ...overrides,
  };
}
