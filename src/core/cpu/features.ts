// The CPUID features a guest can see, named as Linux names them in /proc/cpuinfo (or, for a
// bit Linux hides, as its X86_FEATURE_ macro in lower case). They come from the one generated
// table of every CPUID feature bit (feature-table.generated.ts); only its `guest` bits take part
// in compatibility. /proc/cpuinfo also lists flags Linux synthesises (constant_tsc, rep_good,
// ...) and the table has bits that describe the host alone (vmx, svm, hypervisor: KVM exposes
// VT/AMD-V to a guest only with nested virtualization): a guest never relies on those.
import type { CpuidMask } from "../inventory/schema.ts";
import type { CpuidFeature } from "./cpuid-types.ts";
import { CPUID_FEATURES } from "./feature-table.generated.ts";

export interface CpuFeature {
  /** Linux /proc/cpuinfo name (the table's name). */
  readonly flag: string;
  /** What operators call it. */
  readonly label: string;
  /** Flags this one needs: hiding a prerequisite hides this too (SSE4.2 needs SSSE3, ...). */
  readonly requires?: readonly string[];
}

const tableByName = new Map(CPUID_FEATURES.map((feature) => [feature.name, feature]));

/** The table's entry for a flag name, guest-visible or not. */
export function featureByName(name: string): CpuidFeature | undefined {
  return tableByName.get(name);
}

/** Guest-visible features, in table order (leaf, subleaf, register, bit). */
export const CPU_FEATURES: readonly CpuFeature[] = CPUID_FEATURES.filter((feature) => feature.guest).map((feature) =>
  feature.requires.length === 0 ? { flag: feature.name, label: feature.label } : { flag: feature.name, label: feature.label, requires: feature.requires },
);

const byFlag = new Map(CPU_FEATURES.map((feature) => [feature.flag, feature]));

/** Whether a /proc/cpuinfo flag is a guest-visible CPUID feature Ferry compares. */
export function isGuestFeature(flag: string): boolean {
  return byFlag.has(flag);
}

/**
 * Whether a guest booted on a host that has `flag` sees it: a guest feature QEMU has a `-cpu`
 * property for (the table's QEMU names). The qemu driver builds every guest CPU from named
 * properties, so a bit without one (lfence_rdtsc, null_sel_clr_base on the table's QEMU) stays
 * hidden from the guest, whatever the host has.
 */
export function isPresentable(flag: string): boolean {
  return byFlag.has(flag) && featureByName(flag)?.qemu !== undefined;
}

/** The operator's name of a flag ("SSE4.2" for sse4_2), host-only ones too; the flag itself when unknown. */
export function featureLabel(flag: string): string {
  return tableByName.get(flag)?.label ?? flag;
}

/** Features that need `flag`, directly or through others. */
const dependents = new Map<string, Set<string>>();
for (const feature of CPU_FEATURES) {
  for (const req of feature.requires ?? []) {
    let set = dependents.get(req);
    if (set === undefined) dependents.set(req, (set = new Set()));
    set.add(feature.flag);
  }
}

/** `flags` plus every feature that (transitively) requires one of them. */
export function withDependents(flags: Iterable<string>): Set<string> {
  const out = new Set<string>();
  const queue = [...flags];
  for (let flag = queue.pop(); flag !== undefined; flag = queue.pop()) {
    if (out.has(flag)) continue;
    out.add(flag);
    for (const d of dependents.get(flag) ?? []) queue.push(d);
  }
  return out;
}

/** Mask presets of the seed's Figure 9.33/9.34, in /proc/cpuinfo names. */
export const MASK_PRESETS = {
  nx: ["nx"],
  sse3: ["pni"],
  sse4: ["sse4_1", "sse4_2"],
} as const satisfies Record<string, readonly string[]>;

/** Every flag a CPUID mask hides from the guest, including the features that depend on them. */
export function maskedFlags(mask: CpuidMask | undefined): Set<string> {
  if (mask === undefined) return new Set();
  const hidden: string[] = [...mask.custom];
  if (mask.nx) hidden.push(...MASK_PRESETS.nx);
  if (mask.sse3) hidden.push(...MASK_PRESETS.sse3);
  if (mask.sse4) hidden.push(...MASK_PRESETS.sse4);
  return withDependents(hidden);
}

/** The mask setting that hides `flag`, in the words of the VM's settings: the preset when one covers it. */
export function maskFor(flag: string): "nx" | "sse3" | "sse4" | "custom" {
  if (flag === "nx") return "nx";
  if (flag === "sse4_1" || flag === "sse4_2") return "sse4";
  if (flag === "pni") return "sse3";
  return "custom";
}
