// An inventory with its look-ups built once: every rule asks "which host is this VM on",
// "which vSwitch holds this port group" thousands of times, so those are maps, not scans.
// After an edit the index is derived from the one before (reindex): only what changed is rebuilt.
import { OverlayMap } from "./overlay-map.ts";
import type { Cluster, Datastore, DrsRuleSetting, Host, Inventory, PortGroup, ResourcePool, Template, VSwitch, Vm, VmkernelPort } from "./schema.ts";

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
  /** DRS rules by name. */
  readonly drsRules: ReadonlyMap<string, DrsRuleSetting>;
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
  return withGroups({
    inventory,
    hosts: new Map(inventory.hosts.map((host) => [host.name, hostView(host, clusters)])),
    vms: byName(inventory.vms),
    templates: byName(inventory.templates),
    datastores: byName(inventory.datastores),
    clusters,
    pools: byName(inventory.resourcePools),
    drsRules: byName(inventory.drsRules),
  });
}

/** The look-ups by name; the groupings are computed on first use (an edit does not pay for them). */
type Lookups = Omit<InventoryIndex, "vmsByHost" | "vmsByPool">;

function withGroups(lookups: Lookups): InventoryIndex {
  let byHost: Map<string, Vm[]> | undefined;
  let byPool: Map<string, Vm[]> | undefined;
  return {
    ...lookups,
    get vmsByHost() {
      byHost ??= groupBy(lookups.inventory.vms, (vm) => vm.host);
      return byHost;
    },
    get vmsByPool() {
      byPool ??= groupBy(lookups.inventory.vms, (vm) => vm.pool);
      return byPool;
    },
  };
}

/** What an edit changed, section by section: the objects it added or changed, and the names it removed. */
export interface IndexChanges {
  readonly changed: { readonly [S in SectionName]: readonly SectionItem<S>[] };
  readonly removed: { readonly [S in SectionName]: readonly string[] };
}

export type SectionName = "datastores" | "clusters" | "resourcePools" | "hosts" | "templates" | "vms" | "drsRules";
export type SectionItem<S extends SectionName> = Inventory[S][number];

function derive<T>(map: ReadonlyMap<string, T>, changed: readonly T[], removed: readonly string[], nameOf: (item: T) => string): ReadonlyMap<string, T> {
  if (changed.length === 0 && removed.length === 0) return map;
  return OverlayMap.derive(map, changed.map((item) => [nameOf(item), item] as const), removed);
}

/**
 * The index of `inventory`, which is `previous.inventory` after `changes`: only what changed
 * is rebuilt. Equal, look-up for look-up, to indexInventory(inventory).
 */
export function reindex(previous: InventoryIndex, inventory: Inventory, changes: IndexChanges): InventoryIndex {
  const { changed, removed } = changes;
  const named = (item: { readonly name: string }): string => item.name;
  const clusters = derive(previous.clusters, changed.clusters, removed.clusters, named);
  // A host's view holds its cluster's record: hosts of a changed cluster get a new view.
  const touchedClusters = new Set([...changed.clusters.map(named), ...removed.clusters]);
  const hostsChanged = new Map(changed.hosts.map((host) => [host.name, host]));
  if (touchedClusters.size > 0) {
    for (const view of previous.hosts.values()) {
      if (view.host.cluster !== undefined && touchedClusters.has(view.host.cluster) && !hostsChanged.has(view.host.name)) hostsChanged.set(view.host.name, view.host);
    }
  }
  const views = [...hostsChanged.values()].filter((host) => !removed.hosts.includes(host.name)).map((host) => hostView(host, clusters));
  return withGroups({
    inventory,
    hosts: derive(previous.hosts, views, removed.hosts, (view) => view.host.name),
    vms: derive(previous.vms, changed.vms, removed.vms, named),
    templates: derive(previous.templates, changed.templates, removed.templates, named),
    datastores: derive(previous.datastores, changed.datastores, removed.datastores, named),
    clusters,
    pools: derive(previous.pools, changed.resourcePools, removed.resourcePools, named),
    drsRules: derive(previous.drsRules, changed.drsRules, removed.drsRules, named),
  });
}
