// The resource pool the migrate wizard preselects, and why, in words the wizard shows. The
// seed: "most of the time the same resource pool will suffice" — so the VM's own pool when the
// destination can take it (it belongs to the destination's cluster, or to the destination host);
// otherwise the destination cluster's root pool, never merely the first pool of a list (which
// put legacy01 into Prod-Gold, a child pool with a fixed reservation). Pure: no React, no I/O.

/** The part of a resource pool this choice reads (the inventory's ResourcePool has it). */
export interface PoolRecord {
  readonly name: string;
  readonly cluster?: string | undefined;
  readonly host?: string | undefined;
  readonly parent?: string | undefined;
}

export interface PoolChoice {
  /** The pool to preselect; null when the destination has none (the VM joins the host's own resources). */
  readonly pool: string | null;
  /** The destination's pools, roots first, then by name. */
  readonly pools: readonly string[];
  /** The root pools among them (no parent among the destination's pools). */
  readonly roots: readonly string[];
  /** Why `pool` is preselected, one sentence. */
  readonly reason: string;
}

export function poolChoice(vm: { readonly name: string; readonly pool?: string | undefined }, host: { readonly name: string; readonly cluster?: string | undefined }, all: readonly PoolRecord[]): PoolChoice {
  const owner = host.cluster === undefined ? `host ${host.name}` : `cluster ${host.cluster}`;
  const mine = all.filter((p) => (host.cluster !== undefined && p.cluster === host.cluster) || p.host === host.name);
  const names = new Set(mine.map((p) => p.name));
  const isRoot = (p: PoolRecord): boolean => p.parent === undefined || !names.has(p.parent);
  const roots = mine.filter(isRoot).map((p) => p.name).sort();
  const pools = [...roots, ...mine.filter((p) => !isRoot(p)).map((p) => p.name).sort()];
  if (pools.length === 0) return { pool: null, pools, roots, reason: `${host.name} has no resource pools: ${vm.name} joins the host's own resources.` };
  const own = vm.pool;
  if (own !== undefined && names.has(own)) {
    return { pool: own, pools, roots, reason: `${own} is preselected: it is ${vm.name}'s pool now, and it belongs to ${owner}, so the same pool will do.` };
  }
  const root = roots[0] ?? pools[0] ?? null;
  const why = own === undefined ? `${vm.name} is in no resource pool now` : `${vm.name}'s pool now, ${own}, does not belong to ${owner}`;
  return { pool: root, pools, roots, reason: `${root ?? ""} is preselected: it is the root pool of ${owner}, and ${why}.` };
}
