// The named CPU baselines as data: one entry per QEMU CPU model Ferry offers as a cluster or
// VM baseline (vSphere's EVC modes), oldest to newest within each vendor. models.ts turns them
// into CpuModel (what each adds over the one before it, lookup by QEMU or EVC name).
//
// `name` is QEMU's model name, so the qemu driver can start a guest with exactly that model
// (`-cpu Haswell-noTSX`). `evc` is the vSphere EVC mode key of the same generation where one
// exists (the `key` of vim's EVCMode, as `Get-EVCMode` or the vSphere UI's "EVC mode" show it).
// An EVC mode and a QEMU model of one generation are close, not identical: each vendor's
// engineers chose the features; the EVC name here says which generation a model stands for.
//
// `flags` copy QEMU's target/i386/cpu.c builtin_x86_defs, in Linux /proc/cpuinfo names (QEMU
// spells some differently: sse4.1 → sse4_1, lahf-lm → lahf_lm, avx512-vpopcntdq →
// avx512_vpopcntdq; for a bit Linux does not show, the X86_FEATURE_ name in lower case:
// spec_ctrl, amd_ibpb). Each model is the unversioned one (version 1) or the alias QEMU gives a
// later version (`Skylake-Server-noTSX-IBRS` is Skylake-Server-v3: v2's spec-ctrl and
// clflushopt=off, then hle=off and rtm=off). Models up to Icelake-Server and EPYC follow
// QEMU 7.2 (Debian bookworm's, which the lab runs); SapphireRapids, EPYC-Rome, EPYC-Milan and
// EPYC-Genoa follow QEMU's master of 2025 (EPYC-Genoa needs QEMU 8.1 or newer).
//
// Left out on purpose, because a KVM guest does not get them from QEMU's model anyway:
// - svm (nested AMD-V, in every AMD model from Opteron_G2 on) and the SVM leaf's npt,
//   nrip_save, vnmi: KVM exposes them only with nested virtualization on, which like vmx
//   (never in QEMU's Intel models) belongs to the host's configuration;
// - monitor (Opteron_G3, the EPYCs): KVM filters it out ("host doesn't support requested
//   feature: CPUID.01H:ECX.monitor"). Keeping either would make every AMD host with AMD-V off,
//   or a nested one, unable to present more than Opteron_G1;
// - ospke: QEMU sets it from the guest's CR4 at run time;
// - MSR bits (IA32_ARCH_CAPABILITIES' rdctl-no, mds-no, ..., IA32_CORE_CAPABILITIES) and VMX
//   controls: not CPUID feature bits;
// - bits QEMU 7.2 has no -cpu property for (the feature table's `qemu` is undefined), so the
//   qemu driver could not spell them and refuses a guest that needs them: fzrm, fsrs and fsrc
//   (QEMU's master sets them in SapphireRapids) and amd_stibp_always_on, amd_psfd,
//   no_nested_data_bp, lfence_rdtsc, null_sel_clr_base and autoibrs (EPYC-Genoa). A host that
//   has them still presents these models; guests just do not rely on them.
// Kept as QEMU 7.2 has it: mpx in the Skylake, Cascade Lake and Ice Lake models (QEMU's master
// no longer lists it there). Real Ice Lake parts have no MPX, so, as with QEMU's `enforce`, such
// a host cannot present these models.
//
// Order matters: oldest to newest within each vendor, and within one generation the smaller
// feature set first (the -noTSX variant before the one with TSX), so "the highest model every
// host supports" is simply the last supported entry of that vendor.

export type BaselineVendor = "GenuineIntel" | "AuthenticAMD";

export interface BaselineModelData {
  /** QEMU's `-cpu` name. */
  readonly name: string;
  /** vSphere's EVC mode key of this generation, when there is one. */
  readonly evc: string | undefined;
  readonly vendor: BaselineVendor;
  /** The CPUID family the guest sees under this model (QEMU's `.family`). */
  readonly family: number;
  /** Guest-visible features, /proc/cpuinfo names. */
  readonly flags: readonly string[];
}

// CPUID leaf 1 EDX as every QEMU model since Conroe sets it (QEMU added VME to all of them).
const leaf1Edx = [
  "fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "sep", "mtrr", "pge", "mca",
  "cmov", "pat", "pse36", "clflush", "mmx", "fxsr", "sse", "sse2",
] as const;

/** Long mode and NX, CPUID 0x80000001 EDX: in every x86-64 model. */
const amd64 = ["syscall", "nx", "lm"] as const;

/** TSX: the only difference between QEMU's -noTSX models and their namesakes (besides where noted). */
const tsx = ["hle", "rtm"] as const;

// Intel, family 6 throughout.
const conroe = [...leaf1Edx, ...amd64, "pni", "ssse3", "lahf_lm"];
const penryn = [...conroe, "cx16", "sse4_1"];
const nehalem = [...penryn, "sse4_2", "popcnt"];
const westmere = [...nehalem, "aes", "pclmulqdq", "arat"];
const sandyBridge = [...westmere, "x2apic", "tsc_deadline_timer", "xsave", "avx", "rdtscp", "xsaveopt"];
const ivyBridge = [...sandyBridge, "f16c", "rdrand", "fsgsbase", "smep", "erms"];
const haswellNoTsx = [...ivyBridge, "fma", "movbe", "pcid", "abm", "bmi1", "avx2", "bmi2", "invpcid"];
const broadwellNoTsx = [...haswellNoTsx, "3dnowprefetch", "rdseed", "adx", "smap"];
// QEMU's Skylake models leave XSAVES out on purpose (older Linux guests mishandle it).
const skylakeClient = [...broadwellNoTsx, "mpx", "xsavec", "xgetbv1"];
const skylakeServer = [...skylakeClient, "pdpe1gb", "clwb", "avx512f", "avx512dq", "avx512bw", "avx512cd", "avx512vl", "pku"];
const cascadelakeServer = [...skylakeServer, "clflushopt", "avx512_vnni", "spec_ctrl", "spec_ctrl_ssbd"];
const icelakeServer = [
  ...cascadelakeServer, "wbnoinvd", "avx512vbmi", "umip", "avx512_vbmi2", "gfni", "vaes", "vpclmulqdq",
  "avx512_bitalg", "avx512_vpopcntdq", "la57",
];
// QEMU's SapphireRapids (v1) is written out in full rather than as Ice Lake plus: it drops
// mpx and is the first Intel model with XSAVES.
const sapphireRapids = [
  ...leaf1Edx, ...amd64, "pdpe1gb", "rdtscp",
  "pni", "pclmulqdq", "ssse3", "fma", "cx16", "pcid", "sse4_1", "sse4_2", "x2apic", "movbe", "popcnt",
  "tsc_deadline_timer", "aes", "xsave", "avx", "f16c", "rdrand", "lahf_lm", "abm", "3dnowprefetch", "wbnoinvd",
  "fsgsbase", "bmi1", "hle", "avx2", "smep", "bmi2", "erms", "invpcid", "rtm", "avx512f", "avx512dq", "rdseed",
  "adx", "smap", "avx512ifma", "clflushopt", "clwb", "avx512cd", "sha_ni", "avx512bw", "avx512vl",
  "avx512vbmi", "umip", "pku", "avx512_vbmi2", "gfni", "vaes", "vpclmulqdq", "avx512_vnni", "avx512_bitalg",
  "avx512_vpopcntdq", "la57", "rdpid", "bus_lock_detect",
  "fsrm", "serialize", "tsxldtrk", "amx_bf16", "avx512_fp16", "amx_tile", "amx_int8", "spec_ctrl",
  "arch_capabilities", "spec_ctrl_ssbd",
  "xsaveopt", "xsavec", "xgetbv1", "xsaves", "xfd", "arat",
  "avx_vnni", "avx512_bf16",
];

// AMD.
const opteronG1 = [...leaf1Edx, ...amd64, "pni"];
const opteronG2 = [...opteronG1, "cx16", "lahf_lm"];
// RDTSCP is in Opteron_G3, G4 and G5 for machine types since pc-4.0 (QEMU's pc_compat_3_1
// turns it off for older ones); Ferry's guests use newer machine types.
const opteronG3 = [...opteronG2, "popcnt", "rdtscp", "misalignsse", "sse4a", "abm"];
const opteronG4 = [
  ...opteronG3, "ssse3", "sse4_1", "sse4_2", "aes", "pclmulqdq", "xsave", "avx", "pdpe1gb", "3dnowprefetch", "xop", "fma4",
];
const opteronG5 = [...opteronG4, "f16c", "fma", "tbm"];
// Zen drops XOP, FMA4 and TBM, which Bulldozer had.
const epyc = [
  ...leaf1Edx, ...amd64, "pni", "pclmulqdq", "ssse3", "fma", "cx16", "sse4_1", "sse4_2", "movbe",
  "popcnt", "aes", "xsave", "avx", "f16c", "rdrand", "lahf_lm", "cr8_legacy", "abm", "sse4a",
  "misalignsse", "3dnowprefetch", "osvw", "topoext", "mmxext", "fxsr_opt", "pdpe1gb", "rdtscp", "fsgsbase",
  "bmi1", "avx2", "smep", "bmi2", "rdseed", "adx", "smap", "clflushopt", "sha_ni", "xsaveopt", "xsavec",
  "xgetbv1", "arat",
];
const epycRome = [
  ...epyc, "perfctr_core", "clzero", "xsaveerptr", "wbnoinvd", "amd_ibpb", "amd_stibp", "clwb", "umip", "rdpid", "xsaves",
];
const epycMilan = [...epycRome, "pcid", "amd_ibrs", "amd_ssbd", "erms", "invpcid", "pku", "fsrm"];
const epycGenoa = [
  ...epycMilan,
  "avx512f", "avx512dq", "avx512ifma", "avx512cd", "avx512bw", "avx512vl", "avx512vbmi", "avx512_vbmi2", "gfni",
  "vaes", "vpclmulqdq", "avx512_vnni", "avx512_bitalg", "avx512_vpopcntdq", "la57", "avx512_bf16",
];

const intel = (name: string, evc: string | undefined, flags: readonly string[]): BaselineModelData => ({
  name, evc, vendor: "GenuineIntel", family: 6, flags: [...new Set(flags)],
});
const amd = (name: string, evc: string | undefined, family: number, flags: readonly string[]): BaselineModelData => ({
  name, evc, vendor: "AuthenticAMD", family, flags: [...new Set(flags)],
});

// One EVC name per generation. Where QEMU has a variant without TSX, the EVC name goes to it:
// many Haswell to Cascade Lake hosts run with TSX turned off by microcode, and vSphere's EVC
// modes follow what such hosts can offer. Skylake's EVC mode includes AVX-512, so it is the
// server model's. Opteron_G3 has no 3DNow!, like vSphere's "amd-greyhound-no3dnow" mode.
export const BASELINE_MODELS: readonly BaselineModelData[] = [
  intel("Conroe", "intel-merom", conroe),
  intel("Penryn", "intel-penryn", penryn),
  intel("Nehalem", "intel-nehalem", nehalem),
  intel("Westmere", "intel-westmere", westmere),
  intel("SandyBridge", "intel-sandybridge", sandyBridge),
  intel("IvyBridge", "intel-ivybridge", ivyBridge),
  intel("Haswell-noTSX", "intel-haswell", haswellNoTsx),
  intel("Haswell", undefined, [...haswellNoTsx, ...tsx]),
  intel("Broadwell-noTSX", "intel-broadwell", broadwellNoTsx),
  intel("Broadwell", undefined, [...broadwellNoTsx, ...tsx]),
  // Skylake-Client-v3: v2's spec-ctrl, then no TSX.
  intel("Skylake-Client-noTSX-IBRS", undefined, [...skylakeClient, "spec_ctrl"]),
  intel("Skylake-Client", undefined, [...skylakeClient, ...tsx]),
  // Skylake-Server-v3: v2 has spec-ctrl but turns clflushopt off, then no TSX.
  intel("Skylake-Server-noTSX-IBRS", "intel-skylake", [...skylakeServer, "spec_ctrl"]),
  intel("Skylake-Server", undefined, [...skylakeServer, "clflushopt", ...tsx]),
  // Cascadelake-Server-v3: v2 adds arch-capabilities, then no TSX.
  intel("Cascadelake-Server-noTSX", "intel-cascadelake", [...cascadelakeServer, "arch_capabilities"]),
  intel("Cascadelake-Server", undefined, [...cascadelakeServer, ...tsx]),
  intel("Icelake-Server-noTSX", "intel-icelake", icelakeServer),
  intel("Icelake-Server", undefined, [...icelakeServer, ...tsx]),
  intel("SapphireRapids", "intel-sapphirerapids", sapphireRapids),
  amd("Opteron_G1", "amd-rev-e", 15, opteronG1),
  amd("Opteron_G2", "amd-rev-f", 15, opteronG2),
  amd("Opteron_G3", "amd-greyhound-no3dnow", 16, opteronG3),
  amd("Opteron_G4", "amd-bulldozer", 21, opteronG4),
  amd("Opteron_G5", "amd-piledriver", 21, opteronG5),
  amd("EPYC", "amd-zen", 23, epyc),
  amd("EPYC-Rome", "amd-zen2", 23, epycRome),
  amd("EPYC-Milan", "amd-zen3", 25, epycMilan),
  amd("EPYC-Genoa", "amd-zen4", 25, epycGenoa),
];
