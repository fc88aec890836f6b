import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { buildFeatures, renderFeatureTable } from "../../../scripts/cpu/feature-table.ts";
import {
  bitPosition,
  ferryName,
  COVERED_WORDS,
  isCoveredWord,
  mergeBits,
  parseKvmReverseCpuid,
  parseLinuxCpufeatures,
  parseQemuFeatureWords,
  UpstreamParseError,
  type CpuidBitsFile,
} from "../../../scripts/cpu/upstream.ts";
import { parseCpuidDump } from "./cpuid.ts";
import { FEATURE_NOTES, LEFT_OUT, type FeatureNote } from "./feature-notes.ts";
import { CPUID_FEATURES } from "./feature-table.generated.ts";
import { CPU_FEATURES, featureByName, featureLabel, isGuestFeature, withDependents } from "./features.ts";

const root = new URL("../../../", import.meta.url);
const facts = JSON.parse(readFileSync(new URL("src/core/cpu/cpuid-bits.json", root), "utf8")) as CpuidBitsFile;

// Excerpts in the sources' formats, written for this test (not copied from either source).
const LINUX_EXCERPT = [
  "/* Intel-defined CPU features, CPUID level 0x00000001 (EDX), word 0 */",
  "#define X86_FEATURE_ALPHA\t\t( 0*32+ 3) /* Shown under its own name */",
  '#define X86_FEATURE_BETA_TWO\t( 0*32+25) /* "beta" shown renamed */',
  "/* Linux-defined, word 3 */",
  "#define X86_FEATURE_SYNTH\t\t( 3*32+ 8) /* not a CPUID bit */",
  "/* Intel-defined CPU features, CPUID level 0x00000007:0 (EDX), word 18 */",
  '#define X86_FEATURE_GAMMA\t\t(18*32 + 26) /* "" hidden from /proc/cpuinfo */',
  "#define X86_BUG(x)\t\t\t(NCAPINTS*32 + (x))",
].join("\n");

const QEMU_EXCERPT = `
FeatureWordInfo feature_word_info[FEATURE_WORDS] = {
    [FEAT_1_EDX] = {
        .type = CPUID_FEATURE_WORD,
        .feat_names = {
            NULL, NULL, NULL, "alpha" /* a note */,
            NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
            NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "beta-2",
        },
        .cpuid = {.eax = 1, .reg = R_EDX, },
    },
    [FEAT_KVM] = {
        .type = CPUID_FEATURE_WORD,
        .feat_names = { "kvm-thing", },
        .cpuid = { .eax = KVM_CPUID_FEATURES, .reg = R_EAX, },
    },
    [FEAT_7_1_EAX] = {
        .type = CPUID_FEATURE_WORD,
        .feat_names = { NULL, NULL, NULL, NULL, "delta-x", },
        .cpuid = {
            .eax = 7,
            .needs_ecx = true, .ecx = 1,
            .reg = R_EAX,
        },
    },
    [FEAT_SOME_MSR] = {
        .type = MSR_FEATURE_WORD,
        .feat_names = { [54] = "msr-thing", },
        .msr = { .index = MSR_SOMETHING, },
    },
};`;

// KVM's reverse_cpuid.h: its own words after Linux's, a table placing every word, and both macro
// forms (X86_FEATURE_ for a bit Linux lacks, KVM_X86_FEATURE_ for one Linux keeps elsewhere).
const KVM_EXCERPT = `
enum kvm_only_cpuid_leafs {
\tCPUID_12_EAX\t = NCAPINTS,
\tCPUID_7_1_EDX,
\tCPUID_8000_0007_EDX,
\tCPUID_7_2_EDX,
};
#define KVM_X86_FEATURE(w, f)\t\t((w)*32 + (f))
/* not a CPU's: KVM_X86_FEATURE(CPUID_7_1_EDX, 9) in a comment */
#define KVM_X86_FEATURE_ENCLAVE\tKVM_X86_FEATURE(CPUID_12_EAX, 0)
#define X86_FEATURE_EPSILON_TWO         KVM_X86_FEATURE(CPUID_7_1_EDX, 4)
#define KVM_X86_FEATURE_STEADY_CLOCK\tKVM_X86_FEATURE(CPUID_8000_0007_EDX, 8)
#define KVM_X86_FEATURE_ZETA_CTRL\tKVM_X86_FEATURE(CPUID_7_2_EDX, 2)
static const struct cpuid_reg reverse_cpuid[] = {
\t[CPUID_1_EDX]         = {         1, 0, CPUID_EDX},
\t[CPUID_12_EAX]        = {0x00000012, 0, CPUID_EAX},
\t[CPUID_7_1_EDX]       = {         7, 1, CPUID_EDX},
\t[CPUID_8000_0007_EDX] = {0x80000007, 0, CPUID_EDX},
\t[CPUID_7_2_EDX]       = {         7, 2, CPUID_EDX},
};`;

const QEMU_INVTSC_EXCERPT = `
FeatureWordInfo feature_word_info[FEATURE_WORDS] = {
    [FEAT_8000_0007_EDX] = {
        .type = CPUID_FEATURE_WORD,
        .feat_names = { NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "steady-tsc", },
        .cpuid = { .eax = 0x80000007, .reg = R_EDX, },
    },
};`;

describe("the extractor's parsers", () => {
  test("Linux: CPUID words only, /proc/cpuinfo names from the quoted comment, hidden when empty", () => {
    assert.deepEqual(parseLinuxCpufeatures(LINUX_EXCERPT), [
      { leaf: 1, subleaf: 0, register: "edx", bit: 3, linux: "ALPHA", procCpuinfo: "alpha" },
      { leaf: 1, subleaf: 0, register: "edx", bit: 25, linux: "BETA_TWO", procCpuinfo: "beta" },
      { leaf: 7, subleaf: 0, register: "edx", bit: 26, linux: "GAMMA", procCpuinfo: null },
    ]);
  });

  test("Linux: refuses two macros on one bit, and a word whose leaf contradicts Ferry's map", () => {
    assert.throws(() => parseLinuxCpufeatures(`${LINUX_EXCERPT}\n#define X86_FEATURE_AGAIN ( 0*32+ 3) /* */`), UpstreamParseError);
    assert.throws(() => parseLinuxCpufeatures("/* AMD, CPUID level 0x80000001 (EDX), word 0 */"), /word 0 is CPUID leaf 0x80000001/);
  });

  test("QEMU: CPUID words with numeric leaves, comments stripped, MSR and KVM words skipped", () => {
    assert.deepEqual(parseQemuFeatureWords(QEMU_EXCERPT), [
      { leaf: 1, subleaf: 0, register: "edx", bit: 3, qemu: "alpha" },
      { leaf: 1, subleaf: 0, register: "edx", bit: 25, qemu: "beta-2" },
      { leaf: 7, subleaf: 1, register: "eax", bit: 4, qemu: "delta-x" },
    ]);
    assert.throws(() => parseQemuFeatureWords("int x;"), UpstreamParseError);
  });

  test("KVM: both macro forms, placed by reverse_cpuid[], uncovered words kept for the merge to drop", () => {
    assert.deepEqual(parseKvmReverseCpuid(KVM_EXCERPT), [
      { leaf: 0x12, subleaf: 0, register: "eax", bit: 0, kvm: "ENCLAVE" },
      { leaf: 7, subleaf: 1, register: "edx", bit: 4, kvm: "EPSILON_TWO" },
      { leaf: 0x80000007, subleaf: 0, register: "edx", bit: 8, kvm: "STEADY_CLOCK" },
      { leaf: 7, subleaf: 2, register: "edx", bit: 2, kvm: "ZETA_CTRL" },
    ]);
  });

  test("KVM: refuses a word reverse_cpuid[] does not place, two macros on one bit, a bit past 31, a file without the table", () => {
    assert.throws(() => parseKvmReverseCpuid(`${KVM_EXCERPT}\n#define X86_FEATURE_ETA KVM_X86_FEATURE(CPUID_24_0_EBX, 16)`), /ETA uses CPUID_24_0_EBX, which reverse_cpuid\[\] does not map/);
    assert.throws(() => parseKvmReverseCpuid(`${KVM_EXCERPT}\n#define X86_FEATURE_AGAIN KVM_X86_FEATURE(CPUID_7_1_EDX, 4)`), /AGAIN and EPSILON_TWO share bit 4/);
    assert.throws(() => parseKvmReverseCpuid(`${KVM_EXCERPT}\n#define X86_FEATURE_WIDE KVM_X86_FEATURE(CPUID_7_1_EDX, 32)`), /WIDE has bit 32, past 31/);
    assert.throws(() => parseKvmReverseCpuid("#define X86_FEATURE_X KVM_X86_FEATURE(CPUID_7_1_EDX, 4)"), /no reverse_cpuid\[\] table/);
  });

  test("merging: one entry per bit, Linux's and QEMU's names side by side, named as Ferry names them", () => {
    const merged = mergeBits(parseLinuxCpufeatures(LINUX_EXCERPT), parseQemuFeatureWords(QEMU_EXCERPT), []);
    assert.deepEqual(
      merged.map((bit) => [bitPosition(bit), ferryName(bit), bit.qemu]),
      [
        ["0x1.edx[3]", "alpha", "alpha"],
        ["0x1.edx[25]", "beta", "beta-2"],
        ["0x7.edx[26]", "gamma", null],
        ["0x7.1.eax[4]", "delta_x", "delta-x"],
      ],
    );
  });

  test("merging KVM: its bits of covered words only, named by KVM's macro unless QEMU names the bit", () => {
    const merged = mergeBits([], parseQemuFeatureWords(QEMU_INVTSC_EXCERPT), parseKvmReverseCpuid(KVM_EXCERPT));
    assert.deepEqual(
      merged.map((bit) => [bitPosition(bit), ferryName(bit), bit.linux, bit.procCpuinfo, bit.qemu, bit.kvm]),
      [
        ["0x7.1.edx[4]", "epsilon_two", null, null, null, "EPSILON_TWO"],
        ["0x7.2.edx[2]", "zeta_ctrl", null, null, null, "ZETA_CTRL"],
        ["0x80000007.edx[8]", "steady_tsc", null, null, "steady-tsc", "STEADY_CLOCK"],
      ],
    );
  });
});

describe("the generator", () => {
  const tiny: CpuidBitsFile = {
    ...facts,
    bits: mergeBits(parseLinuxCpufeatures(LINUX_EXCERPT), parseQemuFeatureWords(`${QEMU_EXCERPT}\n${QEMU_INVTSC_EXCERPT}`), parseKvmReverseCpuid(KVM_EXCERPT)),
  };
  const notes: Record<string, FeatureNote> = {
    alpha: { label: "Alpha", vendors: ["intel"] },
    beta: { label: "Beta", vendors: ["intel"], requires: ["alpha"] },
    gamma: { label: "Gamma", vendors: ["amd"], guest: false, why: "host only" },
    delta_x: { label: "Delta", vendors: ["amd"] },
    epsilon_two: { label: "Epsilon", vendors: ["intel"], requires: ["alpha"] },
    zeta_ctrl: { label: "Zeta", vendors: ["intel"] },
    steady_tsc: { label: "Steady TSC", vendors: ["intel", "amd"] },
  };

  test("joins facts and notes", () => {
    const features = buildFeatures(tiny, notes, {});
    assert.deepEqual(features.find((f) => f.name === "beta"), {
      name: "beta", leaf: 1, subleaf: 0, register: "edx", bit: 25, linux: "BETA_TWO", procCpuinfo: true, qemu: "beta-2",
      label: "Beta", vendors: ["intel"], guest: true, requires: ["alpha"],
    });
    assert.equal(features.find((f) => f.name === "gamma")?.guest, false);
    assert.equal(features.find((f) => f.name === "gamma")?.procCpuinfo, false);
    // A bit KVM alone names carries KVM's macro as its Linux name; one QEMU names too keeps none.
    assert.deepEqual(features.find((f) => f.name === "epsilon_two"), {
      name: "epsilon_two", leaf: 7, subleaf: 1, register: "edx", bit: 4, linux: "EPSILON_TWO", procCpuinfo: false, qemu: undefined,
      label: "Epsilon", vendors: ["intel"], guest: true, requires: ["alpha"],
    });
    assert.equal(features.find((f) => f.name === "steady_tsc")?.linux, undefined);
  });

  const withoutDelta = Object.fromEntries(Object.entries(notes).filter(([name]) => name !== "delta_x"));

  test("refuses a bit without a label, a requires naming an unknown flag, a host-only note without why", () => {
    assert.throws(() => buildFeatures(tiny, withoutDelta, {}), /0x7\.1\.eax\[4\] \(delta_x\) has no label/);
    assert.throws(() => buildFeatures(tiny, { ...notes, beta: { label: "Beta", vendors: ["intel"], requires: ["omega"] } }, {}), /beta requires omega, which is not a flag/);
    assert.throws(() => buildFeatures(tiny, { ...notes, gamma: { label: "Gamma", vendors: ["amd"], guest: false } }, {}), /gamma is guest: false without a why/);
    assert.throws(() => buildFeatures(tiny, { ...notes, zeta: { label: "Zeta", vendors: ["amd"] } }, {}), /note for zeta/);
  });

  test("leaves out what LEFT_OUT names", () => {
    assert.deepEqual(buildFeatures(tiny, withoutDelta, { delta_x: "why" }).map((f) => f.name), ["alpha", "beta", "gamma", "epsilon_two", "zeta_ctrl", "steady_tsc"]);
  });

  test("names the three sources in the generated file's header", () => {
    const header = renderFeatureTable(tiny, []).split("\n").slice(0, 6).join("\n");
    for (const source of Object.values(tiny.sources)) assert.ok(header.includes(`${source.repo} ${source.path} at ${source.commit}`), source.path);
  });
});

describe("the committed feature table", () => {
  test("(a) regenerating it from cpuid-bits.json and feature-notes.ts changes nothing (else run npm run generate:cpu)", () => {
    const committed = readFileSync(new URL("src/core/cpu/feature-table.generated.ts", root), "utf8");
    assert.equal(renderFeatureTable(facts, buildFeatures(facts, FEATURE_NOTES, LEFT_OUT)), committed);
  });

  test("(b) every covered bit of cpuid-bits.json is in the table or in docs/cpu.md's Left out section, with a reason", () => {
    const docs = readFileSync(new URL("docs/cpu.md", root), "utf8");
    const section = /^### Left out\n([\s\S]*?)(?=^#{1,3} )/m.exec(docs)?.[1];
    assert.ok(section !== undefined, "docs/cpu.md has a ### Left out section");
    const listed = new Map([...section.matchAll(/^- `([a-z0-9_]+)` \(([^)]*)\): (\S.*)$/gm)].map((m) => [m[1] ?? "", m[2] ?? ""]));
    const inTable = new Set(CPUID_FEATURES.map((f) => f.name));
    for (const bit of facts.bits) {
      assert.ok(isCoveredWord(bit), `${bitPosition(bit)} is outside the covered leaves`);
      const name = ferryName(bit);
      if (inTable.has(name)) continue;
      assert.equal(listed.get(name), bitPosition(bit), `${name} (${bitPosition(bit)}) is neither in the table nor in docs/cpu.md's Left out list`);
    }
    assert.deepEqual([...listed.keys()].sort(), Object.keys(LEFT_OUT).sort(), "docs/cpu.md's Left out list is feature-notes.ts's LEFT_OUT");
    assert.equal(CPUID_FEATURES.length + listed.size, facts.bits.length);
  });

  test("(e) every bit a real-CPU fixture sets in a covered word is in cpuid-bits.json or in docs/cpu.md's list of unnamed bits", () => {
    const docs = readFileSync(new URL("docs/cpu.md", root), "utf8");
    const section = /^### Left out\n([\s\S]*?)(?=^#{1,3} )/m.exec(docs)?.[1] ?? "";
    const listed = new Set<string>();
    for (const m of section.matchAll(/^- `(0x[0-9a-f]+(?:\.\d+)?\.e[abcd]x)` bits ([\d, ]+):/gm)) {
      for (const bit of (m[2] ?? "").split(",")) listed.add(`${m[1] ?? ""}[${bit.trim()}]`);
    }
    assert.ok(listed.size > 0, "docs/cpu.md's Left out section lists the unnamed bits the fixtures set");
    const named = new Set(facts.bits.map(bitPosition));
    const unnamed = new Set<string>();
    const dir = new URL("test/fixtures/cpuid/", root);
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".json"))) {
      const dump = parseCpuidDump(JSON.parse(readFileSync(new URL(file, dir), "utf8")), file);
      for (const word of COVERED_WORDS) {
        const leaf = dump.leaves.find((l) => l.leaf === word.leaf && l.subleaf === word.subleaf);
        if (leaf === undefined) continue;
        for (let bit = 0; bit < 32; bit++) {
          const position = bitPosition({ ...word, bit });
          if (((leaf[word.register] >>> bit) & 1) === 1 && !named.has(position)) unnamed.add(position);
        }
      }
    }
    const sort = (set: Set<string>): string[] => [...set].sort();
    assert.deepEqual(sort(listed), sort(unnamed), "docs/cpu.md's unnamed bits are exactly the fixtures' bits no source names");
  });

  test("(c) Debian's copy of Linux's cpufeatures.h agrees with cpuid-bits.json, bit for bit", () => {
    const src = "/usr/src";
    const dirs = existsSync(src) ? readdirSync(src).filter((d) => /^linux-headers-.*-common$/.test(d)) : [];
    const files = dirs.map((d) => join(src, d, "arch/x86/include/asm/cpufeatures.h")).filter((f) => existsSync(f));
    assert.ok(files.length > 0, "no /usr/src/linux-headers-*-common/arch/x86/include/asm/cpufeatures.h: run scripts/setup-system.sh (it installs linux-headers-amd64)");
    // Bits Debian backported to its kernel after the Linux commit cpuid-bits.json was read from
    // (6.1.0-57: the TSA and IBPB-on-return mitigations of 2025). Anything else new fails, so
    // that cpuid-bits.json gets re-extracted from a newer Linux.
    const newerInDebian = new Set(["AMD_IBPB_RET", "VERW_CLEAR"]);
    const byPosition = new Map(facts.bits.map((b) => [bitPosition(b), b]));
    for (const file of files) {
      const bits = parseLinuxCpufeatures(readFileSync(file, "utf8"));
      assert.ok(bits.length > 150, `${file}: ${bits.length} CPUID bits parsed`);
      for (const bit of bits) {
        const ours = byPosition.get(bitPosition(bit));
        if (ours === undefined && newerInDebian.has(bit.linux)) continue;
        assert.ok(ours !== undefined, `${file}: X86_FEATURE_${bit.linux} at ${bitPosition(bit)} is not in cpuid-bits.json`);
        assert.deepEqual([ours.linux, ours.procCpuinfo], [bit.linux, bit.procCpuinfo], `${file}: ${bitPosition(bit)}`);
      }
    }
  });

  test("(d) names are unique, every requires names a table flag, and no prerequisite chain loops", () => {
    const names = CPUID_FEATURES.map((f) => f.name);
    assert.equal(new Set(names).size, names.length);
    const byName = new Map(CPUID_FEATURES.map((f) => [f.name, f]));
    for (const feature of CPUID_FEATURES) {
      for (const req of feature.requires) assert.ok(byName.has(req), `${feature.name} requires unknown ${req}`);
    }
    const state = new Map<string, "visiting" | "done">();
    const visit = (name: string, path: readonly string[]): void => {
      if (state.get(name) === "done") return;
      assert.notEqual(state.get(name), "visiting", `prerequisite cycle: ${[...path, name].join(" -> ")}`);
      state.set(name, "visiting");
      for (const req of byName.get(name)?.requires ?? []) visit(req, [...path, name]);
      state.set(name, "done");
    };
    for (const name of names) visit(name, []);
  });

  test("is sorted by leaf, subleaf, register and bit, one entry per position", () => {
    const positions = CPUID_FEATURES.map((f) => [f.leaf, f.subleaf, "abcd".indexOf(f.register[1] ?? ""), f.bit]);
    for (let i = 1; i < positions.length; i++) {
      const [a, b] = [positions[i - 1] ?? [], positions[i] ?? []];
      const order = a.findIndex((x, k) => x !== b[k]);
      assert.ok(order >= 0 && (a[order] ?? 0) < (b[order] ?? 0), `${CPUID_FEATURES[i]?.name ?? ""} is out of order`);
    }
  });
});

describe("features.ts on the table", () => {
  // The 101 flags of the hand-written list the table replaced: inventories, masks and
  // baselines name them, so each must still be a guest feature.
  const OLD_FLAGS =
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss ht syscall nx mmxext " +
    "fxsr_opt pdpe1gb rdtscp lm 3dnowext 3dnow pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt " +
    "tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm cmp_legacy extapic cr8_legacy abm sse4a misalignsse 3dnowprefetch " +
    "osvw xop fma4 tbm topoext fsgsbase bmi1 hle avx2 smep bmi2 erms invpcid rtm mpx avx512f avx512dq rdseed adx smap " +
    "clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves umip pku avx512vbmi avx512_vnni gfni " +
    "vaes vpclmulqdq rdpid la57 clzero wbnoinvd arat monitor";

  test("every flag of the old hand-written list is still known; all but monitor are guest features", () => {
    const old = OLD_FLAGS.split(" ");
    assert.equal(old.length, 101);
    for (const flag of old) assert.ok(featureByName(flag) !== undefined, flag);
    // monitor was never compared (KVM filters MONITOR/MWAIT), only labelled; the table says why.
    assert.deepEqual(old.filter((flag) => !isGuestFeature(flag)), ["monitor"]);
  });

  test("the bits issue 13 names are guest features with their labels and prerequisites", () => {
    const expected: [string, string][] = [
      ["avx512_bf16", "AVX-512 BF16"], ["amx_tile", "AMX tile"], ["amx_int8", "AMX INT8"], ["avx_vnni", "AVX-VNNI"],
      ["movdiri", "MOVDIRI"], ["movdir64b", "MOVDIR64B"], ["cldemote", "CLDEMOTE"], ["fsrm", "fast short REP MOV"],
      ["tsxldtrk", "TSX load tracking"], ["xfd", "XFD"], ["spec_ctrl", "IBRS/IBPB (SPEC_CTRL)"], ["intel_stibp", "STIBP"],
      ["spec_ctrl_ssbd", "SSBD"], ["arch_capabilities", "ARCH_CAPABILITIES MSR"], ["amd_ibpb", "IBPB"], ["amd_ibrs", "IBRS"],
      ["amd_stibp", "STIBP"], ["amd_ssbd", "SSBD"], ["amd_psfd", "PSFD"], ["autoibrs", "Automatic IBRS"],
      ["lfence_rdtsc", "LFENCE always serializing"], ["null_sel_clr_base", "NULL selector clears base"],
      ["no_nested_data_bp", "no nested data breakpoints"],
    ];
    for (const [flag, label] of expected) {
      assert.ok(isGuestFeature(flag), flag);
      assert.equal(featureLabel(flag), label);
    }
    const hidingAvx512f = withDependents(["avx512f"]);
    for (const flag of ["avx512_bf16", "avx512_fp16", "avx512_vp2intersect", "avx512ifma", "avx512_vbmi2", "avx512_bitalg", "avx512_vpopcntdq"]) {
      assert.ok(hidingAvx512f.has(flag), `hiding AVX-512 F hides ${flag}`);
    }
    assert.ok(withDependents(["xfd"]).has("amx_int8"), "hiding XFD hides AMX");
    assert.ok(withDependents(["avx2"]).has("avx_vnni"));
  });

  test("host-only bits are known but take no part: vmx, svm and its sub-features, hypervisor, host power and debug", () => {
    const hostOnly = ["vmx", "svm", "npt", "nrip_save", "vgif", "hypervisor", "monitor", "ds_cpl", "est", "tm2", "xtpr", "pdcm", "dtes64", "smx", "tm", "acpi", "pbe", "dts"];
    for (const flag of hostOnly) {
      assert.equal(featureByName(flag)?.guest, false, flag);
      assert.ok(!isGuestFeature(flag), flag);
    }
    for (const feature of CPUID_FEATURES.filter((f) => f.leaf === 0x8000000a)) assert.equal(feature.guest, false, feature.name);
    assert.equal(featureLabel("vmx"), "Intel VT-x");
    assert.equal(featureLabel("constant_tsc"), "constant_tsc");
  });

  test("CPU_FEATURES is the table's guest bits in table order, in the {flag, label, requires} shape", () => {
    assert.deepEqual(CPU_FEATURES.map((f) => f.flag), CPUID_FEATURES.filter((f) => f.guest).map((f) => f.name));
    assert.deepEqual(CPU_FEATURES.find((f) => f.flag === "sse4_2"), { flag: "sse4_2", label: "SSE4.2", requires: ["sse4_1"] });
    assert.deepEqual(CPU_FEATURES.find((f) => f.flag === "fpu"), { flag: "fpu", label: "x87 FPU" });
  });
});
