// Named CPU models usable as baselines (vSphere's EVC modes), named as QEMU names its CPU
// models so the qemu driver can start a guest with exactly that model (`-cpu Haswell-noTSX`).
//
// Feature lists copy QEMU's target/i386/cpu.c builtin_x86_defs (the unversioned model, i.e.
// version 1, or the alias QEMU gives a later version, such as `Skylake-Server-noTSX-IBRS`),
// cross-checked against libvirt's src/cpu_map/x86_<Model>.xml, less svm and monitor (see the
// AMD models below for why). Only flags that features.ts knows appear: a flag Ferry does not
// compare cannot block or allow anything. Left out for that reason: ospke (QEMU sets it from
// CR4 at run time anyway), spec-ctrl and ssbd (the -IBRS variants), avx512vbmi2, avx512bitalg,
// avx512-vpopcntdq and pconfig (Icelake), intel-pt (older QEMU's Icelake).
// Kept as QEMU has it: mpx in the Skylake, Cascade Lake and Ice Lake models. Real Ice Lake
// parts have no MPX, so, as with QEMU's `enforce`, such a host cannot present these models.
//
// Order matters: oldest to newest within each vendor, and within one generation the smaller
// feature set first (the -noTSX variant before the one with TSX), so "the highest model every
// host supports" is simply the last supported entry of that vendor.
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

// CPUID leaf 1 EDX as every QEMU model since Conroe sets it (QEMU added VME to all of them).
const leaf1Edx = [
  "fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "sep", "mtrr", "pge", "mca",
  "cmov", "pat", "pse36", "clflush", "mmx", "fxsr", "sse", "sse2",
] as const;

/** Long mode and NX, CPUID 0x80000001 EDX: in every x86-64 model. */
const amd64 = ["syscall", "nx", "lm"] as const;

const conroe = [...leaf1Edx, ...amd64, "pni", "ssse3", "lahf_lm"];
const penryn = [...conroe, "cx16", "sse4_1"];
const nehalem = [...penryn, "sse4_2", "popcnt"];
const westmere = [...nehalem, "aes", "pclmulqdq", "arat"];
const sandyBridge = [...westmere, "x2apic", "tsc_deadline_timer", "xsave", "avx", "rdtscp", "xsaveopt"];
const ivyBridge = [...sandyBridge, "f16c", "rdrand", "fsgsbase", "smep", "erms"];
const haswellNoTsx = [...ivyBridge, "fma", "movbe", "pcid", "abm", "bmi1", "avx2", "bmi2", "invpcid"];
const tsx = ["hle", "rtm"] as const;
const broadwellNoTsx = [...haswellNoTsx, "3dnowprefetch", "rdseed", "adx", "smap"];
// QEMU's Skylake models leave XSAVES out on purpose (older Linux guests mishandle it).
const skylakeClientNoTsx = [...broadwellNoTsx, "mpx", "xsavec", "xgetbv1"];
const skylakeServerNoTsx = [
  ...skylakeClientNoTsx, "pdpe1gb", "clwb", "avx512f", "avx512dq", "avx512bw", "avx512cd", "avx512vl",
];
const cascadelakeServerNoTsx = [...skylakeServerNoTsx, "clflushopt", "pku", "avx512_vnni"];
const icelakeServerNoTsx = [
  ...cascadelakeServerNoTsx, "wbnoinvd", "avx512vbmi", "umip", "gfni", "vaes", "vpclmulqdq", "la57",
];

// AMD. Two flags of QEMU's AMD models are left out, because a KVM guest does not get them
// from QEMU's model anyway: svm (nested AMD-V, from Opteron_G2 on), which KVM exposes only
// with nested virtualization on and which, like vmx (never in QEMU's Intel models), belongs
// to the host's configuration; and monitor (Opteron_G3, EPYC), which KVM filters out (QEMU
// warns "host doesn't support requested feature: CPUID.01H:ECX.monitor"). Keeping them would
// make every AMD host with AMD-V off, or a nested one, unable to present more than Opteron_G1.
const opteronG1 = [...leaf1Edx, ...amd64, "pni"];
const opteronG2 = [...opteronG1, "cx16", "lahf_lm"];
const opteronG3 = [...opteronG2, "popcnt", "misalignsse", "sse4a", "abm"];
// QEMU dropped RDTSCP from G4/G5 (KVM could not offer it on AMD then).
const opteronG4 = [
  ...opteronG3, "ssse3", "sse4_1", "sse4_2", "aes", "pclmulqdq", "xsave", "avx", "pdpe1gb", "3dnowprefetch", "xop", "fma4",
];
const opteronG5 = [...opteronG4, "f16c", "fma", "tbm"];
const epyc = [
  ...leaf1Edx, ...amd64, "pni", "pclmulqdq", "ssse3", "fma", "cx16", "sse4_1", "sse4_2", "movbe",
  "popcnt", "aes", "xsave", "avx", "f16c", "rdrand", "lahf_lm", "cr8_legacy", "abm", "sse4a",
  "misalignsse", "3dnowprefetch", "osvw", "topoext", "mmxext", "fxsr_opt", "pdpe1gb", "rdtscp", "fsgsbase",
  "bmi1", "avx2", "smep", "bmi2", "rdseed", "adx", "smap", "clflushopt", "sha_ni", "xsaveopt", "xsavec",
  "xgetbv1", "arat",
];

const intel = (name: string, flags: readonly string[]): CpuModel => ({ name, vendor: "GenuineIntel", family: 6, flags: [...new Set(flags)] });
const amd = (name: string, family: number, flags: readonly string[]): CpuModel => ({ name, vendor: "AuthenticAMD", family, flags: [...new Set(flags)] });

export const CPU_MODELS: readonly CpuModel[] = [
  intel("Conroe", conroe),
  intel("Penryn", penryn),
  intel("Nehalem", nehalem),
  intel("Westmere", westmere),
  intel("SandyBridge", sandyBridge),
  intel("IvyBridge", ivyBridge),
  intel("Haswell-noTSX", haswellNoTsx),
  intel("Haswell", [...haswellNoTsx, ...tsx]),
  intel("Broadwell-noTSX", broadwellNoTsx),
  intel("Broadwell", [...broadwellNoTsx, ...tsx]),
  intel("Skylake-Client-noTSX-IBRS", skylakeClientNoTsx),
  intel("Skylake-Client", [...skylakeClientNoTsx, ...tsx]),
  intel("Skylake-Server-noTSX-IBRS", skylakeServerNoTsx),
  intel("Skylake-Server", [...skylakeServerNoTsx, ...tsx]),
  intel("Cascadelake-Server-noTSX", cascadelakeServerNoTsx),
  intel("Cascadelake-Server", [...cascadelakeServerNoTsx, ...tsx]),
  intel("Icelake-Server-noTSX", icelakeServerNoTsx),
  intel("Icelake-Server", [...icelakeServerNoTsx, ...tsx]),
  amd("Opteron_G1", 15, opteronG1),
  amd("Opteron_G2", 15, opteronG2),
  amd("Opteron_G3", 16, opteronG3),
  amd("Opteron_G4", 21, opteronG4),
  amd("Opteron_G5", 21, opteronG5),
  amd("EPYC", 23, epyc),
];

export function findCpuModel(name: string): CpuModel | undefined {
  return CPU_MODELS.find((m) => m.name.toLowerCase() === name.toLowerCase());
}

/** The catalogue's models of one vendor, oldest first. */
export function modelsOfVendor(vendor: string): CpuModel[] {
  return CPU_MODELS.filter((m) => m.vendor === vendor);
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
  return { name: "custom", vendor: baseline.vendor ?? "", flags: new Set(baseline.flags ?? []) };
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
