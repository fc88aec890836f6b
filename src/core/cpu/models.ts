// Named CPU models usable as baselines (vSphere's EVC modes), named as QEMU names its CPU
// models so the qemu driver can start a guest with exactly that model.
// PLACEHOLDER CATALOGUE: being filled in; the API below is fixed.
import type { Cpu, CpuBaseline } from "../inventory/schema.ts";

export interface CpuModel {
  readonly name: string;
  readonly vendor: "GenuineIntel" | "AuthenticAMD";
  readonly family: number;
  /** Guest-visible features, /proc/cpuinfo names. */
  readonly flags: readonly string[];
}

export interface ResolvedBaseline {
  /** The model name, or "custom" for an explicit feature set. */
  readonly name: string;
  readonly vendor: string;
  readonly flags: ReadonlySet<string>;
}

export const CPU_MODELS: readonly CpuModel[] = [];

export function findCpuModel(name: string): CpuModel | undefined {
  return CPU_MODELS.find((m) => m.name.toLowerCase() === name.toLowerCase());
}

/** The baseline's vendor and features; undefined when it names a model Ferry does not know. */
export function resolveBaseline(baseline: CpuBaseline): ResolvedBaseline | undefined {
  if (baseline.model !== undefined) {
    const model = findCpuModel(baseline.model);
    if (model === undefined) return undefined;
    return { name: model.name, vendor: model.vendor, flags: new Set(model.flags) };
  }
  return { name: "custom", vendor: baseline.vendor ?? "", flags: new Set(baseline.flags ?? []) };
}

/** Whether a host CPU can present `baseline` to its guests, and what it lacks. */
export function hostSupportsBaseline(cpu: Cpu, baseline: ResolvedBaseline): { ok: boolean; vendorMismatch: boolean; missing: string[] } {
  const vendorMismatch = cpu.vendor !== baseline.vendor;
  const have = new Set(cpu.flags);
  const missing = [...baseline.flags].filter((flag) => !have.has(flag)).sort();
  return { ok: !vendorMismatch && missing.length === 0, vendorMismatch, missing };
}
