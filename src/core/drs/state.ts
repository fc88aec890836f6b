// The balancer's working model of a cluster: per-host sums kept in typed arrays and updated
// move by move, so a candidate move is judged in O(1) (σ from the running Σload and Σload²)
// instead of recomputing the cluster. Shared by recommend, planEvacuation and placeVm, so the
// three agree on what a host can take and why it refuses.
import { ErrorCode, FerryError } from "../errors.ts";
import { activeHost, combinedLoad, sigmaFromSums } from "./imbalance.ts";
import type { DrsHost, DrsInput, DrsMoveCost, DrsRule, DrsVm } from "./types.ts";

/** What a check asks beyond compatibility and capacity. */
export interface FitOptions {
  /** Refuse a target on which a "should" VM–host rule the VM satisfies now would be broken. */
  readonly keepShould: boolean;
  /** A rule not to check (the affinity rule being fixed: its members join the anchor one by one). */
  readonly ignoreRule?: number;
  /** Skip VM–VM affinity (evacuation and placement choose the group's host themselves). */
  readonly ignoreAffinity?: boolean;
}

const COMPAT_UNKNOWN = 0;
const COMPAT_OK = 1;
const COMPAT_NO = 2;

export class ClusterState {
  readonly input: DrsInput;
  readonly hosts: readonly DrsHost[];
  readonly vms: readonly DrsVm[];
  readonly hostIndex = new Map<string, number>();
  readonly vmIndex = new Map<string, number>();
  readonly active: Uint8Array;
  readonly cpuDemand: Float64Array;
  readonly memDemand: Float64Array;
  /** Σ max(memory demand, memory reservation): what the host must hold. */
  readonly memHeld: Float64Array;
  readonly cpuReserved: Float64Array;
  /** Host index of each VM; -1 when its host is not in this cluster. */
  readonly vmHost: Int32Array;
  /** Rule indices per VM (enabled rules only). */
  readonly vmRules: (number[] | undefined)[];
  /** Per enabled VM–VM rule: powered-on members per host (rule index → counts by host). */
  readonly ruleCounts = new Map<number, Int32Array>();
  readonly ruleOn = new Map<number, number>();
  private readonly compat: Uint8Array;
  private readonly costs = new Map<number, DrsMoveCost>();
  sum = 0;
  sumSquares = 0;
  activeCount = 0;

  constructor(input: DrsInput) {
    this.input = input;
    this.hosts = input.hosts;
    this.vms = input.vms;
    const nh = input.hosts.length;
    const nv = input.vms.length;
    this.active = new Uint8Array(nh);
    this.cpuDemand = new Float64Array(nh);
    this.memDemand = new Float64Array(nh);
    this.memHeld = new Float64Array(nh);
    this.cpuReserved = new Float64Array(nh);
    this.vmHost = new Int32Array(nv);
    this.vmRules = new Array<number[] | undefined>(nv);
    this.compat = new Uint8Array(nv * nh);
    input.hosts.forEach((h, i) => {
      if (this.hostIndex.has(h.name)) throw new FerryError(ErrorCode.invalidInput, `DRS input names host ${h.name} twice`);
      this.hostIndex.set(h.name, i);
      this.active[i] = activeHost(h) ? 1 : 0;
    });
    input.vms.forEach((vm, v) => {
      if (this.vmIndex.has(vm.name)) throw new FerryError(ErrorCode.invalidInput, `DRS input names VM ${vm.name} twice`);
      this.vmIndex.set(vm.name, v);
      const h = this.hostIndex.get(vm.host) ?? -1;
      this.vmHost[v] = h;
      if (h >= 0) this.add(v, h);
    });
    this.indexRules(input.rules);
    this.resum();
  }

  private indexRules(rules: readonly DrsRule[]): void {
    rules.forEach((rule, r) => {
      if (!rule.enabled) return;
      const counts = rule.kind === "vm-host" ? undefined : new Int32Array(this.hosts.length);
      let on = 0;
      for (const name of new Set(rule.vms)) {
        const v = this.vmIndex.get(name);
        if (v === undefined) continue;
        (this.vmRules[v] ??= []).push(r);
        const h = this.vmHost[v] ?? -1;
        if (counts !== undefined && this.vms[v]?.power === "on" && h >= 0) {
          counts[h] = (counts[h] ?? 0) + 1;
          on++;
        }
      }
      if (counts !== undefined) {
        this.ruleCounts.set(r, counts);
        this.ruleOn.set(r, on);
      }
    });
  }

  /** Recomputes Σload and Σload² over the active hosts (once, at the start). */
  private resum(): void {
    this.sum = 0;
    this.sumSquares = 0;
    this.activeCount = 0;
    for (let h = 0; h < this.hosts.length; h++) {
      if (this.active[h] !== 1) continue;
      const l = this.load(h);
      this.sum += l;
      this.sumSquares += l * l;
      this.activeCount++;
    }
  }

  vm(v: number): DrsVm {
    const vm = this.vms[v];
    if (vm === undefined) throw new FerryError(ErrorCode.internal, `no VM at index ${v}`);
    return vm;
  }

  host(h: number): DrsHost {
    const host = this.hosts[h];
    if (host === undefined) throw new FerryError(ErrorCode.internal, `no host at index ${h}`);
    return host;
  }

  private add(v: number, h: number, sign = 1): void {
    const vm = this.vm(v);
    if (vm.power !== "on") return;
    this.cpuDemand[h] = (this.cpuDemand[h] ?? 0) + sign * vm.demand.cpuMhz;
    this.memDemand[h] = (this.memDemand[h] ?? 0) + sign * vm.demand.memoryMB;
    this.memHeld[h] = (this.memHeld[h] ?? 0) + sign * Math.max(vm.demand.memoryMB, vm.reservation.memoryMB);
    this.cpuReserved[h] = (this.cpuReserved[h] ?? 0) + sign * vm.reservation.cpuMhz;
  }

  cpuShare(h: number, extraMhz = 0): number {
    const cap = this.host(h).cpuMhz;
    return cap > 0 ? ((this.cpuDemand[h] ?? 0) + extraMhz) / cap : 0;
  }

  memShare(h: number, extraMB = 0): number {
    const cap = this.host(h).memoryMB;
    return cap > 0 ? ((this.memDemand[h] ?? 0) + extraMB) / cap : 0;
  }

  /** Combined normalised load of host h, with `sign` × VM v added (for what-if). */
  load(h: number, v = -1, sign = 0): number {
    const vm = v >= 0 && sign !== 0 ? this.vm(v) : undefined;
    const cpu = vm === undefined ? 0 : sign * vm.demand.cpuMhz;
    const mem = vm === undefined ? 0 : sign * vm.demand.memoryMB;
    return combinedLoad(this.cpuShare(h, cpu), this.memShare(h, mem));
  }

  sigma(): number {
    return sigmaFromSums(this.sum, this.sumSquares, this.activeCount);
  }

  /** σ if VM v (powered on) moved from its host to host t: O(1). */
  sigmaAfter(v: number, t: number): number {
    const s = this.vmHost[v] ?? -1;
    let sum = this.sum;
    let sq = this.sumSquares;
    if (s >= 0 && this.active[s] === 1) {
      const before = this.load(s);
      const after = this.load(s, v, -1);
      sum += after - before;
      sq += after * after - before * before;
    }
    if (this.active[t] === 1) {
      const before = this.load(t);
      const after = this.load(t, v, 1);
      sum += after - before;
      sq += after * after - before * before;
    }
    return sigmaFromSums(sum, sq, this.activeCount);
  }

  /** Applies a move: host sums, σ sums and rule counts. */
  move(v: number, t: number): void {
    const s = this.vmHost[v] ?? -1;
    const touched = s >= 0 ? [s, t] : [t];
    for (const h of touched) {
      if (this.active[h] !== 1) continue;
      const l = this.load(h);
      this.sum -= l;
      this.sumSquares -= l * l;
    }
    if (s >= 0) this.add(v, s, -1);
    this.add(v, t, 1);
    for (const h of touched) {
      if (this.active[h] !== 1) continue;
      const l = this.load(h);
      this.sum += l;
      this.sumSquares += l * l;
    }
    if (this.vm(v).power === "on") {
      for (const r of this.vmRules[v] ?? []) {
        const counts = this.ruleCounts.get(r);
        if (counts === undefined) continue;
        if (s >= 0) counts[s] = (counts[s] ?? 0) - 1;
        else this.ruleOn.set(r, (this.ruleOn.get(r) ?? 0) + 1);
        counts[t] = (counts[t] ?? 0) + 1;
      }
    }
    this.vmHost[v] = t;
  }

  /** The checker's verdict for VM v on host h, asked once and remembered. */
  compatible(v: number, h: number): boolean {
    const k = v * this.hosts.length + h;
    let c = this.compat[k] ?? COMPAT_UNKNOWN;
    if (c === COMPAT_UNKNOWN) {
      c = this.input.compatible(this.vm(v), this.host(h)).ok ? COMPAT_OK : COMPAT_NO;
      this.compat[k] = c;
    }
    return c === COMPAT_OK;
  }

  /**
   * The predicted cost of moving VM v from its current host to t, asked once and remembered
   * (keyed by VM and target: within one plan a VM moves at most once, so its source is fixed).
   */
  cost(v: number, t: number): DrsMoveCost {
    const s = this.vmHost[v] ?? -1;
    const k = v * this.hosts.length + t;
    let c = this.costs.get(k);
    if (c === undefined) {
      c = this.input.cost(this.vm(v), this.host(s >= 0 ? s : t), this.host(t));
      this.costs.set(k, c);
    }
    return c;
  }

  /** Whether VM v fits host t by capacity: memory held and CPU reserved, and no CPU/memory overload. */
  fitsCapacity(v: number, t: number): boolean {
    return this.capacityRefusal(v, t) === undefined;
  }

  capacityRefusal(v: number, t: number): string | undefined {
    const vm = this.vm(v);
    const host = this.host(t);
    const held = (this.memHeld[t] ?? 0) + Math.max(vm.demand.memoryMB, vm.reservation.memoryMB);
    if (held > host.memoryMB) return `not enough memory: ${Math.round(held)} MB of demand and reservations over ${host.memoryMB} MB`;
    const reserved = (this.cpuReserved[t] ?? 0) + vm.reservation.cpuMhz;
    if (reserved > host.cpuMhz) return `not enough CPU to reserve: ${Math.round(reserved)} MHz of reservations over ${host.cpuMhz} MHz`;
    const cpu = (this.cpuDemand[t] ?? 0) + vm.demand.cpuMhz;
    if (cpu > host.cpuMhz) return `would be overloaded: ${Math.round(cpu)} MHz of CPU demand over ${host.cpuMhz} MHz`;
    return undefined;
  }

  /** The first enabled rule placing VM v on host t would break (index), or -1. Mandatory rules always; "should" with keepShould. */
  ruleBlock(v: number, t: number, options: FitOptions): number {
    const rules = this.vmRules[v];
    if (rules === undefined) return -1;
    const s = this.vmHost[v] ?? -1;
    for (const r of rules) {
      const rule = this.input.rules[r];
      if (rule === undefined || r === options.ignoreRule) continue;
      if (rule.kind === "vm-host") {
        const onT = rule.hosts.includes(this.host(t).name) === rule.affine;
        if (onT) continue;
        if (rule.mandatory) return r;
        const onS = s >= 0 && rule.hosts.includes(this.host(s).name) === rule.affine;
        if (options.keepShould && onS) return r;
        continue;
      }
      if (this.vm(v).power !== "on") continue;
      const counts = this.ruleCounts.get(r);
      if (counts === undefined) continue;
      const here = (counts[t] ?? 0) - (s === t ? 1 : 0);
      if (rule.kind === "vm-anti-affinity" && here > 0) return r;
      const others = (this.ruleOn.get(r) ?? 0) - (s >= 0 ? 1 : 0);
      if (rule.kind === "vm-affinity" && !options.ignoreAffinity && here < others) return r;
    }
    return -1;
  }

  /**
   * The host VM v must join under its affinity rules: where another powered-on member runs
   * (not on host `exclude`, the one being emptied), or -1 when no member pins the choice.
   */
  affinityAnchor(v: number, exclude: number): number {
    for (const r of this.vmRules[v] ?? []) {
      const rule = this.input.rules[r];
      if (rule?.kind !== "vm-affinity") continue;
      for (const name of rule.vms) {
        const m = this.vmIndex.get(name);
        if (m === undefined || m === v || this.vm(m).power !== "on") continue;
        const h = this.vmHost[m] ?? -1;
        if (h >= 0 && h !== exclude) return h;
      }
    }
    return -1;
  }

  /** Whether placing VM v on host t keeps every "should" VM–host rule of v. */
  keepsShould(v: number, t: number): boolean {
    for (const r of this.vmRules[v] ?? []) {
      const rule = this.input.rules[r];
      if (rule?.kind === "vm-host" && !rule.mandatory && rule.hosts.includes(this.host(t).name) !== rule.affine) return false;
    }
    return true;
  }

  /** Why VM v cannot go to host t, or undefined when it can (hysteresis is the caller's). */
  refusal(v: number, t: number, options: FitOptions): string | undefined {
    const host = this.host(t);
    if ((this.vmHost[v] ?? -1) === t) return "is its host";
    if (!host.connected) return "disconnected";
    if (host.maintenance) return "in maintenance mode";
    if (!this.compatible(v, t)) {
      const verdict = this.input.compatible(this.vm(v), host);
      return verdict.ok ? "incompatible" : verdict.reason;
    }
    const capacity = this.capacityRefusal(v, t);
    if (capacity !== undefined) return capacity;
    const r = this.ruleBlock(v, t, options);
    return r >= 0 ? ruleText(this.input.rules[r], this.vm(v).name) : undefined;
  }

  /** Cheap form of refusal for the search: true when v may go to t. */
  fits(v: number, t: number, options: FitOptions): boolean {
    return this.active[t] === 1 && (this.vmHost[v] ?? -1) !== t && this.compatible(v, t) && this.fitsCapacity(v, t) && this.ruleBlock(v, t, options) < 0;
  }
}

export function ruleText(rule: DrsRule | undefined, vm: string): string {
  if (rule === undefined) return "a rule";
  switch (rule.kind) {
    case "vm-affinity":
      return `rule ${rule.name} keeps ${vm} with ${rule.vms.filter((x) => x !== vm).join(", ")}`;
    case "vm-anti-affinity":
      return `rule ${rule.name} keeps ${vm} apart from ${rule.vms.filter((x) => x !== vm).join(", ")}`;
    case "vm-host":
      return `${rule.mandatory ? "must" : "should"} rule ${rule.name}: ${vm} ${rule.mandatory ? "must" : "should"} ${rule.affine ? "" : "not "}run on ${rule.hosts.join(", ")}`;
  }
}

/** FNV-1a, 32 bits: a stable id needs no crypto (and the core imports no node: modules). */
function fnv1a(text: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** A recommendation's id: the same VM, source, target and reason kind always give the same id. */
export function recommendationId(vm: string, from: string, to: string, kind: string): string {
  const key = `${vm}\u0000${from}\u0000${to}\u0000${kind}`;
  return `drs-${fnv1a(key, 0x811c9dc5).toString(16).padStart(8, "0")}${fnv1a(key, 0x1b873593).toString(16).padStart(8, "0")}`;
}

export function percent(share: number): string {
  return `${Math.round(share * 100)}%`;
}
