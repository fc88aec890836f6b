// `ferry host cpuid` run in-process. The program is built here, with main's error handling,
// rather than through commands/index.ts, so these tests stand on this command alone.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Command, CommanderError } from "@commander-js/extra-typings";
import { ErrorCode, FerryError, isFerryError } from "../../core/errors.ts";
import { CpuSchema } from "../../core/inventory/schema.ts";
import { ExitStatus, exitStatusFor, type CliIo } from "../io.ts";
import { CPUINFO_PATH, registerCpuidCommands } from "./cpuid.ts";

interface Run {
  readonly status: number;
  readonly out: string;
  readonly err: string;
}

async function ferry(args: readonly string[], files: ReadonlyMap<string, string>): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    readText: (path) => {
      const text = files.get(path);
      return text === undefined
        ? Promise.reject(new FerryError(ErrorCode.io, `cannot read ${path}: no such file`))
        : Promise.resolve(text);
    },
    isTty: false,
  };
  let status: number = ExitStatus.ok;
  const program = new Command()
    .name("ferry")
    .exitOverride()
    .configureOutput({ writeOut: (s) => out.push(s), writeErr: (s) => err.push(s) });
  registerCpuidCommands(program, io, (code) => {
    status = code;
  });
  try {
    await program.parseAsync(["node", "ferry", ...args]);
  } catch (error) {
    if (error instanceof CommanderError) status = ExitStatus.badInput;
    else if (isFerryError(error)) {
      err.push(`ferry: ${error.message}`);
      status = exitStatusFor(error.code);
    } else throw error;
  }
  return { status, out: out.join("\n"), err: err.join("\n") };
}

function cpuinfo(vendor: string, family: number, model: number, name: string, flags: string): string {
  return [0, 1]
    .map(
      (n) => `processor\t: ${n}
vendor_id\t: ${vendor}
cpu family\t: ${family}
model\t\t: ${model}
model name\t: ${name}
stepping\t: 4
cpu MHz\t\t: 2095.078
cache size\t: 22528 KB
physical id\t: 0
siblings\t: 2
core id\t\t: ${n}
cpu cores\t: 2
fpu\t\t: yes
flags\t\t: ${flags}
bogomips\t: 4190.15
address sizes\t: 46 bits physical, 48 bits virtual
power management:
`,
    )
    .join("\n");
}

const skylakeFlags =
  "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts rep_good nopl xtopology nonstop_tsc cpuid aperfmperf pni pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 sdbg fma cx16 xtpr pdcm pcid dca sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm abm 3dnowprefetch cpuid_fault epb pti ssbd ibrs ibpb stibp tpr_shadow vnmi flexpriority ept vpid ept_ad fsgsbase tsc_adjust bmi1 hle avx2 smep bmi2 erms invpcid rtm cqm mpx rdt_a avx512f avx512dq rdseed adx smap clflushopt clwb intel_pt avx512cd avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves dtherm ida arat pln pts pku ospke md_clear flush_l1d";
const skylakeInfo = cpuinfo("GenuineIntel", 6, 85, "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz", skylakeFlags);
const nehalemInfo = cpuinfo(
  "GenuineIntel",
  6,
  26,
  "Intel(R) Xeon(R) CPU           E5540  @ 2.53GHz",
  "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx rdtscp lm constant_tsc arch_perfmon pebs bts rep_good nopl xtopology nonstop_tsc cpuid aperfmperf pni dtes64 monitor ds_cpl vmx est tm2 ssse3 cx16 xtpr pdcm dca sse4_1 sse4_2 popcnt lahf_lm pti tpr_shadow vnmi flexpriority ept vpid dtherm ida",
);
const epycInfo = cpuinfo(
  "AuthenticAMD",
  23,
  1,
  "AMD EPYC 7601 32-Core Processor",
  "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid extd_apicid pni pclmulqdq monitor ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand lahf_lm cmp_legacy svm extapic cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw skinit wdt topoext perfctr_core ssbd ibpb vmmcall fsgsbase bmi1 avx2 smep bmi2 rdseed adx smap clflushopt sha_ni xsaveopt xsavec xgetbv1 xsaves clzero arat npt lbrv",
);

/** `ferry host cpuid --json` on a host with this /proc/cpuinfo: the file an operator saves per host. */
async function saved(info: string): Promise<string> {
  const run = await ferry(["host", "cpuid", "--json"], new Map([[CPUINFO_PATH, info]]));
  assert.equal(run.status, ExitStatus.ok);
  return run.out;
}

describe("ferry host cpuid", () => {
  it("prints this machine's CPU, its guest-visible features and the newest model it can present", async () => {
    const run = await ferry(["host", "cpuid"], new Map([[CPUINFO_PATH, skylakeInfo]]));
    assert.equal(run.status, ExitStatus.ok);
    assert.equal(run.err, "");
    assert.match(run.out, /vendor\s+│ GenuineIntel/);
    assert.match(run.out, /model name\s+│ Intel\(R\) Xeon\(R\) Gold 6130 CPU @ 2\.10GHz/);
    assert.match(run.out, /virtualization\s+│ enabled \(Intel VT-x, vmx\)/);
    assert.match(run.out, /processors\s+│ 2 logical, 2100 MHz/);
    assert.match(run.out, /highest named model\s+│ Skylake-Server /);
    assert.match(run.out, /sse4_2\s+│ SSE4\.2/);
    assert.match(run.out, /nx\s+│ NX\/XD/);
    // Host-only flags are not guest features.
    assert.doesNotMatch(run.out, /constant_tsc/);
    assert.ok(!run.out.includes("\u001b["), "no colour codes");
  });

  it("prints JSON whose `cpu` is exactly a Cpu object", async () => {
    const json = JSON.parse(await saved(skylakeInfo)) as { cpu: unknown; highestModel: string; guestFeatures: { flag: string; label: string }[]; supportedModels: string[] };
    const cpu = CpuSchema.parse(json.cpu);
    assert.deepEqual(cpu, json.cpu);
    assert.equal(cpu.model, 85);
    assert.ok(cpu.flags.includes("vmx"), "all flags kept, host-only ones too");
    assert.equal(json.highestModel, "Skylake-Server");
    assert.ok(json.supportedModels.includes("Conroe"));
    assert.ok(!json.supportedModels.includes("EPYC"));
    assert.deepEqual(json.guestFeatures.find((f) => f.flag === "pni"), { flag: "pni", label: "SSE3" });
  });

  it("says so when virtualization is off in the BIOS", async () => {
    const run = await ferry(["host", "cpuid"], new Map([[CPUINFO_PATH, nehalemInfo.replaceAll(" vmx ", " ")]]));
    assert.match(run.out, /virtualization\s+│ disabled or absent/);
  });
});

describe("ferry host cpuid --compare", () => {
  it("round-trips saved --json output and refuses (1) when one direction is blocked", async () => {
    const files = new Map([
      ["a.json", await saved(nehalemInfo)],
      ["b.json", await saved(skylakeInfo)],
    ]);
    const run = await ferry(["host", "cpuid", "--compare", "a.json", "b.json"], files);
    assert.equal(run.status, ExitStatus.refused);
    assert.equal(run.err, "");
    assert.match(run.out, /A → B: a running guest can move/);
    assert.match(run.out, /B → A: a running guest cannot move/);
    assert.match(run.out, /the guest may use \d+ features the destination lacks: pdpe1gb .*avx512vl/);
    assert.match(run.out, /fix: set the VM's CPUID mask: hide pdpe1gb .* \(custom\); the change reaches the guest at its next power cycle/);
    assert.match(run.out, /Only in A: nothing\./);
    assert.match(run.out, /Shared baseline: Nehalem/);
  });

  it("succeeds (0) when a guest can move both ways", async () => {
    const same = await saved(skylakeInfo);
    const run = await ferry(["host", "cpuid", "--compare", "a.json", "b.json"], new Map([["a.json", same], ["b.json", same]]));
    assert.equal(run.status, ExitStatus.ok);
    assert.match(run.out, /A → B: a running guest can move/);
    assert.match(run.out, /B → A: a running guest can move/);
    assert.match(run.out, /Shared baseline: Skylake-Server,/);
  });

  it("accepts a bare Cpu object and prints JSON", async () => {
    const bare = JSON.stringify((JSON.parse(await saved(nehalemInfo)) as { cpu: unknown }).cpu);
    const files = new Map([["a.json", bare], ["b.json", await saved(epycInfo)]]);
    const run = await ferry(["host", "cpuid", "--compare", "a.json", "b.json", "--json"], files);
    assert.equal(run.status, ExitStatus.refused);
    const json = JSON.parse(run.out) as {
      a: { file: string };
      comparison: { sameVendor: boolean; aToB: { ok: boolean; fixableByMask: boolean; blockers: { kind: string }[] } };
      sharedBaseline: { model: string | null; reason: { code: string } | null };
    };
    assert.equal(json.a.file, "a.json");
    assert.equal(json.comparison.sameVendor, false);
    assert.equal(json.comparison.aToB.fixableByMask, false);
    assert.equal(json.comparison.aToB.blockers[0]?.kind, "vendor");
    assert.deepEqual(json.sharedBaseline, { model: null, reason: json.sharedBaseline.reason, givesUp: { a: [], b: [] } });
    assert.equal(json.sharedBaseline.reason?.code, "mixed-vendors");
  });

  it("says no mask can fix a vendor mismatch", async () => {
    const files = new Map([["a.json", await saved(epycInfo)], ["b.json", await saved(nehalemInfo)]]);
    const run = await ferry(["host", "cpuid", "--compare", "a.json", "b.json"], files);
    assert.equal(run.status, ExitStatus.refused);
    assert.match(run.out, /neither a CPUID mask nor a baseline crosses vendors/);
    assert.match(run.out, /fix: none while the VM runs; power it off to move it/);
  });

  it("points a family mismatch at the shared baseline", async () => {
    const zen = await saved(epycInfo);
    const piledriver = zen.replace('"family": 23', '"family": 21');
    const run = await ferry(["host", "cpuid", "--compare", "a.json", "b.json"], new Map([["a.json", zen], ["b.json", piledriver]]));
    assert.equal(run.status, ExitStatus.refused);
    assert.match(run.out, /a CPUID mask cannot hide the family/);
    assert.match(run.out, /fix: no CPUID mask can; a cluster baseline both hosts support can/);
    assert.match(run.out, /Shared baseline: EPYC,/);
  });

  const valid = JSON.stringify({ vendor: "GenuineIntel", family: 6, model: 26, flags: ["sse2"] });
  const badInput: readonly { name: string; args: readonly string[]; files: Record<string, string>; err: RegExp }[] = [
    { name: "a missing file", args: ["a.json", "b.json"], files: { "a.json": valid }, err: /^ferry: cannot read b\.json: no such file$/ },
    { name: "a file that is not JSON", args: ["a.json", "b.json"], files: { "a.json": "vendor: Intel", "b.json": valid }, err: /^ferry: a\.json: is not JSON \(/ },
    {
      name: "a family that is not a number",
      args: ["a.json", "b.json"],
      files: { "a.json": valid, "b.json": JSON.stringify({ cpu: { vendor: "GenuineIntel", family: "six", model: 26, flags: [] } }) },
      err: /^ferry: b\.json: cpu\.family: .*expected number/,
    },
    {
      name: "a flag that is not a string",
      args: ["a.json", "b.json"],
      files: { "a.json": JSON.stringify({ vendor: "GenuineIntel", family: 6, model: 26, flags: ["sse2", 7] }), "b.json": valid },
      err: /^ferry: a\.json: cpu\.flags\[1\]: .*expected string/,
    },
    {
      name: "an unknown field",
      args: ["a.json", "b.json"],
      files: { "a.json": valid, "b.json": JSON.stringify({ vendor: "GenuineIntel", family: 6, model: 26, flags: [], socket: 2 }) },
      err: /^ferry: b\.json: cpu: .*socket/,
    },
    { name: "one file only", args: ["a.json"], files: { "a.json": valid }, err: /^ferry: --compare takes two files, A\.json and B\.json; got 1$/ },
  ];
  for (const c of badInput) {
    it(`exits 2 on ${c.name}, writing nothing to stdout`, async () => {
      const run = await ferry(["host", "cpuid", "--compare", ...c.args], new Map(Object.entries(c.files)));
      assert.equal(run.status, ExitStatus.badInput);
      assert.equal(run.out, "");
      assert.match(run.err, c.err);
    });
  }

  it("exits 2 when /proc/cpuinfo is not what it should be", async () => {
    const run = await ferry(["host", "cpuid"], new Map([[CPUINFO_PATH, "Hardware\t: BCM2835\nRevision\t: a02082\n"]]));
    assert.equal(run.status, ExitStatus.badInput);
    assert.match(run.err, /not Linux \/proc\/cpuinfo of an x86 host/);
  });
});
