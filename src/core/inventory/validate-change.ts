// Validation of an edit by what it changed: the objects it added or copied are parsed with
// their section's schema, and the references are checked for them and for the objects that
// refer to what changed or went (a removed host's VMs, a changed datastore's hosts). The
// snapshot before was valid, so any new problem involves one of those: the verdict is the
// one checkReferences(whole inventory) would give, at a cost that follows the edit, not the
// inventory's size.
import type { z } from "zod";
import { diffSection, indexChanges, SECTION_NAMES, snapshotItem, type SectionDiff } from "./draft.ts";
import type { IndexChanges, InventoryIndex, SectionName } from "./index.ts";
import { checkDrsRuleReferences } from "./references-drs.ts";
import { checkReferences, type ReferenceIssue } from "./references.ts";
import { ClusterSchema, DatastoreSchema, DrsRuleSchema, HostSchema, InventorySchema, ResourcePoolSchema, TemplateSchema, VmSchema, type Host, type Inventory, type Template, type Vm } from "./schema.ts";

/** Who holds a MAC in the datacenter (VMs and templates share the namespace). */
export interface MacOwner {
  /** `VM\0name` or `template\0name`. */
  readonly key: string;
  /** As references.ts words it: `VM web01 (NIC "nic0")`. */
  readonly label: string;
}

export type ChangeVerdict =
  | { readonly ok: true; readonly inventory: Inventory; readonly changes: IndexChanges; readonly rootChanged: boolean }
  | { readonly ok: false; readonly schemaIssues: readonly z.core.$ZodIssue[]; readonly referenceIssues: readonly ReferenceIssue[] };

const SECTION_SCHEMAS = {
  datastores: DatastoreSchema,
  clusters: ClusterSchema,
  resourcePools: ResourcePoolSchema,
  hosts: HostSchema,
  templates: TemplateSchema,
  vms: VmSchema,
  drsRules: DrsRuleSchema,
} as const;

const ROOT_KEYS = new Set<string>(Object.keys(InventorySchema.shape));

const schemaFailure = (issues: readonly z.core.$ZodIssue[]): ChangeVerdict => ({ ok: false, schemaIssues: issues, referenceIssues: [] });

/**
 * The root's own fields and the sections' shape, as the whole-inventory schema says them. An
 * item that is not a named object is not the snapshot's (those are frozen and valid): the diff
 * finds it changed and its section's schema words the problem.
 */
function rootIssues(base: Inventory, draft: Record<string, unknown>): z.core.$ZodIssue[] | undefined {
  const sectionsOk = SECTION_NAMES.every((s) => Array.isArray(draft[s]));
  const rootSame = Object.keys(draft).every((k) => ROOT_KEYS.has(k)) && draft["version"] === base.version && draft["datacenter"] === base.datacenter;
  if (sectionsOk && rootSame) return undefined;
  // Something outside the sections' objects changed: the schema's own words for it.
  const probe: Record<string, unknown> = { ...draft };
  for (const s of SECTION_NAMES) if (sectionsOk) probe[s] = [];
  const parsed = InventorySchema.safeParse(probe);
  return parsed.success ? undefined : parsed.error.issues;
}

/**
 * Validates `draft` (an edited openDraft(base.inventory)) against the valid snapshot `base`.
 * On success the changed objects are replaced in `draft` by their parsed form (defaults
 * applied) and `inventory` is the draft itself.
 */
export function validateChange(base: InventoryIndex, macs: ReadonlyMap<string, MacOwner>, draft: Inventory): ChangeVerdict {
  const root = rootIssues(base.inventory, draft);
  if (root !== undefined && root.length > 0) return schemaFailure(root);
  const diffs = {} as Record<SectionName, SectionDiff>;
  for (const section of SECTION_NAMES) {
    const diff = diffSection(base, section, draft[section]);
    const items = draft[section] as { name: string }[];
    const schema: z.ZodType<{ name: string }> = SECTION_SCHEMAS[section];
    const changed: number[] = [];
    for (const i of diff.changed) {
      const parsed = schema.safeParse(items[i]);
      if (!parsed.success) return schemaFailure(parsed.error.issues.map((issue) => ({ ...issue, path: [section, i, ...issue.path] })));
      // A copy the edit took but left as it was is the snapshot's object again: nothing to check or write.
      const before = snapshotItem(base, section, parsed.data.name);
      if (before !== undefined && !diff.duplicates.includes(i) && JSON.stringify(before) === JSON.stringify(parsed.data)) items[i] = before as { name: string };
      else {
        items[i] = parsed.data;
        changed.push(i);
      }
    }
    diffs[section] = { ...diff, changed };
  }
  const changes = indexChanges(draft, diffs);
  const issues = [...duplicateIssues(draft, diffs), ...changedReferenceIssues(base, macs, draft, changes)];
  if (issues.length > 0) return { ok: false, schemaIssues: [], referenceIssues: issues };
  return { ok: true, inventory: draft, changes, rootChanged: draft.datacenter !== base.inventory.datacenter };
}

const NOUNS: Record<SectionName, string> = { datastores: "datastore", clusters: "cluster", resourcePools: "resource pool", hosts: "host", templates: "template", vms: "VM", drsRules: "DRS rule" };

/** Two objects of a section with one name, as references.ts says it. */
function duplicateIssues(draft: Inventory, diffs: Readonly<Record<SectionName, SectionDiff>>): ReferenceIssue[] {
  const issues: ReferenceIssue[] = [];
  for (const section of SECTION_NAMES) {
    for (const i of diffs[section].duplicates) {
      const items: readonly { readonly name: string }[] = draft[section];
      const name = items[i]?.name ?? "";
      const first = items.findIndex((item) => item.name === name);
      const [at, other] = first < i ? [i, first] : [items.findLastIndex((item) => item.name === name), first];
      issues.push({ path: `${section}[${at}].name`, message: `${NOUNS[section]} "${name}" is defined twice (also at ${section}[${other}])` });
    }
  }
  return issues;
}

/** The objects whose references may have changed, by section: the changed ones and those that refer to what changed or went. */
interface Recheck {
  readonly hosts: Set<string>;
  readonly vms: Set<string>;
}

function namesOf(changes: IndexChanges, section: SectionName): Set<string> {
  return new Set([...changes.changed[section].map((item) => item.name), ...changes.removed[section]]);
}

function storageOf(machine: Vm | Template): string[] {
  return [machine.files.config.datastore, machine.files.log?.datastore, machine.files.nvram?.datastore, ...machine.disks.map((d) => d.datastore), ...machine.devices.map((d) => d.datastore)].filter((d): d is string => d !== undefined);
}

function recheckOf(base: InventoryIndex, draft: Inventory, changes: IndexChanges): Recheck {
  const hosts = new Set(changes.changed.hosts.map((h) => h.name));
  const vms = new Set(changes.changed.vms.map((v) => v.name));
  const hostsTouched = namesOf(changes, "hosts");
  for (const host of hostsTouched) for (const vm of base.vmsByHost.get(host) ?? []) vms.add(vm.name);
  for (const pool of namesOf(changes, "resourcePools")) for (const vm of base.vmsByPool.get(pool) ?? []) vms.add(vm.name);
  const templates = namesOf(changes, "templates");
  const datastores = namesOf(changes, "datastores");
  const clusters = new Set(changes.removed.clusters);
  if (templates.size > 0 || datastores.size > 0) {
    for (const vm of draft.vms) if ((vm.template !== undefined && templates.has(vm.template)) || storageOf(vm).some((d) => datastores.has(d))) vms.add(vm.name);
  }
  if (datastores.size > 0 || clusters.size > 0) {
    for (const host of draft.hosts) if (host.datastores.some((d) => datastores.has(d)) || (host.cluster !== undefined && clusters.has(host.cluster))) hosts.add(host.name);
  }
  return { hosts, vms };
}

/**
 * The whole inventory's reference check, run on the part of it that can hold a new problem:
 * every datastore, cluster, pool and template (few, and looked up by everything), the hosts
 * and VMs to recheck, and the hosts those need. What needs the whole datacenter (names and
 * MACs unique, a local datastore on one host) is checked against the snapshot's look-ups.
 */
function changedReferenceIssues(base: InventoryIndex, macs: ReadonlyMap<string, MacOwner>, draft: Inventory, changes: IndexChanges): ReferenceIssue[] {
  const recheck = recheckOf(base, draft, changes);
  const changedHosts = new Map(changes.changed.hosts.map((h) => [h.name, h]));
  const changedVms = new Map(changes.changed.vms.map((v) => [v.name, v]));
  const removedHosts = new Set(changes.removed.hosts);
  const removedVms = new Set(changes.removed.vms);
  const hostNow = (name: string): Host | undefined => changedHosts.get(name) ?? (removedHosts.has(name) ? undefined : base.hosts.get(name)?.host);
  const vmNow = (name: string): Vm | undefined => changedVms.get(name) ?? (removedVms.has(name) ? undefined : base.vms.get(name));

  const vms = [...recheck.vms].map(vmNow).filter((vm): vm is Vm => vm !== undefined);
  const hostNames = new Set(recheck.hosts);
  for (const vm of vms) hostNames.add(vm.host);
  for (const t of draft.templates) if (t.host !== undefined) hostNames.add(t.host);
  for (const p of draft.resourcePools) if (p.host !== undefined) hostNames.add(p.host);
  // Only a host's mounts or a datastore's sharing can break "a local datastore belongs to one host".
  if (changes.changed.hosts.length + changes.removed.hosts.length + changes.changed.datastores.length + changes.removed.datastores.length > 0) addLocalMountSharers(draft, hostNames, hostNow);
  const hosts = [...hostNames].map(hostNow).filter((h): h is Host => h !== undefined);
  // DRS rules name VMs and hosts across the datacenter: checked against the whole, when a rule changed or something went.
  const part: Inventory = { ...draft, hosts, vms, drsRules: [] };
  const issues = checkReferences(part).map((issue) => ({ ...issue, path: wholePath(issue.path, part, draft) }));
  const rules = changes.changed.drsRules.length + changes.removed.vms.length + changes.removed.hosts.length > 0 ? checkDrsRuleReferences(draft.drsRules, { vmExists: (n) => vmNow(n) !== undefined, hostExists: (n) => hostNow(n) !== undefined }) : [];
  return [...issues, ...rules, ...macIssues(macs, part, changes, draft)];
}

/** Hosts that mount a local datastore some host of `names` mounts: "a local datastore belongs to one host" needs them all. */
function addLocalMountSharers(draft: Inventory, names: Set<string>, hostNow: (name: string) => Host | undefined): void {
  const local = new Set<string>();
  const datastores = new Map(draft.datastores.map((d) => [d.name, d]));
  for (const name of names) {
    for (const ds of hostNow(name)?.datastores ?? []) {
      const d = datastores.get(ds);
      if (d !== undefined && !d.shared && d.uuid === undefined) local.add(ds);
    }
  }
  if (local.size === 0) return;
  for (const host of draft.hosts) if (host.datastores.some((d) => local.has(d))) names.add(host.name);
}

/** `vms[2].host` of the part, as a path into the whole draft. */
function wholePath(path: string, part: Inventory, draft: Inventory): string {
  const match = /^(hosts|vms)\[(\d+)\]/.exec(path);
  if (match === null) return path;
  const section = match[1] as "hosts" | "vms";
  const item: unknown = part[section][Number(match[2])];
  const at = (draft[section] as unknown[]).indexOf(item);
  return `${section}[${at}]${path.slice(match[0].length)}`;
}

/** MACs the part's machines use that a machine outside the part (unchanged, so still there) holds. */
function macIssues(macs: ReadonlyMap<string, MacOwner>, part: Inventory, changes: IndexChanges, draft: Inventory): ReferenceIssue[] {
  const inPart = new Set([...part.vms.map((v) => `VM\0${v.name}`), ...part.templates.map((t) => `template\0${t.name}`)]);
  const gone = new Set([...changes.removed.vms.map((n) => `VM\0${n}`), ...changes.removed.templates.map((n) => `template\0${n}`)]);
  const issues: ReferenceIssue[] = [];
  const check = (machine: Vm | Template, kind: "VM" | "template", section: "vms" | "templates"): void => {
    machine.nics.forEach((nic, n) => {
      const owner = macs.get(nic.mac.toLowerCase());
      if (owner === undefined || inPart.has(owner.key) || gone.has(owner.key)) return;
      const at = (draft[section] as unknown[]).indexOf(machine);
      issues.push({ path: `${section}[${at}].nics[${n}].mac`, message: `${kind} ${machine.name}: MAC ${nic.mac} of NIC "${nic.name}" is also used by ${owner.label}` });
    });
  };
  for (const template of part.templates) check(template, "template", "templates");
  for (const vm of part.vms) check(vm, "VM", "vms");
  return issues;
}

/** Every MAC of the inventory and who holds it. */
export function macOwners(inventory: Inventory): Map<string, MacOwner> {
  const out = new Map<string, MacOwner>();
  const add = (machine: Vm | Template, kind: "VM" | "template"): void => {
    for (const nic of machine.nics) {
      const mac = nic.mac.toLowerCase();
      if (!out.has(mac)) out.set(mac, { key: `${kind}\0${machine.name}`, label: `${kind} ${machine.name} (NIC "${nic.name}")` });
    }
  };
  for (const t of inventory.templates) add(t, "template");
  for (const vm of inventory.vms) add(vm, "VM");
  return out;
}

/** Brings `macs` (the snapshot before's) up to the inventory after `changes`. */
export function updateMacOwners(macs: Map<string, MacOwner>, before: InventoryIndex, changes: IndexChanges): void {
  const drop = (machine: Vm | Template | undefined, kind: "VM" | "template"): void => {
    if (machine === undefined) return;
    for (const nic of machine.nics) {
      const mac = nic.mac.toLowerCase();
      if (macs.get(mac)?.key === `${kind}\0${machine.name}`) macs.delete(mac);
    }
  };
  for (const name of [...changes.removed.vms, ...changes.changed.vms.map((v) => v.name)]) drop(before.vms.get(name), "VM");
  for (const name of [...changes.removed.templates, ...changes.changed.templates.map((t) => t.name)]) drop(before.templates.get(name), "template");
  const add = (machine: Vm | Template, kind: "VM" | "template"): void => {
    for (const nic of machine.nics) {
      const mac = nic.mac.toLowerCase();
      if (!macs.has(mac)) macs.set(mac, { key: `${kind}\0${machine.name}`, label: `${kind} ${machine.name} (NIC "${nic.name}")` });
    }
  };
  for (const t of changes.changed.templates) add(t, "template");
  for (const vm of changes.changed.vms) add(vm, "VM");
}
