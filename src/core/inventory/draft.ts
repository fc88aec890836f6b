// Drafts that copy on write. A snapshot's inventory is deep-frozen: readers hold it while
// edits run. An edit gets a draft whose sections are fresh arrays of the snapshot's own
// (frozen) objects; the edit helpers (findVm, findHost, own, ...) swap an object for a
// private copy the first time they hand it out for writing, so an edit of one VM copies
// one VM. What changed is then found by identity: an object that is not the snapshot's own.
import type { IndexChanges, InventoryIndex, SectionItem, SectionName } from "./index.ts";
import type { Inventory } from "./schema.ts";

export const SECTION_NAMES = ["datastores", "clusters", "resourcePools", "hosts", "templates", "vms"] as const satisfies readonly SectionName[];

/** Freezes `value` and everything it holds (a frozen object's insides are taken as frozen too). */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const inner of Object.values(value)) deepFreeze(inner);
  return value;
}

/** A draft of `inventory`: its sections are new arrays of the same (frozen) objects. */
export function openDraft(inventory: Inventory): Inventory {
  return {
    ...inventory,
    datastores: [...inventory.datastores],
    clusters: [...inventory.clusters],
    resourcePools: [...inventory.resourcePools],
    hosts: [...inventory.hosts],
    templates: [...inventory.templates],
    vms: [...inventory.vms],
  };
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
    case "hosts":
      return { get: (name: string) => index.hosts.get(name)?.host, has: (name: string) => index.hosts.has(name), keys: () => index.hosts.keys() };
  }
}

/** Same length and the same objects but at a few positions (an edit in place): no look-up by name needed. */
function diffInPlace(lookup: Lookup, before: readonly { readonly name: string }[], after: readonly { readonly name: string }[]): SectionDiff {
  const changed: number[] = [];
  const replaced = new Set<string>();
  for (let i = 0; i < after.length; i++) {
    const item = before[i];
    if (after[i] !== item && item !== undefined) {
      changed.push(i);
      replaced.add(item.name);
    }
  }
  const taken = new Map<string, number>();
  const duplicates: number[] = [];
  for (const i of changed) {
    const name = after[i]?.name ?? "";
    // Every other object is the snapshot's own, at its place, with its (unique) name.
    const stays = lookup.has(name) && !replaced.has(name);
    if (stays || taken.has(name)) duplicates.push(i);
    taken.set(name, i);
  }
  const names = new Set(changed.map((i) => after[i]?.name));
  return { changed, removed: [...replaced].filter((name) => !names.has(name)), duplicates };
}

function diffByName(lookup: Lookup, after: readonly { readonly name: string }[]): SectionDiff {
  const changed: number[] = [];
  const kept = new Set<string>();
  after.forEach((item, i) => {
    if (lookup.get(item.name) === item) kept.add(item.name);
    else changed.push(i);
  });
  const taken = new Set<string>();
  const duplicates: number[] = [];
  for (const i of changed) {
    const name = after[i]?.name ?? "";
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
  if (after.length === before.length) {
    let moved = 0;
    for (let i = 0; i < after.length && moved === 0; i++) if (after[i] !== before[i] && Object.isFrozen(after[i])) moved++;
    // An object of the snapshot at another place: the order changed, compare by name.
    if (moved === 0) return diffInPlace(lookupOf(base, section), before, after);
  }
  return diffByName(lookupOf(base, section), after);
}

/** The changes of `after` against `base`, as reindex takes them. */
export function indexChanges(after: Inventory, diffs: { readonly [S in SectionName]: SectionDiff }): IndexChanges {
  const pick = <S extends SectionName>(section: S): SectionItem<S>[] => diffs[section].changed.map((i) => after[section][i] as SectionItem<S>);
  return {
    changed: { datastores: pick("datastores"), clusters: pick("clusters"), resourcePools: pick("resourcePools"), hosts: pick("hosts"), templates: pick("templates"), vms: pick("vms") },
    removed: { datastores: diffs.datastores.removed, clusters: diffs.clusters.removed, resourcePools: diffs.resourcePools.removed, hosts: diffs.hosts.removed, templates: diffs.templates.removed, vms: diffs.vms.removed },
  };
}
