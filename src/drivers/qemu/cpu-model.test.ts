import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CPU_FEATURES, featureByName, maskedFlags } from "../../core/cpu/features.ts";
import { CPU_MODELS, findCpuModel } from "../../core/cpu/models.ts";
import { isFerryError } from "../../core/errors.ts";
import { openFeatures, qemuCpu, qemuFeatureName, tcgUnsupported } from "./cpu-model.ts";

function flagsOf(name: string): string[] {
  const model = findCpuModel(name);
  assert.ok(model, name);
  return [...model.flags];
}

const intel = "GenuineIntel";

/** Back from QEMU names to Linux ones, to rebuild what the guest sees. */
const linuxName = new Map(CPU_FEATURES.filter((f) => featureByName(f.flag)?.qemu !== undefined).map((f) => [qemuFeatureName(f.flag), f.flag]));

function seen(arg: string): Set<string> {
  const [name, ...rest] = arg.split(",");
  const flags = new Set(flagsOf(name ?? ""));
  for (const part of rest) {
    if (part === "enforce") continue;
    const flag = linuxName.get(part.slice(1));
    assert.ok(flag !== undefined, `unknown QEMU feature ${part}`);
    if (part.startsWith("+")) flags.add(flag);
    else flags.delete(flag);
  }
  return flags;
}

describe("qemuFeatureName", () => {
  test("maps Linux names to QEMU 7.2's", () => {
    assert.equal(qemuFeatureName("pni"), "pni");
    assert.equal(qemuFeatureName("sse4_1"), "sse4.1");
    assert.equal(qemuFeatureName("sse4_2"), "sse4.2");
    assert.equal(qemuFeatureName("lahf_lm"), "lahf-lm");
    assert.equal(qemuFeatureName("tsc_deadline_timer"), "tsc-deadline");
    assert.equal(qemuFeatureName("pclmulqdq"), "pclmulqdq");
    assert.equal(qemuFeatureName("avx512_vnni"), "avx512vnni");
  });

  test("every guest feature QEMU knows has a distinct QEMU name without underscores or commas", () => {
    const names = CPU_FEATURES.filter((f) => featureByName(f.flag)?.qemu !== undefined).map((f) => qemuFeatureName(f.flag));
    assert.ok(names.length > 120, `${names.length} QEMU names`);
    for (const name of names) assert.match(name, /^[a-z0-9][a-z0-9.-]*$/, name);
    assert.equal(new Set(names).size, names.length);
  });

  test("names the features of issue 13 as QEMU 7.2 does", () => {
    assert.equal(qemuFeatureName("avx512_bf16"), "avx512-bf16");
    assert.equal(qemuFeatureName("amx_tile"), "amx-tile");
    assert.equal(qemuFeatureName("avx_vnni"), "avx-vnni");
    assert.equal(qemuFeatureName("spec_ctrl"), "spec-ctrl");
    assert.equal(qemuFeatureName("intel_stibp"), "stibp");
    assert.equal(qemuFeatureName("amd_ibpb"), "ibpb");
  });

  test("refuses a flag QEMU has no property for, naming it", () => {
    assert.throws(
      () => qemuFeatureName("lfence_rdtsc"),
      (e: unknown) => isFerryError(e) && e.code === "INVALID_INPUT" && e.message.includes("lfence_rdtsc") && e.message.includes("LFENCE always serializing"),
    );
  });
});

describe("qemuCpu", () => {
  test("a Nehalem's features are plain Nehalem", () => {
    const cpu = qemuCpu({ vendor: intel, flags: flagsOf("Nehalem") });
    assert.equal(cpu.arg, "Nehalem,enforce");
    assert.deepEqual([cpu.add, cpu.remove], [[], []]);
  });

  test("a Haswell with NX masked removes nx from the Haswell model", () => {
    const flags = new Set(flagsOf("Haswell-noTSX"));
    for (const hidden of maskedFlags({ nx: true, sse3: false, sse4: false, custom: [] })) flags.delete(hidden);
    assert.equal(qemuCpu({ vendor: intel, flags }).arg, "Haswell-noTSX,-nx,enforce");
    const withTsx = flagsOf("Haswell").filter((f) => f !== "nx");
    assert.equal(qemuCpu({ vendor: intel, flags: withTsx }).arg, "Haswell,-nx,enforce");
  });

  test("host-only flags are ignored, not passed to QEMU", () => {
    const cpu = qemuCpu({ vendor: intel, flags: [...flagsOf("Westmere"), "vmx", "constant_tsc", "hypervisor"] });
    assert.equal(cpu.arg, "Westmere,enforce");
    assert.deepEqual(cpu.ignored, ["vmx", "constant_tsc", "hypervisor"]);
  });

  test("extra features are added with QEMU's names", () => {
    const cpu = qemuCpu({ vendor: intel, flags: [...flagsOf("Nehalem"), "aes", "rdrand"] });
    assert.equal(cpu.arg, "Nehalem,+aes,+rdrand,enforce");
  });

  test("a baseline model is the base even when another model is closer", () => {
    const flags = flagsOf("Nehalem").filter((f) => f !== "nx");
    assert.equal(qemuCpu({ model: "Nehalem", flags }).arg, "Nehalem,-nx,enforce");
    const sse4Masked = new Set(flagsOf("Nehalem"));
    for (const hidden of maskedFlags({ nx: false, sse3: false, sse4: true, custom: [] })) sse4Masked.delete(hidden);
    assert.equal(qemuCpu({ model: "Nehalem", flags: sse4Masked }).arg, "Nehalem,-sse4.1,-sse4.2,enforce");
  });

  test("enforce can be left out", () => {
    assert.equal(qemuCpu({ flags: flagsOf("Conroe") }, { enforce: false }).arg, "Conroe");
  });

  test("an AMD guest gets an AMD model", () => {
    const cpu = qemuCpu({ vendor: "AuthenticAMD", flags: [...flagsOf("Opteron_G3")].filter((f) => f !== "nx") });
    assert.equal(cpu.arg, "Opteron_G3,-nx,enforce");
  });

  test("refuses a guest feature QEMU has no property for, naming every one", () => {
    // Linux knows these AMD bits (0x80000021 EAX), QEMU 7.2 has no -cpu property for them.
    const flags = [...flagsOf("EPYC"), "lfence_rdtsc", "null_sel_clr_base"];
    assert.throws(
      () => qemuCpu({ vendor: "AuthenticAMD", flags }),
      (e: unknown) => {
        assert.ok(isFerryError(e));
        assert.equal(e.code, "INVALID_INPUT");
        assert.match(e.message, /lfence_rdtsc \(LFENCE always serializing\), null_sel_clr_base \(NULL selector clears base\)/);
        assert.deepEqual((e.details as { flags: unknown }).flags, ["lfence_rdtsc", "null_sel_clr_base"]);
        return true;
      },
    );
  });

  test("refuses a set that is not closed under prerequisites: SSE4.2 without SSSE3", () => {
    // The QEMU-NOTES case: qemu64,+sse4.1,+sse4.2 without +ssse3 panics the guest at boot.
    const flags = flagsOf("Nehalem").filter((f) => f !== "ssse3");
    assert.throws(
      () => qemuCpu({ vendor: intel, flags }),
      (e: unknown) => {
        assert.ok(isFerryError(e));
        assert.equal(e.code, "INVALID_INPUT");
        assert.deepEqual((e.details as { open: unknown }).open, [{ flag: "sse4_1", missing: ["ssse3"] }]);
        return true;
      },
    );
  });

  test("a mask that hides a prerequisite without its dependents is refused; features.ts masks close it", () => {
    const host = flagsOf("SandyBridge");
    const hand = host.filter((f) => f !== "xsave");
    assert.deepEqual(openFeatures(new Set(hand)), [{ flag: "avx", missing: ["xsave"] }, { flag: "xsaveopt", missing: ["xsave"] }]);
    assert.throws(() => qemuCpu({ vendor: intel, flags: hand }), (e: unknown) => isFerryError(e) && e.code === "INVALID_INPUT");
    const hidden = maskedFlags({ nx: false, sse3: false, sse4: false, custom: ["xsave"] });
    const masked = host.filter((f) => !hidden.has(f));
    const cpu = qemuCpu({ vendor: intel, flags: masked });
    assert.deepEqual(seen(cpu.arg), new Set(masked));
  });

  test("refuses an unknown baseline model", () => {
    assert.throws(() => qemuCpu({ model: "Pentium-Pro-9000", flags: [] }), (e: unknown) => isFerryError(e) && e.code === "INVALID_INPUT");
  });

  test("for every model and every mask preset, the guest sees exactly the wanted set", () => {
    const presets = [
      { nx: true, sse3: false, sse4: false, custom: [] },
      { nx: false, sse3: true, sse4: false, custom: [] },
      { nx: false, sse3: false, sse4: true, custom: [] },
      { nx: true, sse3: false, sse4: true, custom: ["avx2", "aes"] },
    ];
    for (const model of CPU_MODELS) {
      for (const mask of presets) {
        const hidden = maskedFlags(mask);
        const wanted = model.flags.filter((f) => !hidden.has(f));
        const cpu = qemuCpu({ vendor: model.vendor, flags: wanted });
        assert.deepEqual(seen(cpu.arg), new Set(wanted), `${model.name} ${JSON.stringify(mask)} → ${cpu.arg}`);
        const pinned = qemuCpu({ model: model.name, flags: wanted });
        assert.equal(pinned.model, model.name);
        assert.deepEqual(seen(pinned.arg), new Set(wanted));
      }
    }
  });
});

describe("tcgUnsupported", () => {
  test("the lab's TCG models: Nehalem, Westmere and Opteron_G2 need nothing TCG lacks besides vme; SandyBridge does", () => {
    for (const name of ["Conroe", "Penryn", "Nehalem", "Westmere", "Opteron_G1", "Opteron_G2"]) {
      assert.deepEqual(tcgUnsupported(flagsOf(name)), ["vme"], name);
    }
    // Table order: leaf 1 ECX (x2apic, tsc_deadline_timer) before leaf 1 EDX (vme).
    assert.deepEqual(tcgUnsupported(flagsOf("SandyBridge")), ["x2apic", "tsc_deadline_timer", "vme"]);
  });
});
