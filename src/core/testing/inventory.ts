// A small, valid two-host inventory for tests, and a way to bend it. Every rule's tests
// start from this passing case and change one thing, so each test shows exactly what breaks.
import { InventorySchema, type Inventory, type InventoryInput } from "../inventory/schema.ts";
import { indexInventory, type InventoryIndex } from "../inventory/index.ts";

export const HASWELL_FLAGS = [
  "fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "sep", "mtrr", "pge", "mca", "cmov", "pat",
  "pse36", "clflush", "mmx", "fxsr", "sse", "sse2", "ss", "ht", "syscall", "nx", "pdpe1gb", "rdtscp", "lm",
  "constant_tsc", "arch_perfmon", "rep_good", "nopl", "pni", "pclmulqdq", "monitor", "ssse3", "fma", "cx16", "pcid",
  "sse4_1", "sse4_2", "x2apic", "movbe", "popcnt", "tsc_deadline_timer", "aes", "xsave", "avx", "f16c", "rdrand",
  "lahf_lm", "abm", "fsgsbase", "bmi1", "avx2", "smep", "bmi2", "erms", "invpcid", "xsaveopt", "arat", "vmx",
];

/** A Core 2 (Penryn-like) host: no SSE4.2, POPCNT, AES or AVX. */
export const PENRYN_FLAGS = [
  "fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "sep", "mtrr", "pge", "mca", "cmov", "pat",
  "pse36", "clflush", "mmx", "fxsr", "sse", "sse2", "ss", "ht", "syscall", "nx", "lm", "pni", "monitor", "ssse3",
  "cx16", "sse4_1", "lahf_lm", "vmx",
];

export type BendableInventory = InventoryInput & { hosts: NonNullable<InventoryInput["hosts"]>; vms: NonNullable<InventoryInput["vms"]> };
export type Bend = (inventory: BendableInventory) => void;

function host(name: string, ip: string): NonNullable<InventoryInput["hosts"]>[number] {
  return {
    name,
    cluster: "Prod",
    cpu: { vendor: "GenuineIntel", family: 6, model: 63, modelName: "Intel Xeon E5-2680 v3", flags: [...HASWELL_FLAGS], cores: 12, mhz: 2500 },
    memoryMB: 65536,
    nics: [{ name: "vmnic0", speedMbps: 10000 }, { name: "vmnic1", speedMbps: 1000 }],
    vswitches: [
      {
        name: "vSwitch0",
        uplinks: ["vmnic0"],
        portGroups: [{ name: "VM Network" }, { name: "Production", vlan: 10 }],
        vmkernelPorts: [],
      },
      {
        name: "vSwitch1",
        uplinks: ["vmnic1"],
        portGroups: [{ name: "VMotion" }],
        vmkernelPorts: [{ name: "vmk1", portGroup: "VMotion", ip, vmotion: true }],
      },
    ],
    datastores: ["shared-ds", `${name}-local`],
  };
}

export function baseInventory(): BendableInventory {
  return {
    datacenter: "DC",
    datastores: [{ name: "shared-ds" }, { name: "esx01-local", shared: false }, { name: "esx02-local", shared: false }],
    clusters: [{ name: "Prod" }],
    resourcePools: [
      { name: "Prod-root", cluster: "Prod", memory: { reservation: 0, expandable: true } },
      { name: "Gold", cluster: "Prod", parent: "Prod-root", memory: { reservation: 4096, expandable: false }, cpu: { reservation: 2000, expandable: false } },
    ],
    hosts: [host("esx01", "198.19.0.1/24"), host("esx02", "198.19.0.2/24")],
    templates: [],
    vms: [
      {
        name: "web01",
        host: "esx01",
        pool: "Prod-root",
        guest: { os: "Debian 12", bits: 64 },
        memoryMB: 2048,
        files: { config: { datastore: "shared-ds" }, log: { datastore: "shared-ds" }, nvram: { datastore: "shared-ds" } },
        disks: [{ name: "web01.vmdk", datastore: "shared-ds" }],
        nics: [{ name: "nic0", portGroup: "Production", mac: "00:50:56:00:00:01" }],
        devices: [{ name: "cd0", kind: "cdrom", backing: "none", connected: false }],
      },
    ],
  };
}

/** The base inventory with `bend` applied, validated and indexed. */
export function bentInventory(bend?: Bend): { inventory: Inventory; index: InventoryIndex } {
  const raw = baseInventory();
  bend?.(raw);
  const inventory = InventorySchema.parse(raw);
  return { inventory, index: indexInventory(inventory) };
}

/** Non-null access in tests: fails loudly when the fixture lacks what a test bends. */
export function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`fixture has no ${what}`);
  return value;
}
