// The shapes shared by Ferry's CPUID feature table (feature-table.generated.ts, made by
// scripts/cpu/generate-feature-table.ts), the raw CPUID decoder (cpuid.ts) and the real-CPU
// fixtures (test/fixtures/cpuid/*.json). A feature is one bit of one CPUID leaf/subleaf register.

export const CpuidRegister = { eax: "eax", ebx: "ebx", ecx: "ecx", edx: "edx" } as const;
export type CpuidRegister = (typeof CpuidRegister)[keyof typeof CpuidRegister];

export const CpuVendorKind = { intel: "intel", amd: "amd" } as const;
export type CpuVendorKind = (typeof CpuVendorKind)[keyof typeof CpuVendorKind];

/** One CPUID answer: the four registers for (leaf, subleaf), each an unsigned 32-bit number. */
export interface CpuidLeaf {
  readonly leaf: number;
  readonly subleaf: number;
  readonly eax: number;
  readonly ebx: number;
  readonly ecx: number;
  readonly edx: number;
}

/** A CPU as raw CPUID answers, like the output of the seed's cupid.iso. */
export interface CpuidDump {
  /** Where the answers came from (`/dev/cpu/0/cpuid on esx01`, or a public source with its commit). */
  readonly source: string;
  readonly leaves: readonly CpuidLeaf[];
}

/** One guest-relevant CPUID feature bit. */
export interface CpuidFeature {
  /**
   * Ferry's flag name, used in inventories, masks and baselines: Linux's /proc/cpuinfo name
   * (`pni`, `sse4_2`, `avx512_bf16`); for a bit Linux does not show there, its X86_FEATURE_
   * name in lower case (`spec_ctrl`); for a bit only QEMU names, QEMU's name with - as _; for a
   * bit only KVM names (arch/x86/kvm/reverse_cpuid.h), KVM's macro in lower case (`avx_vnni_int8`).
   */
  readonly name: string;
  readonly leaf: number;
  readonly subleaf: number;
  readonly register: CpuidRegister;
  readonly bit: number;
  /** The X86_FEATURE_ macro's suffix in Linux's cpufeatures.h (`AVX512_BF16`), or KVM's for a bit KVM alone names; undefined when Linux has none. */
  readonly linux: string | undefined;
  /** Whether Linux shows it in /proc/cpuinfo as `name`. */
  readonly procCpuinfo: boolean;
  /** QEMU's `-cpu` property name (`avx512-bf16`); undefined when QEMU has none. */
  readonly qemu: string | undefined;
  /** What operators call it ("AVX-512 BF16"). */
  readonly label: string;
  /** Vendors whose CPUs implement it. */
  readonly vendors: readonly CpuVendorKind[];
  /**
   * Whether a guest can see and rely on it, so it takes part in compatibility. False for bits
   * of the host alone (vmx, svm and their sub-features with nested virtualization off,
   * hypervisor, monitor under KVM, ...).
   */
  readonly guest: boolean;
  /** Flag names this one needs: hiding one of them hides this one too (AVX-512 BF16 needs AVX-512 F). */
  readonly requires: readonly string[];
}
