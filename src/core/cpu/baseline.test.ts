import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Cpu } from "../inventory/schema.ts";
import { ErrorCode, isFerryError } from "../errors.ts";
import { findCpuModel, resolveBaseline } from "./models.ts";
import { NoBaselineReason, baselineWhatIf, checkBaseline, clusterBaseline, featuresLostUnderBaseline, type HostCpu } from "./baseline.ts";

function cpu(vendor: string, family: number, model: number, flags: string): Cpu {
  return { vendor, family, model, flags: flags.split(" "), virtualization: true, cores: 16, mhz: 2400 };
}

// Host CPUs as /proc/cpuinfo lists them (host-only flags included on purpose), plus the CPUID
// bits Linux hides there but Ferry records from CPUID (spec_ctrl, spec_ctrl_ssbd): the -IBRS
// and later Intel models need them.
const intelBase =
  "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc arch_perfmon pebs bts rep_good nopl xtopology nonstop_tsc cpuid aperfmperf pni pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 sdbg fma cx16 xtpr pdcm pcid dca sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm abm 3dnowprefetch cpuid_fault epb invpcid_single pti ssbd ibrs ibpb stibp tpr_shadow vnmi flexpriority ept vpid ept_ad fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid";
/** Xeon E5-2680 v4, TSX disabled by microcode. */
const broadwell = cpu("GenuineIntel", 6, 79, `${intelBase} cqm rdt_a rdseed adx smap intel_pt xsaveopt cqm_llc dtherm ida arat pln pts md_clear flush_l1d`);
/** Xeon Gold 6130 with TSX. */
const skylake = cpu(
  "GenuineIntel",
  6,
  85,
  `${intelBase} spec_ctrl hle rtm cqm mpx rdt_a avx512f avx512dq rdseed adx smap clflushopt clwb intel_pt avx512cd avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves dtherm ida arat pln pts pku ospke md_clear flush_l1d`,
);
/** Xeon Gold 6230 (Cascade Lake), TSX disabled. */
const cascadelake = cpu(
  "GenuineIntel",
  6,
  85,
  `${intelBase} spec_ctrl spec_ctrl_ssbd cqm mpx rdt_a avx512f avx512dq rdseed adx smap clflushopt clwb intel_pt avx512cd avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves dtherm ida arat pln pts pku ospke avx512_vnni md_clear flush_l1d arch_capabilities`,
);
/** Xeon E5540 (Nehalem-EP). */
const nehalem = cpu(
  "GenuineIntel",
  6,
  26,
  "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx rdtscp lm constant_tsc pni dtes64 monitor ds_cpl vmx est tm2 ssse3 cx16 xtpr pdcm dca sse4_1 sse4_2 popcnt lahf_lm ept vpid",
);
/** Opteron 6376 (family 21) and EPYC 7601 (family 23). */
const piledriver = cpu(
  "AuthenticAMD",
  21,
  2,
  "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc pni pclmulqdq monitor ssse3 fma cx16 sse4_1 sse4_2 popcnt aes xsave avx f16c lahf_lm cmp_legacy svm extapic cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw ibs xop skinit wdt lwp fma4 tce nodeid_msr tbm topoext perfctr_core bmi1 arat npt lbrv",
);
const zen = cpu(
  "AuthenticAMD",
  23,
  1,
  "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc pni pclmulqdq monitor ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand lahf_lm cmp_legacy svm extapic cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw skinit wdt tce topoext perfctr_core ssbd ibpb fsgsbase bmi1 avx2 smep bmi2 rdseed adx smap clflushopt sha_ni xsaveopt xsavec xgetbv1 xsaves clzero irperf xsaveerptr arat npt lbrv",
);

const host = (name: string, c: Cpu): HostCpu => ({ name, cpu: c });

describe("clusterBaseline", () => {
  it("picks the newest named model every host supports", () => {
    const report = clusterBaseline([host("esx01", skylake), host("esx02", cascadelake)]);
    // Cascade Lake without TSX cannot present Skylake-Server (hle, rtm), so: the noTSX variant.
    assert.equal(report.model?.name, "Skylake-Server-noTSX-IBRS");
    assert.equal(report.reason, undefined);
    assert.equal(report.vendor, "GenuineIntel");
    assert.equal(report.baseline?.name, "Skylake-Server-noTSX-IBRS");
    assert.deepEqual(report.hosts.map((h) => [h.name, h.highestModel]), [["esx01", "Skylake-Server"], ["esx02", "Cascadelake-Server-noTSX"]]);
    // QEMU's models leave out self-snoop, HTT, TSC_ADJUST and MD_CLEAR, so every Intel host gives those up too.
    assert.deepEqual(report.hosts[0]?.givesUp, ["ss", "ht", "tsc_adjust", "hle", "rtm", "clflushopt", "md_clear", "xsaves"]);
    assert.deepEqual(report.hosts[1]?.givesUp, ["ss", "ht", "tsc_adjust", "clflushopt", "avx512_vnni", "md_clear", "arch_capabilities", "spec_ctrl_ssbd", "xsaves"]);
  });

  it("says which hosts keep the cluster from the next model up", () => {
    const report = clusterBaseline([host("esx01", broadwell), host("esx02", skylake), host("esx03", nehalem)]);
    assert.equal(report.model?.name, "Nehalem");
    assert.deepEqual(report.next, { model: "Westmere", blockedBy: [{ host: "esx03", missing: ["pclmulqdq", "aes", "arat"] }] });
  });

  it("takes a newer model once the oldest host is gone", () => {
    assert.equal(clusterBaseline([host("esx01", broadwell), host("esx02", skylake)]).model?.name, "Broadwell-noTSX");
  });

  it("keeps a baseline across AMD families, as EVC does", () => {
    const report = clusterBaseline([host("amd01", piledriver), host("amd02", zen)]);
    assert.equal(report.model?.name, "Opteron_G3");
    assert.equal(report.next?.model, "Opteron_G4");
    assert.deepEqual(report.next.blockedBy, [{ host: "amd02", missing: ["xop", "fma4"] }]);
  });

  it("reports the raw intersection of guest-visible features, host-only flags left out", () => {
    const report = clusterBaseline([host("esx01", broadwell), host("esx02", nehalem)]);
    assert.ok(report.intersection.includes("sse4_2"));
    assert.ok(!report.intersection.includes("vmx"));
    assert.ok(!report.intersection.includes("constant_tsc"));
    assert.ok(!report.intersection.includes("aes"));
  });

  interface NoModelCase {
    readonly name: string;
    readonly hosts: readonly HostCpu[];
    readonly code: NoBaselineReason;
    readonly message: RegExp;
    readonly baseline: string | undefined;
  }
  const noModel: readonly NoModelCase[] = [
    { name: "no hosts", hosts: [], code: NoBaselineReason.noHosts, message: /no hosts/, baseline: undefined },
    {
      name: "mixed vendors",
      hosts: [host("esx01", skylake), host("amd01", zen), host("esx02", nehalem)],
      code: NoBaselineReason.mixedVendors,
      message: /GenuineIntel \(esx01, esx02\) and AuthenticAMD \(amd01\).*no baseline crosses vendors/,
      baseline: undefined,
    },
    {
      name: "a host with NX disabled fits no model",
      hosts: [host("esx01", nehalem), host("esx02", { ...nehalem, flags: nehalem.flags.filter((f) => f !== "nx") })],
      code: NoBaselineReason.noModelFits,
      message: /even Conroe needs nx on esx02/,
      baseline: "custom (34 features)",
    },
    {
      name: "a vendor without named models",
      hosts: [host("via01", cpu("CentaurHauls", 6, 15, "fpu sse sse2 nx lm"))],
      code: NoBaselineReason.unknownVendor,
      message: /no named CPU models for vendor CentaurHauls/,
      baseline: "custom (5 features)",
    },
  ];
  for (const c of noModel) {
    it(`finds no model: ${c.name}`, () => {
      const report = clusterBaseline(c.hosts);
      assert.equal(report.model, undefined);
      assert.equal(report.reason?.code, c.code);
      assert.match(report.reason.message, c.message);
      assert.equal(report.baseline?.name, c.baseline);
    });
  }

  it("offers the intersection as a custom baseline when no model fits one vendor", () => {
    const noNx = { ...nehalem, flags: nehalem.flags.filter((f) => f !== "nx") };
    const report = clusterBaseline([host("esx01", nehalem), host("esx02", noNx)]);
    assert.deepEqual([...(report.baseline?.flags ?? [])], report.intersection);
    assert.deepEqual(report.hosts[0]?.givesUp, ["nx"]);
    assert.deepEqual(report.hosts[1]?.givesUp, []);
  });
});

describe("baselineWhatIf", () => {
  const cluster = [host("esx01", broadwell), host("esx02", skylake)];

  it("shows what adding an older host costs", () => {
    const change = baselineWhatIf(cluster, { add: [host("esx03", nehalem)] });
    assert.equal(change.before.model?.name, "Broadwell-noTSX");
    assert.equal(change.after.model?.name, "Nehalem");
    assert.equal(change.modelChanged, true);
    assert.deepEqual(change.gained, []);
    assert.ok(change.lost.includes("avx2"));
    assert.ok(change.lost.includes("aes"));
  });

  it("shows what removing the oldest host gains", () => {
    const change = baselineWhatIf([...cluster, host("esx03", nehalem)], { remove: ["esx03"] });
    assert.equal(change.after.model?.name, "Broadwell-noTSX");
    assert.ok(change.gained.includes("avx2"));
    assert.deepEqual(change.lost, []);
  });

  it("reports no change when the new host is at least as capable", () => {
    const change = baselineWhatIf(cluster, { add: [host("esx03", cascadelake)] });
    assert.equal(change.modelChanged, false);
    assert.equal(change.baselineChanged, false);
    assert.deepEqual([change.gained, change.lost], [[], []]);
  });

  it("compares custom baselines by their features, not their names", () => {
    // No model fits either way (esx02 has NX off), so both baselines are custom: the intersection.
    const noNx = (c: Cpu): Cpu => ({ ...c, flags: c.flags.filter((f) => f !== "nx") });
    const before = [host("esx01", nehalem), host("esx02", noNx(nehalem))];
    // esx02 swapped for one without sse4_2 (and with aes, which esx01 lacks).
    const swapped = { ...noNx(nehalem), flags: [...noNx(nehalem).flags.filter((f) => f !== "sse4_2"), "aes"] };
    const change = baselineWhatIf([...before, host("esx03", nehalem)], { remove: ["esx03"] });
    assert.equal(change.baselineChanged, false, "the same two hosts' intersection is the same baseline");
    const other = baselineWhatIf(before, { remove: ["esx01"], add: [host("esx01", { ...nehalem, flags: [...nehalem.flags, "aes"] })] });
    assert.equal(other.baselineChanged, false, "a feature only one host has changes nothing");
    const differs = baselineWhatIf(before, { remove: ["esx02"], add: [host("esx02", swapped)] });
    assert.equal(differs.modelChanged, false);
    assert.equal(differs.baselineChanged, true);
    assert.deepEqual(differs.lost, ["sse4_2"]);
  });

  it("loses everything when a host of the other vendor joins", () => {
    const change = baselineWhatIf(cluster, { add: [host("amd01", zen)] });
    assert.equal(change.after.reason?.code, NoBaselineReason.mixedVendors);
    assert.equal(change.lost.length, change.before.baseline?.flags.size);
  });

  it("replaces a host of the same name when it is removed and added in one change", () => {
    const change = baselineWhatIf(cluster, { remove: ["esx01"], add: [host("esx01", cascadelake)] });
    assert.equal(change.after.model?.name, "Skylake-Server-noTSX-IBRS");
  });

  const refused = [
    { name: "removing a host that is not there", change: { remove: ["esx09"] }, code: ErrorCode.notFound, message: /no host named esx09/ },
    { name: "adding a host whose name is taken", change: { add: [host("esx02", nehalem)] }, code: ErrorCode.invalidInput, message: /esx02 is already/ },
  ];
  for (const r of refused) {
    it(`refuses ${r.name}`, () => {
      assert.throws(
        () => baselineWhatIf(cluster, r.change),
        (error: unknown) => isFerryError(error) && error.code === r.code && r.message.test(error.message),
      );
    });
  }
});

describe("featuresLostUnderBaseline", () => {
  it("lists the guest-visible features a VM had that the baseline lacks, in catalogue order", () => {
    const westmere = resolveBaseline({ model: "Westmere" })!;
    const guest = new Set(["sse2", "avx2", "aes", "constant_tsc", "avx", "sse4_2"]);
    assert.deepEqual(featuresLostUnderBaseline(guest, westmere), ["avx", "avx2"]);
  });

  it("loses nothing when the guest saw a subset of the baseline", () => {
    const haswell = findCpuModel("Haswell-noTSX")!;
    assert.deepEqual(featuresLostUnderBaseline(new Set(findCpuModel("Nehalem")!.flags), resolveBaseline({ model: haswell.name })!), []);
  });
});

describe("checkBaseline", () => {
  it("lists the hosts that cannot present a configured baseline and what each lacks", () => {
    const check = checkBaseline([host("esx01", broadwell), host("esx02", nehalem)], { model: "Haswell-noTSX" });
    assert.ok(check.ok);
    assert.deepEqual(
      check.hosts.map((h) => [h.name, h.ok, h.missing.length > 0]),
      [["esx01", true, false], ["esx02", false, true]],
    );
    assert.ok(check.hosts[0]?.givesUp.includes("rdseed"));
  });

  it("flags a host of the other vendor", () => {
    const check = checkBaseline([host("amd01", zen)], { model: "Nehalem" });
    assert.ok(check.ok);
    assert.equal(check.hosts[0]?.vendorMismatch, true);
  });

  it("returns the unknown model name and the known ones", () => {
    const check = checkBaseline([host("esx01", broadwell)], { model: "Pentium4" });
    assert.equal(check.ok, false);
    assert.equal(check.unknownModel, "Pentium4");
    assert.ok(check.known.includes("Nehalem"));
  });
});
