// Edits an operator makes to the inventory, as pure functions on a draft copy: the seed's
// host-networking steps (a vSwitch with a VMkernel port on a chosen NIC, "Use this port group
// for VMotion", its IP and optional gateway), VM settings (a device's Connected box, the
// CPUID mask on a VM, a template or a whole cluster), deploying from a template, and where a
// VM runs after a migration. Each throws a one-sentence FerryError naming what is wrong;
// the caller validates the result (schema and references) before anything is stored.
import { ErrorCode, FerryError } from "../errors.ts";
import { own, positionIn } from "./draft.ts";
import type { CpuidMask, Host, Inventory, Template, Vm, VSwitch, VmkernelPort } from "./schema.ts";

/**
 * A mutable copy of an inventory, for edits. In the controller its objects are the snapshot's
 * own, frozen, until an edit takes one through findVm/findHost/findTemplate (or own()), which
 * gives the draft its own copy (draft.ts): write only to objects taken that way.
 */
export type Draft = Inventory;

/** The draft's own (writable) copy of the item named `name`: the snapshot's objects are never written. */
function find<T extends { name: string }>(items: T[], name: string, what: string): T {
  const i = positionIn(items, name);
  if (i < 0) throw new FerryError(ErrorCode.notFound, `no ${what} named "${name}" in the inventory`);
  return own(items, i);
}

export const findHost = (draft: Draft, name: string): Host => find(draft.hosts, name, "host");
export const findVm = (draft: Draft, name: string): Vm => find(draft.vms, name, "VM");
export const findTemplate = (draft: Draft, name: string): Template => find(draft.templates, name, "template");

export interface VmkernelNetworking {
  /** The vSwitch to create (step 1), or an existing one to add the port to. */
  readonly vswitch: string;
  /** The physical adapter connected to the VMotion network (step 2); needed for a new vSwitch. */
  readonly nic?: string | undefined;
  readonly portGroup: string;
  readonly vlan?: number | undefined;
  readonly port: string;
  /** Step 3: "Use this port group for VMotion", and the IP with prefix. */
  readonly vmotion: boolean;
  readonly ip: string;
  /** Step 4: optional; a non-routed VMotion network needs none. */
  readonly gateway?: string | undefined;
  readonly mtu?: number | undefined;
}

/** The seed's steps 1–4: a vSwitch (new or existing) with a VMkernel port on its own port group. */
export function addVmkernelNetworking(draft: Draft, hostName: string, spec: VmkernelNetworking): void {
  const host = findHost(draft, hostName);
  let vswitch = host.vswitches.find((v) => v.name === spec.vswitch);
  if (vswitch === undefined) {
    if (spec.nic === undefined) throw new FerryError(ErrorCode.invalidInput, `a new vSwitch needs a physical adapter: choose one of ${host.nics.map((n) => n.name).join(", ") || "(this host has none)"}`);
    if (!host.nics.some((n) => n.name === spec.nic)) throw new FerryError(ErrorCode.notFound, `${hostName} has no physical adapter named "${spec.nic}"`);
    const taken = host.vswitches.find((v) => v.uplinks.includes(spec.nic ?? ""));
    if (taken !== undefined) throw new FerryError(ErrorCode.conflict, `${spec.nic} already uplinks ${taken.name} on ${hostName}`);
    vswitch = { name: spec.vswitch, uplinks: [spec.nic], mtu: spec.mtu ?? 1500, portGroups: [], vmkernelPorts: [] };
    host.vswitches.push(vswitch);
  } else if (spec.nic !== undefined && !vswitch.uplinks.includes(spec.nic)) {
    throw new FerryError(ErrorCode.invalidInput, `${spec.vswitch} on ${hostName} exists with uplinks ${vswitch.uplinks.join(", ") || "(none)"}; leave out the adapter to add the port to it`);
  }
  if (host.vswitches.some((v) => v.portGroups.some((p) => p.name === spec.portGroup))) {
    throw new FerryError(ErrorCode.conflict, `${hostName} already has a port group named "${spec.portGroup}"`);
  }
  if (host.vswitches.some((v) => v.vmkernelPorts.some((p) => p.name === spec.port))) {
    throw new FerryError(ErrorCode.conflict, `${hostName} already has a VMkernel port named "${spec.port}"`);
  }
  vswitch.portGroups.push({ name: spec.portGroup, vlan: spec.vlan ?? 0 });
  const port: VmkernelPort = { name: spec.port, portGroup: spec.portGroup, ip: spec.ip, mtu: spec.mtu ?? vswitch.mtu, vmotion: spec.vmotion };
  if (spec.gateway !== undefined) port.gateway = spec.gateway;
  vswitch.vmkernelPorts.push(port);
}

export interface VmkernelPortChange {
  readonly vmotion?: boolean | undefined;
  readonly ip?: string | undefined;
  /** null removes the gateway. */
  readonly gateway?: string | null | undefined;
  readonly mtu?: number | undefined;
}

function findPort(host: Host, portName: string): { vswitch: VSwitch; port: VmkernelPort } {
  for (const vswitch of host.vswitches) {
    const port = vswitch.vmkernelPorts.find((p) => p.name === portName);
    if (port !== undefined) return { vswitch, port };
  }
  throw new FerryError(ErrorCode.notFound, `${host.name} has no VMkernel port named "${portName}"`);
}

export function editVmkernelPort(draft: Draft, hostName: string, portName: string, change: VmkernelPortChange): void {
  const { port } = findPort(findHost(draft, hostName), portName);
  if (change.vmotion !== undefined) port.vmotion = change.vmotion;
  if (change.ip !== undefined) port.ip = change.ip;
  if (change.mtu !== undefined) port.mtu = change.mtu;
  if (change.gateway === null) delete port.gateway;
  else if (change.gateway !== undefined) port.gateway = change.gateway;
}

/** Removes a VMkernel port and its port group; the vSwitch goes too when nothing is left on it. */
export function removeVmkernelPort(draft: Draft, hostName: string, portName: string): void {
  const host = findHost(draft, hostName);
  const { vswitch, port } = findPort(host, portName);
  vswitch.vmkernelPorts = vswitch.vmkernelPorts.filter((p) => p !== port);
  const stillUsed = vswitch.vmkernelPorts.some((p) => p.portGroup === port.portGroup) || draft.vms.some((vm) => vm.host === hostName && vm.nics.some((n) => n.portGroup === port.portGroup));
  if (!stillUsed) vswitch.portGroups = vswitch.portGroups.filter((p) => p.name !== port.portGroup);
  if (vswitch.portGroups.length === 0 && vswitch.vmkernelPorts.length === 0) host.vswitches = host.vswitches.filter((v) => v !== vswitch);
}

/** The seed's Figure 9.35: a device's Connected box. */
export function setDeviceConnected(draft: Draft, vmName: string, deviceName: string, connected: boolean): void {
  const vm = findVm(draft, vmName);
  const device = vm.devices.find((d) => d.name === deviceName);
  if (device === undefined) {
    throw new FerryError(ErrorCode.notFound, `${vmName} has no device named "${deviceName}"${vm.devices.length > 0 ? ` (it has ${vm.devices.map((d) => d.name).join(", ")})` : ""}`);
  }
  device.connected = connected;
}

export function setNicConnected(draft: Draft, vmName: string, nicName: string, connected: boolean): void {
  const vm = findVm(draft, vmName);
  const nic = vm.nics.find((n) => n.name === nicName);
  if (nic === undefined) throw new FerryError(ErrorCode.notFound, `${vmName} has no NIC named "${nicName}"`);
  nic.connected = connected;
}

export type MaskTarget = { readonly vm: string } | { readonly template: string } | { readonly cluster: string };

/**
 * Sets a CPUID mask (the seed's Figures 9.33/9.34). On a cluster it sets every VM of the
 * cluster at once — the seed calls doing it VM by VM tedious. A running guest sees a new
 * mask only after a power cycle; the checker reads what it booted with (bootFlags).
 * Returns the names of the VMs and templates changed.
 */
export function setCpuidMask(draft: Draft, target: MaskTarget, mask: CpuidMask | null): string[] {
  const apply = (item: Vm | Template): void => {
    if (mask === null) delete item.cpuidMask;
    else item.cpuidMask = { nx: mask.nx, sse3: mask.sse3, sse4: mask.sse4, custom: [...mask.custom] };
  };
  if ("vm" in target) {
    const vm = findVm(draft, target.vm);
    apply(vm);
    return [vm.name];
  }
  if ("template" in target) {
    const template = findTemplate(draft, target.template);
    apply(template);
    return [template.name];
  }
  if (!draft.clusters.some((c) => c.name === target.cluster)) throw new FerryError(ErrorCode.notFound, `no cluster named "${target.cluster}" in the inventory`);
  const hosts = new Set(draft.hosts.filter((h) => h.cluster === target.cluster).map((h) => h.name));
  const names: string[] = [];
  draft.vms.forEach((vm, i) => {
    if (!hosts.has(vm.host)) return;
    apply(own(draft.vms, i));
    names.push(vm.name);
  });
  return names;
}

export interface DeploySpec {
  readonly template: string;
  readonly name: string;
  readonly host: string;
  readonly pool?: string | undefined;
  /** One MAC per template NIC, in order; absent: derived from the VM's name. */
  readonly macs?: readonly string[] | undefined;
  readonly powerOn?: boolean | undefined;
}

/** A stable locally administered MAC for a deployed VM's NIC (VMware's 00:50:56 range is theirs). */
export function deriveMac(seed: string, index: number, taken: ReadonlySet<string>): string {
  let hash = 2166136261;
  for (const ch of `${seed}#${index}`) hash = Math.imul(hash ^ ch.charCodeAt(0), 16777619) >>> 0;
  for (;;) {
    const bytes = [0x02, 0x46, (hash >>> 24) & 0xff, (hash >>> 16) & 0xff, (hash >>> 8) & 0xff, hash & 0xff];
    const mac = bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
    if (!taken.has(mac)) return mac;
    hash = (hash + 1) >>> 0;
  }
}

/** Deploys a VM from a template: it takes the template's configuration and its CPUID mask. */
export function deployFromTemplate(draft: Draft, spec: DeploySpec): Vm {
  const template = findTemplate(draft, spec.template);
  findHost(draft, spec.host);
  if (draft.vms.some((vm) => vm.name === spec.name)) throw new FerryError(ErrorCode.conflict, `a VM named "${spec.name}" already exists`);
  if (spec.macs !== undefined && spec.macs.length !== template.nics.length) {
    throw new FerryError(ErrorCode.invalidInput, `template ${template.name} has ${template.nics.length} NIC(s); give as many MACs, or none`);
  }
  const taken = new Set(draft.vms.flatMap((vm) => vm.nics.map((n) => n.mac.toLowerCase())));
  const copy = structuredClone(template);
  const vm: Vm = {
    name: spec.name,
    guest: copy.guest,
    vcpus: copy.vcpus,
    memoryMB: copy.memoryMB,
    reservation: copy.reservation,
    cpuAffinity: copy.cpuAffinity,
    files: copy.files,
    disks: copy.disks.map((d) => ({ ...d, name: d.name.replace(template.name, spec.name) })),
    nics: copy.nics.map((nic, i) => {
      const mac = spec.macs?.[i] ?? deriveMac(spec.name, i, taken);
      taken.add(mac);
      const out = { ...nic, mac };
      delete out.ip;
      return out;
    }),
    devices: copy.devices,
    host: spec.host,
    power: spec.powerOn === true ? "on" : "off",
    template: template.name,
  };
  if (spec.pool !== undefined) vm.pool = spec.pool;
  if (copy.baseline !== undefined) vm.baseline = copy.baseline;
  // The template's mask is inherited through `template:` (effectiveMask), not copied, so a
  // later change to the template reaches VMs that never set their own.
  draft.vms.push(vm);
  return vm;
}

/** Where a VM runs after a migration completes. */
export function moveVm(draft: Draft, vmName: string, hostName: string, pool: string | undefined): void {
  const vm = findVm(draft, vmName);
  findHost(draft, hostName);
  vm.host = hostName;
  if (pool === undefined) delete vm.pool;
  else vm.pool = pool;
}

/**
 * Records a power change. At power-on the guest sees its CPU as it is configured now (its
 * host's or baseline's features minus its CPUID mask): `bootFlags` keeps exactly that, so a
 * mask set later is pending until the next power cycle, as on a real host (the seed: a new
 * mask reaches the guest only after it is powered off and on). Power-off forgets them.
 */
export function recordPower(draft: Draft, vmName: string, power: "on" | "off", bootFlags: readonly string[] | undefined): void {
  // The caller refuses a VM a migration task holds (its claim), before it asks the agent.
  const vm = findVm(draft, vmName);
  vm.power = power;
  if (power === "on" && bootFlags !== undefined) vm.bootFlags = [...bootFlags];
  else delete vm.bootFlags;
}
