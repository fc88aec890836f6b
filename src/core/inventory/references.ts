// Cross-references of an inventory that the schema cannot see: names that must be unique,
// names that must point at something, and the topology rules of the seed (a local
// datastore belongs to one host, a VM's port groups must exist on its host, its files must
// be on datastores its host mounts). Every problem is reported, not only the first, each
// with the path of the offending field so the file reader can add its line.
import { checkDrsRuleReferences } from "./references-drs.ts";
import type { Host, Inventory, ResourcePool, Template, Vm } from "./schema.ts";

export interface ReferenceIssue {
  /** Where the problem is, in the file's own structure: `vms[3].nics[0].portGroup`. */
  readonly path: string;
  /** One sentence naming the objects involved. */
  readonly message: string;
}

type Kind = "VM" | "template";

/** Index of the first object with each name; duplicates are reported as they are met. */
function indexByName(
  items: readonly { readonly name: string }[],
  collection: string,
  noun: string,
  issues: ReferenceIssue[],
  owner = "",
): Map<string, number> {
  const first = new Map<string, number>();
  items.forEach((item, i) => {
    const seen = first.get(item.name);
    if (seen === undefined) first.set(item.name, i);
    else issues.push({ path: `${collection}[${i}].name`, message: `${owner}${noun} "${item.name}" is defined twice (also at ${collection}[${seen}])` });
  });
  return first;
}

/** Names that differ from `wanted` only by case: port group names are case-sensitive (seed: "Production is not PRODUCTION"). */
function caseHint(wanted: string, names: Iterable<string>): string {
  const lower = wanted.toLowerCase();
  for (const name of names) {
    if (name !== wanted && name.toLowerCase() === lower) return ` (it has "${name}"; names are case-sensitive)`;
  }
  return "";
}

interface HostFacts {
  readonly host: Host;
  readonly index: number;
  readonly datastores: ReadonlySet<string>;
  readonly portGroups: ReadonlySet<string>;
}

/** The inventory's names, indexed once, and the issues found so far. */
interface References {
  readonly inv: Inventory;
  readonly issues: ReferenceIssue[];
  readonly datastores: ReadonlyMap<string, number>;
  readonly clusters: ReadonlyMap<string, number>;
  readonly pools: ReadonlyMap<string, number>;
  readonly templates: ReadonlyMap<string, number>;
  /** The first host with each name. */
  readonly hostByName: ReadonlyMap<string, Host>;
}

export function checkReferences(inv: Inventory): ReferenceIssue[] {
  const issues: ReferenceIssue[] = [];
  const datastores = indexByName(inv.datastores, "datastores", "datastore", issues);
  checkDatastoreIdentities(inv, issues);
  const clusters = indexByName(inv.clusters, "clusters", "cluster", issues);
  const pools = indexByName(inv.resourcePools, "resourcePools", "resource pool", issues);
  const hostIndex = indexByName(inv.hosts, "hosts", "host", issues);
  const templates = indexByName(inv.templates, "templates", "template", issues);
  const vmIndex = indexByName(inv.vms, "vms", "VM", issues);
  indexByName(inv.drsRules, "drsRules", "DRS rule", issues);

  const hostByName = new Map<string, Host>();
  for (const [name, i] of hostIndex) {
    const host = inv.hosts[i];
    if (host !== undefined) hostByName.set(name, host);
  }
  const refs: References = { inv, issues, datastores, clusters, pools, templates, hostByName };

  checkPools(inv, clusters, hostByName, pools, issues);
  const facts = checkHosts(refs);
  const machines = new MachineReferences(refs, facts);
  inv.templates.forEach((template, t) => {
    machines.check(template, "template", `templates[${t}]`, template.host);
  });
  inv.vms.forEach((vm, v) => {
    const at = `vms[${v}]`;
    machines.check(vm, "VM", at, vm.host);
    if (vm.template !== undefined && !templates.has(vm.template)) {
      issues.push({ path: `${at}.template`, message: `VM ${vm.name} was deployed from template "${vm.template}", which does not exist` });
    }
    checkVmPool(refs, vm, at);
  });
  issues.push(...checkDrsRuleReferences(inv.drsRules, { vmExists: (n) => vmIndex.has(n), hostExists: (n) => hostIndex.has(n) }));
  return issues;
}

/** Hosts: cluster, mounts, physical NICs, vSwitches, port groups, VMkernel ports. Returns the facts of each name's first host. */
function checkHosts(refs: References): Map<string, HostFacts> {
  const { inv, issues } = refs;
  const localMounts = new Map<string, string>();
  const facts = new Map<string, HostFacts>();
  inv.hosts.forEach((host, h) => {
    const at = `hosts[${h}]`;
    if (host.cluster !== undefined && !refs.clusters.has(host.cluster)) {
      issues.push({ path: `${at}.cluster`, message: `host ${host.name} is in cluster "${host.cluster}", which does not exist` });
    }
    const mounted = checkMounts(refs, host, at, localMounts);
    const portGroups = checkVswitches(host, at, issues);
    if (refs.hostByName.get(host.name) === host) facts.set(host.name, { host, index: h, datastores: mounted, portGroups });
  });
  return facts;
}

/** A host's mounts: each once, each an existing datastore, a local one by one host only. Returns the names mounted. */
function checkMounts(refs: References, host: Host, at: string, localMounts: Map<string, string>): Set<string> {
  const { inv, issues } = refs;
  const mounted = new Set<string>();
  host.datastores.forEach((ds, d) => {
    const path = `${at}.datastores[${d}]`;
    if (mounted.has(ds)) {
      issues.push({ path, message: `host ${host.name} mounts datastore "${ds}" twice` });
      return;
    }
    mounted.add(ds);
    const dsIndex = refs.datastores.get(ds);
    const datastore = dsIndex === undefined ? undefined : inv.datastores[dsIndex];
    if (datastore === undefined) {
      issues.push({ path, message: `host ${host.name} mounts datastore "${ds}", which does not exist` });
      return;
    }
    // A datastore with an identity is shared by whoever reports it (facts.ts derives `shared`).
    if (!datastore.shared && datastore.uuid === undefined) {
      const owner = localMounts.get(ds);
      if (owner === undefined) localMounts.set(ds, host.name);
      else if (owner !== host.name) {
        issues.push({ path, message: `local datastore "${ds}" is mounted by ${owner} and ${host.name}; a local datastore (shared: false) belongs to one host` });
      }
    }
  });
  return mounted;
}

/** A host's NICs and vSwitches: uplinks, port groups and VMkernel ports. Returns the host's port group names. */
function checkVswitches(host: Host, at: string, issues: ReferenceIssue[]): Set<string> {
  const nicNames = new Set(indexByName(host.nics, `${at}.nics`, "physical NIC", issues, `host ${host.name}: `).keys());
  indexByName(host.vswitches, `${at}.vswitches`, "vSwitch", issues, `host ${host.name}: `);
  const uplinkOwner = new Map<string, string>();
  const portGroupOwner = new Map<string, string>();
  const vmkOwner = new Map<string, string>();
  host.vswitches.forEach((vs, s) => {
    const vsAt = `${at}.vswitches[${s}]`;
    vs.uplinks.forEach((nic, u) => {
      const path = `${vsAt}.uplinks[${u}]`;
      if (!nicNames.has(nic)) {
        issues.push({ path, message: `host ${host.name}: vSwitch "${vs.name}" has uplink "${nic}", which is not one of the host's NICs` });
        return;
      }
      const owner = uplinkOwner.get(nic);
      if (owner === undefined) uplinkOwner.set(nic, vs.name);
      else if (owner === vs.name) issues.push({ path, message: `host ${host.name}: vSwitch "${vs.name}" lists uplink "${nic}" twice` });
      else issues.push({ path, message: `host ${host.name}: NIC "${nic}" is an uplink of both vSwitch "${owner}" and vSwitch "${vs.name}"` });
    });
    const own = new Set<string>();
    vs.portGroups.forEach((pg, p) => {
      own.add(pg.name);
      const owner = portGroupOwner.get(pg.name);
      if (owner === undefined) portGroupOwner.set(pg.name, vs.name);
      else issues.push({ path: `${vsAt}.portGroups[${p}].name`, message: `host ${host.name}: port group "${pg.name}" is defined twice (on vSwitch "${owner}" and vSwitch "${vs.name}")` });
    });
    vs.vmkernelPorts.forEach((vmk, k) => {
      const owner = vmkOwner.get(vmk.name);
      if (owner === undefined) vmkOwner.set(vmk.name, vs.name);
      else issues.push({ path: `${vsAt}.vmkernelPorts[${k}].name`, message: `host ${host.name}: VMkernel port "${vmk.name}" is defined twice (on vSwitch "${owner}" and vSwitch "${vs.name}")` });
      if (!own.has(vmk.portGroup)) {
        const elsewhere = host.vswitches.find((other) => other !== vs && other.portGroups.some((pg) => pg.name === vmk.portGroup));
        const hint = elsewhere === undefined ? caseHint(vmk.portGroup, own) : ` (vSwitch "${elsewhere.name}" has it; a VMkernel port uses a port group of its own vSwitch)`;
        issues.push({ path: `${vsAt}.vmkernelPorts[${k}].portGroup`, message: `host ${host.name}: VMkernel port "${vmk.name}" is on port group "${vmk.portGroup}", which vSwitch "${vs.name}" does not have${hint}` });
      }
    });
  });
  return new Set(portGroupOwner.keys());
}

// A host whose facts its agent observed (datastoreProblems is set only then) may really have
// lost a datastore or a port group its VMs use (an NFS mount gone, a bridge removed by hand):
// that is the host's state, which the controller must be able to record and the checker
// reports, not a broken reference to refuse.
const observed = (host: HostFacts): boolean => host.host.datastoreProblems !== undefined;

/** VMs' and templates' references: their host, the datastores of their files, disks and device images, their NICs' port groups and MACs. */
class MachineReferences {
  readonly #refs: References;
  readonly #facts: ReadonlyMap<string, HostFacts>;
  /** VMs and templates share the MAC namespace: a MAC belongs to one virtual NIC in the datacenter. */
  readonly #macOwner = new Map<string, string>();

  constructor(refs: References, facts: ReadonlyMap<string, HostFacts>) {
    this.#refs = refs;
    this.#facts = facts;
  }

  check(machine: Vm | Template, kind: Kind, at: string, hostName: string | undefined): void {
    const who = `${kind} ${machine.name}`;
    let host: HostFacts | undefined;
    if (hostName !== undefined) {
      host = this.#facts.get(hostName);
      if (host === undefined) this.#refs.issues.push({ path: `${at}.host`, message: `${who} is on host "${hostName}", which does not exist` });
    }
    this.#storage(machine, who, at, host);
    this.#nics(machine, who, at, host);
  }

  #storage(machine: Vm | Template, who: string, at: string, host: HostFacts | undefined): void {
    const issues = this.#refs.issues;
    const storage = (path: string, what: string, ds: string, mounted = true): void => {
      if (!this.#refs.datastores.has(ds)) {
        issues.push({ path, message: `${who}: ${what} is on datastore "${ds}", which does not exist` });
      } else if (mounted && host !== undefined && !observed(host) && !host.datastores.has(ds)) {
        issues.push({ path, message: `${who}: ${what} is on datastore "${ds}", which ${host.host.name} does not mount` });
      }
    };
    storage(`${at}.files.config.datastore`, "its configuration file", machine.files.config.datastore);
    if (machine.files.log !== undefined) storage(`${at}.files.log.datastore`, "its log file", machine.files.log.datastore);
    if (machine.files.nvram !== undefined) storage(`${at}.files.nvram.datastore`, "its NVRAM file", machine.files.nvram.datastore);

    indexByName(machine.disks, `${at}.disks`, "disk", issues, `${who}: `);
    machine.disks.forEach((disk, d) => {
      storage(`${at}.disks[${d}].datastore`, `disk "${disk.name}"`, disk.datastore);
    });
    indexByName(machine.devices, `${at}.devices`, "device", issues, `${who}: `);
    machine.devices.forEach((device, d) => {
      // A disconnected device's image need not be reachable: VMotion moves a VM whose CD-ROM
      // holds an ISO on the source's local datastore as long as it is disconnected, and the
      // inventory must be able to record where the VM then runs. Connecting it needs the mount.
      if (device.datastore !== undefined) storage(`${at}.devices[${d}].datastore`, `the image of ${device.kind} "${device.name}"`, device.datastore, device.connected);
    });
  }

  #nics(machine: Vm | Template, who: string, at: string, host: HostFacts | undefined): void {
    const issues = this.#refs.issues;
    indexByName(machine.nics, `${at}.nics`, "NIC", issues, `${who}: `);
    machine.nics.forEach((nic, n) => {
      // A disconnected NIC may name a port group its host lacks, as after VMotion moved it (the
      // checker only warns); connecting it needs the port group.
      if (host !== undefined && !observed(host) && nic.connected && !host.portGroups.has(nic.portGroup)) {
        issues.push({
          path: `${at}.nics[${n}].portGroup`,
          message: `${who}: NIC "${nic.name}" is on port group "${nic.portGroup}", which no vSwitch of ${host.host.name} has${caseHint(nic.portGroup, host.portGroups)}`,
        });
      }
      const mac = nic.mac.toLowerCase();
      const owner = this.#macOwner.get(mac);
      const self = `${who} (NIC "${nic.name}")`;
      if (owner === undefined) this.#macOwner.set(mac, self);
      else issues.push({ path: `${at}.nics[${n}].mac`, message: `${who}: MAC ${nic.mac} of NIC "${nic.name}" is also used by ${owner}` });
    });
  }
}

/** A VM's pool exists and divides the resources of the cluster (or standalone host) the VM runs on. */
function checkVmPool(refs: References, vm: Vm, at: string): void {
  if (vm.pool === undefined) return;
  const p = refs.pools.get(vm.pool);
  const pool = p === undefined ? undefined : refs.inv.resourcePools[p];
  const host = refs.hostByName.get(vm.host);
  if (pool === undefined) {
    refs.issues.push({ path: `${at}.pool`, message: `VM ${vm.name} is in resource pool "${vm.pool}", which does not exist` });
    return;
  }
  if (host === undefined) return;
  // A pool divides one cluster's (or one standalone host's) resources: its VMs run there.
  const mismatch =
    pool.cluster !== undefined
      ? host.cluster !== pool.cluster
        ? `cluster ${pool.cluster}, but ${host.name} is ${host.cluster === undefined ? "a standalone host" : `in cluster ${host.cluster}`}`
        : undefined
      : pool.host !== undefined && pool.host !== host.name
        ? `host ${pool.host}, but the VM is on ${host.name}`
        : undefined;
  if (mismatch !== undefined) refs.issues.push({ path: `${at}.pool`, message: `VM ${vm.name} is in resource pool "${vm.pool}" of ${mismatch}` });
}

/** One uuid, one record: two records with the same identity are one datastore under two names, which the checker would take for two. */
function checkDatastoreIdentities(inv: Inventory, issues: ReferenceIssue[]): void {
  const owner = new Map<string, string>();
  inv.datastores.forEach((datastore, i) => {
    if (datastore.uuid === undefined) return;
    const first = owner.get(datastore.uuid);
    if (first === undefined) owner.set(datastore.uuid, datastore.name);
    else issues.push({ path: `datastores[${i}].uuid`, message: `datastores "${first}" and "${datastore.name}" have the same uuid ${datastore.uuid}: they are one datastore, so give it one record` });
  });
}

function checkPools(
  inv: Inventory,
  clusters: ReadonlyMap<string, number>,
  hosts: ReadonlyMap<string, Host>,
  pools: ReadonlyMap<string, number>,
  issues: ReferenceIssue[],
): void {
  const poolByName = (name: string): ResourcePool | undefined => {
    const i = pools.get(name);
    return i === undefined ? undefined : inv.resourcePools[i];
  };
  const owner = (p: ResourcePool): string => (p.cluster !== undefined ? `cluster ${p.cluster}` : `host ${p.host ?? "?"}`);

  inv.resourcePools.forEach((pool, i) => {
    const at = `resourcePools[${i}]`;
    if (pool.cluster !== undefined && !clusters.has(pool.cluster)) {
      issues.push({ path: `${at}.cluster`, message: `resource pool "${pool.name}" belongs to cluster "${pool.cluster}", which does not exist` });
    }
    if (pool.host !== undefined) {
      const host = hosts.get(pool.host);
      if (host === undefined) {
        issues.push({ path: `${at}.host`, message: `resource pool "${pool.name}" belongs to host "${pool.host}", which does not exist` });
      } else if (host.cluster !== undefined) {
        // vSphere: a clustered host's resources are divided by its cluster's pools only.
        issues.push({ path: `${at}.host`, message: `resource pool "${pool.name}" belongs to host ${pool.host}, which is in cluster ${host.cluster}; give the pool \`cluster: ${host.cluster}\` instead` });
      }
    }
    if (pool.parent === undefined) return;
    const parent = poolByName(pool.parent);
    if (parent === undefined) {
      issues.push({ path: `${at}.parent`, message: `resource pool "${pool.name}" has parent "${pool.parent}", which does not exist` });
      return;
    }
    if (parent.cluster !== pool.cluster || parent.host !== pool.host) {
      issues.push({ path: `${at}.parent`, message: `resource pool "${pool.name}" belongs to ${owner(pool)}, but its parent "${parent.name}" belongs to ${owner(parent)}` });
    }
    // A parent chain that comes back to this pool: report it once, at the pool with the lowest index.
    const chain = [pool.name];
    for (let p: ResourcePool | undefined = parent; p !== undefined; p = p.parent === undefined ? undefined : poolByName(p.parent)) {
      if (p.name === pool.name) {
        const members = chain.map((n) => pools.get(n) ?? 0);
        if (Math.min(...members) === i) {
          issues.push({ path: `${at}.parent`, message: `resource pool "${pool.name}" is its own ancestor (${[...chain, pool.name].join(" → ")})` });
        }
        break;
      }
      if (chain.includes(p.name)) break;
      chain.push(p.name);
    }
  });
}
