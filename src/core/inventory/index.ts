// An inventory with its look-ups built once: every rule asks "which host is this VM on",
// "which vSwitch holds this port group" thousands of times, so those are maps, not scans.
import type { Cluster, Datastore, Host, Inventory, PortGroup, ResourcePool, Template, VSwitch, Vm, VmkernelPort } from "./schema.ts";

export * from "./schema.ts";

export interface PortGroupRef {
  readonly vswitch: VSwitch;
  readonly portGroup: PortGroup;
}

export interface VmkernelRef {
  readonly vswitch: VSwitch;
  readonly port: VmkernelPort;
}

export interface HostView {
  readonly host: Host;
  readonly cluster: Cluster | undefined;
  /** Port groups by exact (case-sensitive) name. */
  readonly portGroups: ReadonlyMap<string, PortGroupRef>;
  /** Port group names by lower-case name, to say "differs only in case". */
  readonly portGroupsFolded: ReadonlyMap<string, string>;
  readonly mounts: ReadonlySet<string>;
  readonly nicSpeed: ReadonlyMap<string, number>;
  /** VMkernel ports with VMotion enabled, in file order. */
  readonly vmotionPorts: readonly VmkernelRef[];
  /** All VMkernel ports. */
  readonly vmkernelPorts: readonly VmkernelRef[];
}

export interface InventoryIndex {
  readonly inventory: Inventory;
  readonly hosts: ReadonlyMap<string, HostView>;
  readonly vms: ReadonlyMap<string, Vm>;
  readonly templates: ReadonlyMap<string, Template>;
  readonly datastores: ReadonlyMap<string, Datastore>;
  readonly clusters: ReadonlyMap<string, Cluster>;
  readonly pools: ReadonlyMap<string, ResourcePool>;
  /** VMs by the host they run on. */
  readonly vmsByHost: ReadonlyMap<string, readonly Vm[]>;
  /** VMs by resource pool name. */
  readonly vmsByPool: ReadonlyMap<string, readonly Vm[]>;
}

function byName<T extends { readonly name: string }>(items: readonly T[]): Map<string, T> {
  return new Map(items.map((item) => [item.name, item]));
}

function groupBy<T>(items: readonly T[], key: (item: T) => string | undefined): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    if (k === undefined) continue;
    const list = out.get(k);
    if (list === undefined) out.set(k, [item]);
    else list.push(item);
  }
  return out;
}

export function hostView(host: Host, clusters: ReadonlyMap<string, Cluster>): HostView {
  const portGroups = new Map<string, PortGroupRef>();
  const portGroupsFolded = new Map<string, string>();
  const vmkernelPorts: VmkernelRef[] = [];
  for (const vswitch of host.vswitches) {
    for (const portGroup of vswitch.portGroups) {
      if (!portGroups.has(portGroup.name)) portGroups.set(portGroup.name, { vswitch, portGroup });
      portGroupsFolded.set(portGroup.name.toLowerCase(), portGroup.name);
    }
    for (const port of vswitch.vmkernelPorts) vmkernelPorts.push({ vswitch, port });
  }
  return {
    host,
    cluster: host.cluster === undefined ? undefined : clusters.get(host.cluster),
    portGroups,
    portGroupsFolded,
    mounts: new Set(host.datastores),
    nicSpeed: new Map(host.nics.map((nic) => [nic.name, nic.speedMbps])),
    vmotionPorts: vmkernelPorts.filter((ref) => ref.port.vmotion),
    vmkernelPorts,
  };
}

export function indexInventory(inventory: Inventory): InventoryIndex {
  const clusters = byName(inventory.clusters);
  return {
    inventory,
    hosts: new Map(inventory.hosts.map((host) => [host.name, hostView(host, clusters)])),
    vms: byName(inventory.vms),
    templates: byName(inventory.templates),
    datastores: byName(inventory.datastores),
    clusters,
    pools: byName(inventory.resourcePools),
    vmsByHost: groupBy(inventory.vms, (vm) => vm.host),
    vmsByPool: groupBy(inventory.vms, (vm) => vm.pool),
  };
}
