// The full compatibility matrix (every VM × every host) as bit masks. Affordable at 1,000 ×
// 10,000 because verdicts are computed per row and shared: per rule group and profile key,
// per (live, machine type) for destinations, per source host for VMotion-port pairs.
import type { HostView } from "../inventory/index.ts";
import type { Vm } from "../inventory/schema.ts";
import { codeBit, Severity, type Emit, type Finding } from "./findings.ts";
import type { VmProfile } from "./profile.ts";
import { machineTypeRules } from "./rules/hypervisor.ts";
import { claimRules } from "./rules/vm.ts";
import { hostPairRules, replay, resourcesMatter, storageDatastores, type MemoisedRules, type RuleGroup } from "./memo-rules.ts";
import type { CheckOptions, CompatibilityMatrix } from "./checker.ts";

interface Bits {
  errors: number;
  warnings: number;
}

/** One bit mask per host, for errors and for warnings. */
interface Row {
  readonly errors: Uint32Array;
  readonly warnings: Uint32Array;
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

/** VM indices grouped by the host they run on, so each source host's pair row is computed once. */
function visitOrder(vms: readonly Vm[]): number[] {
  return vms.map((_, v) => v).sort((a, b) => {
    const ha = vms[a]?.host ?? "";
    const hb = vms[b]?.host ?? "";
    return ha < hb ? -1 : ha > hb ? 1 : a - b;
  });
}

export function buildMatrix(rules: MemoisedRules, options: CheckOptions): CompatibilityMatrix {
  rules.poolOption(options);
  return new MatrixBuilder(rules, options).build();
}

class MatrixBuilder {
  readonly #rules: MemoisedRules;
  readonly #options: CheckOptions;
  readonly #hostViews: readonly HostView[];
  readonly #nHosts: number;
  readonly #sink = new BitSink();
  /** Per rule group, a row per profile key. */
  readonly #groupRows = new Map<RuleGroup["name"], Map<string, Row>>();
  /** Source hosts' own verdicts, per (live, host). */
  readonly #sourceBits = new Map<string, Bits>();
  /** VMotion-port pairs from the current source host only: VMs are visited grouped by host. */
  #pairs: { source: string; row: Row } | undefined;
  /** Destinations' own verdicts plus the machine-type rule, per (live, machine type). */
  readonly #destRows = new Map<string, Row>();

  constructor(rules: MemoisedRules, options: CheckOptions) {
    this.#rules = rules;
    this.#options = options;
    this.#hostViews = [...rules.index.hosts.values()];
    this.#nHosts = this.#hostViews.length;
  }

  build(): CompatibilityMatrix {
    const vms = this.#rules.index.inventory.vms;
    const errors = new Uint32Array(vms.length * this.#nHosts);
    const warnings = new Uint32Array(vms.length * this.#nHosts);
    for (const v of visitOrder(vms)) {
      const vm = vms[v];
      if (vm !== undefined) this.#fillVm(vm, errors.subarray(v * this.#nHosts, (v + 1) * this.#nHosts), warnings.subarray(v * this.#nHosts, (v + 1) * this.#nHosts));
    }
    const hostIndex = new Map(this.#hostViews.map((view, h) => [view.host.name, h]));
    const current = Int32Array.from(vms, (vm) => hostIndex.get(vm.host) ?? -1);
    const groupRows = [...this.#groupRows.values()].reduce((n, rows) => n + rows.size, 0);
    return { vms: vms.map((vm) => vm.name), hosts: this.#hostViews.map((view) => view.host.name), current, errors, warnings, groupRows };
  }

  /** One VM's cells: the OR of its own bits and each shared row's, plus resource rules per pair when they matter. */
  #fillVm(vm: Vm, errors: Uint32Array, warnings: Uint32Array): void {
    const profile = this.#rules.profileOf(vm.name);
    const live = vm.power !== "off";
    const [storage, network, cpu] = this.#rules.groups.map((group) => this.#groupRow(group, profile));
    if (storage === undefined || network === undefined || cpu === undefined) return;
    const source = profile.source;
    const pairs = live && source !== undefined ? this.#pairsFrom(source) : undefined;
    const dst = this.#destRow(live, profile.needs.machine, vm.name);
    const own = this.#vmBits(profile, live);
    const withResources = resourcesMatter(profile, this.#options);
    for (let h = 0; h < this.#nHosts; h++) {
      let e = own.errors | (dst.errors[h] ?? 0) | (pairs?.errors[h] ?? 0) | (storage.errors[h] ?? 0) | (network.errors[h] ?? 0) | (cpu.errors[h] ?? 0);
      let w = own.warnings | (dst.warnings[h] ?? 0) | (pairs?.warnings[h] ?? 0) | (storage.warnings[h] ?? 0) | (network.warnings[h] ?? 0) | (cpu.warnings[h] ?? 0);
      const dest = this.#hostViews[h];
      if (withResources && dest !== undefined) {
        const b = this.#sink.reset();
        this.#rules.resourceGroup(profile, dest, this.#options, b.emit);
        e |= b.errors;
        w |= b.warnings;
      }
      errors[h] = e >>> 0;
      warnings[h] = w >>> 0;
    }
  }

  /** What holds for every destination: the VM's own findings, its claim, its source host's own verdict. */
  #vmBits(profile: VmProfile, live: boolean): Bits {
    const vm = profile.vm;
    const own = this.#bitsOf(this.#rules.vmOnly(profile));
    const claim = this.#rules.claims.claimOf(vm.name);
    if (claim !== undefined) {
      const b = this.#sink.reset();
      claimRules(vm.name, claim, b.emit);
      own.errors |= b.errors;
      own.warnings |= b.warnings;
    }
    const source = profile.source;
    if (source !== undefined) {
      const key = `s${live ? 1 : 0}\0${vm.host}`;
      let src = this.#sourceBits.get(key);
      if (src === undefined) {
        src = this.#bitsOf(this.#rules.hostOnly(source, "source", live));
        this.#sourceBits.set(key, src);
      }
      own.errors |= src.errors;
      own.warnings |= src.warnings;
    }
    return own;
  }

  #bitsOf(findings: readonly Finding[]): Bits {
    const b = this.#sink.reset();
    replay(findings, b.emit);
    return { errors: b.errors, warnings: b.warnings };
  }

  /** A row over all hosts, each cell the bits `rules` emits for that host (none for a skipped one). */
  #rowOf(rules: (dest: HostView, emit: Emit) => void, skip?: HostView): Row {
    const row = { errors: new Uint32Array(this.#nHosts), warnings: new Uint32Array(this.#nHosts) };
    this.#hostViews.forEach((dest, h) => {
      if (dest === skip) return;
      const b = this.#sink.reset();
      rules(dest, b.emit);
      row.errors[h] = b.errors >>> 0;
      row.warnings[h] = b.warnings >>> 0;
    });
    return row;
  }

  // VMotion-port pairs depend on the two hosts only: compute them per source host, for all
  // destinations at once, and reuse them for every VM on that source.
  #pairsFrom(source: HostView): Row {
    if (this.#pairs?.source !== source.host.name) {
      this.#pairs = { source: source.host.name, row: this.#rowOf((dest, emit) => { hostPairRules(source, dest, emit); }, source) };
    }
    return this.#pairs.row;
  }

  // A destination's own verdict, plus whether it provides the VM's machine type: one row per
  // (live, machine type), so the machine-type rule costs nothing per pair.
  #destRow(live: boolean, machine: string | undefined, vmName: string): Row {
    const key = `${live ? 1 : 0}\0${machine ?? ""}`;
    let row = this.#destRows.get(key);
    if (row === undefined) {
      row = this.#rowOf((dest, emit) => {
        replay(this.#rules.hostOnly(dest, "destination", live), emit);
        machineTypeRules(vmName, machine, dest, emit);
      });
      this.#destRows.set(key, row);
    }
    return row;
  }

  // Each rule group's verdict is equal for equal keys: compute a row over all hosts once per key.
  #groupRow(group: RuleGroup, profile: VmProfile): Row {
    const cache = this.#groupRows.get(group.name) ?? new Map<string, Row>();
    this.#groupRows.set(group.name, cache);
    const key = group.key(profile);
    let row = cache.get(key);
    if (row === undefined) {
      row = group.name === "storage" ? this.#storageRow(group, profile) : this.#rowOf((dest, emit) => { group.rules(profile, dest, emit); });
      cache.set(key, row);
    }
    return row;
  }

  // Storage verdicts depend on a host only through which of the VM's datastores it mounts:
  // evaluate the rules once per mount pattern, not once per host.
  #storageRow(group: RuleGroup, profile: VmProfile): Row {
    const datastores = storageDatastores(profile);
    if (datastores === undefined) return this.#rowOf((dest, emit) => { group.rules(profile, dest, emit); });
    const row = { errors: new Uint32Array(this.#nHosts), warnings: new Uint32Array(this.#nHosts) };
    const byPattern = new Map<number, Bits>();
    this.#hostViews.forEach((dest, h) => {
      let pattern = 0;
      for (let d = 0; d < datastores.length; d++) if (dest.mounts.has(datastores[d] ?? "")) pattern |= 1 << d;
      let bits = byPattern.get(pattern);
      if (bits === undefined) {
        const b = this.#sink.reset();
        group.rules(profile, dest, b.emit);
        bits = { errors: b.errors >>> 0, warnings: b.warnings >>> 0 };
        byPattern.set(pattern, bits);
      }
      row.errors[h] = bits.errors;
      row.warnings[h] = bits.warnings;
    });
    return row;
  }
}
