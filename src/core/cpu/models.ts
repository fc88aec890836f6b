// Named CPU models usable as baselines (vSphere's EVC modes), named as QEMU names its CPU
// models so the qemu driver can start a guest with exactly that model (`-cpu Haswell-noTSX`).
// The models themselves are data, in baseline-models.ts; this module looks them up, says what
// each adds over the one before it, and resolves a cluster's or VM's baseline to a feature set.
//
// A baseline is its vendor and its features, nothing else: two baselines are the same only
// when both are equal (sameBaseline), whatever they are called. A name is for people.
import type { Cpu, CpuBaseline } from "../inventory/schema.ts";
import { BASELINE_MODELS, type BaselineModelData, type BaselineVendor } from "./baseline-models.ts";

export interface CpuModel {
  /** QEMU's model name. */
  readonly name: string;
  /** vSphere's EVC mode key of the same generation ("intel-haswell"), when there is one. */
  readonly evc: string | undefined;
  readonly vendor: BaselineVendor;
  readonly family: number;
  /** Guest-visible features, /proc/cpuinfo names. */
  readonly flags: readonly string[];
  /** Features this model has that the vendor's previous model lacks (all of them for the first). */
  readonly adds: readonly string[];
  /** Features of the vendor's previous model this one lacks (Zen has no XOP, unlike Piledriver). */
  readonly drops: readonly string[];
}

export interface ResolvedBaseline {
  /**
   * The model name, or for an explicit feature set "custom (N features)". For messages only:
   * equality and order never read it (sameBaseline).
   */
  readonly name: string;
  readonly vendor: string;
  readonly flags: ReadonlySet<string>;
}

function buildModels(data: readonly BaselineModelData[]): CpuModel[] {
  const previous = new Map<string, BaselineModelData>();
  return data.map((entry) => {
    const before = previous.get(entry.vendor);
    previous.set(entry.vendor, entry);
    const had = new Set(before?.flags ?? []);
    const has = new Set(entry.flags);
    return {
      name: entry.name,
      evc: entry.evc,
      vendor: entry.vendor,
      family: entry.family,
      // Every name is a guest feature of the CPUID feature table (models.test.ts asserts it).
      flags: entry.flags,
      adds: entry.flags.filter((flag) => !had.has(flag)),
      drops: (before?.flags ?? []).filter((flag) => !has.has(flag)),
    };
  });
}

export const CPU_MODELS: readonly CpuModel[] = buildModels(BASELINE_MODELS);

/** A model by its QEMU name or its EVC mode key ("Haswell-noTSX", "intel-haswell"), whatever the case. */
export function findCpuModel(name: string): CpuModel | undefined {
  const wanted = name.toLowerCase();
  return CPU_MODELS.find((m) => m.name.toLowerCase() === wanted) ?? CPU_MODELS.find((m) => m.evc === wanted);
}

/** The catalogue's models of one vendor, oldest first. */
export function modelsOfVendor(vendor: string): CpuModel[] {
  return CPU_MODELS.filter((m) => m.vendor === vendor);
}

/**
 * What a model adds over the vendor's model before it, in words for docs/cpu-baselines.md:
 * "cx16 sse4_1", "... ; drops xop fma4 tbm", or "base (28 features)" for a vendor's first.
 */
export function modelChangeWords(model: CpuModel): string {
  if (modelsOfVendor(model.vendor)[0]?.name === model.name) return `base (${model.adds.length} features)`;
  const adds = model.adds.length === 0 ? "nothing" : model.adds.join(" ");
  return model.drops.length === 0 ? adds : `${adds}; drops ${model.drops.join(" ")}`;
}

/** A model as a baseline. */
export function modelBaseline(model: CpuModel): ResolvedBaseline {
  return { name: model.name, vendor: model.vendor, flags: new Set(model.flags) };
}

/** The baseline's vendor and features; undefined when it names a model Ferry does not know. */
export function resolveBaseline(baseline: CpuBaseline): ResolvedBaseline | undefined {
  if (baseline.model !== undefined) {
    const model = findCpuModel(baseline.model);
    if (model === undefined) return undefined;
    return modelBaseline(model);
  }
  return customBaseline(baseline.vendor ?? "", baseline.flags ?? []);
}

/** An explicit feature set as a baseline, named for what it is: "custom (12 features)". */
export function customBaseline(vendor: string, flags: Iterable<string>): ResolvedBaseline {
  const set = new Set(flags);
  return { name: `custom (${set.size} feature${set.size === 1 ? "" : "s"})`, vendor, flags: set };
}

/** Whether two baselines show guests the same CPU: the same vendor and the same features, whatever their names. */
export function sameBaseline(a: ResolvedBaseline, b: ResolvedBaseline): boolean {
  if (a.vendor !== b.vendor || a.flags.size !== b.flags.size) return false;
  for (const flag of a.flags) if (!b.flags.has(flag)) return false;
  return true;
}

/** A baseline's identity as a string (vendor and sorted features), for memo keys: equal exactly when sameBaseline. */
export function baselineKey(baseline: ResolvedBaseline): string {
  return `${baseline.vendor}:${[...baseline.flags].sort().join(" ")}`;
}

/** Whether a host CPU can present `baseline` to its guests, and what it lacks. */
export function hostSupportsBaseline(cpu: Cpu, baseline: ResolvedBaseline): { ok: boolean; vendorMismatch: boolean; missing: string[] } {
  const vendorMismatch = cpu.vendor !== baseline.vendor;
  const have = new Set(cpu.flags);
  const missing = [...baseline.flags].filter((flag) => !have.has(flag)).sort();
  return { ok: !vendorMismatch && missing.length === 0, vendorMismatch, missing };
}

/** The newest catalogue model `cpu` can present, or undefined (unknown vendor, or too old for Conroe/Opteron_G1). */
export function highestModelFor(cpu: Cpu): CpuModel | undefined {
  const models = modelsOfVendor(cpu.vendor);
  for (let i = models.length - 1; i >= 0; i--) {
    const model = models[i];
    if (model !== undefined && hostSupportsBaseline(cpu, modelBaseline(model)).ok) return model;
  }
  return undefined;
}
