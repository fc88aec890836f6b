// What the DRS balancer is given for one cluster (src/core/drs/types.ts, DrsInput): its hosts
// (capacity), its VMs (demand measured by the usage sampler, else a fallback the answer names),
// its rules and settings, the checker's verdict for each move and the pre-copy prediction of
// its cost, and the moves of the last hour (hysteresis). The core stays pure: everything that
// needs I/O (link records, agents' VM specs, recent tasks) is read here first.
import { entitle, poolShares, type DrsLimited, type DrsPool } from "../core/drs/entitlement.ts";
import { HYSTERESIS_MS } from "../core/drs/imbalance.ts";
import { DEFAULT_DRS_CONFIG, type DrsConfig, type DrsHost, type DrsInput, type DrsMoveCost, type DrsRecentMove, type DrsResources, type DrsRule, type DrsThreshold, type DrsVm } from "../core/drs/types.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { pairBasis, predictForPair, type Borrowed, type LinkRecord } from "../core/migration/link-learning.ts";
import { StreamDriver } from "../core/migration/model.ts";
import { DEFAULT_MIGRATE_OPTIONS, Phase } from "../core/migration/types.ts";
import type { Vm } from "../core/inventory/schema.ts";
import type { Store } from "../store/store.ts";
import type { InventorySnapshot } from "./inventory-service.ts";
import type { AgentDirectory } from "./migrations.ts";
import { vmotionNicMbps } from "./prediction.ts";

const MiB = 1048576;
const DEFAULT_NIC_MBPS = 1000;
/** Past this many VMs in a cluster, costs are predicted from the inventory alone (no agent asked per VM). */
const ASK_AGENTS_UP_TO = 200;

/** Measured demand by VM name (the usage sampler's); undefined: nothing measured yet. */
export type DemandSource = (cluster: string) => ReadonlyMap<string, DrsResources> | undefined;

/** Where each VM's demand came from, for the answer's basis. */
export interface DrsBasis {
  readonly demand: "measured" | "fallback" | "mixed";
  /** VMs whose demand is the fallback (reservation, else configured memory and 0 CPU). */
  readonly fallbackVms: readonly string[];
  /** Where move costs came from: the agents' VM specs (memory and workload) or the inventory's memory size. */
  readonly costFrom: "agents" | "inventory";
  /** VMs a resource pool's limit holds below their demand: the balancer counts their entitlement. */
  readonly limited: readonly DrsLimited[];
  readonly text: string;
}

export interface DrsInputDeps {
  readonly store: Store;
  readonly agents: AgentDirectory;
  readonly demand?: DemandSource | undefined;
  /** Hosts entering maintenance mode: never a destination while they empty. */
  readonly entering: ReadonlySet<string>;
  /** VMs an open migration holds (they are not moved again). */
  readonly migrating: (vm: string) => string | undefined;
}

/** A cluster's DRS settings with the balancer's defaults filled in. */
export function drsConfigOf(snapshot: InventorySnapshot, cluster: string): DrsConfig {
  const c = snapshot.index.clusters.get(cluster);
  if (c === undefined) throw new FerryError(ErrorCode.notFound, `no cluster named "${cluster}"`);
  const drs = c.drs;
  return {
    automation: drs?.automation ?? DEFAULT_DRS_CONFIG.automation,
    threshold: (drs?.threshold ?? DEFAULT_DRS_CONFIG.threshold) as DrsThreshold,
    maxMovesPerRun: drs?.maxMovesPerRun ?? DEFAULT_DRS_CONFIG.maxMovesPerRun,
    maxMovesPerHost: drs?.maxMovesPerHost ?? DEFAULT_DRS_CONFIG.maxMovesPerHost,
  };
}

/** Why a VM cannot move at all, whatever the destination. */
function pinnedReason(vm: Vm, migrating: string | undefined): string | undefined {
  if (migrating !== undefined) return `it is migrating now (task ${migrating})`;
  if (vm.cpuAffinity.length > 0) return `it is pinned to physical CPUs ${vm.cpuAffinity.join(",")} (CPU affinity blocks VMotion)`;
  if (vm.disks.some((d) => d.rdm?.mscs === true)) return "it has a disk in a Microsoft cluster (MSCS RDM), which VMotion cannot move";
  return undefined;
}

/** What moving one VM costs, per host pair: the pairs' learned links (each pair's basis is pairBasis's, as the controller's prediction) and the source's driver. */
interface PairCosts {
  readonly learned: readonly LinkRecord[];
  readonly drivers: ReadonlyMap<string, StreamDriver>;
  /** Memory and workload by VM, as its agent reports it. */
  readonly specs: ReadonlyMap<string, { memoryMB: number; touchedBytes?: number | undefined; dirty: number; workingSet: number }>;
}

async function readPairCosts(deps: DrsInputDeps, hosts: readonly string[], vms: readonly Vm[]): Promise<PairCosts> {
  const drivers = new Map<string, StreamDriver>();
  const specs = new Map<string, { memoryMB: number; touchedBytes?: number | undefined; dirty: number; workingSet: number }>();
  // One read of every pair's record, not one per host pair (a 64-host cluster has 4,032).
  const learned = await deps.store.listLinkRates().catch(() => []);
  await Promise.all(
    hosts.map(async (host) => {
      const agent = deps.agents.get(host);
      const health = agent === undefined ? undefined : await agent.health().catch(() => undefined);
      drivers.set(host, health?.driver ?? StreamDriver.qemu);
    }),
  );
  if (vms.length <= ASK_AGENTS_UP_TO) {
    await Promise.all(
      vms
        .filter((vm) => vm.power === "on")
        .map(async (vm) => {
          const spec = (await deps.agents.get(vm.host)?.getVm(vm.name).catch(() => undefined))?.spec;
          if (spec !== undefined) specs.set(vm.name, { memoryMB: spec.memoryMB, touchedBytes: spec.touchedBytes, dirty: spec.workload?.dirtyRateBytesPerSec ?? 0, workingSet: spec.workload?.workingSetBytes ?? 0 });
        }),
    );
  }
  return { learned, drivers, specs };
}

type PairRecord = { readonly learned: LinkRecord | undefined; readonly borrowed: Borrowed | undefined };

/** Each pair's record as the controller's prediction chooses it (pairBasis), looked for once per pair, not once per VM. */
function pairRecords(records: readonly LinkRecord[]): (from: string, to: string) => PairRecord {
  const bases = new Map<string, PairRecord>();
  return (from, to) => {
    const pair = `${from}\0${to}`;
    const found = bases.get(pair);
    if (found !== undefined) return found;
    const basis = pairBasis(from, to, records);
    const made = { learned: basis?.record, borrowed: basis?.borrowed };
    bases.set(pair, made);
    return made;
  };
}

/** The pre-copy prediction of a live move, from what readPairCosts read: pure. */
function costFunction(snapshot: InventorySnapshot, costs: PairCosts): DrsInput["cost"] {
  const memo = new Map<string, DrsMoveCost>();
  const basisOf = pairRecords(costs.learned);
  return (vm, from, to) => {
    const key = `${vm.name}\0${from.name}\0${to.name}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    const spec = costs.specs.get(vm.name);
    const memoryBytes = (spec?.memoryMB ?? vm.memoryMB) * MiB;
    const nominal = ((vmotionNicMbps(snapshot, from.name) ?? DEFAULT_NIC_MBPS) * 1e6) / 8;
    const prediction = predictForPair({
      driver: costs.drivers.get(from.name) ?? StreamDriver.qemu,
      ...basisOf(from.name, to.name),
      bandwidthLimitBytesPerSec: undefined,
      inputs: {
        memoryBytes,
        touchedBytes: spec?.touchedBytes ?? memoryBytes,
        pageSize: 4096,
        dirtyRateBytesPerSec: spec?.dirty ?? 0,
        workingSetBytes: spec?.workingSet ?? 0,
        linkRateBytesPerSec: nominal,
        downtimeLimitMs: DEFAULT_MIGRATE_OPTIONS.downtimeLimitMs,
        maxPasses: DEFAULT_MIGRATE_OPTIONS.maxPasses,
        maxTrafficFactor: DEFAULT_MIGRATE_OPTIONS.maxTrafficFactor,
        autoConverge: DEFAULT_MIGRATE_OPTIONS.autoConverge,
      },
    });
    const cost = { bytes: prediction.bytes, totalMs: prediction.totalMs, downtimeMs: prediction.downtimeMs };
    memo.set(key, cost);
    return cost;
  };
}

/** Completed migrations of the last hour, any source (DRS or operator). */
async function recentMoves(store: Store, now: number): Promise<DrsRecentMove[]> {
  const tasks = await store.listTasks({ states: [Phase.completed], limit: 500 });
  return tasks.filter((t) => t.updatedAt >= now - HYSTERESIS_MS).map((t) => ({ vm: t.vm, from: t.source, to: t.destination, at: t.updatedAt }));
}

function rulesOf(snapshot: InventorySnapshot, vmNames: ReadonlySet<string>): DrsRule[] {
  // A rule belongs to the cluster whose VMs it names (rules are datacenter-wide in the inventory).
  return snapshot.inventory.drsRules.filter((rule) => rule.vms.some((vm) => vmNames.has(vm)));
}

function demandOf(vm: Vm, measured: ReadonlyMap<string, DrsResources> | undefined, fallback: string[]): DrsResources {
  const m = measured?.get(vm.name);
  if (m !== undefined) return m;
  if (vm.power === "on") fallback.push(vm.name);
  if (vm.power !== "on") return { cpuMhz: 0, memoryMB: 0 };
  return { cpuMhz: vm.reservation.cpuMhz, memoryMB: vm.reservation.memoryMB > 0 ? vm.reservation.memoryMB : vm.memoryMB };
}

function limitedWords(limited: readonly DrsLimited[]): string {
  if (limited.length === 0) return "";
  const pools = [...new Set(limited.map((l) => `${l.pool} (${l.resource})`))];
  return `; ${new Set(limited.map((l) => l.vm)).size} VMs counted at their entitlement under the limit of pool ${pools.join(", ")}`;
}

function basisOf(fallback: readonly string[], poweredOn: number, costFrom: DrsBasis["costFrom"], limited: readonly DrsLimited[]): DrsBasis {
  const demand = fallback.length === 0 ? "measured" : fallback.length >= poweredOn ? "fallback" : "mixed";
  const words =
    demand === "measured"
      ? "demand measured by the hosts' agents"
      : `demand of ${fallback.length === poweredOn ? "every VM" : `${fallback.length} of ${poweredOn} VMs`} not measured yet: their reservation, else configured memory and 0 CPU`;
  return { demand, fallbackVms: fallback, costFrom, limited, text: `${words}${limitedWords(limited)}; move costs predicted from ${costFrom === "agents" ? "the agents' VM memory and workload" : "the inventory's memory sizes"}` };
}

/** The cluster's resource pools as the balancer reads them (limits and shares; a pool of a standalone host is not the cluster's). */
function poolsOf(snapshot: InventorySnapshot, cluster: string): DrsPool[] {
  return snapshot.inventory.resourcePools
    .filter((p) => p.cluster === cluster)
    .map((p) => ({
      name: p.name,
      parent: p.parent,
      cpu: { limit: limitOf(p.cpu.limit), shares: poolShares("cpu", p.cpu.shares) },
      memory: { limit: limitOf(p.memory.limit), shares: poolShares("memory", p.memory.shares) },
    }));
}

function limitOf(limit: number | undefined): number | undefined {
  return limit === undefined || limit < 0 ? undefined : limit;
}

/**
 * The cluster's hosts and VMs with their demand, with no agent asked (what σ needs: the DRS
 * service's imbalance history reads it every sampling interval), the VMs without a measure,
 * and the VMs a pool's limit holds (their demand is their entitlement).
 */
export function drsLoadOf(snapshot: InventorySnapshot, cluster: string, deps: Pick<DrsInputDeps, "demand" | "entering" | "migrating">): { hosts: DrsHost[]; vms: DrsVm[]; vmRecords: Vm[]; fallback: string[]; limited: DrsLimited[] } {
  const views = [...snapshot.index.hosts.values()].filter((view) => view.host.cluster === cluster);
  const hosts: DrsHost[] = views.map(({ host }) => ({
    name: host.name,
    cpuMhz: host.cpu.cores * host.cpu.mhz,
    memoryMB: host.memoryMB,
    maintenance: host.maintenance || deps.entering.has(host.name),
    connected: host.connected,
  }));
  const vmRecords = views.flatMap(({ host }) => snapshot.index.vmsByHost.get(host.name) ?? []);
  const measured = deps.demand?.(cluster);
  const fallback: string[] = [];
  const demanded: DrsVm[] = vmRecords.map((vm) => {
    const pinned = pinnedReason(vm, deps.migrating(vm.name));
    return {
      name: vm.name,
      host: vm.host,
      power: vm.power,
      vcpus: vm.vcpus,
      memoryMB: vm.memoryMB,
      demand: demandOf(vm, measured, fallback),
      reservation: { cpuMhz: vm.reservation.cpuMhz, memoryMB: vm.reservation.memoryMB },
      ...(vm.drsAutomation === undefined ? {} : { automation: vm.drsAutomation }),
      ...(pinned === undefined ? {} : { pinned }),
    };
  });
  const poolOf = new Map(vmRecords.flatMap((vm) => (vm.pool === undefined ? [] : [[vm.name, vm.pool] as const])));
  const { vms, limited } = entitle(demanded, poolsOf(snapshot, cluster), poolOf);
  return { hosts, vms, vmRecords, fallback, limited };
}

/** The balancer's input for `cluster`, now, and where its demand and costs came from. */
export async function buildDrsInput(snapshot: InventorySnapshot, cluster: string, deps: DrsInputDeps, now: number, config?: DrsConfig): Promise<{ input: DrsInput; basis: DrsBasis }> {
  const settings = config ?? drsConfigOf(snapshot, cluster);
  const { hosts, vms, vmRecords, fallback, limited } = drsLoadOf(snapshot, cluster, deps);
  const costs = await readPairCosts(deps, hosts.map((h) => h.name), vmRecords);
  const compatible: DrsInput["compatible"] = (vm, host) => {
    // A move DRS makes must pass the checker clean: errors refuse it, and a warning would need an operator to accept it.
    const check = snapshot.checker.check(vm.name, host.name, { priority: "high" });
    const finding = check.errors[0] ?? check.warnings[0];
    return finding === undefined ? { ok: true } : { ok: false, reason: `${finding.code}: ${finding.message}` };
  };
  const input: DrsInput = { cluster, hosts, vms, rules: rulesOf(snapshot, new Set(vms.map((v) => v.name))), config: settings, compatible, cost: costFunction(snapshot, costs), recentMoves: await recentMoves(deps.store, now), now };
  return { input, basis: basisOf(fallback, vmRecords.filter((vm) => vm.power === "on").length, costs.specs.size > 0 ? "agents" : "inventory", limited) };
}
