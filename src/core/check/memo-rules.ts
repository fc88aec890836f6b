// The rules of one VM → host check, memoised for reuse across checks: the parts that do not
// depend on the pair (the VM alone, a host alone, a CPU verdict per guest and host CPU) are
// computed once. createChecker's check and where, and the matrix, all read findings from here.
import { ErrorCode, FerryError } from "../errors.ts";
import type { HostView, InventoryIndex } from "../inventory/index.ts";
import type { ResourcePool } from "../inventory/schema.ts";
import type { MigrationClaims } from "../inventory/claims.ts";
import { collect, FindingCode, Severity, SubjectKind, type Emit, type Finding } from "./findings.ts";
import { vmProfile, type VmProfile } from "./profile.ts";
import { uiWords } from "./ui-fix.ts";
import { cpuRules, cpuVerdict, type CpuVerdict } from "./rules/cpu.ts";
import { hypervisorPairRules, machineTypeRules } from "./rules/hypervisor.ts";
import { Priority, poolBelongsTo, resourceRules, resourceState, storageRules, vmNetworkRules, type ResourceState } from "./rules/placement.ts";
import { hostVmotionRules, vmotionPairRules } from "./rules/vmotion.ts";
import { claimRules, hostStateRules, vmRules } from "./rules/vm.ts";
import type { CheckOptions, HostLiveness } from "./checker.ts";

export function replay(findings: readonly Finding[], emit: Emit): void {
  for (const f of findings) emit(f.code, f.severity, () => f);
}

/** Rules about a live move between two hosts that name the hosts only: VMotion ports and QEMU versions. */
export function hostPairRules(source: HostView, dest: HostView, emit: Emit): void {
  vmotionPairRules(source, dest, emit);
  hypervisorPairRules(source, dest, emit);
}

/** Whether resource rules can say anything for this VM: a pool was asked for, or it holds a reservation. */
export function resourcesMatter(profile: VmProfile, options: CheckOptions): boolean {
  return options.pool !== undefined || (profile.needs.holdsReservation && (profile.needs.reservation.cpuMhz > 0 || profile.needs.reservation.memoryMB > 0));
}

/** The datastores the storage group reads (files and device images); at most 30, else no grouping. */
export function storageDatastores(profile: VmProfile): string[] | undefined {
  const names = [...new Set([...profile.needs.files.map((f) => f.datastore), ...profile.needs.fileDevices.flatMap((d) => (d.datastore === undefined ? [] : [d.datastore]))])];
  return names.length <= 30 ? names : undefined;
}

function memo(map: Map<string, Finding[]>, key: string, run: (emit: Emit) => void): Finding[] {
  let findings = map.get(key);
  if (findings === undefined) {
    const c = collect();
    run(c.emit);
    findings = c.findings;
    map.set(key, findings);
  }
  return findings;
}

function intern(ids: Map<string, number>, key: string): number {
  let id = ids.get(key);
  if (id === undefined) {
    id = ids.size;
    ids.set(key, id);
  }
  return id;
}

/** CPU verdicts, memoised per (guest CPU, host CPU) pair, both interned to small numbers. */
class CpuVerdicts {
  readonly #hostFlags = new Map<string, ReadonlySet<string>>();
  readonly #hostCpuKeys = new Map<string, number>();
  readonly #hostCpuIds = new Map<string, number>();
  readonly #guestKeys = new Map<string, number>();
  readonly #verdicts = new Map<number, CpuVerdict>();

  verdictFor(profile: VmProfile, dest: HostView): CpuVerdict | undefined {
    const guest = profile.needs.guest;
    if (!guest.ok || profile.needs.power === "off") return undefined;
    const key = intern(this.#guestKeys, profile.keys.cpu) * 1_048_576 + this.#cpuIdOf(dest);
    let verdict = this.#verdicts.get(key);
    if (verdict === undefined) {
      verdict = cpuVerdict(guest.cpu, profile.needs.is64, dest, this.#flagsOf(dest));
      this.#verdicts.set(key, verdict);
    }
    return verdict;
  }

  #flagsOf(view: HostView): ReadonlySet<string> {
    let flags = this.#hostFlags.get(view.host.name);
    if (flags === undefined) {
      flags = new Set(view.host.cpu.flags);
      this.#hostFlags.set(view.host.name, flags);
    }
    return flags;
  }

  #cpuIdOf(view: HostView): number {
    let id = this.#hostCpuIds.get(view.host.name);
    if (id === undefined) {
      const cpu = view.host.cpu;
      id = intern(this.#hostCpuKeys, [cpu.vendor, cpu.family, cpu.model, cpu.virtualization, view.host.cluster ?? "", [...cpu.flags].sort().join(" ")].join("|"));
      this.#hostCpuIds.set(view.host.name, id);
    }
    return id;
  }
}

/** A rule group that depends on the VM's needs and the destination only, through one of the profile's keys (see profile.ts). */
export interface RuleGroup {
  readonly name: "storage" | "network" | "cpu";
  key(profile: VmProfile): string;
  rules(profile: VmProfile, dest: HostView, emit: Emit): void;
}

const ownerKey = (cluster: string | undefined, host: string): string => (cluster === undefined ? `host\0${host}` : `cluster\0${cluster}`);

/**
 * `liveness` and `claims` are transient (whether agents answer, which VMs open migration
 * tasks hold): read at every check and never memoised beyond the key they are part of.
 */
export class MemoisedRules {
  readonly #profiles = new Map<string, VmProfile>();
  readonly #vmFindings = new Map<string, Finding[]>();
  readonly #hostFindings = new Map<string, Finding[]>();
  readonly #cpu = new CpuVerdicts();
  #resources: ResourceState | undefined;
  #rootPools: Map<string, ResourcePool> | undefined;

  readonly groups: readonly RuleGroup[] = [
    { name: "storage", key: (p) => p.keys.storage, rules: (p, dest, emit) => { storageRules(p.vm.name, p.needs, dest, this.index, emit); } },
    { name: "network", key: (p) => p.keys.network, rules: (p, dest, emit) => { vmNetworkRules(p.vm.name, p.needs, dest, emit); } },
    { name: "cpu", key: (p) => p.keys.cpu, rules: (p, dest, emit) => { cpuRules(p.vm.name, p.needs, dest, this.#cpu.verdictFor(p, dest), emit); } },
  ];

  readonly index: InventoryIndex;
  readonly claims: MigrationClaims;
  readonly #liveness: HostLiveness | undefined;

  constructor(index: InventoryIndex, claims: MigrationClaims, liveness: HostLiveness | undefined) {
    this.index = index;
    this.claims = claims;
    this.#liveness = liveness;
  }

  profileOf(vmName: string): VmProfile {
    let profile = this.#profiles.get(vmName);
    if (profile === undefined) {
      const vm = this.index.vms.get(vmName);
      if (vm === undefined) throw new FerryError(ErrorCode.notFound, `no VM named "${vmName}" in the inventory`);
      profile = vmProfile(this.index, vm);
      this.#profiles.set(vmName, profile);
    }
    return profile;
  }

  hostOf(hostName: string): HostView {
    const view = this.index.hosts.get(hostName);
    if (view === undefined) throw new FerryError(ErrorCode.notFound, `no host named "${hostName}" in the inventory`);
    return view;
  }

  poolOption(options: CheckOptions): ResourcePool | undefined {
    if (options.pool === undefined) return undefined;
    const pool = this.index.pools.get(options.pool);
    if (pool === undefined) throw new FerryError(ErrorCode.notFound, `no resource pool named "${options.pool}" in the inventory`);
    return pool;
  }

  vmOnly(profile: VmProfile): Finding[] {
    return memo(this.#vmFindings, profile.vm.name, (emit) => { vmRules(profile.vm, profile.source, emit); });
  }

  hostOnly(view: HostView, role: "source" | "destination", live: boolean): Finding[] {
    const silent = this.#liveness?.notResponding(view.host.name) === true;
    return memo(this.#hostFindings, `${role}\0${live ? 1 : 0}\0${silent ? 1 : 0}\0${view.host.name}`, (emit) => {
      hostStateRules(view, role, emit, silent);
      if (live) hostVmotionRules(view, role, emit);
    });
  }

  resourceGroup(profile: VmProfile, dest: HostView, options: CheckOptions, emit: Emit): void {
    if (!resourcesMatter(profile, options)) return;
    this.#resources ??= resourceState(this.index);
    const pool = this.poolOption(options) ?? this.#landingPool(profile, dest);
    resourceRules(profile.vm.name, profile.needs, dest, pool, options.priority ?? Priority.high, this.index, this.#resources, emit);
  }

  /** Every rule of one VM → host check. */
  checkInto(profile: VmProfile, dest: HostView, options: CheckOptions, emit: Emit): void {
    this.#pairRules(profile, dest, emit);
    for (const group of this.groups) group.rules(profile, dest, emit);
    this.resourceGroup(profile, dest, options, emit);
  }

  #pairRules(profile: VmProfile, dest: HostView, emit: Emit): void {
    const vm = profile.vm;
    const live = vm.power !== "off";
    claimRules(vm.name, this.claims.claimOf(vm.name), emit);
    replay(this.vmOnly(profile), emit);
    if (vm.host === dest.host.name) {
      emit(FindingCode.sameHost, Severity.error, () => ({
        subject: { kind: SubjectKind.host, name: dest.host.name },
        message: `${vm.name} already runs on ${dest.host.name}.`,
        fix: "Choose another host.",
        ui: uiWords("Choose another host."),
      }));
    }
    if (profile.source !== undefined) replay(this.hostOnly(profile.source, "source", live), emit);
    replay(this.hostOnly(dest, "destination", live), emit);
    machineTypeRules(vm.name, profile.needs.machine, dest, emit);
    // Not memoised: there are hosts² pairs, and most yield nothing, which is cheap to find out.
    if (live && profile.source !== undefined && vm.host !== dest.host.name) hostPairRules(profile.source, dest, emit);
  }

  /**
   * The pool a VM lands in when none is asked for: its current pool when that pool belongs
   * to the destination (as vCenter's wizard proposes: "Most of the time the same resource
   * pool will suffice"), else the destination's root pool.
   */
  #landingPool(profile: VmProfile, dest: HostView): ResourcePool | undefined {
    const current = profile.needs.pool === undefined ? undefined : this.index.pools.get(profile.needs.pool);
    if (current !== undefined && poolBelongsTo(current, dest)) return current;
    if (this.#rootPools === undefined) {
      this.#rootPools = new Map();
      for (const pool of this.index.inventory.resourcePools) {
        const key = ownerKey(pool.cluster, pool.host ?? "");
        if (pool.parent === undefined && !this.#rootPools.has(key)) this.#rootPools.set(key, pool);
      }
    }
    return this.#rootPools.get(ownerKey(dest.host.cluster, dest.host.name));
  }
}
