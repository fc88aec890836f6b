// The VMotion compatibility checker: a pure function of (inventory, VM, target host, target
// pool, priority) → findings. Rules are split by what they depend on, so the parts that do
// not depend on the pair (the VM alone, a host alone, a pair of hosts' VMotion ports) are
// computed once and shared; that, and grouping VMs with equal placement needs, is what
// makes a full 1,000 × 10,000 matrix affordable.
import { ErrorCode, FerryError } from "../errors.ts";
import type { HostView, InventoryIndex } from "../inventory/index.ts";
import type { ResourcePool } from "../inventory/schema.ts";
import { collect, codeBit, FindingCode, MATRIX_CODES, Severity, SubjectKind, toResult, type CheckResult, type Emit, type Finding } from "./findings.ts";
import { vmProfile, type VmProfile } from "./profile.ts";
import { cpuRules, cpuVerdict, type CpuVerdict } from "./rules/cpu.ts";
import { hypervisorPairRules, machineTypeRules } from "./rules/hypervisor.ts";
import { Priority, poolBelongsTo, resourceRules, resourceState, storageRules, vmNetworkRules, type ResourceState } from "./rules/placement.ts";
import { hostVmotionRules, vmotionPairRules } from "./rules/vmotion.ts";
import { claimRules, hostStateRules, vmRules } from "./rules/vm.ts";
import { NO_CLAIMS, type MigrationClaims } from "../inventory/claims.ts";

export { Priority } from "./rules/placement.ts";

export interface CheckOptions {
  /** Target resource pool; default: the VM's pool when it belongs to the destination, else the destination's root pool. */
  readonly pool?: string | undefined;
  readonly priority?: Priority | undefined;
}

export interface WhereResult {
  readonly vm: string;
  /** The host the VM runs on now (not a destination). */
  readonly current: string;
  readonly hosts: readonly CheckResult[];
}

export interface CompatibilityMatrix {
  readonly vms: readonly string[];
  readonly hosts: readonly string[];
  /**
   * Per pair (vm * hosts.length + host): bit i set when MATRIX_CODES[i] fired as an error.
   * A VM's own host (see `current`) is no destination: its cell carries no SAME_HOST.
   */
  readonly errors: Uint32Array;
  /** Same, for warnings. */
  readonly warnings: Uint32Array;
  /** Per VM, the index in `hosts` of the host it runs on now; -1 when that host is not in the inventory. */
  readonly current: Int32Array;
  /** Rows computed for the rule groups (storage, network, CPU): VMs with equal needs share one. */
  readonly groupRows: number;
}

/**
 * What the controller knows of hosts beyond the inventory, at the moment of a check: whether
 * their agents answer its heartbeats. Transient (never written to the inventory), so it is
 * read on every check rather than frozen into the checker.
 */
export interface HostLiveness {
  notResponding(host: string): boolean;
}

export interface Checker {
  check(vm: string, host: string, options?: CheckOptions): CheckResult;
  where(vm: string, options?: CheckOptions): WhereResult;
  matrix(options?: CheckOptions): CompatibilityMatrix;
}

/** Decodes a matrix cell's bit mask into codes. */
export function codesOf(mask: number): FindingCode[] {
  const out: FindingCode[] = [];
  for (let i = 0; i < MATRIX_CODES.length; i++) if ((mask & (1 << i)) !== 0) out.push(MATRIX_CODES[i] as FindingCode);
  return out;
}

/** Collects which codes fired, as bit masks, without building any words. Reused across calls. */
class BitSink {
  errors = 0;
  warnings = 0;
  readonly emit: Emit = (code, severity) => {
    const index = codeBit.get(code);
    if (index === undefined) return;
    const bit = 1 << index;
    if (severity === Severity.error) this.errors |= bit;
    else this.warnings |= bit;
  };

  reset(): this {
    this.errors = 0;
    this.warnings = 0;
    return this;
  }
}

function replay(findings: readonly Finding[], emit: Emit): void {
  for (const f of findings) emit(f.code, f.severity, () => f);
}

/** Rules about a live move between two hosts that name the hosts only: VMotion ports and QEMU versions. */
function hostPairRules(source: HostView, dest: HostView, emit: Emit): void {
  vmotionPairRules(source, dest, emit);
  hypervisorPairRules(source, dest, emit);
}

/**
 * `claims` says which VMs open migration tasks hold (VM_MIGRATING); like liveness it is
 * transient, read at every check and never memoised.
 */
export function createChecker(index: InventoryIndex, liveness?: HostLiveness, claims: MigrationClaims = NO_CLAIMS): Checker {
  const profiles = new Map<string, VmProfile>();
  const vmFindings = new Map<string, Finding[]>();
  const hostFindings = new Map<string, Finding[]>();
  const hostFlags = new Map<string, ReadonlySet<string>>();
  const hostCpuKeys = new Map<string, number>();
  const hostCpuIds = new Map<string, number>();
  const guestKeys = new Map<string, number>();
  const cpuMemo = new Map<number, CpuVerdict>();
  let resources: ResourceState | undefined;

  const profileOf = (vmName: string): VmProfile => {
    let profile = profiles.get(vmName);
    if (profile === undefined) {
      const vm = index.vms.get(vmName);
      if (vm === undefined) throw new FerryError(ErrorCode.notFound, `no VM named "${vmName}" in the inventory`);
      profile = vmProfile(index, vm);
      profiles.set(vmName, profile);
    }
    return profile;
  };

  const hostOf = (hostName: string): HostView => {
    const view = index.hosts.get(hostName);
    if (view === undefined) throw new FerryError(ErrorCode.notFound, `no host named "${hostName}" in the inventory`);
    return view;
  };

  const poolOption = (options: CheckOptions): ResourcePool | undefined => {
    if (options.pool === undefined) return undefined;
    const pool = index.pools.get(options.pool);
    if (pool === undefined) throw new FerryError(ErrorCode.notFound, `no resource pool named "${options.pool}" in the inventory`);
    return pool;
  };

  const memo = (map: Map<string, Finding[]>, key: string, run: (emit: Emit) => void): Finding[] => {
    let findings = map.get(key);
    if (findings === undefined) {
      const c = collect();
      run(c.emit);
      findings = c.findings;
      map.set(key, findings);
    }
    return findings;
  };

  const vmOnly = (profile: VmProfile): Finding[] => memo(vmFindings, profile.vm.name, (emit) => { vmRules(profile.vm, profile.source, emit); });

  const hostOnly = (view: HostView, role: "source" | "destination", live: boolean): Finding[] => {
    const silent = liveness?.notResponding(view.host.name) === true;
    return memo(hostFindings, `${role}\0${live ? 1 : 0}\0${silent ? 1 : 0}\0${view.host.name}`, (emit) => {
      hostStateRules(view, role, emit, silent);
      if (live) hostVmotionRules(view, role, emit);
    });
  };


  const flagsOf = (view: HostView): ReadonlySet<string> => {
    let flags = hostFlags.get(view.host.name);
    if (flags === undefined) {
      flags = new Set(view.host.cpu.flags);
      hostFlags.set(view.host.name, flags);
    }
    return flags;
  };

  // CPU verdicts are memoised per (guest CPU, host CPU) pair, both interned to small numbers.
  const intern = (ids: Map<string, number>, key: string): number => {
    let id = ids.get(key);
    if (id === undefined) {
      id = ids.size;
      ids.set(key, id);
    }
    return id;
  };
  const cpuIdOf = (view: HostView): number => {
    let id = hostCpuIds.get(view.host.name);
    if (id === undefined) {
      const cpu = view.host.cpu;
      id = intern(hostCpuKeys, [cpu.vendor, cpu.family, cpu.model, cpu.virtualization, view.host.cluster ?? "", [...cpu.flags].sort().join(" ")].join("|"));
      hostCpuIds.set(view.host.name, id);
    }
    return id;
  };

  const verdictFor = (profile: VmProfile, dest: HostView): CpuVerdict | undefined => {
    const guest = profile.needs.guest;
    if (!guest.ok || profile.needs.power === "off") return undefined;
    const key = intern(guestKeys, profile.keys.cpu) * 1_048_576 + cpuIdOf(dest);
    let verdict = cpuMemo.get(key);
    if (verdict === undefined) {
      verdict = cpuVerdict(guest.cpu, profile.needs.is64, dest, flagsOf(dest));
      cpuMemo.set(key, verdict);
    }
    return verdict;
  };

  // The rules that depend on the VM's needs and the destination, in three groups, each a
  // function of one of the profile's keys (see profile.ts) and the destination only.
  const storageGroup = (profile: VmProfile, dest: HostView, emit: Emit): void => {
    storageRules(profile.vm.name, profile.needs, dest, index, emit);
  };
  const networkGroup = (profile: VmProfile, dest: HostView, emit: Emit): void => {
    vmNetworkRules(profile.vm.name, profile.needs, dest, emit);
  };
  const cpuGroup = (profile: VmProfile, dest: HostView, emit: Emit): void => {
    cpuRules(profile.vm.name, profile.needs, dest, verdictFor(profile, dest), emit);
  };
  /** The datastores the storage group reads (files and device images); at most 30, else no grouping. */
  const storageDatastores = (profile: VmProfile): string[] | undefined => {
    const names = [...new Set([...profile.needs.files.map((f) => f.datastore), ...profile.needs.fileDevices.flatMap((d) => (d.datastore === undefined ? [] : [d.datastore]))])];
    return names.length <= 30 ? names : undefined;
  };
  const groups = [
    { key: (p: VmProfile) => p.keys.storage, rules: storageGroup },
    { key: (p: VmProfile) => p.keys.network, rules: networkGroup },
    { key: (p: VmProfile) => p.keys.cpu, rules: cpuGroup },
  ] as const;

  let rootPools: Map<string, ResourcePool> | undefined;
  const ownerKey = (cluster: string | undefined, host: string): string => (cluster === undefined ? `host\0${host}` : `cluster\0${cluster}`);
  /**
   * The pool a VM lands in when none is asked for: its current pool when that pool belongs
   * to the destination (as vCenter's wizard proposes: "Most of the time the same resource
   * pool will suffice"), else the destination's root pool.
   */
  const landingPool = (profile: VmProfile, dest: HostView): ResourcePool | undefined => {
    const current = profile.needs.pool === undefined ? undefined : index.pools.get(profile.needs.pool);
    if (current !== undefined && poolBelongsTo(current, dest)) return current;
    if (rootPools === undefined) {
      rootPools = new Map();
      for (const pool of index.inventory.resourcePools) {
        const key = ownerKey(pool.cluster, pool.host ?? "");
        if (pool.parent === undefined && !rootPools.has(key)) rootPools.set(key, pool);
      }
    }
    return rootPools.get(ownerKey(dest.host.cluster, dest.host.name));
  };

  /** Whether resource rules can say anything for this VM: a pool was asked for, or it holds a reservation. */
  const resourcesMatter = (profile: VmProfile, options: CheckOptions): boolean =>
    options.pool !== undefined || (profile.needs.holdsReservation && (profile.needs.reservation.cpuMhz > 0 || profile.needs.reservation.memoryMB > 0));

  const resourceGroup = (profile: VmProfile, dest: HostView, options: CheckOptions, emit: Emit): void => {
    if (!resourcesMatter(profile, options)) return;
    resources ??= resourceState(index);
    const pool = poolOption(options) ?? landingPool(profile, dest);
    resourceRules(profile.vm.name, profile.needs, dest, pool, options.priority ?? Priority.high, index, resources, emit);
  };

  const placement = (profile: VmProfile, dest: HostView, options: CheckOptions, emit: Emit): void => {
    for (const group of groups) group.rules(profile, dest, emit);
    resourceGroup(profile, dest, options, emit);
  };

  const pairRules = (profile: VmProfile, dest: HostView, emit: Emit): void => {
    const vm = profile.vm;
    const live = vm.power !== "off";
    claimRules(vm.name, claims.claimOf(vm.name), emit);
    replay(vmOnly(profile), emit);
    if (vm.host === dest.host.name) {
      emit(FindingCode.sameHost, Severity.error, () => ({
        subject: { kind: SubjectKind.host, name: dest.host.name },
        message: `${vm.name} already runs on ${dest.host.name}.`,
        fix: "Choose another host.",
      }));
    }
    if (profile.source !== undefined) replay(hostOnly(profile.source, "source", live), emit);
    replay(hostOnly(dest, "destination", live), emit);
    machineTypeRules(vm.name, profile.needs.machine, dest, emit);
    // Not memoised: there are hosts² pairs, and most yield nothing, which is cheap to find out.
    if (live && profile.source !== undefined && vm.host !== dest.host.name) hostPairRules(profile.source, dest, emit);
  };

  const checkInto = (profile: VmProfile, dest: HostView, options: CheckOptions, emit: Emit): void => {
    pairRules(profile, dest, emit);
    placement(profile, dest, options, emit);
  };

  const check = (vmName: string, hostName: string, options: CheckOptions = {}): CheckResult => {
    const profile = profileOf(vmName);
    const dest = hostOf(hostName);
    poolOption(options);
    const c = collect();
    checkInto(profile, dest, options, c.emit);
    return toResult(vmName, hostName, c.findings);
  };

  return {
    check,

    where(vmName, options = {}) {
      const profile = profileOf(vmName);
      poolOption(options);
      const hosts: CheckResult[] = [];
      // One collector for every host; each host's findings are the slice it added.
      const c = collect();
      for (const view of index.hosts.values()) {
        if (view.host.name === profile.vm.host) continue;
        const start = c.findings.length;
        checkInto(profile, view, options, c.emit);
        hosts.push(toResult(vmName, view.host.name, c.findings.slice(start)));
      }
      return { vm: vmName, current: profile.vm.host, hosts };
    },

    matrix(options = {}) {
      poolOption(options);
      const hostViews = [...index.hosts.values()];
      const vms = index.inventory.vms;
      const nHosts = hostViews.length;
      const errors = new Uint32Array(vms.length * nHosts);
      const warnings = new Uint32Array(vms.length * nHosts);
      const groupRows = new Map<unknown, Map<string, { errors: Uint32Array; warnings: Uint32Array }>>();
      const hostBits = new Map<string, { errors: number; warnings: number }>();
      const sink = new BitSink();
      const bitsOf = (findings: readonly Finding[]): { errors: number; warnings: number } => {
        const b = sink.reset();
        replay(findings, b.emit);
        return { errors: b.errors, warnings: b.warnings };
      };
      const cachedBits = (key: string, findings: () => readonly Finding[]): { errors: number; warnings: number } => {
        let bits = hostBits.get(key);
        if (bits === undefined) {
          bits = bitsOf(findings());
          hostBits.set(key, bits);
        }
        return bits;
      };

      // VMotion-port pairs depend on the two hosts only: compute them per source host, for
      // all destinations at once, and reuse them for every VM on that source.
      const pairCache = new Map<string, { errors: Uint32Array; warnings: Uint32Array }>();
      const pairsFrom = (source: HostView): { errors: Uint32Array; warnings: Uint32Array } => {
        let pairs = pairCache.get(source.host.name);
        if (pairs === undefined) {
          const p = { errors: new Uint32Array(nHosts), warnings: new Uint32Array(nHosts) };
          hostViews.forEach((dest, h) => {
            if (dest === source) return;
            const b = sink.reset();
            hostPairRules(source, dest, b.emit);
            p.errors[h] = b.errors >>> 0;
            p.warnings[h] = b.warnings >>> 0;
          });
          pairs = p;
          // Only the current source's row is kept: VMs are visited grouped by host.
          pairCache.clear();
          pairCache.set(source.host.name, pairs);
        }
        return pairs;
      };
      const order = vms.map((_, v) => v).sort((a, b) => {
        const ha = vms[a]?.host ?? "";
        const hb = vms[b]?.host ?? "";
        return ha < hb ? -1 : ha > hb ? 1 : a - b;
      });
      // A destination's own verdict, plus whether it provides the VM's machine type: one row
      // per (live, machine type), so the machine-type rule costs nothing per pair.
      const destRows = new Map<string, { errors: Uint32Array; warnings: Uint32Array }>();
      const destBits = (live: boolean, machine: string | undefined, vmName: string): { errors: Uint32Array; warnings: Uint32Array } => {
        const key = `${live ? 1 : 0}\0${machine ?? ""}`;
        let row = destRows.get(key);
        if (row === undefined) {
          const out = { errors: new Uint32Array(nHosts), warnings: new Uint32Array(nHosts) };
          hostViews.forEach((dest, h) => {
            const b = sink.reset();
            replay(hostOnly(dest, "destination", live), b.emit);
            machineTypeRules(vmName, machine, dest, b.emit);
            out.errors[h] = b.errors >>> 0;
            out.warnings[h] = b.warnings >>> 0;
          });
          row = out;
          destRows.set(key, row);
        }
        return row;
      };

      for (const v of order) {
        const vm = vms[v];
        if (vm === undefined) continue;
        const profile = profileOf(vm.name);
        const live = vm.power !== "off";
        // Each rule group's verdict is equal for equal keys: compute a row over all hosts once per key.
        const rows = groups.map((group) => {
          const key = group.key(profile);
          const cache = groupRows.get(group.rules) ?? new Map<string, { errors: Uint32Array; warnings: Uint32Array }>();
          groupRows.set(group.rules, cache);
          let row = cache.get(key);
          if (row === undefined) {
            const r = { errors: new Uint32Array(nHosts), warnings: new Uint32Array(nHosts) };
            // Storage verdicts depend on a host only through which of the VM's datastores it
            // mounts: evaluate the rules once per mount pattern, not once per host.
            const datastores = group.rules === storageGroup ? storageDatastores(profile) : undefined;
            const byPattern = new Map<number, { errors: number; warnings: number }>();
            hostViews.forEach((dest, h) => {
              let pattern = -1;
              if (datastores !== undefined) {
                pattern = 0;
                for (let d = 0; d < datastores.length; d++) if (dest.mounts.has(datastores[d] ?? "")) pattern |= 1 << d;
                const known = byPattern.get(pattern);
                if (known !== undefined) {
                  r.errors[h] = known.errors;
                  r.warnings[h] = known.warnings;
                  return;
                }
              }
              const b = sink.reset();
              group.rules(profile, dest, b.emit);
              r.errors[h] = b.errors >>> 0;
              r.warnings[h] = b.warnings >>> 0;
              if (pattern >= 0) byPattern.set(pattern, { errors: b.errors >>> 0, warnings: b.warnings >>> 0 });
            });
            row = r;
            cache.set(key, row);
          }
          return row;
        });
        const [storage, network, cpu] = rows;
        if (storage === undefined || network === undefined || cpu === undefined) continue;
        const withResources = resourcesMatter(profile, options);
        const own = bitsOf(vmOnly(profile));
        const claim = claims.claimOf(vm.name);
        if (claim !== undefined) {
          const b = sink.reset();
          claimRules(vm.name, claim, b.emit);
          own.errors |= b.errors;
          own.warnings |= b.warnings;
        }
        const source = profile.source;
        const src = source === undefined ? { errors: 0, warnings: 0 } : cachedBits(`s${live ? 1 : 0}\0${vm.host}`, () => hostOnly(source, "source", live));
        const pairs = live && source !== undefined ? pairsFrom(source) : undefined;
        const base = v * nHosts;
        const dst = destBits(live, profile.needs.machine, vm.name);
        for (let h = 0; h < nHosts; h++) {
          let e = own.errors | src.errors | (dst.errors[h] ?? 0) | (pairs?.errors[h] ?? 0) | (storage.errors[h] ?? 0) | (network.errors[h] ?? 0) | (cpu.errors[h] ?? 0);
          let w = own.warnings | src.warnings | (dst.warnings[h] ?? 0) | (pairs?.warnings[h] ?? 0) | (storage.warnings[h] ?? 0) | (network.warnings[h] ?? 0) | (cpu.warnings[h] ?? 0);
          const dest = hostViews[h];
          if (withResources && dest !== undefined) {
            const b = sink.reset();
            resourceGroup(profile, dest, options, b.emit);
            e |= b.errors;
            w |= b.warnings;
          }
          errors[base + h] = e >>> 0;
          warnings[base + h] = w >>> 0;
        }
      }
      const hostIndex = new Map(hostViews.map((view, h) => [view.host.name, h]));
      const current = Int32Array.from(vms, (vm) => hostIndex.get(vm.host) ?? -1);
      return { vms: vms.map((vm) => vm.name), hosts: hostViews.map((view) => view.host.name), current, errors, warnings, groupRows: [...groupRows.values()].reduce((n, rows) => n + rows.size, 0) };
    },
  };
}
