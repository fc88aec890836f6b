// Real CPUs, as the raw CPUID answers libvirt recorded on real hosts (test/fixtures/cpuid, each
// naming its file and commit), through Ferry's whole CPU path: the dump schema, the decoder,
// the feature table and compareCpus. Every ordered pair is checked against a verdict derived
// here from the table alone (set difference over guest-visible features, vendor and family
// rules), and the pairs an operator asks about are checked against verdicts written by hand.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { CpuBlockerKind, compareCpus, type CpuMove } from "../../src/core/cpu/compare.ts";
import { decodeCpuid, parseCpuidDump, type DecodedCpuid } from "../../src/core/cpu/cpuid.ts";
import { CPUID_FEATURES } from "../../src/core/cpu/feature-table.generated.ts";
import { maskedFlags } from "../../src/core/cpu/features.ts";

const FIXTURES = new URL("../fixtures/cpuid/", import.meta.url);

/** What each fixture's name says the CPU is: CPUID.0 vendor and CPUID.1 display family/model/stepping. */
const IDENTITY = {
  "intel-core2-e6850": { vendor: "GenuineIntel", family: 6, model: 0x0f, stepping: 0xb, brand: "Intel(R) Core(TM)2 Duo CPU     E6850  @ 3.00GHz" },
  "intel-westmere-ex-xeon-e7-4820": { vendor: "GenuineIntel", family: 6, model: 0x2f, stepping: 2, brand: "Intel(R) Xeon(R) CPU E7- 4820  @ 2.00GHz" },
  "intel-sandy-bridge-ep-xeon-e5-2650": { vendor: "GenuineIntel", family: 6, model: 0x2d, stepping: 7, brand: "Intel(R) Xeon(R) CPU E5-2650 0 @ 2.00GHz" },
  "intel-haswell-ep-xeon-e5-2630-v3": { vendor: "GenuineIntel", family: 6, model: 0x3f, stepping: 2, brand: "Intel(R) Xeon(R) CPU E5-2630 v3 @ 2.40GHz" },
  "intel-broadwell-ep-xeon-e5-2650-v4": { vendor: "GenuineIntel", family: 6, model: 0x4f, stepping: 1, brand: "Intel(R) Xeon(R) CPU E5-2650 v4 @ 2.20GHz" },
  // Skylake-SP and Cascade Lake share model 0x55; the stepping tells them apart (4 vs 5–7).
  "intel-skylake-sp-xeon-gold-6148": { vendor: "GenuineIntel", family: 6, model: 0x55, stepping: 4, brand: "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz" },
  "intel-cascade-lake-sp-xeon-platinum-8268": { vendor: "GenuineIntel", family: 6, model: 0x55, stepping: 6, brand: "Intel(R) Xeon(R) Platinum 8268 CPU @ 2.90GHz" },
  // A pre-production part: its brand leaves are all zero.
  "intel-ice-lake-sp": { vendor: "GenuineIntel", family: 6, model: 0x6a, stepping: 0, brand: undefined },
  "intel-sapphire-rapids-xeon-w7-3465x": { vendor: "GenuineIntel", family: 6, model: 0x8f, stepping: 6, brand: "Intel(R) Xeon(R) w7-3465X" },
  "intel-granite-rapids-xeon-6788p": { vendor: "GenuineIntel", family: 6, model: 0xad, stepping: 1, brand: "Intel(R) Xeon(R) 6788P" },
  "amd-k10-opteron-2350": { vendor: "AuthenticAMD", family: 0x10, model: 0x02, stepping: 3, brand: "Quad-Core AMD Opteron(tm) Processor 2350" },
  "amd-piledriver-a10-5800k": { vendor: "AuthenticAMD", family: 0x15, model: 0x10, stepping: 1, brand: "AMD A10-5800K APU with Radeon(tm) HD Graphics" },
  "amd-zen-epyc-7601": { vendor: "AuthenticAMD", family: 0x17, model: 0x01, stepping: 2, brand: "AMD EPYC 7601 32-Core Processor" },
  "amd-zen2-epyc-7502": { vendor: "AuthenticAMD", family: 0x17, model: 0x31, stepping: 0, brand: "AMD EPYC 7502 32-Core Processor" },
  "amd-zen3-epyc-7713": { vendor: "AuthenticAMD", family: 0x19, model: 0x01, stepping: 1, brand: "AMD EPYC 7713 64-Core Processor" },
  "amd-zen4-epyc-9334": { vendor: "AuthenticAMD", family: 0x19, model: 0x11, stepping: 1, brand: "AMD EPYC 9334 32-Core Processor" },
  "amd-zen5-ryzen-9-9950x": { vendor: "AuthenticAMD", family: 0x1a, model: 0x44, stepping: 0, brand: "AMD Ryzen 9 9950X 16-Core Processor" },
} as const satisfies Record<string, { vendor: string; family: number; model: number; stepping: number; brand: string | undefined }>;
type CpuName = keyof typeof IDENTITY;
const NAMES = Object.keys(IDENTITY) as CpuName[];

function load(name: string): DecodedCpuid {
  const file = new URL(`${name}.json`, FIXTURES);
  return decodeCpuid(parseCpuidDump(JSON.parse(readFileSync(file, "utf8")), file.pathname));
}
const CPUS = new Map(NAMES.map((name) => [name, load(name)]));
function cpu(name: CpuName): DecodedCpuid {
  const found = CPUS.get(name);
  if (found === undefined) throw new Error(`no fixture ${name}`);
  return found;
}

/** Names the table marks guest-visible: the only features that take part in a move. */
const GUEST = new Set(CPUID_FEATURES.filter((f) => f.guest).map((f) => f.name));

interface Verdict {
  readonly ok: boolean;
  readonly blockers: readonly CpuBlockerKind[];
  readonly missing: readonly string[];
  readonly fixableByMask: boolean;
}

/**
 * A move's verdict from the decoded flags and the table alone: the guest-visible features the
 * source has and the destination lacks; a vendor change blocks whatever the features; a family
 * change within a vendor blocks too (a mask cannot hide the family), and only a same-vendor,
 * same-family move can be fixed by a mask.
 */
function derive(from: DecodedCpuid, to: DecodedCpuid): Verdict {
  const there = new Set(to.flags);
  const missing = [...new Set(from.flags)].filter((flag) => GUEST.has(flag) && !there.has(flag)).sort();
  const sameVendor = from.vendor === to.vendor;
  const sameFamily = from.family === to.family;
  const blockers: CpuBlockerKind[] = [];
  if (!sameVendor) blockers.push(CpuBlockerKind.vendor);
  else if (!sameFamily) blockers.push(CpuBlockerKind.family);
  if (missing.length > 0) blockers.push(CpuBlockerKind.features);
  return { ok: blockers.length === 0, blockers, missing, fixableByMask: sameVendor && sameFamily };
}

function verdictOf(move: CpuMove): Verdict {
  return { ok: move.ok, blockers: move.blockers.map((b) => b.kind), missing: [...move.missing].sort(), fixableByMask: move.fixableByMask };
}

/** The features blocker names exactly the missing features, and a mask, when one is offered, hides them all. */
function checkBlockersAndMask(move: CpuMove, what: string): void {
  const named = move.blockers.filter((b) => b.kind === CpuBlockerKind.features).flatMap((b) => b.flags);
  assert.deepEqual([...named].sort(), [...move.missing].sort(), what);
  if (!move.fixableByMask || move.missing.length === 0) {
    assert.equal(move.mask, undefined, what);
    return;
  }
  const hidden = maskedFlags(move.mask);
  for (const flag of move.missing) assert.ok(hidden.has(flag), `${what}: the mask leaves ${flag} visible`);
}

function moveBetween(from: CpuName, to: CpuName): CpuMove {
  return compareCpus(cpu(from).cpu, cpu(to).cpu).aToB;
}

describe("real CPUs from raw CPUID dumps", () => {
  it("every fixture file has an identity here, and every identity a file", () => {
    const files = readdirSync(FIXTURES)
      .filter((f) => f.endsWith(".json"))
      .map((f) => f.slice(0, -".json".length))
      .sort();
    assert.deepEqual(files, [...NAMES].sort());
    assert.ok(files.length >= 14, `only ${files.length} real CPUs`);
  });

  it("each dump names the public file and commit it was copied from", () => {
    for (const name of NAMES) {
      const raw = JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), "utf8")) as { source: string };
      assert.match(raw.source, /^libvirt\/libvirt tests\/cputestdata\/x86(_64)?-cpuid-[\w.+-]+\.xml at commit [0-9a-f]{40} /, name);
    }
  });

  for (const name of NAMES) {
    it(`${name} decodes as the CPU its name says`, () => {
      const decoded = cpu(name);
      const want = IDENTITY[name];
      assert.equal(decoded.vendor, want.vendor);
      assert.equal(decoded.family, want.family, `family 0x${decoded.family.toString(16)}`);
      assert.equal(decoded.model, want.model, `model 0x${decoded.model.toString(16)}`);
      assert.equal(decoded.stepping, want.stepping);
      assert.equal(decoded.brand, want.brand);
      assert.deepEqual({ vendor: decoded.cpu.vendor, family: decoded.cpu.family, model: decoded.cpu.model }, { vendor: want.vendor, family: want.family, model: want.model });
      // Every one of these hosts runs 64-bit guests with hardware virtualization.
      for (const flag of ["fpu", "sse2", "lm", "nx", "cx8"]) assert.ok(decoded.flags.includes(flag), `${name} lacks ${flag}`);
      assert.equal(decoded.virtualization, true);
      assert.equal(decoded.flags.includes(want.vendor === "GenuineIntel" ? "vmx" : "svm"), true);
    });
  }

  it("compareCpus agrees, for every ordered pair, with the verdict derived from the table", () => {
    let pairs = 0;
    for (const a of NAMES) {
      for (const b of NAMES) {
        const result = compareCpus(cpu(a).cpu, cpu(b).cpu);
        assert.deepEqual(verdictOf(result.aToB), derive(cpu(a), cpu(b)), `${a} → ${b}`);
        assert.deepEqual(verdictOf(result.bToA), derive(cpu(b), cpu(a)), `${b} → ${a}`);
        assert.deepEqual([...result.onlyInA].sort(), derive(cpu(a), cpu(b)).missing, `${a} only vs ${b}`);
        checkBlockersAndMask(result.aToB, `${a} → ${b}`);
        pairs++;
      }
    }
    assert.equal(pairs, NAMES.length * NAMES.length);
  });

  it("a CPU moves to itself", () => {
    for (const name of NAMES) assert.deepEqual(verdictOf(moveBetween(name, name)), { ok: true, blockers: [], missing: [], fixableByMask: true }, name);
  });

  // Written by hand from what these CPUs are known to add or drop, each list checked against
  // the raw registers of the two dumps (the bit named after each feature). The order within a
  // list does not matter; its content must be exact.
  const F = CpuBlockerKind.features;
  const expected: readonly { from: CpuName; to: CpuName; blockers: readonly CpuBlockerKind[]; missing: readonly string[]; why: string }[] = [
    { from: "intel-core2-e6850", to: "intel-sapphire-rapids-xeon-w7-3465x", blockers: [], missing: [], why: "seventeen years newer, same family 6: everything Core 2 has is still there" },
    { from: "intel-core2-e6850", to: "intel-westmere-ex-xeon-e7-4820", blockers: [], missing: [], why: "Westmere keeps all of Core 2" },
    {
      from: "intel-westmere-ex-xeon-e7-4820",
      to: "intel-core2-e6850",
      blockers: [F],
      // CPUID.1:ECX bits 1, 17, 19, 20, 21, 23, 25; 6:EAX[2]; 80000001h:EDX[26,27]; 80000007h:EDX[8].
      missing: ["pclmulqdq", "pcid", "sse4_1", "sse4_2", "x2apic", "popcnt", "aes", "arat", "pdpe1gb", "rdtscp", "invtsc"],
      why: "Nehalem/Westmere's SSE4.x, POPCNT, AES-NI, PCID, 1 GiB pages and invariant TSC are not on Core 2",
    },
    { from: "intel-westmere-ex-xeon-e7-4820", to: "intel-sandy-bridge-ep-xeon-e5-2650", blockers: [], missing: [], why: "Sandy Bridge keeps all of Westmere" },
    {
      from: "intel-haswell-ep-xeon-e5-2630-v3",
      to: "intel-sandy-bridge-ep-xeon-e5-2650",
      blockers: [F],
      // CPUID.1:ECX[12,22,29,30]; 7.0:EBX[0,1,3,5,7,8,9,10,13]; 80000001h:ECX[5].
      missing: ["fma", "movbe", "f16c", "rdrand", "fsgsbase", "tsc_adjust", "bmi1", "avx2", "smep", "bmi2", "erms", "invpcid", "zero_fcs_fds", "abm"],
      why: "Haswell's AVX2, FMA, BMI1/2, MOVBE, LZCNT and the Ivy Bridge additions (F16C, RDRAND, FSGSBASE, SMEP, ERMS)",
    },
    {
      from: "intel-sandy-bridge-ep-xeon-e5-2650",
      to: "intel-haswell-ep-xeon-e5-2630-v3",
      blockers: [F],
      // The Sandy Bridge host runs a post-Spectre microcode (7.0:EDX = 0x9c000000), the Haswell one does not.
      missing: ["spec_ctrl", "intel_stibp", "spec_ctrl_ssbd"],
      why: "an older CPU with newer microcode: the speculation controls are a microcode matter, not a generation one",
    },
    { from: "intel-haswell-ep-xeon-e5-2630-v3", to: "intel-broadwell-ep-xeon-e5-2650-v4", blockers: [], missing: [], why: "Broadwell keeps all of Haswell" },
    {
      from: "intel-broadwell-ep-xeon-e5-2650-v4",
      to: "intel-haswell-ep-xeon-e5-2630-v3",
      blockers: [F],
      // 7.0:EBX[4,11,18,19,20]; 80000001h:ECX[8]. This Haswell-EP has TSX off, so HLE/RTM go too.
      missing: ["hle", "rtm", "rdseed", "adx", "smap", "3dnowprefetch"],
      why: "Broadwell adds RDSEED, ADX, SMAP and PREFETCHW; TSX is on here and off on that Haswell",
    },
    { from: "intel-skylake-sp-xeon-gold-6148", to: "intel-cascade-lake-sp-xeon-platinum-8268", blockers: [], missing: [], why: "Cascade Lake keeps all of Skylake-SP" },
    {
      from: "intel-cascade-lake-sp-xeon-platinum-8268",
      to: "intel-skylake-sp-xeon-gold-6148",
      blockers: [F],
      // 7.0:ECX[11]; 7.0:EDX[10,26,27,29,31] (the Skylake dump predates the Spectre microcode: its 7.0:EDX is 0).
      missing: ["avx512_vnni", "md_clear", "spec_ctrl", "intel_stibp", "arch_capabilities", "spec_ctrl_ssbd"],
      why: "Cascade Lake's AVX-512 VNNI, and speculation controls the Skylake host's microcode does not offer",
    },
    {
      from: "intel-cascade-lake-sp-xeon-platinum-8268",
      to: "intel-ice-lake-sp",
      blockers: [F],
      // 7.0:EDX[10]: the pre-production Ice Lake's microcode has no VERW buffer clearing.
      missing: ["md_clear"],
      why: "a newer generation refused for one microcode bit",
    },
    {
      from: "intel-ice-lake-sp",
      to: "intel-cascade-lake-sp-xeon-platinum-8268",
      blockers: [F],
      // 7.0:EBX[21,29]; 7.0:ECX[1,2,6,8,9,10,12,14,16,22]; 7.0:EDX[4]; 80000008h:EBX[9].
      missing: ["avx512ifma", "sha_ni", "avx512vbmi", "umip", "avx512_vbmi2", "gfni", "vaes", "vpclmulqdq", "avx512_bitalg", "avx512_vpopcntdq", "la57", "rdpid", "fsrm", "wbnoinvd"],
      why: "Ice Lake's AVX-512 extensions, GFNI/VAES/VPCLMULQDQ, SHA, 5-level paging",
    },
    {
      from: "intel-sapphire-rapids-xeon-w7-3465x",
      to: "intel-cascade-lake-sp-xeon-platinum-8268",
      blockers: [F],
      // 7.0:EBX[21,29]; 7.0:ECX[1,2,5,6,8,9,10,12,14,16,22,24,25,27,28,31];
      // 7.0:EDX[4,14,16,19,22,23,24,25,30]; 7.1:EAX[4,5,10,11,12]; 0xD.1:EAX[4]; 80000008h:EBX[9].
      missing: [
        "avx512ifma", "sha_ni", "avx512vbmi", "umip", "waitpkg", "avx512_vbmi2", "gfni", "vaes", "vpclmulqdq", "avx512_bitalg", "avx512_vpopcntdq",
        "la57", "rdpid", "bus_lock_detect", "cldemote", "movdiri", "movdir64b", "pks", "fsrm", "serialize", "tsxldtrk", "arch_lbr", "amx_bf16",
        "avx512_fp16", "amx_tile", "amx_int8", "core_capabilities", "avx_vnni", "avx512_bf16", "fzrm", "fsrs", "fsrc", "xfd", "wbnoinvd",
      ],
      why: "AMX, AVX-512 FP16/BF16, AVX-VNNI and the Ice Lake additions",
    },
    {
      from: "intel-cascade-lake-sp-xeon-platinum-8268",
      to: "intel-sapphire-rapids-xeon-w7-3465x",
      blockers: [F],
      // 7.0:EBX[4,11,14]: TSX is off on this Sapphire Rapids, and MPX is gone since Ice Lake client parts.
      missing: ["hle", "rtm", "mpx"],
      why: "the newer CPU dropped TSX and MPX",
    },
    { from: "intel-sapphire-rapids-xeon-w7-3465x", to: "intel-granite-rapids-xeon-6788p", blockers: [], missing: [], why: "Granite Rapids keeps all of Sapphire Rapids" },
    {
      from: "intel-granite-rapids-xeon-6788p",
      to: "intel-sapphire-rapids-xeon-w7-3465x",
      blockers: [F],
      // 7.1:EAX[21]; 7.1:EDX[14] (Granite Rapids 0x000e4000, Sapphire Rapids 0x00040000: bits 17-19
      // and Sapphire Rapids' bit 18 are named by no source, so they take no part).
      missing: ["amx_fp16", "prefetchiti"],
      why: "Granite Rapids' AMX FP16 and PREFETCHIT0/1 (KVM's name for 7.1:EDX[14])",
    },
    // Intel ↔ AMD: the vendor blocks first, whatever the features.
    { from: "intel-core2-e6850", to: "amd-zen-epyc-7601", blockers: [CpuBlockerKind.vendor, F], missing: ["ss"], why: "AMD never sets CPUID.1:EDX[27] (self-snoop)" },
    {
      from: "amd-k10-opteron-2350",
      to: "intel-core2-e6850",
      blockers: [CpuBlockerKind.vendor, F],
      // 1:ECX[23]; 80000001h:ECX[1,3,4,5,6,7,8,9]; 80000001h:EDX[22,25,26,27,30,31]; 80000007h:EDX[8].
      missing: ["popcnt", "cmp_legacy", "extapic", "cr8_legacy", "abm", "sse4a", "misalignsse", "3dnowprefetch", "osvw", "mmxext", "fxsr_opt", "pdpe1gb", "rdtscp", "3dnowext", "3dnow", "invtsc"],
      why: "AMD's extended leaf: 3DNow!, SSE4a, LZCNT, misaligned SSE",
    },
    // AMD families 0x10, 0x15, 0x17, 0x19, 0x1a: a family change blocks even with every feature there.
    { from: "amd-zen-epyc-7601", to: "amd-zen3-epyc-7713", blockers: [CpuBlockerKind.family], missing: [], why: "Zen (0x17) to Zen 3 (0x19): a superset of features, but another family" },
    { from: "amd-zen2-epyc-7502", to: "amd-zen3-epyc-7713", blockers: [CpuBlockerKind.family], missing: [], why: "Zen 2 (0x17) to Zen 3 (0x19)" },
    { from: "amd-zen-epyc-7601", to: "amd-zen2-epyc-7502", blockers: [], missing: [], why: "Zen to Zen 2, both family 0x17" },
    {
      from: "amd-zen2-epyc-7502",
      to: "amd-zen-epyc-7601",
      blockers: [F],
      // 7.0:EBX[24]; 7.0:ECX[2,22]; 80000008h:EBX[9,12,14,15,24].
      missing: ["clwb", "umip", "rdpid", "wbnoinvd", "amd_ibpb", "amd_ibrs", "amd_stibp", "amd_ssbd"],
      why: "Zen 2's CLWB, UMIP, RDPID, WBNOINVD and speculation controls; same family, so a mask fixes it",
    },
    { from: "amd-k10-opteron-2350", to: "amd-piledriver-a10-5800k", blockers: [CpuBlockerKind.family, F], missing: ["3dnowext", "3dnow"], why: "0x10 to 0x15, and Bulldozer dropped 3DNow! (80000001h:EDX[30,31])" },
    { from: "amd-piledriver-a10-5800k", to: "amd-zen-epyc-7601", blockers: [CpuBlockerKind.family, F], missing: ["xop", "fma4", "tbm"], why: "0x15 to 0x17, and Zen dropped XOP, FMA4, TBM (80000001h:ECX[11,16,21])" },
    { from: "amd-zen3-epyc-7713", to: "amd-zen4-epyc-9334", blockers: [], missing: [], why: "Zen 3 to Zen 4, both family 0x19" },
    {
      from: "amd-zen4-epyc-9334",
      to: "amd-zen3-epyc-7713",
      blockers: [F],
      // 7.0:EBX[16,17,21,28,30,31]; 7.0:ECX[1,6,8,11,12,14,16]; 7.1:EAX[5]; 80000008h:EBX[29]; 80000021h:EAX[1,8].
      missing: [
        "avx512f", "avx512dq", "avx512ifma", "avx512cd", "avx512bw", "avx512vl", "avx512vbmi", "avx512_vbmi2", "gfni", "avx512_vnni", "avx512_bitalg",
        "avx512_vpopcntdq", "la57", "avx512_bf16", "btc_no", "wrmsr_xx_base_ns", "autoibrs",
      ],
      why: "Zen 4's AVX-512 and automatic IBRS; same family 0x19, so a mask fixes it",
    },
    { from: "amd-zen4-epyc-9334", to: "amd-zen5-ryzen-9-9950x", blockers: [CpuBlockerKind.family, F], missing: ["pcid", "x2apic", "la57"], why: "0x19 to 0x1a; this desktop Zen 5 reports neither PCID nor x2APIC nor 5-level paging (1:ECX[17,21], 7.0:ECX[16])" },
    {
      from: "amd-zen5-ryzen-9-9950x",
      to: "amd-zen4-epyc-9334",
      blockers: [CpuBlockerKind.family, F],
      // 7.0:EBX[1]; 7.0:ECX[24,27,28]; 7.0:EDX[8]; 7.1:EAX[4]; 80000021h:EAX[27,28].
      missing: ["tsc_adjust", "bus_lock_detect", "movdiri", "movdir64b", "avx512_vp2intersect", "avx_vnni", "sbpb", "ibpb_brtype"],
      why: "0x1a to 0x19, and Zen 5's MOVDIRI/MOVDIR64B, AVX-VNNI, VP2INTERSECT",
    },
  ];

  it(`${expected.length} moves give the verdict written by hand`, () => {
    assert.ok(expected.length >= 20);
    for (const e of expected) {
      const move = moveBetween(e.from, e.to);
      const what = `${e.from} → ${e.to} (${e.why})`;
      assert.deepEqual(
        { blockers: move.blockers.map((b) => b.kind), missing: [...move.missing].sort() },
        { blockers: e.blockers, missing: [...e.missing].sort() },
        what,
      );
      assert.equal(move.ok, e.blockers.length === 0, what);
      assert.equal(move.fixableByMask, !e.blockers.includes(CpuBlockerKind.vendor) && !e.blockers.includes(CpuBlockerKind.family), what);
      // Each named feature really is on the source and off the destination.
      for (const flag of e.missing) {
        assert.ok(cpu(e.from).flags.includes(flag) && !cpu(e.to).flags.includes(flag), `${what}: ${flag}`);
      }
    }
  });

  it("names the families in a family refusal, and says a mask cannot hide them", () => {
    const move = moveBetween("amd-zen-epyc-7601", "amd-zen3-epyc-7713");
    const family = move.blockers.find((b) => b.kind === CpuBlockerKind.family);
    assert.ok(family !== undefined);
    assert.match(family.message, /family 23 .* family 25/);
    assert.match(family.message, /mask cannot hide the family/);
    assert.equal(move.mask, undefined);
  });
});
