// VM port groups of a host, as pure edits on a draft: create (or move to another vSwitch /
// VLAN), rename and remove. The seed's fix for PORTGROUP_MISSING is "create port group
// Production (exact case)", so names are compared exactly. A rename follows vSphere: the
// VMkernel ports and the NICs of the host's VMs on that port group move with it. A port group
// still in use by a VMkernel port or a VM of the host is not removed.
import { ErrorCode, FerryError } from "../errors.ts";
import { findHost, type Draft } from "./edits.ts";
import type { Host, PortGroup, VSwitch } from "./schema.ts";

export interface PortGroupSpec {
  readonly vswitch: string;
  /** 802.1Q VLAN ID; 0 = untagged. */
  readonly vlan: number;
}

function locate(host: Host, name: string): { vswitch: VSwitch; group: PortGroup } | undefined {
  for (const vswitch of host.vswitches) {
    const group = vswitch.portGroups.find((g) => g.name === name);
    if (group !== undefined) return { vswitch, group };
  }
  return undefined;
}

function mustLocate(host: Host, name: string): { vswitch: VSwitch; group: PortGroup } {
  const found = locate(host, name);
  if (found === undefined) throw new FerryError(ErrorCode.notFound, `${host.name} has no port group named "${name}" (names are case-sensitive)`, { details: { host: host.name, portGroup: name } });
  return found;
}

/** Creates port group `name` on `spec.vswitch`, or moves it there / changes its VLAN. */
export function setPortGroup(draft: Draft, hostName: string, name: string, spec: PortGroupSpec): void {
  const host = findHost(draft, hostName);
  const vswitch = host.vswitches.find((v) => v.name === spec.vswitch);
  if (vswitch === undefined) throw new FerryError(ErrorCode.notFound, `${hostName} has no vSwitch named "${spec.vswitch}" (it has ${host.vswitches.map((v) => v.name).join(", ") || "none"})`);
  const found = locate(host, name);
  if (found !== undefined && found.vswitch !== vswitch) {
    found.vswitch.portGroups = found.vswitch.portGroups.filter((g) => g !== found.group);
  }
  const existing = vswitch.portGroups.find((g) => g.name === name);
  if (existing === undefined) vswitch.portGroups.push({ name, vlan: spec.vlan });
  else existing.vlan = spec.vlan;
}

/** Renames a port group on one host; its VMkernel ports and the host's VMs' NICs follow. */
export function renamePortGroup(draft: Draft, hostName: string, name: string, to: string): void {
  const host = findHost(draft, hostName);
  const { group } = mustLocate(host, name);
  if (to === name) return;
  if (locate(host, to) !== undefined) throw new FerryError(ErrorCode.conflict, `${hostName} already has a port group named "${to}"`, { details: { host: hostName, portGroup: to } });
  group.name = to;
  for (const vswitch of host.vswitches) for (const port of vswitch.vmkernelPorts) if (port.portGroup === name) port.portGroup = to;
  for (const vm of draft.vms) if (vm.host === hostName) for (const nic of vm.nics) if (nic.portGroup === name) nic.portGroup = to;
}

/** Removes a port group that nothing on the host uses. */
export function removePortGroup(draft: Draft, hostName: string, name: string): void {
  const host = findHost(draft, hostName);
  const { vswitch, group } = mustLocate(host, name);
  const ports = host.vswitches.flatMap((v) => v.vmkernelPorts.filter((p) => p.portGroup === name).map((p) => p.name));
  if (ports.length > 0) throw new FerryError(ErrorCode.conflict, `port group "${name}" on ${hostName} carries VMkernel port ${ports.join(", ")}: remove ${ports.length > 1 ? "them" : "it"} first`);
  const vms = draft.vms.filter((vm) => vm.host === hostName && vm.nics.some((n) => n.portGroup === name)).map((vm) => vm.name);
  if (vms.length > 0) throw new FerryError(ErrorCode.conflict, `port group "${name}" on ${hostName} is used by ${vms.join(", ")}: move ${vms.length > 1 ? "them" : "it"} to another port group first`);
  vswitch.portGroups = vswitch.portGroups.filter((g) => g !== group);
}
