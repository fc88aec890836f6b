// The CPUID features a guest can see, named as Linux names them in /proc/cpuinfo.
// Only these take part in compatibility: /proc/cpuinfo also lists flags Linux synthesises
// (constant_tsc, rep_good, ...) or that describe the host alone (vmx, svm, hypervisor: KVM
// exposes VT/AMD-V to a guest only with nested virtualization),
// which a guest never relies on.
import type { CpuidMask } from "../inventory/schema.ts";

export interface CpuFeature {
  /** Linux /proc/cpuinfo name. */
  readonly flag: string;
  /** What operators call it. */
  readonly label: string;
  /** Flags this one needs: hiding a prerequisite hides this too (SSE4.2 needs SSSE3, ...). */
  readonly requires?: readonly string[];
}

const f = (flag: string, label: string, requires?: readonly string[]): CpuFeature =>
  requires === undefined ? { flag, label } : { flag, label, requires };

/** Guest-visible features, CPUID leaves 1, 7 and 0x80000001, in rough age order. */
export const CPU_FEATURES: readonly CpuFeature[] = [
  f("fpu", "x87 FPU"), f("vme", "VME"), f("de", "DE"), f("pse", "PSE"), f("tsc", "TSC"), f("msr", "MSR"),
  f("pae", "PAE"), f("mce", "MCE"), f("cx8", "CMPXCHG8B"), f("apic", "APIC"), f("sep", "SYSENTER"),
  f("mtrr", "MTRR"), f("pge", "PGE"), f("mca", "MCA"), f("cmov", "CMOV"), f("pat", "PAT"),
  f("pse36", "PSE-36"), f("clflush", "CLFLUSH"), f("mmx", "MMX"), f("fxsr", "FXSAVE"),
  f("sse", "SSE", ["fxsr"]), f("sse2", "SSE2", ["sse"]), f("ss", "self-snoop"), f("ht", "HTT"),
  f("syscall", "SYSCALL"), f("nx", "NX/XD"), f("mmxext", "AMD MMX extensions", ["mmx"]),
  f("fxsr_opt", "FXSAVE optimisations", ["fxsr"]), f("pdpe1gb", "1 GiB pages"), f("rdtscp", "RDTSCP"),
  f("lm", "64-bit long mode"), f("3dnowext", "3DNow! extensions", ["3dnow"]), f("3dnow", "3DNow!", ["mmx"]),
  f("pni", "SSE3", ["sse2"]), f("pclmulqdq", "PCLMULQDQ", ["sse2"]), f("monitor", "MONITOR/MWAIT"),
  f("ssse3", "SSSE3", ["pni"]), f("fma", "FMA3", ["avx"]), f("cx16", "CMPXCHG16B"), f("pcid", "PCID"),
  f("sse4_1", "SSE4.1", ["ssse3"]), f("sse4_2", "SSE4.2", ["sse4_1"]), f("x2apic", "x2APIC"),
  f("movbe", "MOVBE"), f("popcnt", "POPCNT"), f("tsc_deadline_timer", "TSC deadline"),
  f("aes", "AES-NI", ["sse2"]), f("xsave", "XSAVE"), f("avx", "AVX", ["xsave", "sse4_2"]),
  f("f16c", "F16C", ["avx"]), f("rdrand", "RDRAND"), f("lahf_lm", "LAHF/SAHF in long mode"),
  f("cmp_legacy", "CMP legacy"), f("extapic", "extended APIC"),
  f("cr8_legacy", "CR8 legacy"), f("abm", "ABM/LZCNT"), f("sse4a", "SSE4a", ["pni"]),
  f("misalignsse", "misaligned SSE"), f("3dnowprefetch", "PREFETCHW"), f("osvw", "OSVW"),
  f("xop", "XOP", ["avx"]), f("fma4", "FMA4", ["avx"]), f("tbm", "TBM"), f("topoext", "topology extensions"),
  f("fsgsbase", "FSGSBASE"), f("bmi1", "BMI1"), f("hle", "TSX HLE"), f("avx2", "AVX2", ["avx"]),
  f("smep", "SMEP"), f("bmi2", "BMI2"), f("erms", "enhanced REP MOVSB"), f("invpcid", "INVPCID"),
  f("rtm", "TSX RTM"), f("mpx", "MPX"), f("avx512f", "AVX-512 F", ["avx2"]),
  f("avx512dq", "AVX-512 DQ", ["avx512f"]), f("rdseed", "RDSEED"), f("adx", "ADX"), f("smap", "SMAP"),
  f("clflushopt", "CLFLUSHOPT"), f("clwb", "CLWB"), f("avx512cd", "AVX-512 CD", ["avx512f"]),
  f("sha_ni", "SHA extensions", ["sse2"]), f("avx512bw", "AVX-512 BW", ["avx512f"]),
  f("avx512vl", "AVX-512 VL", ["avx512f"]), f("xsaveopt", "XSAVEOPT", ["xsave"]),
  f("xsavec", "XSAVEC", ["xsave"]), f("xgetbv1", "XGETBV1", ["xsave"]), f("xsaves", "XSAVES", ["xsave"]),
  f("umip", "UMIP"), f("pku", "protection keys"), f("avx512vbmi", "AVX-512 VBMI", ["avx512f"]),
  f("avx512_vnni", "AVX-512 VNNI", ["avx512f"]), f("gfni", "GFNI", ["sse2"]), f("vaes", "VAES", ["aes", "avx"]),
  f("vpclmulqdq", "VPCLMULQDQ", ["pclmulqdq", "avx"]), f("rdpid", "RDPID"), f("la57", "5-level paging"),
  f("clzero", "CLZERO"), f("wbnoinvd", "WBNOINVD"), f("arat", "always-running APIC timer"),
];

const byFlag = new Map(CPU_FEATURES.map((feature) => [feature.flag, feature]));

/** Whether a /proc/cpuinfo flag is a guest-visible CPUID feature Ferry compares. */
export function isGuestFeature(flag: string): boolean {
  return byFlag.has(flag);
}

/** The operator's name of a flag ("SSE4.2" for sse4_2); the flag itself when unknown. */
export function featureLabel(flag: string): string {
  return byFlag.get(flag)?.label ?? flag;
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
