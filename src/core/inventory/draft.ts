// Drafts that copy on write. A snapshot's inventory is deep-frozen: readers hold it while
// edits run. An edit gets a draft whose sections are fresh arrays of the snapshot's own
// (frozen) objects; the edit helpers (findVm, findHost, own, ...) swap an object for a
// private copy the first time they hand it out for writing, so an edit of one VM copies
// one VM. What changed is then found by identity: an object that is not the snapshot's own.
import type { IndexChanges, InventoryIndex, SectionItem, SectionName } from "./index.ts";
import type { Inventory } from "./schema.ts";

export const SECTION_NAMES = ["datastores", "clusters", "resourcePools", "hosts", "templates", "vms", "drsRules"] as const satisfies readonly SectionName[];

/** Freezes `value` and everything it holds (a frozen object's insides are taken as frozen too). */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const inner of Object.values(value)) deepFreeze(inner);
  return value;
}

/** Each snapshot section's positions by name, built on first use and kept while names stay in place. */
const positionsOf = new WeakMap<readonly unknown[], ReadonlyMap<string, number>>();
/** The snapshot section a draft's section was copied from. */
const originOf = new WeakMap<readonly unknown[], readonly { readonly name: string }[]>();

function positions(section: readonly { readonly name: string }[]): ReadonlyMap<string, number> {
  let map = positionsOf.get(section);
  if (map === undefined) {
    map = new Map(section.map((item, i) => [item.name, i]));
    positionsOf.set(section, map);
  }
  return map;
}

/** A copy of a snapshot's section that remembers where it came from (findIn looks names up there). */
function draftSection<T extends { readonly name: string }>(section: readonly T[]): T[] {
  const copy = [...section];
  originOf.set(copy, section);
  return copy;
}

/** A draft of `inventory`: its sections are new arrays of the same (frozen) objects. */
export function openDraft(inventory: Inventory): Inventory {
  return {
    ...inventory,
    datastores: draftSection(inventory.datastores),
    clusters: draftSection(inventory.clusters),
    resourcePools: draftSection(inventory.resourcePools),
    hosts: draftSection(inventory.hosts),
    templates: draftSection(inventory.templates),
    vms: draftSection(inventory.vms),
    drsRules: draftSection(inventory.drsRules),
  };
}

/**
 * The position of the item named `name` in `items`, or -1: looked up in the snapshot the
 * draft came from when the item is still at its place there, else found by a scan.
 */
export function positionIn(items: readonly { readonly name: string }[], name: string): number {
  const origin = originOf.get(items);
  if (origin !== undefined) {
    const i = positions(origin).get(name);
    if (i !== undefined && items[i]?.name === name) return i;
  }
  return items.findIndex((item) => item.name === name);
}

/** `after`'s sections hold the same names at the same places as `before`'s: their positions carry over. */
export function carryPositions(before: Inventory, after: Inventory, changes: IndexChanges): void {
  for (const section of SECTION_NAMES) {
    const known = positionsOf.get(before[section]);
    if (known === undefined || before[section].length !== after[section].length || changes.removed[section].length > 0) continue;
    if (changes.changed[section].every((item) => known.get(item.name) !== undefined && after[section][known.get(item.name) ?? -1] === item)) positionsOf.set(after[section], known);
  }
}

/**
 * The draft's own, writable copy of `items[i]`: a snapshot's (frozen) object is replaced by a
 * deep copy the first time; an object the draft already owns is returned as it is.
 */
export function own<T extends object>(items: T[], i: number): T {
  const item = items[i];
  if (item === undefined) throw new RangeError(`no item at ${i}`);
  if (!Object.isFrozen(item)) return item;
  const copy = structuredClone(item);
  items[i] = copy;
  return copy;
}

/** One section's difference from its snapshot: positions (in the draft) of new or copied objects, and names gone. */
export interface SectionDiff {
  readonly changed: readonly number[];
  readonly removed: readonly string[];
  /** Names a changed object takes that another object of the section still has. */
  readonly duplicates: readonly number[];
}

/** The part of a map the diff reads. */
type Lookup = Pick<ReadonlyMap<string, unknown>, "get" | "has" | "keys">;

/** The snapshot's object of `section` named `name`. */
export function snapshotItem(index: InventoryIndex, section: SectionName, name: string): unknown {
  return lookupOf(index, section).get(name);
}

function lookupOf(index: InventoryIndex, section: SectionName): Lookup {
  switch (section) {
    case "datastores":
      return index.datastores;
    case "clusters":
      return index.clusters;
    case "resourcePools":
      return index.pools;
    case "templates":
      return index.templates;
    case "vms":
      return index.vms;
    case "drsRules":
      return index.drsRules;
    case "hosts":
      return { get: (name: string) => index.hosts.get(name)?.host, has: (name: string) => index.hosts.has(name), keys: () => index.hosts.keys() };
  }
}

/** The name of a draft's item, "" for one that has none (its schema refuses it). */
function nameAt(items: readonly unknown[], i: number): string {
  const item = items[i];
  const name = typeof item === "object" && item !== null ? (item as { name?: unknown }).name : undefined;
  return typeof name === "string" ? name : "";
}

/**
 * Same length and the same objects but at a few positions (an edit in place): no look-up by
 * name needed. undefined when a snapshot object sits at another place (the order changed).
 */
function diffInPlace(lookup: Lookup, before: readonly { readonly name: string }[], after: readonly { readonly name: string }[]): SectionDiff | undefined {
  const changed: number[] = [];
  const replaced = new Set<string>();
  for (let i = 0; i < after.length; i++) {
    const item = before[i];
    const now = after[i];
    if (now !== item && item !== undefined) {
      if (Object.isFrozen(now)) return undefined;
      changed.push(i);
      replaced.add(item.name);
    }
  }
  const taken = new Map<string, number>();
  const duplicates: number[] = [];
  for (const i of changed) {
    const name = nameAt(after, i);
    // Every other object is the snapshot's own, at its place, with its (unique) name.
    const stays = lookup.has(name) && !replaced.has(name);
    if (stays || taken.has(name)) duplicates.push(i);
    taken.set(name, i);
  }
  const names = new Set(changed.map((i) => nameAt(after, i)));
  return { changed, removed: [...replaced].filter((name) => !names.has(name)), duplicates };
}

function diffByName(lookup: Lookup, after: readonly { readonly name: string }[]): SectionDiff {
  const changed: number[] = [];
  const kept = new Set<string>();
  after.forEach((item: unknown, i) => {
    // Anything but a snapshot object is changed (a non-object too: its schema says so).
    const name = typeof item === "object" && item !== null ? (item as { name?: unknown }).name : undefined;
    if (typeof name === "string" && lookup.get(name) === item) kept.add(name);
    else changed.push(i);
  });
  const taken = new Set<string>();
  const duplicates: number[] = [];
  for (const i of changed) {
    const name = nameAt(after, i);
    if (kept.has(name) || taken.has(name)) duplicates.push(i);
    taken.add(name);
  }
  const removed = [...lookup.keys()].filter((name) => !kept.has(name) && !taken.has(name));
  return { changed, removed, duplicates };
}

/** What `after` (a draft of `base`, sections already checked to be arrays of objects with names) changed, by identity. */
export function diffSection(base: InventoryIndex, section: SectionName, after: readonly { readonly name: string }[]): SectionDiff {
  const before = base.inventory[section];
  if (after === before) return { changed: [], removed: [], duplicates: [] };
  const lookup = lookupOf(base, section);
  return (after.length === before.length ? diffInPlace(lookup, before, after) : undefined) ?? diffByName(lookup, after);
}

/**
 * Freezes an inventory that was a draft: the objects it changed (the rest are the snapshot's,
 * frozen already), its sections and itself. Walking 40,000 frozen VMs to find that out would
 * cost more than the edit.
 */
export function freezeChanged(after: Inventory, changes: IndexChanges): Inventory {
  for (const section of SECTION_NAMES) {
    for (const item of changes.changed[section]) deepFreeze(item);
    Object.freeze(after[section]);
  }
  return Object.freeze(after);
}

/** The changes of `after` against `base`, as reindex takes them. */
export function indexChanges(after: Inventory, diffs: { readonly [S in SectionName]: SectionDiff }): IndexChanges {
  const pick = <S extends SectionName>(section: S): SectionItem<S>[] => diffs[section].changed.map((i) => after[section][i] as SectionItem<S>);
  return {
    changed: { datastores: pick("datastores"), clusters: pick("clusters"), resourcePools: pick("resourcePools"), hosts: pick("hosts"), templates: pick("templates"), vms: pick("vms"), drsRules: pick("drsRules") },
    removed: { datastores: diffs.datastores.removed, clusters: diffs.clusters.removed, resourcePools: diffs.resourcePools.removed, hosts: diffs.hosts.removed, templates: diffs.templates.removed, vms: diffs.vms.removed, drsRules: diffs.drsRules.removed },
  };
}
