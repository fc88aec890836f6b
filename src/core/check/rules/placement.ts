// Rules about a VM on one destination that are not about CPUs: its files must be on
// datastores the destination mounts (the seed's shared storage), its port groups must exist
// there by their exact name, images of its devices must be reachable, and the destination
// host and resource pool must hold its reservations.
import type { HostView, InventoryIndex } from "../../inventory/index.ts";
import { datastoreBaseName } from "../../inventory/facts.ts";
import type { ResourcePool } from "../../inventory/schema.ts";
import { FindingCode, Severity, SubjectKind, type Emit } from "../findings.ts";
import { places, uiAt, uiWords } from "../ui-fix.ts";
import type { PlacementNeeds } from "../profile.ts";

export const Priority = { high: "high", low: "low" } as const;
export type Priority = (typeof Priority)[keyof typeof Priority];

/**
 * A datastore the destination mounts that has the same name in its identity file as
 * `datastore` but another identity: storage the operator may take for the same, and is not.
 */
function namesakeOn(dest: HostView, datastore: string, index: InventoryIndex): string | undefined {
  const record = index.datastores.get(datastore);
  const base = record === undefined ? datastore : datastoreBaseName(record);
  for (const mount of dest.mounts) {
    const other = index.datastores.get(mount);
    if (mount !== datastore && other !== undefined && datastoreBaseName(other) === base) return mount;
  }
  return undefined;
}

export function storageRules(vmName: string, needs: PlacementNeeds, dest: HostView, index: InventoryIndex, emit: Emit): void {
  const host = dest.host.name;
  // One finding per datastore, naming every file of the VM on it.
  for (const group of needs.filesByDatastore) {
    if (dest.mounts.has(group.datastore)) continue;
    const local = index.datastores.get(group.datastore)?.shared === false;
    const many = group.files.length > 1;
    emit(FindingCode.storageNotVisible, Severity.error, () => {
      const namesake = namesakeOn(dest, group.datastore, index);
      const same = namesake === undefined ? "" : ` (${host} mounts "${namesake}", a different datastore with the same name: their identity files differ)`;
      return {
        subject: { kind: SubjectKind.datastore, name: group.datastore, vm: vmName },
        message: `The ${group.words} of ${vmName} ${many ? "are" : "is"} on datastore "${group.datastore}"${local ? " (local to its host)" : ""}, which ${host} does not mount${same}.`,
        fix: local
          ? `Move ${many ? "them" : "it"} to a shared datastore ${host} also mounts (Storage VMotion), then migrate.`
          : `Mount datastore "${group.datastore}" on ${host}, or move ${many ? "the files" : "the file"} to a datastore both hosts mount.`,
        // Ferry has no Storage VMotion or datastore mounting screen: the words say what to do outside it.
        ui: uiWords(local
          ? `Move ${many ? "them" : "it"} to a shared datastore ${host} also mounts (Storage VMotion), then migrate.`
          : `Mount datastore "${group.datastore}" on ${host}, or move ${many ? "the files" : "the file"} to a datastore both hosts mount.`),
      };
    });
  }
  for (const device of needs.fileDevices) {
    const datastore = device.datastore;
    if (datastore === undefined || dest.mounts.has(datastore)) continue;
    const subject = { kind: SubjectKind.device, name: device.name, vm: vmName };
    if (device.connected) {
      emit(FindingCode.deviceHostOnly, Severity.error, () => ({
        subject,
        message: `Device "${device.name}" of ${vmName} is connected to the image ${device.path ?? "file"} on datastore "${datastore}", which ${host} does not mount.`,
        fix: `Clear the Connected box of "${device.name}" (\`connected: false\` in the inventory), or move the image to a datastore ${host} mounts.`,
        ui: uiAt(`Clear the Connected box of ${device.name}`, places.connected(vmName, device.name), `, or move the image to a datastore ${host} mounts.`),
      }));
    } else {
      emit(FindingCode.deviceHostOnly, Severity.warning, () => ({
        subject,
        message: `Device "${device.name}" of ${vmName} has a mapping to an image on datastore "${datastore}" that ${host} does not mount; it is not connected.`,
        fix: `Proceed (the mapping will not work on ${host}), or move the image to a shared datastore.`,
        ui: uiWords(`Proceed (the mapping of ${device.name} will not work on ${host}), or move the image to a shared datastore.`),
      }));
    }
  }
}

export function vmNetworkRules(vmName: string, needs: PlacementNeeds, dest: HostView, emit: Emit): void {
  const host = dest.host.name;
  for (const { nic, source, folded } of needs.nics) {
    const ref = dest.portGroups.get(nic.portGroup);
    const subject = { kind: SubjectKind.portGroup, name: nic.portGroup, host };
    if (ref === undefined) {
      const near = dest.portGroupsFolded.get(folded);
      emit(FindingCode.portGroupMissing, nic.connected ? Severity.error : Severity.warning, () => ({
        subject,
        message:
          near === undefined
            ? `NIC "${nic.name}" of ${vmName} is on port group "${nic.portGroup}", which ${host} does not have${nic.connected ? "" : " (the NIC is not connected)"}.`
            : `NIC "${nic.name}" of ${vmName} is on port group "${nic.portGroup}" here, but ${host} has "${near}" there: port group names are case-sensitive, so these are different networks${nic.connected ? "" : " (the NIC is not connected)"}.`,
        fix: `Create port group "${nic.portGroup}" (exact case) on ${host}, on the same subnet or VLAN${near === undefined ? "" : `, or rename "${near}"`}.`,
        ui:
          near === undefined
            ? uiAt(`Create port group "${nic.portGroup}" (exact case) on ${host}, on the same subnet or VLAN`, places.addNetworking(host))
            : uiAt(`Rename "${near}" to "${nic.portGroup}" (exact case)`, places.portGroup(host, "Rename", near), `, or create port group "${nic.portGroup}" on ${host} with Add networking….`),
      }));
      continue;
    }
    const sourceVlan = source?.portGroup.vlan;
    if (sourceVlan !== undefined && sourceVlan !== ref.portGroup.vlan) {
      emit(FindingCode.portGroupVlanMismatch, Severity.warning, () => ({
        subject,
        message: `Port group "${nic.portGroup}" is VLAN ${sourceVlan} on ${vmName}'s host but VLAN ${ref.portGroup.vlan} on ${host}: ${vmName} keeps its IP and MAC, which may not be valid there.`,
        fix: `Give port group "${nic.portGroup}" the same VLAN ID on both hosts.`,
        ui: uiAt(`Give port group "${nic.portGroup}" VLAN ID ${String(sourceVlan)} on ${host}, as on ${vmName}'s host`, places.portGroup(host, "Edit", nic.portGroup, places.portGroupVlan)),
      }));
    }
    // An internal-only switch on the destination cuts the VM off; on the source it is the
    // VM-only rule's business, so only report the destination side when the source had uplinks.
    if (ref.vswitch.uplinks.length === 0 && (source === undefined || source.vswitch.uplinks.length > 0)) {
      emit(FindingCode.internalSwitch, nic.connected ? Severity.error : Severity.warning, () => ({
        subject: { kind: SubjectKind.nic, name: nic.name, vm: vmName },
        message: `On ${host}, port group "${nic.portGroup}" is on ${ref.vswitch.name}, an internal-only switch (no physical uplink): NIC "${nic.name}" of ${vmName} would lose its network${nic.connected ? "" : " (it is not connected)"}.`,
        fix: `Give ${ref.vswitch.name} on ${host} a physical uplink, or move the port group to a vSwitch that has one.`,
        ui: uiWords(`Give ${ref.vswitch.name} on ${host} a physical uplink, or move the port group to a vSwitch that has one.`),
      }));
    }
  }
}

/** Reservations held on a host or in a pool: CPU MHz and memory MB. */
export interface Usage {
  cpu: number;
  memory: number;
}

export interface ResourceState {
  readonly hostUse: ReadonlyMap<string, Usage>;
  /** Reservations of a pool's running VMs plus the reservations of its child pools. */
  readonly poolUse: ReadonlyMap<string, Usage>;
}

export function resourceState(index: InventoryIndex): ResourceState {
  const hostUse = new Map<string, Usage>();
  const poolUse = new Map<string, Usage>();
  const add = (map: Map<string, Usage>, key: string, cpu: number, memory: number): void => {
    const use = map.get(key);
    if (use === undefined) map.set(key, { cpu, memory });
    else {
      use.cpu += cpu;
      use.memory += memory;
    }
  };
  for (const vm of index.inventory.vms) {
    if (vm.power === "off") continue;
    add(hostUse, vm.host, vm.reservation.cpuMhz, vm.reservation.memoryMB);
    if (vm.pool !== undefined) add(poolUse, vm.pool, vm.reservation.cpuMhz, vm.reservation.memoryMB);
  }
  for (const pool of index.inventory.resourcePools) {
    if (pool.parent !== undefined) add(poolUse, pool.parent, pool.cpu.reservation, pool.memory.reservation);
  }
  return { hostUse, poolUse };
}

export function poolBelongsTo(pool: ResourcePool, dest: HostView): boolean {
  return pool.host === dest.host.name || (pool.cluster !== undefined && pool.cluster === dest.host.cluster);
}

type Resource = "cpu" | "memory";
const unit: Record<Resource, string> = { cpu: "MHz", memory: "MB" };

/** Where in the pool chain a reservation of `need` fails, if it does. */
function poolShortfall(
  pool: ResourcePool,
  resource: Resource,
  need: number,
  index: InventoryIndex,
  state: ResourceState,
): { pool: string; available: number; reason: "limit" | "reservation" } | undefined {
  let current: ResourcePool | undefined = pool;
  let wanted = need;
  while (current !== undefined) {
    const alloc = current[resource];
    const used = state.poolUse.get(current.name)?.[resource] ?? 0;
    if (alloc.limit !== undefined && alloc.limit >= 0 && used + wanted > alloc.limit) {
      return { pool: current.name, available: Math.max(0, alloc.limit - used), reason: "limit" };
    }
    const available = alloc.reservation - used;
    if (available >= wanted) return undefined;
    if (!alloc.expandable) return { pool: current.name, available: Math.max(0, available), reason: "reservation" };
    wanted -= Math.max(0, available);
    // A root pool with an expandable reservation borrows from its cluster; the host check covers the rest.
    current = current.parent === undefined ? undefined : index.pools.get(current.parent);
  }
  return undefined;
}

export function resourceRules(
  vmName: string,
  needs: PlacementNeeds,
  dest: HostView,
  pool: ResourcePool | undefined,
  priority: Priority,
  index: InventoryIndex,
  state: ResourceState,
  emit: Emit,
): void {
  const host = dest.host.name;
  // High priority reserves resources on both hosts or refuses; low always proceeds (maybe slower).
  const severity = priority === Priority.high ? Severity.error : Severity.warning;
  const consequence = priority === Priority.high ? "a high-priority migration reserves them or refuses" : "a low-priority migration proceeds but may run slower";
  if (pool !== undefined && !poolBelongsTo(pool, dest)) {
    const owner = pool.cluster === undefined ? `host ${pool.host ?? "?"}` : `cluster ${pool.cluster}`;
    emit(FindingCode.poolNotOnHost, Severity.error, () => ({
      subject: { kind: SubjectKind.pool, name: pool.name },
      message: `Resource pool ${pool.name} belongs to ${owner}, not to ${host}${dest.host.cluster === undefined ? "" : ` (cluster ${dest.host.cluster})`}.`,
      fix: `Choose a resource pool of ${dest.host.cluster === undefined ? host : `cluster ${dest.host.cluster}`}.`,
      ui: uiWords(`Choose a resource pool of ${dest.host.cluster === undefined ? host : `cluster ${dest.host.cluster}`} in the migrate wizard's Resource pool step.`),
    }));
    return;
  }
  const needs_: Record<Resource, number> = { cpu: needs.reservation.cpuMhz, memory: needs.reservation.memoryMB };
  if (!needs.holdsReservation || (needs_.cpu === 0 && needs_.memory === 0)) return;
  const use = state.hostUse.get(host);
  const capacity: Record<Resource, number> = { cpu: dest.host.cpu.cores * dest.host.cpu.mhz, memory: dest.host.memoryMB };
  for (const resource of ["cpu", "memory"] as const) {
    const need = needs_[resource];
    if (need === 0) continue;
    const free = capacity[resource] - (use?.[resource] ?? 0);
    if (free < need) {
      emit(FindingCode.hostResourcesShort, severity, () => ({
        subject: { kind: SubjectKind.host, name: host },
        message: `${vmName} reserves ${need} ${unit[resource]} of ${resource}, but ${host} has only ${Math.max(0, free)} ${unit[resource]} unreserved: ${consequence}.`,
        fix: priority === Priority.high
          ? `Free ${resource} reservations on ${host}, lower ${vmName}'s reservation, or migrate with low priority.`
          : `Proceed, or free ${resource} reservations on ${host}.`,
        ui: uiWords(priority === Priority.high
          ? `Choose Low priority in the migrate wizard's Priority step, free ${resource} reservations on ${host}, or lower ${vmName}'s reservation.`
          : `Proceed, or free ${resource} reservations on ${host}.`),
      }));
    }
    if (pool !== undefined && pool.name !== needs.pool) {
      const short = poolShortfall(pool, resource, need, index, state);
      if (short !== undefined) {
        emit(FindingCode.poolResourcesShort, severity, () => ({
          subject: { kind: SubjectKind.pool, name: short.pool },
          message: `${vmName} reserves ${need} ${unit[resource]} of ${resource}, but resource pool ${short.pool} ${short.reason === "limit" ? "has a limit that leaves" : "has a fixed (non-expandable) reservation with"} only ${short.available} ${unit[resource]} left: ${consequence}.`,
          fix: `Choose another pool, raise the ${resource} ${short.reason} of ${short.pool}${short.reason === "reservation" ? " or make it expandable" : ""}${priority === Priority.high ? ", or migrate with low priority" : ""}.`,
          ui: uiWords(`Choose another pool in the migrate wizard's Resource pool step${priority === Priority.high ? ", or Low priority in its Priority step" : ""}; or raise the ${resource} ${short.reason} of ${short.pool}${short.reason === "reservation" ? " or make it expandable" : ""}.`),
        }));
      }
    }
  }
}
