// The qemu lab of docs/qemu-lab.md for N hosts (1..8): what it is made of (a pure layout), the
// inventory the controller gets for it, the guests it boots, and the commands that build its
// network. One layout feeds all of them, so the namespaces, the inventory's VMkernel IPs and
// the agents' configs cannot disagree.
//
//   ferry-<id>-phys    bridge `seg` (the physical L2 segment: every host's uplink, the client)
//                      bridge `vmotion` (the VMotion network: every host's vmk1)
//   ferry-<id>-esxNN   bridge `br-vm` (port group "VM Network", the host's probe address
//                      198.18.255.N/16 on it) + `uplink` veth to seg; `vmk1` veth to vmotion,
//                      198.19.0.N/16; QEMU and its taps run here
//   ferry-<id>-client  `eth0` on seg, 198.18.0.100/16: reaches the guests on their VM IPs
//
// No address outside 198.18.0.0/15 and no route are ever added.
import type { Inventory, Vm } from "../core/inventory/schema.ts";
import { findCpuModel } from "../core/cpu/models.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import type { LabNetwork } from "./netns.ts";

export const QEMU_LAB_MAX_HOSTS = 8;
/** The lab's one VM port group, as vSphere names its default one (names are case-sensitive). */
export const LAB_PORT_GROUP = "VM Network";
export const LAB_VMOTION_PORT_GROUP = "VMotion";
export const LAB_DATASTORE = "lab-ds";
export const LAB_CLUSTER = "Lab";
/** The cluster's baseline (EVC): every lab host can present it, so guests move between them all. */
export const LAB_BASELINE = "Nehalem";
export const LAB_PREFIX = 16;
export const CLIENT_IP = "198.18.0.100";

/** One lab host: its namespace and the names and addresses inside it. */
export interface LabHostLayout {
  readonly name: string;
  /** 1-based; the last octet of its addresses. */
  readonly index: number;
  readonly namespace: string;
  /** Port group → bridge in the host namespace. */
  readonly bridges: Readonly<Record<string, string>>;
  /** Port group → the host's own address on that bridge (no prefix): the guest probe's source. */
  readonly probeFrom: Readonly<Record<string, string>>;
  /** The host's end of its cable to the segment, and the segment's end. */
  readonly uplink: { readonly host: string; readonly phys: string };
  /** The VMotion VMkernel port: its link in the host namespace is named like the port. */
  readonly vmk: { readonly port: string; readonly phys: string; readonly ip: string };
  /** QEMU CPU model name this host stands for (its inventory CPU is that model's flags). */
  readonly cpuModel: string;
}

export interface QemuLabLayout {
  readonly labId: string;
  /** The cluster's CPU baseline (EVC), or none: then each host's own CPU is what guests see. */
  readonly baseline: string | undefined;
  readonly physNamespace: string;
  readonly segmentBridge: string;
  readonly vmotionBridge: string;
  readonly hosts: readonly LabHostLayout[];
  readonly client: { readonly namespace: string; readonly link: string; readonly phys: string; readonly ip: string };
}

/** A guest VM of the lab and where it first runs. */
export interface LabGuest {
  readonly name: string;
  readonly host: string;
  readonly memoryMB: number;
  readonly mac: string;
  readonly ip: string;
}

/**
 * CPUs TCG can present (no feature of TCG_UNSUPPORTED beyond the vme every model carries and
 * QEMU quietly drops), alternating so the lab holds two generations: Westmere hosts have AES
 * and PCLMULQDQ that Nehalem hosts lack, which the cluster baseline hides from guests.
 */
/**
 * The CPUs a lab host can stand for: the catalogue models whose every feature QEMU's TCG can
 * give a guest (cpu-model.ts TCG_UNSUPPORTED), with the family/model numbers and model names
 * QEMU gives them. KVM hosts could stand for more; these machines have only TCG.
 */
export const LAB_CPUS: Readonly<Record<string, { readonly family: number; readonly number: number; readonly modelName: string }>> = {
  Conroe: { family: 6, number: 15, modelName: "Intel Celeron_4x0 (Conroe/Merom Class Core 2)" },
  Penryn: { family: 6, number: 23, modelName: "Intel Core 2 Duo P9xxx (Penryn Class Core 2)" },
  Nehalem: { family: 6, number: 26, modelName: "Intel Core i7 9xx (Nehalem Class Core i7)" },
  Westmere: { family: 6, number: 44, modelName: "Westmere E56xx/L56xx/X56xx (Nehalem-C)" },
  Opteron_G1: { family: 15, number: 6, modelName: "AMD Opteron 240 (Gen 1 Class Opteron)" },
  Opteron_G2: { family: 15, number: 6, modelName: "AMD Opteron 22xx (Gen 2 Class Opteron)" },
};

/** Refuses (USAGE) a --cpus list with a model no lab host can stand for. */
export function checkLabCpus(cpus: readonly string[]): void {
  if (cpus.length === 0) throw new FerryError(ErrorCode.usage, "--cpus needs at least one CPU model");
  for (const cpu of cpus) {
    if (!Object.hasOwn(LAB_CPUS, cpu)) throw new FerryError(ErrorCode.usage, `--cpus: "${cpu}" is not a CPU a lab host can stand for under TCG; use ${Object.keys(LAB_CPUS).join(", ")}`);
  }
}

/** Without --cpus: alternating Westmere and Nehalem hosts under a Nehalem cluster baseline. */
const DEFAULT_CPUS = ["Westmere", "Nehalem"] as const;

function hostName(i: number): string {
  return `esx${String(i).padStart(2, "0")}`;
}

/** The layout of lab `labId` with `hosts` hosts (1..8). Pure: names and addresses only. */
export function qemuLabLayout(lab: LabNetwork, hosts: number, cpus?: readonly string[]): QemuLabLayout {
  if (!Number.isInteger(hosts) || hosts < 1 || hosts > QEMU_LAB_MAX_HOSTS) {
    throw new FerryError(ErrorCode.usage, `--hosts must be a whole number from 1 to ${QEMU_LAB_MAX_HOSTS}, got ${String(hosts)}`);
  }
  if (cpus !== undefined) checkLabCpus(cpus);
  const models = cpus ?? DEFAULT_CPUS;
  const list: LabHostLayout[] = [];
  for (let i = 1; i <= hosts; i++) {
    const name = hostName(i);
    const cpuModel = models[(i - 1) % models.length] ?? DEFAULT_CPUS[0];
    list.push({
      name,
      index: i,
      namespace: lab.ns(name),
      bridges: { [LAB_PORT_GROUP]: "br-vm" },
      probeFrom: { [LAB_PORT_GROUP]: `198.18.255.${i}` },
      uplink: { host: "uplink", phys: `u-${name}` },
      vmk: { port: "vmk1", phys: `v-${name}`, ip: `198.19.0.${i}` },
      cpuModel,
    });
  }
  return {
    labId: lab.labId,
    // Hosts chosen one by one are judged by their own CPUs; the default lab shares a baseline.
    baseline: cpus === undefined ? LAB_BASELINE : undefined,
    physNamespace: lab.ns("phys"),
    segmentBridge: "seg",
    vmotionBridge: "vmotion",
    hosts: list,
    client: { namespace: lab.ns("client"), link: "eth0", phys: "p-client", ip: CLIENT_IP },
  };
}

/** The lab's guests: `count` of them (default 1), guest01 on esx01 at 198.18.0.11, ... */
export function qemuLabGuests(layout: { readonly hosts: readonly { readonly name: string }[] }, count = 1): LabGuest[] {
  if (!Number.isInteger(count) || count < 0 || count > 50) throw new FerryError(ErrorCode.usage, `a lab holds 0 to 50 guests, got ${String(count)}`);
  const guests: LabGuest[] = [];
  for (let i = 1; i <= count; i++) {
    const host = layout.hosts[(i - 1) % layout.hosts.length];
    if (host === undefined) break;
    const octet = 10 + i;
    guests.push({ name: `guest${String(i).padStart(2, "0")}`, host: host.name, memoryMB: 128, mac: `52:54:00:12:00:${octet.toString(16).padStart(2, "0")}`, ip: `198.18.0.${octet}` });
  }
  return guests;
}

/** The controller's inventory for the lab: a cluster with a Nehalem baseline, its hosts, one shared datastore, the guests. */
export function qemuLabInventory(layout: QemuLabLayout, guests: readonly LabGuest[]): Inventory {
  const hosts = layout.hosts.map((h) => {
    const cpu = LAB_CPUS[h.cpuModel];
    const model = findCpuModel(h.cpuModel);
    if (model === undefined || cpu === undefined) throw new FerryError(ErrorCode.internal, `CPU model ${h.cpuModel} is missing from the catalogue`);
    return {
      name: h.name,
      cluster: LAB_CLUSTER,
      connected: true,
      maintenance: false,
      cpu: { vendor: model.vendor, family: cpu.family, model: cpu.number, modelName: cpu.modelName, flags: [...model.flags], virtualization: true, cores: 2, mhz: 2400 },
      memoryMB: 1024,
      nics: [
        { name: "vmnic0", speedMbps: 10000 },
        { name: "vmnic1", speedMbps: 10000 },
      ],
      vswitches: [
        { name: "vSwitch0", uplinks: ["vmnic0"], mtu: 1500, portGroups: [{ name: LAB_PORT_GROUP, vlan: 0 }], vmkernelPorts: [] },
        {
          name: "vSwitch1",
          uplinks: ["vmnic1"],
          mtu: 1500,
          portGroups: [{ name: LAB_VMOTION_PORT_GROUP, vlan: 0 }],
          vmkernelPorts: [{ name: h.vmk.port, portGroup: LAB_VMOTION_PORT_GROUP, ip: `${h.vmk.ip}/${LAB_PREFIX}`, mtu: 1500, vmotion: true }],
        },
      ],
      datastores: [LAB_DATASTORE],
    };
  });
  const vms: Vm[] = guests.map((g) => ({
    name: g.name,
    guest: { os: "linux", bits: 64 },
    vcpus: 1,
    memoryMB: g.memoryMB,
    reservation: { cpuMhz: 0, memoryMB: 0 },
    cpuAffinity: [],
    files: { config: { datastore: LAB_DATASTORE, path: `${g.name}/${g.name}.vmx` } },
    disks: [],
    nics: [{ name: "nic0", portGroup: LAB_PORT_GROUP, mac: g.mac, ip: g.ip, connected: true }],
    devices: [],
    host: g.host,
    power: "on",
  }));
  return {
    version: 1,
    datacenter: `Lab-${layout.labId}`,
    datastores: [{ name: LAB_DATASTORE, shared: true, capacityGB: 64 }],
    clusters: [layout.baseline === undefined ? { name: LAB_CLUSTER } : { name: LAB_CLUSTER, baseline: { model: layout.baseline } }],
    resourcePools: [],
    hosts,
    templates: [],
    vms,
    drsRules: [],
  };
}

/**
 * Builds the lab's network. Rejects on the first failure; the caller tears the lab down by
 * prefix (netns.ts `teardown`), which finds whatever was made so far.
 */
export async function buildQemuLabNetwork(lab: LabNetwork, layout: QemuLabLayout): Promise<void> {
  const phys = await lab.addNamespace("phys");
  await lab.addBridge(phys, layout.segmentBridge);
  await lab.addBridge(phys, layout.vmotionBridge);
  for (const host of layout.hosts) {
    const ns = await lab.addNamespace(host.name);
    for (const [portGroup, bridge] of Object.entries(host.bridges)) {
      await lab.addBridge(ns, bridge);
      const probe = host.probeFrom[portGroup];
      if (probe !== undefined) await lab.addAddress(ns, bridge, `${probe}/${LAB_PREFIX}`);
    }
    const vmBridge = host.bridges[LAB_PORT_GROUP] ?? "br-vm";
    await lab.addVeth({ name: host.uplink.host, namespace: ns }, { name: host.uplink.phys, namespace: phys });
    await lab.attach(ns, host.uplink.host, vmBridge);
    await lab.attach(phys, host.uplink.phys, layout.segmentBridge);
    await lab.addVeth({ name: host.vmk.port, namespace: ns }, { name: host.vmk.phys, namespace: phys });
    await lab.attach(phys, host.vmk.phys, layout.vmotionBridge);
    await lab.addAddress(ns, host.vmk.port, `${host.vmk.ip}/${LAB_PREFIX}`);
  }
  const client = await lab.addNamespace("client");
  await lab.addVeth({ name: layout.client.link, namespace: client }, { name: layout.client.phys, namespace: phys });
  await lab.attach(phys, layout.client.phys, layout.segmentBridge);
  await lab.addAddress(client, layout.client.link, `${layout.client.ip}/${LAB_PREFIX}`);
  for (const ns of [phys, client, ...layout.hosts.map((h) => h.namespace)]) await lab.assertNoDefaultRoute(ns);
}
