// What a VM can get, not only what it asks for: resource pools' limits hold their VMs' combined
// demand, divided among the pool's VMs and child pools by shares, as vSphere DRS balances
// entitlements. A VM whose pool is not constrained is entitled to its demand; no VM's
// entitlement falls below the part of its demand its reservation guarantees.
import type { DrsResources, DrsVm } from "./types.ts";

export type DrsResource = "cpu" | "memory";

/** One resource of a pool: a limit (absent: none) and its shares among its siblings. */
export interface DrsPoolAllocation {
  readonly limit?: number | undefined;
  readonly shares: number;
}

export interface DrsPool {
  readonly name: string;
  /** The parent pool; absent: the cluster's root. */
  readonly parent?: string | undefined;
  /** CPU in MHz. */
  readonly cpu: DrsPoolAllocation;
  /** Memory in MB. */
  readonly memory: DrsPoolAllocation;
}

/** A VM held below its demand by a pool's limit. */
export interface DrsLimited {
  readonly vm: string;
  readonly resource: DrsResource;
  /** The nearest pool (the VM's own or an ancestor) whose limit is reached. */
  readonly pool: string;
  readonly demand: number;
  readonly entitlement: number;
}

type SharesLevel = "low" | "normal" | "high";
/** vSphere's share levels: a pool's, and a VM's per vCPU (CPU) or per MB of configured memory. */
const POOL_SHARES: Readonly<Record<DrsResource, Record<SharesLevel, number>>> = {
  cpu: { low: 2000, normal: 4000, high: 8000 },
  memory: { low: 81_920, normal: 163_840, high: 327_680 },
};
const VM_NORMAL_SHARES: Readonly<Record<DrsResource, (vm: DrsVm) => number>> = {
  cpu: (vm) => 1000 * vm.vcpus,
  memory: (vm) => 10 * vm.memoryMB,
};

/** A pool's shares as the inventory writes them (a level or a number). */
export function poolShares(resource: DrsResource, shares: SharesLevel | number): number {
  return typeof shares === "number" ? shares : POOL_SHARES[resource][shares];
}

interface Claimant {
  readonly weight: number;
  readonly want: number;
}

/**
 * Water-filling: `cap` divided in proportion to weight, no claimant given more than it wants,
 * what one cannot use passed to the rest. Returns each claimant's grant, in order.
 */
export function divideByShares(claimants: readonly Claimant[], cap: number): number[] {
  const grants = claimants.map(() => 0);
  let open = claimants.map((_, i) => i).filter((i) => (claimants[i]?.want ?? 0) > 0);
  let left = cap;
  while (open.length > 0 && left > 1e-9) {
    const weight = open.reduce((s, i) => s + (claimants[i]?.weight ?? 0), 0);
    const unit = left / Math.max(weight, 1e-12);
    const full = open.filter((i) => (claimants[i]?.want ?? 0) - (grants[i] ?? 0) <= unit * (claimants[i]?.weight ?? 0));
    if (full.length === 0) {
      for (const i of open) grants[i] = (grants[i] ?? 0) + unit * (claimants[i]?.weight ?? 0);
      break;
    }
    for (const i of full) {
      const need = (claimants[i]?.want ?? 0) - (grants[i] ?? 0);
      grants[i] = claimants[i]?.want ?? 0;
      left -= need;
    }
    open = open.filter((i) => !full.includes(i));
  }
  return grants;
}

interface Tree {
  readonly pools: ReadonlyMap<string, DrsPool>;
  readonly childPools: ReadonlyMap<string | undefined, readonly DrsPool[]>;
  readonly vmsIn: ReadonlyMap<string | undefined, readonly DrsVm[]>;
}

function treeOf(vms: readonly DrsVm[], pools: readonly DrsPool[], poolOf: ReadonlyMap<string, string>): Tree {
  const known = new Map(pools.map((p) => [p.name, p]));
  const childPools = new Map<string | undefined, DrsPool[]>();
  for (const pool of pools) {
    const parent = pool.parent !== undefined && known.has(pool.parent) ? pool.parent : undefined;
    childPools.set(parent, [...(childPools.get(parent) ?? []), pool]);
  }
  const vmsIn = new Map<string | undefined, DrsVm[]>();
  for (const vm of vms) {
    const named = poolOf.get(vm.name);
    const pool = named !== undefined && known.has(named) ? named : undefined;
    vmsIn.set(pool, [...(vmsIn.get(pool) ?? []), vm]);
  }
  return { pools: known, childPools, vmsIn };
}

function demandOf(vm: DrsVm, resource: DrsResource): number {
  if (vm.power !== "on") return 0;
  return resource === "cpu" ? vm.demand.cpuMhz : vm.demand.memoryMB;
}

/** What a pool's subtree wants of a resource: its VMs' demand, each child held to its own limit. */
function wantOf(tree: Tree, pool: string | undefined, resource: DrsResource, memo: Map<string | undefined, number>): number {
  const known = memo.get(pool);
  if (known !== undefined) return known;
  let want = (tree.vmsIn.get(pool) ?? []).reduce((s, vm) => s + demandOf(vm, resource), 0);
  for (const child of tree.childPools.get(pool) ?? []) want += Math.min(wantOf(tree, child.name, resource, memo), child[resource].limit ?? Number.POSITIVE_INFINITY);
  memo.set(pool, want);
  return want;
}

interface Walk {
  readonly tree: Tree;
  readonly resource: DrsResource;
  readonly memo: Map<string | undefined, number>;
  readonly out: Map<string, number>;
}

/** Divides `cap` among `pool`'s VMs and child pools by shares (each child held to its own limit), then each child's grant within it. */
function divide(walk: Walk, pool: string | undefined, cap: number): void {
  const { tree, resource, memo, out } = walk;
  const vms = tree.vmsIn.get(pool) ?? [];
  const children = tree.childPools.get(pool) ?? [];
  const claimants: Claimant[] = [
    ...vms.map((vm) => ({ weight: VM_NORMAL_SHARES[resource](vm), want: demandOf(vm, resource) })),
    ...children.map((c) => ({ weight: c[resource].shares, want: Math.min(wantOf(tree, c.name, resource, memo), c[resource].limit ?? Number.POSITIVE_INFINITY) })),
  ];
  const total = claimants.reduce((s, c) => s + c.want, 0);
  const grants = total <= cap ? claimants.map((c) => c.want) : divideByShares(claimants, cap);
  vms.forEach((vm, i) => out.set(vm.name, grants[i] ?? 0));
  children.forEach((child, j) => {
    divide(walk, child.name, grants[vms.length + j] ?? 0);
  });
}

/** The pool whose limit holds `vm`: its own if that pool is over its limit, else the nearest ancestor that is. */
function bindingPool(tree: Tree, start: string | undefined, resource: DrsResource, memo: Map<string | undefined, number>): string | undefined {
  for (let pool = start; pool !== undefined; pool = tree.pools.get(pool)?.parent) {
    const limit = tree.pools.get(pool)?.[resource].limit;
    if (limit !== undefined && wantOf(tree, pool, resource, memo) > limit + 1e-9) return pool;
  }
  return undefined;
}

function entitleResource(tree: Tree, vms: readonly DrsVm[], poolOf: ReadonlyMap<string, string>, resource: DrsResource, limited: DrsLimited[]): Map<string, number> {
  const memo = new Map<string | undefined, number>();
  const out = new Map<string, number>();
  divide({ tree, resource, memo, out }, undefined, Number.POSITIVE_INFINITY);
  for (const vm of vms) {
    const demand = demandOf(vm, resource);
    const floor = Math.min(demand, resource === "cpu" ? vm.reservation.cpuMhz : vm.reservation.memoryMB);
    const entitlement = Math.max(out.get(vm.name) ?? demand, floor);
    out.set(vm.name, entitlement);
    if (entitlement < demand - 1e-6) {
      const pool = bindingPool(tree, poolOf.get(vm.name), resource, memo);
      if (pool !== undefined) limited.push({ vm: vm.name, resource, pool, demand, entitlement: Math.round(entitlement * 10) / 10 });
    }
  }
  return out;
}

/**
 * The VMs with their demand replaced by their entitlement under the pools' limits and shares,
 * and the VMs a limit holds below their demand (for the answer's basis). `poolOf`: VM → its
 * pool's name (absent, or a pool not in `pools`: the cluster's root, never limited).
 */
export function entitle(vms: readonly DrsVm[], pools: readonly DrsPool[], poolOf: ReadonlyMap<string, string>): { vms: DrsVm[]; limited: DrsLimited[] } {
  if (!pools.some((p) => p.cpu.limit !== undefined || p.memory.limit !== undefined)) return { vms: [...vms], limited: [] };
  const tree = treeOf(vms, pools, poolOf);
  const limited: DrsLimited[] = [];
  const cpu = entitleResource(tree, vms, poolOf, "cpu", limited);
  const memory = entitleResource(tree, vms, poolOf, "memory", limited);
  const entitled = vms.map((vm) => {
    const demand: DrsResources = { cpuMhz: cpu.get(vm.name) ?? vm.demand.cpuMhz, memoryMB: memory.get(vm.name) ?? vm.demand.memoryMB };
    return vm.power === "on" && (demand.cpuMhz !== vm.demand.cpuMhz || demand.memoryMB !== vm.demand.memoryMB) ? { ...vm, demand } : vm;
  });
  return { vms: entitled, limited };
}
