import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Cpu } from "../inventory/schema.ts";
import { CPU_FEATURES, isGuestFeature } from "./features.ts";
import { CPU_MODELS, findCpuModel, highestModelFor, hostSupportsBaseline, modelsOfVendor, resolveBaseline } from "./models.ts";

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
      "Skylake-Client-noTSX-IBRS", "Skylake-Server", "Cascadelake-Server", "Icelake-Server",
      "Opteron_G1", "Opteron_G2", "Opteron_G3", "Opteron_G4", "Opteron_G5", "EPYC",
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
    assert.deepEqual(modelsOfVendor("AuthenticAMD").map((m) => m.family), [15, 15, 16, 21, 21, 23]);
  });

  it("grows along each line of models (each one a superset of the one it succeeds)", () => {
    const lines = [
      ["Conroe", "Penryn", "Nehalem", "Westmere", "SandyBridge", "IvyBridge", "Haswell-noTSX", "Broadwell-noTSX",
        "Skylake-Client-noTSX-IBRS", "Skylake-Server-noTSX-IBRS", "Cascadelake-Server-noTSX", "Icelake-Server-noTSX"],
      ["Haswell", "Broadwell", "Skylake-Client", "Skylake-Server", "Cascadelake-Server", "Icelake-Server"],
      ["Haswell-noTSX", "Haswell"],
      ["Icelake-Server-noTSX", "Icelake-Server"],
      ["Opteron_G1", "Opteron_G2", "Opteron_G3", "Opteron_G4", "Opteron_G5"],
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

  it("separates the TSX variants by hle and rtm alone", () => {
    const withTsx = new Set(model("Skylake-Server").flags);
    const without = new Set(model("Skylake-Server-noTSX-IBRS").flags);
    assert.deepEqual([...withTsx].filter((f) => !without.has(f)).sort(), ["hle", "rtm"]);
  });
});

describe("findCpuModel and resolveBaseline", () => {
  it("finds models whatever the case", () => {
    assert.equal(findCpuModel("haswell-notsx")?.name, "Haswell-noTSX");
    assert.equal(findCpuModel("Pentium4"), undefined);
  });

  it("resolves a named model to its vendor and flags", () => {
    const b = resolveBaseline({ model: "nehalem" });
    assert.equal(b?.name, "Nehalem");
    assert.equal(b.vendor, "GenuineIntel");
    assert.ok(b.flags.has("sse4_2"));
    assert.ok(!b.flags.has("aes"));
  });

  it("resolves an explicit feature set as custom and an unknown model as undefined", () => {
    assert.deepEqual(resolveBaseline({ vendor: "AuthenticAMD", flags: ["sse2", "nx"] }), {
      name: "custom",
      vendor: "AuthenticAMD",
      flags: new Set(["sse2", "nx"]),
    });
    assert.equal(resolveBaseline({ model: "Zen9" }), undefined);
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

  it("picks the newest model a host can present", () => {
    assert.equal(highestModelFor(nehalemHost)?.name, "Nehalem");
    assert.equal(highestModelFor(cpu("CentaurHauls", 6, "fpu sse sse2")), undefined);
    // A host without NX (disabled in the BIOS) cannot present even Conroe.
    const noNx = { ...nehalemHost, flags: nehalemHost.flags.filter((f) => f !== "nx") };
    assert.equal(highestModelFor(noNx), undefined);
  });
});

describe("docs/cpu.md", () => {
  it("lists every model with its vendor, family and flag count, in catalogue order", () => {
    const doc = readFileSync(new URL("../../../docs/cpu.md", import.meta.url), "utf8");
    const rows = doc
      .split("\n")
      .map((line) => /^\| ([\w-]+) \| (GenuineIntel|AuthenticAMD) \| (\d+) \| (\d+) \|/.exec(line))
      .filter((m) => m !== null)
      .map((m) => [m[1], m[2], Number(m[3]), Number(m[4])]);
    assert.deepEqual(rows, CPU_MODELS.map((m) => [m.name, m.vendor, m.family, m.flags.length]));
  });
});
