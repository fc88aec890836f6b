// A read-only map made of a base map and a small overlay of changes: the inventory index of a
// snapshot after an edit shares its base with the snapshot before (40,000 VMs are not copied
// for one VM's move), and neither changes under the other's readers.

const REMOVED: unique symbol = Symbol("removed");
type Slot<V> = V | typeof REMOVED;

/** Beyond this many overridden keys, the next map is flattened into a fresh base (each edit copies the overlay). */
const FLATTEN_AT = 1024;

/** One Map with the overlay applied: a Map's own copy, then the overlay's keys (same order as iterating). */
function flatten<K, V>(base: ReadonlyMap<K, V>, overlay: ReadonlyMap<K, Slot<V>>): Map<K, V> {
  const out = new Map(base);
  for (const [key, slot] of overlay) {
    if (slot === REMOVED) out.delete(key);
    else out.set(key, slot);
  }
  return out;
}

export class OverlayMap<K, V> implements ReadonlyMap<K, V> {
  readonly #base: ReadonlyMap<K, V>;
  readonly #overlay: ReadonlyMap<K, Slot<V>>;
  readonly size: number;

  private constructor(base: ReadonlyMap<K, V>, overlay: ReadonlyMap<K, Slot<V>>, size: number) {
    this.#base = base;
    this.#overlay = overlay;
    this.size = size;
  }

  /** `map` with `remove` keys gone, then `set` entries put (in place when the key is there, else at the end), as a Map would. */
  static derive<K, V>(map: ReadonlyMap<K, V>, set: Iterable<readonly [K, V]>, remove: Iterable<K>): ReadonlyMap<K, V> {
    const base = map instanceof OverlayMap ? (map.#base as ReadonlyMap<K, V>) : map;
    const overlay = new Map<K, Slot<V>>(map instanceof OverlayMap ? (map.#overlay as ReadonlyMap<K, Slot<V>>) : []);
    const removed = [...remove];
    const entries = [...set];
    const has = (key: K): boolean => {
      const slot = overlay.get(key);
      return slot === REMOVED ? false : slot !== undefined || base.has(key);
    };
    let size = map.size;
    let reordered = false;
    for (const key of removed) {
      if (!has(key)) continue;
      overlay.set(key, REMOVED);
      size--;
    }
    for (const [key, value] of entries) {
      if (!has(key)) {
        size++;
        // Back after a removal: at the end, which the overlay cannot say of a base key.
        if (base.has(key)) reordered = true;
        else overlay.delete(key);
      }
      overlay.set(key, value);
    }
    if (!reordered && overlay.size <= FLATTEN_AT) return new OverlayMap(base, overlay, size);
    const out = map instanceof OverlayMap ? flatten(base, map.#overlay as ReadonlyMap<K, Slot<V>>) : new Map(map);
    for (const key of removed) out.delete(key);
    for (const [key, value] of entries) out.set(key, value);
    return out;
  }

  get(key: K): V | undefined {
    const slot = this.#overlay.get(key);
    if (slot === REMOVED) return undefined;
    return slot ?? this.#base.get(key);
  }

  has(key: K): boolean {
    const slot = this.#overlay.get(key);
    if (slot === REMOVED) return false;
    return slot !== undefined || this.#base.has(key);
  }

  *entries(): MapIterator<[K, V]> {
    for (const [key, value] of this.#base) {
      const slot = this.#overlay.get(key);
      if (slot === REMOVED) continue;
      yield [key, slot ?? value];
    }
    for (const [key, slot] of this.#overlay) if (slot !== REMOVED && !this.#base.has(key)) yield [key, slot];
  }

  *keys(): MapIterator<K> {
    for (const [key] of this.entries()) yield key;
  }

  *values(): MapIterator<V> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  forEach(callback: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this);
  }
}
