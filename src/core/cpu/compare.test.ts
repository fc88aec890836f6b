import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Cpu, CpuidMask } from "../inventory/schema.ts";
import { maskedFlags } from "./features.ts";
import { CPU_MODELS } from "./models.ts";
import { CpuBlockerKind, compareCpus, guestFeatures, isEmptyMask, maskHiding, sortFeatures } from "./compare.ts";

function cpu(vendor: string, family: number, model: number, flags: string, virtualization = true): Cpu {
  return { vendor, family, model, flags: flags.split(" "), virtualization, cores: 8, mhz: 2400 };
}

// Real-looking hosts, flags as their /proc/cpuinfo lists them.
const core2Base =
  "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe syscall lm constant_tsc arch_perfmon pebs bts rep_good nopl cpuid aperfmperf pni dtes64 monitor ds_cpl vmx est tm2 ssse3 cx16 xtpr pdcm dca lahf_lm tpr_shadow dtherm";
/** Xeon E5345 (Clovertown, Core 2, 65 nm): no SSE4.1. */
const clovertown = cpu("GenuineIntel", 6, 15, `${core2Base} nx`);
/** The same machine with NX/XD disabled in the BIOS. */
const clovertownNoNx = cpu("GenuineIntel", 6, 15, core2Base);
/** Xeon E5450 (Harpertown, Penryn core): adds SSE4.1. */
const harpertown = cpu("GenuineIntel", 6, 23, `${core2Base} nx sse4_1`);
/** Xeon E5540 (Nehalem-EP): adds SSE4.2 and POPCNT. */
const nehalem = cpu(
  "GenuineIntel",
  6,
  26,
  "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx rdtscp lm constant_tsc arch_perfmon pebs bts rep_good nopl xtopology nonstop_tsc cpuid aperfmperf pni dtes64 monitor ds_cpl vmx est tm2 ssse3 cx16 xtpr pdcm dca sse4_1 sse4_2 popcnt lahf_lm pti tpr_shadow vnmi flexpriority ept vpid dtherm ida",
);
/** Opteron 6376 (Piledriver, family 21) and EPYC 7601 (Zen, family 23). */
const piledriver = cpu(
  "AuthenticAMD",
  21,
  2,
  "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc extd_apicid amd_dcm aperfmperf pni pclmulqdq monitor ssse3 fma cx16 sse4_1 sse4_2 popcnt aes xsave avx f16c lahf_lm cmp_legacy svm extapic cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw ibs xop skinit wdt lwp fma4 tce nodeid_msr tbm topoext perfctr_core perfctr_nb cpb hw_pstate ssbd ibpb vmmcall bmi1 arat npt lbrv svm_lock nrip_save",
);
const zen = cpu(
  "AuthenticAMD",
  23,
  1,
  "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid extd_apicid amd_dcm aperfmperf pni pclmulqdq monitor ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand lahf_lm cmp_legacy svm extapic cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw skinit wdt tce topoext perfctr_core perfctr_nb bpext perfctr_llc mwaitx cpb hw_pstate ssbd ibpb vmmcall fsgsbase bmi1 avx2 smep bmi2 rdseed adx smap clflushopt sha_ni xsaveopt xsavec xgetbv1 xsaves clzero irperf xsaveerptr arat npt lbrv svm_lock nrip_save",
);

const none: CpuidMask = { nx: false, sse3: false, sse4: false, custom: [] };

interface Case {
  readonly name: string;
  readonly source: Cpu;
  readonly destination: Cpu;
  readonly blockers: readonly CpuBlockerKind[];
  readonly missing: readonly string[];
  readonly mask: CpuidMask | undefined;
  readonly lost: readonly string[];
}

// One row per kind of mismatch: the seed's NX/XD, SSE3 and SSE4 cases, plus what masks cannot fix.
const cases: readonly Case[] = [
  { name: "identical hosts", source: nehalem, destination: nehalem, blockers: [], missing: [], mask: undefined, lost: [] },
  { name: "to a newer CPU", source: clovertown, destination: harpertown, blockers: [], missing: [], mask: undefined, lost: [] },
  {
    name: "NX/XD disabled on the destination: the nx preset",
    source: clovertown,
    destination: clovertownNoNx,
    blockers: [CpuBlockerKind.features],
    missing: ["nx"],
    mask: { ...none, nx: true },
    lost: ["nx"],
  },
  {
    name: "SSE4.1 missing on the destination: the sse4 preset",
    source: harpertown,
    destination: clovertown,
    blockers: [CpuBlockerKind.features],
    missing: ["sse4_1"],
    mask: { ...none, sse4: true },
    lost: ["sse4_1"],
  },
  {
    name: "only SSE4.2 missing: custom, so the guest keeps SSE4.1",
    source: nehalem,
    destination: harpertown,
    blockers: [CpuBlockerKind.features],
    missing: ["sse4_2", "popcnt", "rdtscp"],
    mask: { ...none, custom: ["sse4_2", "popcnt", "rdtscp"] },
    lost: ["sse4_2", "popcnt", "rdtscp"],
  },
  {
    name: "SSE3 missing: the sse3 preset, which takes SSSE3 and SSE4.1 along",
    source: harpertown,
    destination: cpu("GenuineIntel", 6, 23, harpertown.flags.filter((f) => f !== "pni").join(" ")),
    blockers: [CpuBlockerKind.features],
    missing: ["pni"],
    mask: { ...none, sse3: true },
    lost: ["pni", "ssse3", "sse4_1"],
  },
  {
    name: "different families: a mask cannot help",
    source: piledriver,
    destination: zen,
    blockers: [CpuBlockerKind.family, CpuBlockerKind.features],
    missing: ["xop", "fma4", "tbm"],
    mask: undefined,
    lost: [],
  },
  {
    name: "different vendors: nothing helps",
    source: zen,
    destination: nehalem,
    blockers: [CpuBlockerKind.vendor, CpuBlockerKind.features],
    missing: [
      "pclmulqdq", "fma", "movbe", "aes", "xsave", "avx", "f16c", "rdrand", "arat", "fsgsbase", "bmi1", "avx2",
      "smep", "bmi2", "rdseed", "adx", "smap", "clflushopt", "sha_ni", "xsaveopt", "xsavec", "xgetbv1", "xsaves",
      "cmp_legacy", "extapic", "cr8_legacy", "abm", "sse4a", "misalignsse", "3dnowprefetch", "osvw", "topoext",
      "perfctr_core", "mmxext", "fxsr_opt", "pdpe1gb", "clzero", "xsaveerptr",
    ],
    mask: undefined,
    lost: [],
  },
];

describe("compareCpus, one direction per mismatch kind", () => {
  for (const c of cases) {
    it(c.name, () => {
      const move = compareCpus(c.source, c.destination).aToB;
      assert.deepEqual(move.blockers.map((b) => b.kind), c.blockers);
      assert.equal(move.ok, c.blockers.length === 0);
      assert.deepEqual(move.missing, c.missing);
      assert.deepEqual(move.mask, c.mask);
      assert.deepEqual(move.lost, c.lost);
    });
  }
});

describe("compareCpus", () => {
  it("compares both ways and lists the features each side alone has", () => {
    const result = compareCpus(harpertown, nehalem);
    assert.equal(result.sameVendor, true);
    assert.equal(result.sameFamily, true);
    assert.deepEqual(result.onlyInA, []);
    assert.deepEqual(result.onlyInB, ["sse4_2", "popcnt", "rdtscp"]);
    assert.equal(result.aToB.ok, true);
    assert.equal(result.bToA.ok, false);
    assert.equal(result.bToA.from, "b");
    assert.equal(result.bToA.to, "a");
  });

  it("ignores host-only flags such as vmx, constant_tsc and dca", () => {
    const bare = cpu("GenuineIntel", 6, 26, nehalem.flags.filter((f) => !["vmx", "constant_tsc", "dca", "ept", "pti"].includes(f)).join(" "));
    const result = compareCpus(nehalem, bare);
    assert.deepEqual(result.onlyInA, []);
    assert.equal(result.aToB.ok, true);
  });

  it("names the missing features and the fix in its messages", () => {
    const move = compareCpus(clovertown, clovertownNoNx).aToB;
    assert.match(move.blockers[0]?.message ?? "", /lacks: nx$/);
    const vendor = compareCpus(zen, nehalem).aToB.blockers[0]?.message ?? "";
    assert.match(vendor, /AuthenticAMD.*GenuineIntel.*neither a CPUID mask nor a baseline crosses vendors/);
    const family = compareCpus(piledriver, zen).aToB.blockers[0]?.message ?? "";
    assert.match(family, /family 21.*family 23.*baseline/);
  });

  it("warns, without blocking, when the destination has virtualization disabled", () => {
    const move = compareCpus(nehalem, { ...nehalem, virtualization: false }).aToB;
    assert.equal(move.ok, true);
    assert.match(move.warnings[0] ?? "", /64-bit guests cannot run there/);
    assert.deepEqual(compareCpus({ ...nehalem, virtualization: false }, nehalem).aToB.warnings, []);
  });
});

describe("maskHiding", () => {
  it("names only the roots: hiding AVX already hides AVX2, FMA and F16C", () => {
    const offered = guestFeatures(zen);
    assert.deepEqual(maskHiding(["avx", "avx2", "fma", "f16c"], offered), { ...none, custom: ["avx"] });
  });

  it("uses several presets at once when each costs nothing extra", () => {
    const offered = guestFeatures(harpertown);
    assert.deepEqual(maskHiding(["nx", "sse4_1"], offered), { ...none, nx: true, sse4: true });
  });

  it("hides every missing feature for any two catalogue models of one vendor and family", () => {
    for (const a of CPU_MODELS) {
      for (const b of CPU_MODELS) {
        if (a.vendor !== b.vendor || a.family !== b.family) continue;
        const move = compareCpus(cpu(a.vendor, a.family, 0, a.flags.join(" ")), cpu(b.vendor, b.family, 0, b.flags.join(" "))).aToB;
        assert.equal(move.fixableByMask, true);
        if (move.ok) {
          assert.ok(isEmptyMask(move.mask), `${a.name} → ${b.name} needs no mask`);
          continue;
        }
        const hidden = maskedFlags(move.mask);
        const seen = a.flags.filter((f) => !hidden.has(f));
        const destination = new Set(b.flags);
        assert.deepEqual(seen.filter((f) => !destination.has(f)), [], `${a.name} → ${b.name}: the mask leaves nothing missing`);
        assert.deepEqual(move.lost, sortFeatures(a.flags.filter((f) => hidden.has(f))));
      }
    }
  });
});

describe("sortFeatures", () => {
  it("orders by the feature table (leaf, subleaf, register, bit), unknown flags last by name", () => {
    assert.deepEqual(sortFeatures(["sse4_2", "zzz", "pni", "sse", "aaa", "pni"]), ["pni", "sse4_2", "sse", "aaa", "zzz"]);
  });
});
