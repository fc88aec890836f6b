import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ErrorCode, isFerryError } from "../errors.ts";
import { parseCpuinfo } from "./cpuinfo.ts";

// Two logical processors of a Xeon Gold 6130 (Skylake-SP), as Linux 5.10 prints them.
const skylakeFlags =
  "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts rep_good nopl xtopology nonstop_tsc cpuid aperfmperf pni pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 sdbg fma cx16 xtpr pdcm pcid dca sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm abm 3dnowprefetch cpuid_fault epb cat_l3 cdp_l3 invpcid_single pti intel_ppin ssbd mba ibrs ibpb stibp tpr_shadow vnmi flexpriority ept vpid ept_ad fsgsbase tsc_adjust bmi1 hle avx2 smep bmi2 erms invpcid rtm cqm mpx rdt_a avx512f avx512dq rdseed adx smap clflushopt clwb intel_pt avx512cd avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local dtherm ida arat pln pts pku ospke md_clear flush_l1d";

const intelCpuinfo = [0, 1]
  .map(
    (n) => `processor\t: ${n}
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 85
model name\t: Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz
stepping\t: 4
microcode\t: 0x2006b06
cpu MHz\t\t: ${n === 0 ? "1000.073" : "2799.998"}
cache size\t: 22528 KB
physical id\t: 0
siblings\t: 2
core id\t\t: ${n}
cpu cores\t: 2
apicid\t\t: ${n * 2}
initial apicid\t: ${n * 2}
fpu\t\t: yes
fpu_exception\t: yes
cpuid level\t: 22
wp\t\t: yes
flags\t\t: ${skylakeFlags}
bugs\t\t: cpu_meltdown spectre_v1 spectre_v2 spec_store_bypass l1tf mds swapgs taa itlb_multihit
bogomips\t: 4200.00
clflush size\t: 64
cache_alignment\t: 64
address sizes\t: 46 bits physical, 48 bits virtual
power management:
`,
  )
  .join("\n");

// Three logical processors of an EPYC 7601 (Zen 1); AMD model names state no clock.
const epycFlags =
  "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid extd_apicid amd_dcm aperfmperf pni pclmulqdq monitor ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand lahf_lm cmp_legacy svm extapic cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw skinit wdt tce topoext perfctr_core perfctr_nb bpext perfctr_llc mwaitx cpb hw_pstate ssbd ibpb vmmcall fsgsbase bmi1 avx2 smep bmi2 rdseed adx smap clflushopt sha_ni xsaveopt xsavec xgetbv1 xsaves clzero irperf xsaveerptr arat npt lbrv svm_lock nrip_save tsc_scale vmcb_clean flushbyasid decodeassists pausefilter pfthreshold avic v_vmsave_vmload vgif overflow_recov succor smca sme sev";

const amdCpuinfo = ["1197.348", "2200.000", "1796.113"]
  .map(
    (mhz, n) => `processor\t: ${n}
vendor_id\t: AuthenticAMD
cpu family\t: 23
model\t\t: 1
model name\t: AMD EPYC 7601 32-Core Processor
stepping\t: 2
microcode\t: 0x8001250
cpu MHz\t\t: ${mhz}
cache size\t: 512 KB
physical id\t: 0
siblings\t: 64
core id\t\t: ${n}
cpu cores\t: 32
fpu\t\t: yes
flags\t\t: ${epycFlags}
bugs\t\t: sysret_ss_attrs null_seg spectre_v1 spectre_v2 spec_store_bypass retbleed
bogomips\t: 4399.55
TLB size\t: 2560 4K pages
clflush size\t: 64
address sizes\t: 43 bits physical, 48 bits virtual
power management: ts ttp tm hwpstate cpb eff_freq_ro [13] [14]
`,
  )
  .join("\n");

describe("parseCpuinfo", () => {
  it("reads an Intel host: vendor, family, model, name, flags, processors, nominal clock", () => {
    const cpu = parseCpuinfo(intelCpuinfo);
    assert.equal(cpu.vendor, "GenuineIntel");
    assert.equal(cpu.family, 6);
    assert.equal(cpu.model, 85);
    assert.equal(cpu.modelName, "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz");
    assert.deepEqual(cpu.flags, skylakeFlags.split(" "));
    assert.equal(cpu.virtualization, true);
    assert.equal(cpu.cores, 2);
    // The model name's nominal clock, not the scaled `cpu MHz` readings.
    assert.equal(cpu.mhz, 2100);
  });

  it("reads an AMD host, taking the highest clock reading when the name states none", () => {
    const cpu = parseCpuinfo(amdCpuinfo);
    assert.equal(cpu.vendor, "AuthenticAMD");
    assert.equal(cpu.family, 23);
    assert.equal(cpu.model, 1);
    assert.equal(cpu.modelName, "AMD EPYC 7601 32-Core Processor");
    assert.ok(cpu.flags.includes("svm"));
    assert.equal(cpu.virtualization, true);
    assert.equal(cpu.cores, 3);
    assert.equal(cpu.mhz, 2200);
  });

  it("reads virtualization as disabled when neither vmx nor svm is listed (the BIOS hid it)", () => {
    const cpu = parseCpuinfo(intelCpuinfo.replaceAll(" vmx ", " "));
    assert.equal(cpu.virtualization, false);
  });

  it("accepts CRLF line ends and a missing clock, using the schema default", () => {
    const text = "processor : 0\r\nvendor_id : GenuineIntel\r\ncpu family : 6\r\nmodel : 26\r\nflags : fpu sse sse2 nx lm\r\n";
    const cpu = parseCpuinfo(text);
    assert.equal(cpu.model, 26);
    assert.equal(cpu.modelName, undefined);
    assert.equal(cpu.mhz, 2400);
    assert.equal(cpu.cores, 1);
  });

  const notCpuinfo: readonly { name: string; text: string }[] = [
    { name: "empty text", text: "" },
    { name: "a YAML inventory", text: "hosts:\n  - name: esx01\n    cpu: {vendor: GenuineIntel}\n" },
    { name: "ARM cpuinfo (no vendor_id)", text: "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm\nCPU implementer\t: 0x41\n" },
    { name: "a non-numeric family", text: "processor : 0\nvendor_id : GenuineIntel\ncpu family : six\nmodel : 26\nflags : fpu\n" },
    { name: "no flags line", text: "processor : 0\nvendor_id : GenuineIntel\ncpu family : 6\nmodel : 26\n" },
  ];
  for (const { name, text } of notCpuinfo) {
    it(`refuses ${name} with INVALID_INPUT`, () => {
      assert.throws(
        () => parseCpuinfo(text),
        (error: unknown) => isFerryError(error) && error.code === ErrorCode.invalidInput && /not Linux \/proc\/cpuinfo/.test(error.message),
      );
    });
  }
});
