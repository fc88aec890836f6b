// Ferry's own knowledge of each CPUID feature bit, the half of the feature table that no
// upstream file holds: what operators call it, which vendors make it, what it needs, and
// whether a guest can see it at all. scripts/cpu/generate-feature-table.ts joins these notes
// with the facts of cpuid-bits.json (names, positions, QEMU names) into
// feature-table.generated.ts; it refuses a bit without a note here, and a `requires` naming a
// flag the table lacks. Keys are the table's flag names (see CpuidFeature.name).
import type { CpuVendorKind } from "./cpuid-types.ts";

export interface FeatureNote {
  /** What operators call it. */
  readonly label: string;
  readonly vendors: readonly CpuVendorKind[];
  /** Flags this one needs: hiding one of them hides this one too. */
  readonly requires?: readonly string[];
  /** Set (with `why`) for a bit no guest sees: it then takes no part in compatibility. */
  readonly guest?: false;
  /** Why the bit is host-only: one of HOST_ONLY's reasons. */
  readonly why?: string;
}

/** Why a bit is `guest: false`, one reason per group of bits. */
export const HOST_ONLY = {
  virtualization:
    "Hardware virtualization of the host (VT-x, AMD-V and every SVM sub-feature of leaf 0x8000000A): KVM gives it to a guest only with nested virtualization, and Ferry does not move nested hypervisors.",
  hypervisor: "Says that the CPU is itself virtual: every hypervisor sets it for its guests, so a host's value describes the host, not what a guest sees.",
  kvmFiltered: "KVM filters it out of every guest's CPUID (MONITOR/MWAIT and MONITORX/MWAITX would let a guest idle a physical core).",
  powerDebug:
    "Host power, thermal, performance-monitoring or debug hardware (Debug Store, SpeedStep, thermal monitors, HWP, xTPR, PDCM, IBS, performance counters, Intel PT, ...): KVM does not give it to guests, or only through host options Ferry does not set.",
  platform:
    "Platform security or resource control of the host (SMX/SKINIT launch, SGX enclaves sealed to one CPU, TME/PCONFIG memory keys, ENQCMD's PASIDs, RDT monitoring): not given to guests that move.",
  osState: "Mirrors a CR4 bit of the running kernel (OSXSAVE, OSPKE), not a capability of the CPU: a guest sees its own kernel's setting.",
  hostMitigation:
    "A mitigation control of the host (SRBDS and TSX_FORCE_ABORT MSRs, L1D flush, which KVM performs on VM entry itself): KVM keeps it to itself and QEMU at the source commit has no property to give it to a guest.",
  cet: "Control-flow enforcement (CET IBT, shadow stacks): KVM of the sources' era does not virtualize it and QEMU at the source commit has no property for it.",
  obsolete: "Obsolete or describes the package (processor serial number, Context ID, Athlon MP, hybrid core types): no hypervisor gives it to guests.",
} as const;

type Vendors = readonly CpuVendorKind[];
const I: Vendors = ["intel"];
const A: Vendors = ["amd"];
const IA: Vendors = ["intel", "amd"];

const n = (label: string, vendors: Vendors, requires?: readonly string[]): FeatureNote =>
  requires === undefined ? { label, vendors } : { label, vendors, requires };
const host = (label: string, vendors: Vendors, why: string): FeatureNote => ({ label, vendors, guest: false, why });

const AVX512 = ["avx512f"];

/** Leaf 1 ECX and EDX. */
const LEAF_1: Readonly<Record<string, FeatureNote>> = {
  pni: n("SSE3", IA, ["sse2"]),
  pclmulqdq: n("PCLMULQDQ", IA, ["sse2"]),
  dtes64: host("64-bit Debug Store", I, HOST_ONLY.powerDebug),
  monitor: host("MONITOR/MWAIT", IA, HOST_ONLY.kvmFiltered),
  ds_cpl: host("CPL-qualified Debug Store", I, HOST_ONLY.powerDebug),
  vmx: host("Intel VT-x", I, HOST_ONLY.virtualization),
  smx: host("Safer Mode Extensions (TXT)", I, HOST_ONLY.platform),
  est: host("Enhanced SpeedStep", I, HOST_ONLY.powerDebug),
  tm2: host("Thermal Monitor 2", I, HOST_ONLY.powerDebug),
  ssse3: n("SSSE3", IA, ["pni"]),
  cid: host("L1 Context ID", I, HOST_ONLY.obsolete),
  sdbg: host("Silicon Debug", I, HOST_ONLY.powerDebug),
  fma: n("FMA3", IA, ["avx"]),
  cx16: n("CMPXCHG16B", IA),
  xtpr: host("xTPR update control", I, HOST_ONLY.powerDebug),
  pdcm: host("Perfmon and Debug Capability MSR", I, HOST_ONLY.powerDebug),
  pcid: n("PCID", IA),
  dca: host("Direct Cache Access", I, HOST_ONLY.powerDebug),
  sse4_1: n("SSE4.1", IA, ["ssse3"]),
  sse4_2: n("SSE4.2", IA, ["sse4_1"]),
  x2apic: n("x2APIC", IA),
  movbe: n("MOVBE", IA),
  popcnt: n("POPCNT", IA),
  tsc_deadline_timer: n("TSC deadline", IA),
  aes: n("AES-NI", IA, ["sse2"]),
  xsave: n("XSAVE", IA),
  osxsave: host("OS has enabled XSAVE", IA, HOST_ONLY.osState),
  avx: n("AVX", IA, ["xsave", "sse4_2"]),
  f16c: n("F16C", IA, ["avx"]),
  rdrand: n("RDRAND", IA),
  hypervisor: host("running under a hypervisor", IA, HOST_ONLY.hypervisor),
  fpu: n("x87 FPU", IA),
  vme: n("VME", IA),
  de: n("DE", IA),
  pse: n("PSE", IA),
  tsc: n("TSC", IA),
  msr: n("MSR", IA),
  pae: n("PAE", IA),
  mce: n("MCE", IA),
  cx8: n("CMPXCHG8B", IA),
  apic: n("APIC", IA),
  sep: n("SYSENTER", IA),
  mtrr: n("MTRR", IA),
  pge: n("PGE", IA),
  mca: n("MCA", IA),
  cmov: n("CMOV", IA),
  pat: n("PAT", IA),
  pse36: n("PSE-36", IA),
  pn: host("processor serial number", I, HOST_ONLY.obsolete),
  clflush: n("CLFLUSH", IA),
  dts: host("Debug Store", I, HOST_ONLY.powerDebug),
  acpi: host("ACPI thermal MSRs", I, HOST_ONLY.powerDebug),
  mmx: n("MMX", IA),
  fxsr: n("FXSAVE", IA),
  sse: n("SSE", IA, ["fxsr"]),
  sse2: n("SSE2", IA, ["sse"]),
  ss: n("self-snoop", I),
  ht: n("HTT", IA),
  tm: host("Thermal Monitor", I, HOST_ONLY.powerDebug),
  pbe: host("Pending Break Enable", I, HOST_ONLY.powerDebug),
};

/** Leaf 6 EAX: only ARAT reaches guests; the rest is the host's power management. */
const LEAF_6: Readonly<Record<string, FeatureNote>> = {
  dtherm: host("digital thermal sensor", I, HOST_ONLY.powerDebug),
  ida: host("Turbo Boost (IDA)", I, HOST_ONLY.powerDebug),
  arat: n("always-running APIC timer", IA),
  pln: host("power limit notification", I, HOST_ONLY.powerDebug),
  pts: host("package thermal status", I, HOST_ONLY.powerDebug),
  hwp: host("hardware P-states (HWP)", I, HOST_ONLY.powerDebug),
  hwp_notify: host("HWP notification", I, HOST_ONLY.powerDebug),
  hwp_act_window: host("HWP activity window", I, HOST_ONLY.powerDebug),
  hwp_epp: host("HWP energy/performance preference", I, HOST_ONLY.powerDebug),
  hwp_pkg_req: host("HWP package-level request", I, HOST_ONLY.powerDebug),
  hfi: host("Hardware Feedback Interface", I, HOST_ONLY.powerDebug),
};

/** Leaf 7 subleaf 0 EBX. */
const LEAF_7_EBX: Readonly<Record<string, FeatureNote>> = {
  fsgsbase: n("FSGSBASE", IA),
  tsc_adjust: n("TSC_ADJUST MSR", IA),
  sgx: host("SGX", I, HOST_ONLY.platform),
  bmi1: n("BMI1", IA),
  hle: n("TSX HLE", I),
  avx2: n("AVX2", IA, ["avx"]),
  fdp_excptn_only: n("x87 FDP updated on exceptions only", I),
  smep: n("SMEP", IA),
  bmi2: n("BMI2", IA),
  erms: n("enhanced REP MOVSB", IA),
  invpcid: n("INVPCID", IA),
  rtm: n("TSX RTM", I),
  cqm: host("cache QoS monitoring", IA, HOST_ONLY.platform),
  zero_fcs_fds: n("x87 FCS/FDS deprecated", IA),
  mpx: n("MPX", I),
  rdt_a: host("RDT allocation", IA, HOST_ONLY.platform),
  avx512f: n("AVX-512 F", IA, ["avx2"]),
  avx512dq: n("AVX-512 DQ", IA, AVX512),
  rdseed: n("RDSEED", IA),
  adx: n("ADX", IA),
  smap: n("SMAP", IA),
  avx512ifma: n("AVX-512 IFMA", IA, AVX512),
  clflushopt: n("CLFLUSHOPT", IA),
  clwb: n("CLWB", IA),
  intel_pt: host("Intel Processor Trace", I, HOST_ONLY.powerDebug),
  avx512pf: n("AVX-512 PF", I, AVX512),
  avx512er: n("AVX-512 ER", I, AVX512),
  avx512cd: n("AVX-512 CD", IA, AVX512),
  sha_ni: n("SHA extensions", IA, ["sse2"]),
  avx512bw: n("AVX-512 BW", IA, AVX512),
  avx512vl: n("AVX-512 VL", IA, AVX512),
};

/** Leaf 7 subleaf 0 ECX. */
const LEAF_7_ECX: Readonly<Record<string, FeatureNote>> = {
  avx512vbmi: n("AVX-512 VBMI", IA, AVX512),
  umip: n("UMIP", IA),
  pku: n("protection keys", IA),
  ospke: host("OS has enabled protection keys", IA, HOST_ONLY.osState),
  waitpkg: n("UMONITOR/UMWAIT/TPAUSE", I),
  avx512_vbmi2: n("AVX-512 VBMI2", IA, AVX512),
  shstk: host("CET shadow stack", IA, HOST_ONLY.cet),
  gfni: n("GFNI", IA, ["sse2"]),
  vaes: n("VAES", IA, ["aes", "avx"]),
  vpclmulqdq: n("VPCLMULQDQ", IA, ["pclmulqdq", "avx"]),
  avx512_vnni: n("AVX-512 VNNI", IA, AVX512),
  avx512_bitalg: n("AVX-512 BITALG", IA, AVX512),
  tme: host("Total Memory Encryption", I, HOST_ONLY.platform),
  avx512_vpopcntdq: n("AVX-512 VPOPCNTDQ", IA, AVX512),
  la57: n("5-level paging", IA),
  rdpid: n("RDPID", IA),
  bus_lock_detect: n("bus lock detection", I),
  cldemote: n("CLDEMOTE", I),
  movdiri: n("MOVDIRI", IA),
  movdir64b: n("MOVDIR64B", IA),
  enqcmd: host("ENQCMD", I, HOST_ONLY.platform),
  sgx_lc: host("SGX launch control", I, HOST_ONLY.platform),
  pks: n("supervisor protection keys", I),
};

/** Leaf 7 subleaf 0 EDX. */
const LEAF_7_EDX: Readonly<Record<string, FeatureNote>> = {
  avx512_4vnniw: n("AVX-512 4VNNIW", I, AVX512),
  avx512_4fmaps: n("AVX-512 4FMAPS", I, AVX512),
  fsrm: n("fast short REP MOV", IA),
  avx512_vp2intersect: n("AVX-512 VP2INTERSECT", IA, AVX512),
  srbds_ctrl: host("SRBDS mitigation MSR", I, HOST_ONLY.hostMitigation),
  md_clear: n("VERW clears CPU buffers (MD_CLEAR)", I),
  rtm_always_abort: n("TSX RTM always aborts", I),
  tsx_force_abort: host("TSX_FORCE_ABORT MSR", I, HOST_ONLY.hostMitigation),
  serialize: n("SERIALIZE", I),
  hybrid_cpu: host("hybrid part (P and E cores)", I, HOST_ONLY.obsolete),
  tsxldtrk: n("TSX load tracking", I),
  pconfig: host("PCONFIG", I, HOST_ONLY.platform),
  arch_lbr: n("architectural LBR", I),
  ibt: host("CET indirect branch tracking", I, HOST_ONLY.cet),
  amx_bf16: n("AMX BF16", I, ["amx_tile"]),
  avx512_fp16: n("AVX-512 FP16", I, AVX512),
  amx_tile: n("AMX tile", I, ["xfd", "xsave"]),
  amx_int8: n("AMX INT8", I, ["amx_tile"]),
  spec_ctrl: n("IBRS/IBPB (SPEC_CTRL)", I),
  intel_stibp: n("STIBP", I, ["spec_ctrl"]),
  flush_l1d: host("L1D flush (FLUSH_CMD MSR)", I, HOST_ONLY.hostMitigation),
  arch_capabilities: n("ARCH_CAPABILITIES MSR", I),
  core_capabilities: n("CORE_CAPABILITIES MSR", I),
  spec_ctrl_ssbd: n("SSBD", I, ["spec_ctrl"]),
};

/** Leaf 7 subleaf 1 EAX. */
const LEAF_7_1: Readonly<Record<string, FeatureNote>> = {
  avx_vnni: n("AVX-VNNI", IA, ["avx2"]),
  avx512_bf16: n("AVX-512 BF16", IA, AVX512),
  cmpccxadd: n("CMPccXADD", I),
  arch_perfmon_ext: host("architectural PerfMon extension", I, HOST_ONLY.powerDebug),
  fzrm: n("fast zero-length REP MOVSB", I),
  fsrs: n("fast short REP STOSB", I),
  fsrc: n("fast short REP CMPSB/SCASB", I),
  lkgs: n("LKGS", I),
  amx_fp16: n("AMX FP16", I, ["amx_tile"]),
  avx_ifma: n("AVX-IFMA", I, ["avx2"]),
  lam: n("linear address masking", I),
};

/**
 * Leaf 7 subleaf 1 EDX: no word of Linux's cpufeatures.h; KVM names these bits itself
 * (reverse_cpuid.h) and reports them to QEMU as supported. QEMU 7.2 has no property for them, so
 * a guest on it never sees them (isPresentable), but the checker still compares them.
 */
const LEAF_7_1_EDX: Readonly<Record<string, FeatureNote>> = {
  avx_vnni_int8: n("AVX-VNNI-INT8", I, ["avx2"]),
  avx_ne_convert: n("AVX-NE-CONVERT", I, ["avx2"]),
  amx_complex: n("AMX-COMPLEX", I, ["amx_tile"]),
  prefetchiti: n("PREFETCHIT0/1", I),
};

/** Leaf 0xD subleaf 1 EAX. */
const LEAF_D_1: Readonly<Record<string, FeatureNote>> = {
  xsaveopt: n("XSAVEOPT", IA, ["xsave"]),
  xsavec: n("XSAVEC", IA, ["xsave"]),
  xgetbv1: n("XGETBV1", IA, ["xsave"]),
  xsaves: n("XSAVES", IA, ["xsave"]),
  xfd: n("XFD", I, ["xsave"]),
};

/** Leaf 0x80000001 ECX and EDX. */
const LEAF_80000001: Readonly<Record<string, FeatureNote>> = {
  lahf_lm: n("LAHF/SAHF in long mode", IA),
  cmp_legacy: n("CMP legacy", A),
  svm: host("AMD-V", A, HOST_ONLY.virtualization),
  extapic: n("extended APIC", A),
  cr8_legacy: n("CR8 legacy", A),
  abm: n("ABM/LZCNT", IA),
  sse4a: n("SSE4a", A, ["pni"]),
  misalignsse: n("misaligned SSE", A),
  "3dnowprefetch": n("PREFETCHW", IA),
  osvw: n("OSVW", A),
  ibs: host("Instruction-Based Sampling", A, HOST_ONLY.powerDebug),
  xop: n("XOP", A, ["avx"]),
  skinit: host("SKINIT/STGI", A, HOST_ONLY.platform),
  wdt: host("watchdog timer", A, HOST_ONLY.powerDebug),
  lwp: host("lightweight profiling", A, HOST_ONLY.powerDebug),
  fma4: n("FMA4", A, ["avx"]),
  tce: host("translation cache extension", A, HOST_ONLY.powerDebug),
  nodeid_msr: host("NodeId MSR", A, HOST_ONLY.powerDebug),
  tbm: n("TBM", A),
  topoext: n("topology extensions", A),
  perfctr_core: n("core performance counter extensions", A),
  perfctr_nb: host("northbridge performance counters", A, HOST_ONLY.powerDebug),
  bpext: host("data breakpoint extension", A, HOST_ONLY.powerDebug),
  ptsc: host("performance time-stamp counter", A, HOST_ONLY.powerDebug),
  perfctr_llc: host("last-level cache performance counters", A, HOST_ONLY.powerDebug),
  mwaitx: host("MONITORX/MWAITX", A, HOST_ONLY.kvmFiltered),
  syscall: n("SYSCALL", IA),
  mp: host("multiprocessor capable (Athlon MP)", A, HOST_ONLY.obsolete),
  nx: n("NX/XD", IA),
  mmxext: n("AMD MMX extensions", A, ["mmx"]),
  fxsr_opt: n("FXSAVE optimisations", A, ["fxsr"]),
  pdpe1gb: n("1 GiB pages", IA),
  rdtscp: n("RDTSCP", IA),
  lm: n("64-bit long mode", IA),
  "3dnowext": n("3DNow! extensions", A, ["3dnow"]),
  "3dnow": n("3DNow!", A, ["mmx"]),
};

/** Leaves 0x80000007, 0x80000008 and 0x80000021: AMD's, and Intel's invariant TSC. */
const LEAF_8000_MISC: Readonly<Record<string, FeatureNote>> = {
  invtsc: n("invariant TSC", IA),
  clzero: n("CLZERO", A),
  irperf: host("instructions-retired counter", A, HOST_ONLY.powerDebug),
  xsaveerptr: n("FXSAVE saves error pointers", A),
  rdpru: host("RDPRU", A, HOST_ONLY.powerDebug),
  wbnoinvd: n("WBNOINVD", IA),
  amd_ibpb: n("IBPB", A),
  amd_ibrs: n("IBRS", A),
  amd_stibp: n("STIBP", A),
  amd_stibp_always_on: n("STIBP always on preferred", A, ["amd_stibp"]),
  amd_ppin: host("protected processor inventory number", A, HOST_ONLY.powerDebug),
  amd_ssbd: n("SSBD", A),
  virt_ssbd: n("virtualized SSBD", A),
  amd_ssb_no: n("not affected by speculative store bypass", A),
  cppc: host("collaborative processor performance control", A, HOST_ONLY.powerDebug),
  amd_psfd: n("PSFD", A),
  btc_no: n("not affected by branch type confusion", A),
  brs: host("branch sampling", A, HOST_ONLY.powerDebug),
  no_nested_data_bp: n("no nested data breakpoints", A),
  wrmsr_xx_base_ns: n("WRMSR to FS/GS base non-serializing", A),
  lfence_rdtsc: n("LFENCE always serializing", A),
  null_sel_clr_base: n("NULL selector clears base", A),
  autoibrs: n("Automatic IBRS", A),
  no_smm_ctl_msr: host("no SMM_CTL MSR", A, HOST_ONLY.platform),
  sbpb: n("selective branch predictor barrier", A),
  ibpb_brtype: n("IBPB flushes all branch types", A),
  srso_no: n("not affected by SRSO", A),
};

/** Leaf 0x8000000A EDX: SVM's sub-features, the host's alone like svm itself. */
const LEAF_8000_000A: Readonly<Record<string, FeatureNote>> = Object.fromEntries(
  (
    [
      ["npt", "nested page tables"],
      ["lbrv", "LBR virtualization"],
      ["svm_lock", "SVM lock"],
      ["nrip_save", "next-RIP save"],
      ["tsc_scale", "TSC scaling"],
      ["vmcb_clean", "VMCB clean bits"],
      ["flushbyasid", "flush by ASID"],
      ["decodeassists", "decode assists"],
      ["pausefilter", "pause filter"],
      ["pfthreshold", "pause filter threshold"],
      ["avic", "AVIC"],
      ["v_vmsave_vmload", "virtual VMSAVE/VMLOAD"],
      ["vgif", "virtual GIF"],
      ["x2avic", "x2AVIC"],
      ["v_spec_ctrl", "virtual SPEC_CTRL"],
      ["vnmi", "virtual NMI"],
      ["svme_addr_chk", "SVME address check"],
    ] as const
  ).map(([name, label]) => [name, host(`SVM ${label}`, A, HOST_ONLY.virtualization)]),
);

/** Every bit's note, by the table's flag name. */
export const FEATURE_NOTES: Readonly<Record<string, FeatureNote>> = {
  ...LEAF_1,
  ...LEAF_6,
  ...LEAF_7_EBX,
  ...LEAF_7_ECX,
  ...LEAF_7_EDX,
  ...LEAF_7_1,
  ...LEAF_7_1_EDX,
  ...LEAF_D_1,
  ...LEAF_80000001,
  ...LEAF_8000_MISC,
  ...LEAF_8000_000A,
};

/**
 * Bits of the sources' covered leaves that are not in the table, with the reason. docs/cpu.md's
 * "Left out" section lists the same (the drift test checks both).
 */
export const LEFT_OUT: Readonly<Record<string, string>> = {
  ia64: "Says the processor is an Itanium running x86 code; no x86-64 CPU sets it.",
  pcommit: "PCOMMIT was withdrawn by Intel before any CPU shipped with it; QEMU keeps the name only for old command lines.",
  intel_pt_lip: "Describes Intel PT's packet format, which matters only to a guest given Intel PT (host-only in the table).",
};
