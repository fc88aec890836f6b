// What a real host's agent observed, merged into the inventory. A host's own facts (CPU,
// memory, NICs, vSwitches, mounted datastores, QEMU) are replaced by what the agent saw;
// what the controller decides (cluster, maintenance mode, the VMs) is kept. Datastores are
// matched by the identity in their `.ferry-datastore.json`, not by name: two hosts that
// report the same uuid see the same storage, which is what makes it shared (vSphere's
// datastore UUID plays the same part), and two datastores that merely share a name are
// kept apart so the checker sees different storage.
import { z } from "zod";
import {
  CpuSchema,
  DatastoreProblemSchema,
  HostSchema,
  HypervisorSchema,
  PhysicalNicSchema,
  VSwitchSchema,
  type Datastore,
  type Host,
  type Inventory,
} from "./schema.ts";

/** A datastore as a host sees it: the name and uuid of its identity file, and where this host mounts it. */
export const ObservedDatastoreSchema = z
  .object({
    name: HostSchema.shape.name,
    uuid: z.string().min(1).max(200),
    /** This host's mount path; another host may mount the same datastore elsewhere. */
    path: z.string().min(1),
  })
  .strict();

/** Everything an agent reports about its host. */
export const ObservedHostSchema = z
  .object({
    name: HostSchema.shape.name,
    cpu: CpuSchema,
    memoryMB: HostSchema.shape.memoryMB,
    nics: z.array(PhysicalNicSchema),
    vswitches: z.array(VSwitchSchema),
    datastores: z.array(ObservedDatastoreSchema),
    datastoreProblems: z.array(DatastoreProblemSchema),
    hypervisor: HypervisorSchema.optional(),
  })
  .strict();

export type ObservedDatastore = z.output<typeof ObservedDatastoreSchema>;
export type ObservedHost = z.output<typeof ObservedHostSchema>;

export interface ObservedMerge {
  /** A new inventory; the one passed in is not changed. */
  readonly inventory: Inventory;
  /** What the operator should know: renamed or re-identified datastores, VMs left on storage the host lost. */
  readonly notes: string[];
}

/** The name a datastore gets when another one already has its name: `data (1a2b3c4d)`. */
export function distinctDatastoreName(name: string, uuid: string): string {
  return `${name} (${uuid.slice(0, 8)})`;
}

/** The name the datastore's identity file gives it: its record's name without the suffix `distinctDatastoreName` added. */
export function datastoreBaseName(datastore: Datastore): string {
  const uuid = datastore.uuid;
  if (uuid === undefined) return datastore.name;
  const suffix = ` (${uuid.slice(0, 8)})`;
  return datastore.name.endsWith(suffix) ? datastore.name.slice(0, -suffix.length) : datastore.name;
}

/**
 * The datastore record an observed datastore is, adding or claiming one in `datastores`
 * (a working copy): by uuid first, else by name when that record has no identity yet, else
 * a new record, under a distinct name when its name is taken by other storage.
 */
function resolveDatastore(datastores: Datastore[], seen: ObservedDatastore, host: string, notes: string[]): string {
  const same = datastores.find((d) => d.uuid === seen.uuid);
  if (same !== undefined) {
    if (same.name !== seen.name && datastoreBaseName(same) !== seen.name) {
      notes.push(`${host}: datastore "${seen.name}" at ${seen.path} has identity ${seen.uuid}, which the inventory knows as "${same.name}"; keeping the name "${same.name}".`);
    }
    return same.name;
  }
  const i = datastores.findIndex((d) => d.name === seen.name);
  const namesake = datastores[i];
  if (namesake === undefined) {
    datastores.push({ name: seen.name, uuid: seen.uuid, shared: false });
    return seen.name;
  }
  if (namesake.uuid === undefined) {
    // A datastore the inventory file names but no agent has identified yet: this is it.
    datastores[i] = { ...namesake, uuid: seen.uuid };
    return namesake.name;
  }
  let name = distinctDatastoreName(seen.name, seen.uuid);
  if (datastores.some((d) => d.name === name)) name = `${seen.name} (${seen.uuid})`;
  datastores.push({ name, uuid: seen.uuid, shared: false });
  notes.push(
    `${host}: datastore "${seen.name}" at ${seen.path} has identity ${seen.uuid}, but the inventory's "${seen.name}" is ${namesake.uuid}: a different datastore with the same name, recorded as "${name}".`,
  );
  return name;
}

/** Datastores with an identity are shared exactly when two or more hosts mount them. */
function withSharing(datastores: readonly Datastore[], hosts: readonly Host[]): Datastore[] {
  const mounts = new Map<string, number>();
  for (const host of hosts) for (const name of new Set(host.datastores)) mounts.set(name, (mounts.get(name) ?? 0) + 1);
  return datastores.map((d) => {
    if (d.uuid === undefined) return d;
    const shared = (mounts.get(d.name) ?? 0) >= 2;
    return d.shared === shared ? d : { ...d, shared };
  });
}

/** Notes about this host's VMs whose files are on datastores it no longer mounts. */
function strandedVms(inventory: Inventory, host: string, mounts: ReadonlySet<string>): string[] {
  const notes: string[] = [];
  for (const vm of inventory.vms) {
    if (vm.host !== host) continue;
    const used = [vm.files.config, vm.files.log, vm.files.nvram, ...vm.disks].flatMap((f) => (f === undefined ? [] : [f.datastore]));
    for (const d of vm.devices) if (d.datastore !== undefined && d.connected) used.push(d.datastore);
    const lost = [...new Set(used)].filter((name) => !mounts.has(name));
    if (lost.length > 0) notes.push(`${host}: VM ${vm.name} uses datastore${lost.length > 1 ? "s" : ""} ${lost.map((n) => `"${n}"`).join(", ")}, which ${host} no longer mounts.`);
  }
  return notes;
}

/**
 * Merges one host's observed facts into the inventory. The host's CPU, memory, NICs,
 * vSwitches, datastores, hypervisor and datastore problems become what was observed, and it
 * is connected; its cluster, maintenance mode and every VM are kept. A host not in the
 * inventory is added (standalone, not in maintenance).
 */
export function mergeObservedHost(inventory: Inventory, observed: ObservedHost): ObservedMerge {
  const notes: string[] = [];
  const datastores = [...inventory.datastores];
  const mounted: string[] = [];
  const seenUuids = new Set<string>();
  for (const seen of observed.datastores) {
    if (seenUuids.has(seen.uuid)) {
      notes.push(`${observed.name}: datastore "${seen.name}" (${seen.uuid}) is mounted twice; ${seen.path} is the same storage as an earlier path.`);
      continue;
    }
    seenUuids.add(seen.uuid);
    mounted.push(resolveDatastore(datastores, seen, observed.name, notes));
  }

  const before = inventory.hosts.find((h) => h.name === observed.name);
  const host: Host = {
    name: observed.name,
    ...(before?.cluster === undefined ? {} : { cluster: before.cluster }),
    connected: true,
    maintenance: before?.maintenance ?? false,
    cpu: observed.cpu,
    memoryMB: observed.memoryMB,
    nics: observed.nics,
    vswitches: observed.vswitches,
    datastores: mounted,
    ...(observed.hypervisor === undefined ? {} : { hypervisor: observed.hypervisor }),
    // Set, even empty, exactly on observed hosts: references.ts lets their real state through.
    datastoreProblems: observed.datastoreProblems,
  };
  const hosts = before === undefined ? [...inventory.hosts, host] : inventory.hosts.map((h) => (h === before ? host : h));
  notes.push(...strandedVms(inventory, observed.name, new Set(mounted)));
  return { inventory: { ...inventory, datastores: withSharing(datastores, hosts), hosts }, notes };
}
