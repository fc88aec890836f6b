import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Cpu } from "../inventory/schema.ts";
import { CPU_FEATURES, featureByName, isGuestFeature } from "./features.ts";
import { BASELINE_MODELS } from "./baseline-models.ts";
import { CPU_MODELS, baselineKey, customBaseline, findCpuModel, highestModelFor, hostSupportsBaseline, modelBaseline, modelChangeWords, modelsOfVendor, resolveBaseline, sameBaseline } from "./models.ts";

const requires = new Map(CPU_FEATURES.map((f) => [f.flag, f.requires ?? []]));

function model(name: string) {
  const found = findCpuModel(name);
  assert.ok(found, `model ${name} is in the catalogue`);
  return found;
}

function cpu(vendor: string, family: number, flags: string): Cpu {
  return { vendor, family, model: 0, flags: flags.split(" "), virtualization: true, cores: 8, mhz: 2400 };
}

describe("CPU_MODELS", () => {
  it("holds the models the brief names, as QEMU spells them", () => {
    for (const name of [
      "Conroe", "Penryn", "Nehalem", "Westmere", "SandyBridge", "IvyBridge", "Haswell-noTSX", "Broadwell-noTSX",
      "Skylake-Client-noTSX-IBRS", "Skylake-Server", "Cascadelake-Server", "Icelake-Server", "SapphireRapids",
      "Opteron_G1", "Opteron_G2", "Opteron_G3", "Opteron_G4", "Opteron_G5", "EPYC", "EPYC-Rome", "EPYC-Milan", "EPYC-Genoa",
    ]) {
      assert.equal(model(name).name, name);
    }
  });

  it("has unique names", () => {
    const names = CPU_MODELS.map((m) => m.name.toLowerCase());
    assert.equal(new Set(names).size, names.length);
  });

  it("uses only flags of the feature catalogue, each once", () => {
    for (const m of CPU_MODELS) {
      for (const flag of m.flags) assert.ok(isGuestFeature(flag), `${m.name}: ${flag} is a known guest feature`);
      assert.equal(new Set(m.flags).size, m.flags.length, `${m.name} lists no flag twice`);
    }
  });

  it("is closed under `requires`: every prerequisite of a model's flag is in the model", () => {
    for (const m of CPU_MODELS) {
      const have = new Set(m.flags);
      for (const flag of m.flags) {
        for (const req of requires.get(flag) ?? []) assert.ok(have.has(req), `${m.name}: ${flag} needs ${req}`);
      }
    }
  });

  it("orders each vendor's families from oldest to newest", () => {
    for (const vendor of ["GenuineIntel", "AuthenticAMD"]) {
      const families = modelsOfVendor(vendor).map((m) => m.family);
      assert.deepEqual(families, [...families].sort((x, y) => x - y), vendor);
    }
    assert.ok(modelsOfVendor("GenuineIntel").every((m) => m.family === 6));
    assert.deepEqual(modelsOfVendor("AuthenticAMD").map((m) => m.family), [15, 15, 16, 21, 21, 23, 23, 25, 25]);
  });

  it("grows along each line of models (each one a superset of the one it succeeds)", () => {
    const lines = [
      ["Conroe", "Penryn", "Nehalem", "Westmere", "SandyBridge", "IvyBridge", "Haswell-noTSX", "Broadwell-noTSX",
        "Skylake-Client-noTSX-IBRS", "Skylake-Server-noTSX-IBRS", "Cascadelake-Server-noTSX"],
      ["Haswell", "Broadwell", "Skylake-Client", "Skylake-Server", "Cascadelake-Server", "Icelake-Server"],
      // SapphireRapids drops only mpx (tested with `drops` below).
      ["Cascadelake-Server", "Icelake-Server"],
      ["Haswell-noTSX", "Haswell"],
      ["Icelake-Server-noTSX", "Icelake-Server"],
      ["Opteron_G1", "Opteron_G2", "Opteron_G3", "Opteron_G4", "Opteron_G5"],
      ["EPYC", "EPYC-Rome", "EPYC-Milan", "EPYC-Genoa"],
    ];
    for (const line of lines) {
      for (let i = 1; i < line.length; i++) {
        const older = model(line[i - 1]!);
        const newer = new Set(model(line[i]!).flags);
        const lost = older.flags.filter((f) => !newer.has(f));
        assert.deepEqual(lost, [], `${line[i]} keeps every feature of ${line[i - 1]}`);
      }
    }
  });

  it("leaves out what a KVM guest never gets from the model: vmx, svm, monitor", () => {
    for (const m of CPU_MODELS) {
      for (const flag of ["vmx", "svm", "monitor"]) assert.ok(!m.flags.includes(flag), `${m.name} has no ${flag}`);
    }
  });

  it("separates the TSX variants by hle and rtm alone, except where QEMU's versions differ in more", () => {
    const delta = (tsxName: string, noTsxName: string) => {
      const withTsx = new Set(model(tsxName).flags);
      const without = new Set(model(noTsxName).flags);
      return { gains: [...withTsx].filter((f) => !without.has(f)).sort(), loses: [...without].filter((f) => !withTsx.has(f)).sort() };
    };
    for (const gen of ["Haswell", "Broadwell", "Icelake-Server"]) assert.deepEqual(delta(gen, `${gen}-noTSX`), { gains: ["hle", "rtm"], loses: [] }, gen);
    // Skylake-Server-noTSX-IBRS is QEMU's v3: v2 turned clflushopt off and spec-ctrl on.
    assert.deepEqual(delta("Skylake-Server", "Skylake-Server-noTSX-IBRS"), { gains: ["clflushopt", "hle", "rtm"], loses: ["spec_ctrl"] });
    // Cascadelake-Server-noTSX is QEMU's v3, after v2 added arch-capabilities.
    assert.deepEqual(delta("Cascadelake-Server", "Cascadelake-Server-noTSX"), { gains: ["hle", "rtm"], loses: ["arch_capabilities"] });
  });

  it("says what each model adds over, and drops from, the vendor's previous one", () => {
    for (const [index, m] of CPU_MODELS.entries()) {
      const previous = CPU_MODELS.slice(0, index).filter((p) => p.vendor === m.vendor).at(-1);
      const data = BASELINE_MODELS[index];
      assert.equal(data?.name, m.name);
      const had = new Set(previous === undefined ? [] : BASELINE_MODELS.find((d) => d.name === previous.name)?.flags);
      assert.deepEqual(m.adds, data.flags.filter((f) => !had.has(f)), m.name);
      for (const flag of m.drops) assert.ok(had.has(flag) && !data.flags.includes(flag), `${m.name} drops ${flag}`);
    }
    assert.equal(model("Conroe").adds.length, model("Conroe").flags.length);
    assert.deepEqual(model("Penryn").adds, ["cx16", "sse4_1"]);
    assert.deepEqual(model("EPYC").drops, ["xop", "fma4", "tbm"]);
    assert.deepEqual(model("SapphireRapids").drops, ["mpx"]);
    for (const flag of ["amx_tile", "amx_int8", "amx_bf16", "avx512_fp16", "avx512_bf16", "avx_vnni", "serialize", "tsxldtrk", "avx512ifma", "xsaves"]) {
      assert.ok(model("SapphireRapids").adds.includes(flag), `SapphireRapids adds ${flag}`);
    }
    for (const flag of ["avx512f", "avx512_bf16", "avx512_vnni", "avx512_vpopcntdq", "la57", "gfni"]) {
      assert.ok(model("EPYC-Genoa").adds.includes(flag), `EPYC-Genoa adds ${flag}`);
    }
    assert.deepEqual(model("EPYC-Milan").adds, ["pcid", "amd_ibrs", "amd_ssbd", "erms", "invpcid", "pku", "fsrm"]);
  });

  it("names every feature of every model as the CPUID feature table does, guest-visible ones only", () => {
    for (const m of BASELINE_MODELS) {
      const unknown = m.flags.filter((flag) => !isGuestFeature(flag));
      assert.deepEqual(unknown, [], `${m.name}: flags the feature table does not know as guest features`);
    }
  });

  it("names only features QEMU has a -cpu property for, so the qemu driver can start every model", () => {
    for (const m of BASELINE_MODELS) {
      const unspellable = m.flags.filter((flag) => featureByName(flag)?.qemu === undefined);
      assert.deepEqual(unspellable, [], `${m.name}: features without a QEMU property`);
    }
  });

  it("gives each model with an EVC mode a key of vSphere's form, each key once", () => {
    const keys = CPU_MODELS.flatMap((m) => (m.evc === undefined ? [] : [m.evc]));
    assert.equal(new Set(keys).size, keys.length);
    for (const key of keys) assert.match(key, /^(intel|amd)-[a-z0-9-]+$/);
    assert.equal(model("Conroe").evc, "intel-merom");
    assert.equal(model("SapphireRapids").evc, "intel-sapphirerapids");
    assert.equal(model("Opteron_G1").evc, "amd-rev-e");
    assert.equal(model("EPYC-Genoa").evc, "amd-zen4");
    // Every generation the EVC list names has its model.
    for (const key of ["intel-merom", "intel-penryn", "intel-nehalem", "intel-westmere", "intel-sandybridge", "intel-ivybridge", "intel-haswell",
      "intel-broadwell", "intel-skylake", "intel-cascadelake", "intel-icelake", "intel-sapphirerapids", "amd-rev-e", "amd-rev-f",
      "amd-greyhound-no3dnow", "amd-bulldozer", "amd-piledriver", "amd-zen", "amd-zen2", "amd-zen3", "amd-zen4"]) {
      assert.ok(keys.includes(key), key);
    }
  });
});

describe("findCpuModel and resolveBaseline", () => {
  it("finds models whatever the case", () => {
    assert.equal(findCpuModel("haswell-notsx")?.name, "Haswell-noTSX");
    assert.equal(findCpuModel("Pentium4"), undefined);
  });

  it("finds a model by its EVC mode key too, so a vSphere cluster's setting carries over", () => {
    assert.equal(findCpuModel("intel-haswell")?.name, "Haswell-noTSX");
    assert.equal(findCpuModel("AMD-Zen3")?.name, "EPYC-Milan");
    assert.equal(resolveBaseline({ model: "intel-sapphirerapids" })?.name, "SapphireRapids");
    assert.equal(findCpuModel("intel-pentium4"), undefined);
  });

  it("resolves a named model to its vendor and flags", () => {
    const b = resolveBaseline({ model: "nehalem" });
    assert.equal(b?.name, "Nehalem");
    assert.equal(b.vendor, "GenuineIntel");
    assert.ok(b.flags.has("sse4_2"));
    assert.ok(!b.flags.has("aes"));
  });

  it("resolves an explicit feature set to a name that says what it is, and an unknown model as undefined", () => {
    assert.deepEqual(resolveBaseline({ vendor: "AuthenticAMD", flags: ["sse2", "nx"] }), {
      name: "custom (2 features)",
      vendor: "AuthenticAMD",
      flags: new Set(["sse2", "nx"]),
    });
    assert.equal(resolveBaseline({ vendor: "GenuineIntel", flags: ["sse2"] })?.name, "custom (1 feature)");
    assert.equal(resolveBaseline({ model: "Zen9" }), undefined);
  });
});

describe("sameBaseline and baselineKey: a baseline is its vendor and its features", () => {
  const penryn = modelBaseline(model("Penryn"));
  const explicitPenryn = customBaseline("GenuineIntel", [...model("Penryn").flags].reverse());

  it("holds a named model and an explicit set of the same features equal, whatever the names", () => {
    assert.notEqual(penryn.name, explicitPenryn.name);
    assert.ok(sameBaseline(penryn, explicitPenryn));
    assert.equal(baselineKey(penryn), baselineKey(explicitPenryn));
  });

  it("tells apart two explicit baselines of the same size, and the same features of another vendor", () => {
    const a = customBaseline("GenuineIntel", ["sse2", "sse4_1"]);
    const b = customBaseline("GenuineIntel", ["sse2", "sse4_2"]);
    assert.equal(a.name, b.name);
    assert.ok(!sameBaseline(a, b));
    assert.notEqual(baselineKey(a), baselineKey(b));
    const amdPenryn = customBaseline("AuthenticAMD", model("Penryn").flags);
    assert.ok(!sameBaseline(penryn, amdPenryn));
    assert.notEqual(baselineKey(penryn), baselineKey(amdPenryn));
    assert.ok(!sameBaseline(penryn, modelBaseline(model("Nehalem"))));
  });
});

describe("hostSupportsBaseline and highestModelFor", () => {
  const nehalemHost = cpu(
    "GenuineIntel",
    6,
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx rdtscp lm constant_tsc pni dtes64 monitor ds_cpl vmx est tm2 ssse3 cx16 xtpr pdcm dca sse4_1 sse4_2 popcnt lahf_lm",
  );

  it("lists what a host lacks, sorted", () => {
    const fit = hostSupportsBaseline(nehalemHost, resolveBaseline({ model: "Westmere" })!);
    assert.deepEqual(fit, { ok: false, vendorMismatch: false, missing: ["aes", "arat", "pclmulqdq"] });
  });

  it("never lets a baseline cross vendors", () => {
    const fit = hostSupportsBaseline(nehalemHost, resolveBaseline({ model: "Opteron_G1" })!);
    assert.equal(fit.ok, false);
    assert.equal(fit.vendorMismatch, true);
  });

  it("picks the newest generations for hosts that have them: Sapphire Rapids, Genoa", () => {
    const host = (name: string, extra: string) => {
      const m = model(name);
      return cpu(m.vendor, m.family, `${m.flags.join(" ")} ${extra}`);
    };
    assert.equal(highestModelFor(host("SapphireRapids", "vmx constant_tsc ht ss"))?.name, "SapphireRapids");
    assert.equal(highestModelFor(host("EPYC-Genoa", "svm monitor constant_tsc"))?.name, "EPYC-Genoa");
    // A Genoa without AVX-512 BF16 falls back to Milan.
    const noBf16 = host("EPYC-Genoa", "svm");
    assert.equal(highestModelFor({ ...noBf16, flags: noBf16.flags.filter((f) => f !== "avx512_bf16") })?.name, "EPYC-Milan");
  });

  it("picks the newest model a host can present", () => {
    assert.equal(highestModelFor(nehalemHost)?.name, "Nehalem");
    assert.equal(highestModelFor(cpu("CentaurHauls", 6, "fpu sse sse2")), undefined);
    // A host without NX (disabled in the BIOS) cannot present even Conroe.
    const noNx = { ...nehalemHost, flags: nehalemHost.flags.filter((f) => f !== "nx") };
    assert.equal(highestModelFor(noNx), undefined);
  });
});

describe("docs/cpu-baselines.md", () => {
  it("lists every model with its EVC mode, vendor, family, flag count and what it adds, in catalogue order", () => {
    const doc = readFileSync(new URL("../../../docs/cpu-baselines.md", import.meta.url), "utf8");
    const rows = doc
      .split("\n")
      .map((line) => /^\| `([\w-]+)` \| (\S+) \| (GenuineIntel|AuthenticAMD) \| (\d+) \| (\d+) \| (.*) \|$/.exec(line))
      .filter((m) => m !== null)
      .map((m) => [m[1], m[2], m[3], Number(m[4]), Number(m[5]), m[6]]);
    assert.deepEqual(rows, CPU_MODELS.map((m) => [m.name, m.evc ?? "—", m.vendor, m.family, m.flags.length, modelChangeWords(m)]));
  });
});
