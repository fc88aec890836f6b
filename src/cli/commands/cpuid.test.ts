// `ferry host cpuid` run in-process. The program is built here, with main's error handling,
// rather than through commands/index.ts, so these tests stand on this command alone.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "@commander-js/extra-typings";
import { ErrorCode, FerryError, isFerryError } from "../../core/errors.ts";
import { CpuSchema } from "../../core/inventory/schema.ts";
import { compareDumps, decodeCpuid, encodeCpuid, hiddenFromProcCpuinfo, parseCpuidDump } from "../../core/cpu/cpuid.ts";
import type { CpuidDump } from "../../core/cpu/cpuid-types.ts";
import { CPUID_FEATURES } from "../../core/cpu/feature-table.generated.ts";
import { ExitStatus, exitStatusFor, type CliIo } from "../io.ts";
import { readHostCpu, type OpenCpuidDevice } from "../../host/facts/cpuid-device.ts";
import { dumpCpuidDevice, unreadableCpuidDevice } from "../../host/facts/testing/cpuid-device.ts";
import { CPUINFO_PATH, registerCpuidCommands } from "./cpuid.ts";

interface Run {
  readonly status: number;
  readonly out: string;
  readonly err: string;
}

/**
 * Runs `ferry ARGS` with these files; this machine's CPU is /proc/cpuinfo from `files` and the
 * CPUID device `device` (by default one a non-root user cannot open, the /proc/cpuinfo fallback).
 */
async function ferry(args: readonly string[], files: ReadonlyMap<string, string>, device: OpenCpuidDevice = unreadableCpuidDevice("EACCES")): Promise<Run> {
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
  const readCpu = () => readHostCpu({ run: () => Promise.resolve(""), readText: io.readText, openDevice: device, hostName: "esx01" });
  registerCpuidCommands(
    program,
    io,
    (code) => {
      status = code;
    },
    readCpu,
  );
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
    // The order is the feature table's; what matters is which features.
    assert.match(run.out, /the guest may use \d+ features the destination lacks: (?=.*\bpdpe1gb\b)(?=.*\bavx512vl\b)/);
    assert.match(run.out, /fix: set the VM's CPUID mask: hide (?=[^\n]*\bpdpe1gb\b)[^\n]* \(custom\); the change reaches the guest at its next power cycle/);
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

// ---- raw CPUID ------------------------------------------------------------------------------

const FIXTURES = new URL("../../../test/fixtures/cpuid/", import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(`${name}.json`, FIXTURES), "utf8");

/** A feature Linux never shows in /proc/cpuinfo, that an Intel CPU can have. */
const hiddenFeature = CPUID_FEATURES.find((f) => !f.procCpuinfo && f.vendors.includes("intel") && f.leaf === 7);
/** Skylake's /proc/cpuinfo flags as the CPUID bits they are, plus one bit Linux hides. */
function skylakeDump(extra: readonly string[] = []): CpuidDump {
  if (hiddenFeature === undefined) throw new Error("the table has no leaf 7 feature /proc/cpuinfo hides");
  return encodeCpuid([...skylakeFlags.split(" "), hiddenFeature.name, ...extra], "GenuineIntel", 6, 85, { brand: "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz", stepping: 4 });
}

async function savedRaw(dump: CpuidDump): Promise<string> {
  const run = await ferry(["host", "cpuid", "--json"], new Map([[CPUINFO_PATH, skylakeInfo]]), dumpCpuidDevice(dump).open);
  assert.equal(run.status, ExitStatus.ok, run.err);
  return run.out;
}

describe("ferry host cpuid from raw CPUID", () => {
  it("says the CPU came from raw CPUID and which of its features /proc/cpuinfo would not show", async () => {
    const run = await ferry(["host", "cpuid"], new Map([[CPUINFO_PATH, skylakeInfo]]), dumpCpuidDevice(skylakeDump()).open);
    assert.equal(run.status, ExitStatus.ok, run.err);
    assert.match(run.out, /source\s+│ raw CPUID \(\/dev\/cpu\/0\/cpuid on esx01\)/);
    assert.match(run.out, /model name\s+│ Intel\(R\) Xeon\(R\) Gold 6130 CPU @ 2\.10GHz/);
    assert.match(run.out, /processors\s+│ 2 logical, 2100 MHz/, "cores and clock still from /proc/cpuinfo");
    const hidden = hiddenFromProcCpuinfo(decodeCpuid(skylakeDump()).flags);
    assert.ok(hidden.some((f) => f.name === hiddenFeature?.name));
    assert.ok(
      run.out.includes(`/proc/cpuinfo does not show ${hidden.length} of the features CPUID reports here: ${hidden.map((f) => `${f.name} (${f.label})`).join(", ")}.`),
      run.out,
    );
    assert.doesNotMatch(run.out, /^note:/m);
  });

  it("says it fell back to /proc/cpuinfo and what that hides", async () => {
    const run = await ferry(["host", "cpuid"], new Map([[CPUINFO_PATH, skylakeInfo]]));
    assert.equal(run.status, ExitStatus.ok);
    assert.match(run.out, /source\s+│ \/proc\/cpuinfo \(raw CPUID could not be read; see the note below\)/);
    assert.match(run.out, /^note: CPU read from \/proc\/cpuinfo, not raw CPUID \(\/dev\/cpu\/0\/cpuid: permission denied \(only root may read it\)\): the \d+ CPUID features Linux does not list there cannot be seen/m);
  });

  it("--raw prints each leaf in hex, one a line", async () => {
    const dump = skylakeDump();
    const run = await ferry(["host", "cpuid", "--raw"], new Map([[CPUINFO_PATH, skylakeInfo]]), dumpCpuidDevice(dump).open);
    assert.equal(run.status, ExitStatus.ok, run.err);
    const lines = run.out.split("\n");
    assert.equal(lines[0], "# raw CPUID, /dev/cpu/0/cpuid on esx01");
    const leaf1 = dump.leaves.find((l) => l.leaf === 1);
    const hex = (n: number | undefined): string => `0x${(n ?? 0).toString(16).padStart(8, "0")}`;
    assert.ok(lines.includes(`0x00000001.0: eax=${hex(leaf1?.eax)} ebx=${hex(leaf1?.ebx)} ecx=${hex(leaf1?.ecx)} edx=${hex(leaf1?.edx)}`), run.out);
    assert.match(run.out, /^0x00000000\.0: eax=0x[0-9a-f]{8} ebx=0x756e6547 ecx=0x6c65746e edx=0x49656e69$/m);
    assert.ok(lines.slice(1).every((l) => /^0x[0-9a-f]{8}\.[0-9a-f]+: eax=0x[0-9a-f]{8} ebx=0x[0-9a-f]{8} ecx=0x[0-9a-f]{8} edx=0x[0-9a-f]{8}$/.test(l)), run.out);
  });

  const refusals = [
    { name: "--raw where raw CPUID cannot be read", args: ["--raw"], err: /^ferry: raw CPUID cannot be read here: \/dev\/cpu\/0\/cpuid: permission denied \(only root may read it\); run as root/ },
    { name: "--raw with --json", args: ["--raw", "--json"], err: /^ferry: --raw prints this host's CPUID in hex and takes neither --json/ },
  ] as const;
  for (const c of refusals) {
    it(`exits 2 on ${c.name}, writing nothing to stdout`, async () => {
      const run = await ferry(["host", "cpuid", ...c.args], new Map([[CPUINFO_PATH, skylakeInfo]]));
      assert.equal(run.status, ExitStatus.badInput);
      assert.equal(run.out, "");
      assert.match(run.err, c.err);
      assert.equal(run.err.split("\n").length, 1, "one line");
    });
  }

  it("--json carries the dump, which parses as a dump file and decodes to the report's CPU", async () => {
    const json = JSON.parse(await savedRaw(skylakeDump())) as { cpu: unknown; source: string; dump: unknown; hiddenFromProcCpuinfo: { flag: string; label: string }[] };
    assert.equal(json.source, "cpuid");
    const dump = parseCpuidDump(json.dump, "saved.json");
    assert.deepEqual(decodeCpuid(dump).flags, CpuSchema.parse(json.cpu).flags);
    assert.ok(json.hiddenFromProcCpuinfo.some((f) => f.flag === hiddenFeature?.name && f.label === hiddenFeature.label));
  });
});

describe("ferry host cpuid --compare with raw CPUID", () => {
  it("names each CPUID feature that differs, with its label and the side that has it", async () => {
    const avx512vnni = CPUID_FEATURES.find((f) => f.name === "avx512_vnni");
    assert.ok(avx512vnni !== undefined);
    const files = new Map([
      ["a.json", await savedRaw(skylakeDump())],
      ["b.json", await savedRaw(skylakeDump(["avx512_vnni"]))],
    ]);
    const run = await ferry(["host", "cpuid", "--compare", "a.json", "b.json"], files);
    assert.equal(run.status, ExitStatus.refused, "B → A loses AVX-512 VNNI");
    assert.match(run.out, /Raw CPUID features that differ \(1\):/);
    assert.match(run.out, new RegExp(`avx512_vnni\\s+│ ${avx512vnni.label.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s+│ CPUID\\.\\(EAX=07H,ECX=0\\):ECX\\[11\\]\\s+│ B\\s+│ yes\\s+│ yes`));
    assert.match(run.out, /A → B: a running guest can move/);
    assert.match(run.out, /B → A: a running guest cannot move/);

    const asJson = await ferry(["host", "cpuid", "--compare", "a.json", "b.json", "--json"], files);
    const parsed = JSON.parse(asJson.out) as { cpuidDifferences: { name: string; label: string; side: string }[] | null };
    assert.deepEqual(parsed.cpuidDifferences?.map((d) => [d.name, d.label, d.side]), [["avx512_vnni", avx512vnni.label, "b"]]);
  });

  it("compares two real CPUs saved as bare dumps (libvirt's Skylake-SP and Cascade Lake)", async () => {
    const files = new Map([
      ["skylake.json", fixture("intel-skylake-sp-xeon-gold-6148")],
      ["cascade.json", fixture("intel-cascade-lake-sp-xeon-platinum-8268")],
    ]);
    const run = await ferry(["host", "cpuid", "--compare", "skylake.json", "cascade.json", "--json"], files);
    const parsed = JSON.parse(run.out) as { a: { cpu: { model: number } }; cpuidDifferences: { name: string; side: string }[] | null };
    assert.equal(parsed.a.cpu.model, 0x55);
    const differences = parsed.cpuidDifferences ?? [];
    assert.ok(differences.some((d) => d.name === "avx512_vnni" && d.side === "b"), JSON.stringify(differences));
    const expected = compareDumps(
      parseCpuidDump(JSON.parse(fixture("intel-skylake-sp-xeon-gold-6148")), "skylake.json"),
      parseCpuidDump(JSON.parse(fixture("intel-cascade-lake-sp-xeon-platinum-8268")), "cascade.json"),
    );
    assert.deepEqual(differences, JSON.parse(JSON.stringify(expected)));
  });

  it("keeps comparing old files without a dump, and says the raw comparison needs both", async () => {
    const old = JSON.stringify({ cpu: (JSON.parse(await saved(skylakeInfo)) as { cpu: unknown }).cpu });
    const run = await ferry(["host", "cpuid", "--compare", "old.json", "new.json"], new Map([["old.json", old], ["new.json", await savedRaw(skylakeDump())]]));
    assert.match(run.out, /Raw CPUID: A carries no CPUID dump \(saved from \/proc\/cpuinfo or by an older Ferry\): only the flags above are compared\./);
    assert.match(run.out, /A → B: a running guest can move/);
    const asJson = JSON.parse((await ferry(["host", "cpuid", "--compare", "old.json", "new.json", "--json"], new Map([["old.json", old], ["new.json", await savedRaw(skylakeDump())]]))).out) as { cpuidDifferences: unknown };
    assert.equal(asJson.cpuidDifferences, null);
  });

  const good = fixture("intel-core2-e6850");
  const badDumps: readonly { name: string; b: string; err: RegExp }[] = [
    {
      name: "a dump register that is not hex",
      b: JSON.stringify({ cpu: { vendor: "GenuineIntel", family: 6, model: 15, flags: [] }, dump: { source: "x", leaves: [{ leaf: 0, eax: "0xZZ", ebx: 0, ecx: 0, edx: 0 }] } }),
      err: /^ferry: b\.json: dump\.leaves\[0\]\.eax: expected a 32-bit number or a hex string like 0x000306c3$/,
    },
    { name: "a bare dump without leaf 1", b: JSON.stringify({ source: "x", leaves: [{ leaf: 0, eax: 1, ebx: 0, ecx: 0, edx: 0 }] }), err: /^ferry: b\.json: dump\.leaves: leaf 1 is missing/ },
    {
      name: "a bare dump whose leaf 0 is no vendor",
      b: JSON.stringify({ source: "x", leaves: [{ leaf: 0, eax: 1, ebx: 0, ecx: 0, edx: 0 }, { leaf: 1, eax: 0x6fb, ebx: 0, ecx: 0, edx: 0 }] }),
      err: /^ferry: b\.json: dump: x: leaf 0 holds no vendor string/,
    },
  ];
  for (const c of badDumps) {
    it(`exits 2 on ${c.name}, in one line`, async () => {
      const run = await ferry(["host", "cpuid", "--compare", "a.json", "b.json"], new Map([["a.json", good], ["b.json", c.b]]));
      assert.equal(run.status, ExitStatus.badInput);
      assert.equal(run.out, "");
      assert.match(run.err, c.err);
      assert.equal(run.err.split("\n").length, 1);
    });
  }
});
