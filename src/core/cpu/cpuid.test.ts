// The raw CPUID decoder and encoder against dumps written by hand here (the registers packed
// by this file's own helpers, not the decoder's), and the feature table end to end.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ErrorCode, isFerryError } from "../errors.ts";
import {
  collectCpuid,
  compareDumps,
  cpuidQueries,
  decodeCpuid,
  encodeCpuid,
  formatRawCpuid,
  hiddenFromProcCpuinfo,
  parseCpuidDump,
} from "./cpuid.ts";
import { CpuVendorKind, type CpuidDump, type CpuidLeaf } from "./cpuid-types.ts";
import { CPUID_FEATURES } from "./feature-table.generated.ts";

/** Four ASCII bytes per register, little-endian: how CPUID returns vendor and brand text. */
function regs(text: string, count: number): number[] {
  const bytes = Buffer.alloc(count * 4);
  bytes.write(text, "latin1");
  return Array.from({ length: count }, (_, i) => bytes.readUInt32LE(i * 4));
}

function leaf(leafNo: number, subleaf: number, eax: number, ebx = 0, ecx = 0, edx = 0): CpuidLeaf {
  return { leaf: leafNo, subleaf, eax, ebx, ecx, edx };
}

/** A dump of leaves 0, 1 and (with a brand) 0x80000000–4, as a CPU would answer them. */
function handMade(vendor: string, leaf1Eax: number, brand?: string): CpuidDump {
  const [ebx = 0, edx = 0, ecx = 0] = regs(vendor, 3);
  const leaves = [leaf(0, 0, 1, ebx, ecx, edx), leaf(1, 0, leaf1Eax)];
  if (brand !== undefined) {
    const b = regs(brand, 12);
    leaves.push(leaf(0x80000000, 0, 0x80000004));
    for (let i = 0; i < 3; i++) leaves.push(leaf(0x80000002 + i, 0, b[i * 4] ?? 0, b[i * 4 + 1] ?? 0, b[i * 4 + 2] ?? 0, b[i * 4 + 3] ?? 0));
  }
  return { source: "written by hand", leaves };
}

function rejects(fn: () => unknown, code: ErrorCode, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(isFerryError(error), `a FerryError, not ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    assert.ok(!error.message.includes("\n"), "one line");
    return true;
  });
}

describe("decodeCpuid", () => {
  it("reads vendor, family, model, stepping and the brand string of a hand-made Skylake-SP dump", () => {
    // CPUID.1:EAX 0x00050654: extended model 5, family 6, model 5, stepping 4.
    const d = decodeCpuid(handMade("GenuineIntel", 0x00050654, "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz"), { cores: 80, mhz: 2400 });
    assert.deepEqual(
      { vendor: d.vendor, kind: d.vendorKind, family: d.family, model: d.model, stepping: d.stepping, brand: d.brand },
      { vendor: "GenuineIntel", kind: CpuVendorKind.intel, family: 6, model: 0x55, stepping: 4, brand: "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz" },
    );
    assert.deepEqual(d.cpu, { vendor: "GenuineIntel", family: 6, model: 0x55, modelName: "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz", flags: [], virtualization: false, cores: 80, mhz: 2400 });
  });

  const signatures = [
    // AMD adds the extended family (0xF + 8 = 0x17) and, with base family 0xF, the extended model.
    { name: "Zen 2 (AMD family 0xF + 8, extended model 3)", vendor: "AuthenticAMD", eax: 0x00830f10, family: 0x17, model: 0x31, stepping: 0 },
    { name: "Zen 5 (AMD family 0xF + 0xB)", vendor: "AuthenticAMD", eax: 0x00b40f40, family: 0x1a, model: 0x44, stepping: 0 },
    // Intel family 6 uses the extended model; AMD family 6 (K7) does not.
    { name: "Intel family 6 with an extended model", vendor: "GenuineIntel", eax: 0x00010681, family: 6, model: 0x18, stepping: 1 },
    { name: "AMD family 6 ignores the extended model", vendor: "AuthenticAMD", eax: 0x00010681, family: 6, model: 8, stepping: 1 },
    { name: "Pentium 4 (Intel family 0xF, no extended family)", vendor: "GenuineIntel", eax: 0x00000f41, family: 15, model: 4, stepping: 1 },
    { name: "Hygon counts as AMD", vendor: "HygonGenuine", eax: 0x00900f01, family: 0x18, model: 0, stepping: 1 },
  ] as const;
  for (const s of signatures) {
    it(`decodes ${s.name}`, () => {
      const d = decodeCpuid(handMade(s.vendor, s.eax));
      assert.deepEqual({ vendor: d.vendor, family: d.family, model: d.model, stepping: d.stepping }, { vendor: s.vendor, family: s.family, model: s.model, stepping: s.stepping });
    });
  }

  it("trims the brand string Intel right-justifies, and has none when its leaves are blank", () => {
    assert.equal(decodeCpuid(handMade("GenuineIntel", 0x206d7, "       Intel(R) Xeon(R) CPU E5-2650 0 @ 2.00GHz")).brand, "Intel(R) Xeon(R) CPU E5-2650 0 @ 2.00GHz");
    assert.equal(decodeCpuid(handMade("GenuineIntel", 0x606a0, "")).brand, undefined);
    assert.equal(decodeCpuid(handMade("GenuineIntel", 0x606a0)).brand, undefined);
  });

  it("names every set bit the table knows, in table order, and sees VT-x and AMD-V by their bits", () => {
    const table = CPUID_FEATURES.filter((f) => f.leaf === 1 && f.register === "ecx");
    const sse42 = table.find((f) => f.name === "sse4_2");
    assert.ok(sse42 !== undefined, "the table has sse4_2 at CPUID.1:ECX");
    const base = handMade("GenuineIntel", 0x50654);
    const withBits: CpuidDump = { ...base, leaves: base.leaves.map((l) => (l.leaf === 1 ? { ...l, ecx: (1 << sse42.bit) | (1 << 5) } : l)) };
    const d = decodeCpuid(withBits);
    assert.ok(d.flags.includes("sse4_2"));
    assert.equal(d.virtualization, true, "CPUID.1:ECX[5] is VT-x");
    const order = CPUID_FEATURES.map((f) => f.name);
    assert.deepEqual([...d.flags].sort((a, b) => order.indexOf(a) - order.indexOf(b)), d.flags);
  });

  it("rejects a dump without leaf 1 or without vendor text", () => {
    rejects(() => decodeCpuid({ source: "x", leaves: [leaf(0, 0, 1, 0x756e6547, 0x6c65746e, 0x49656e69)] }), ErrorCode.invalidInput, /^x: the dump has no leaf 0x1/);
    rejects(() => decodeCpuid({ source: "x", leaves: [leaf(0, 0, 1), leaf(1, 0, 0x50654)] }), ErrorCode.invalidInput, /leaf 0 holds no vendor string/);
  });
});

describe("encodeCpuid", () => {
  for (const [vendor, kind, family, model] of [["GenuineIntel", CpuVendorKind.intel, 6, 0x8f], ["AuthenticAMD", CpuVendorKind.amd, 0x19, 0x11]] as const) {
    it(`round-trips every guest feature of the table an ${kind} CPU can have: flags → dump → flags`, () => {
      const flags = [...new Set(CPUID_FEATURES.filter((f) => f.guest && f.vendors.includes(kind)).map((f) => f.name))];
      assert.ok(flags.length > 50, `the table has ${flags.length} ${kind} guest features`);
      const d = decodeCpuid(encodeCpuid(flags, vendor, family, model));
      assert.deepEqual([...d.flags].sort(), [...flags].sort());
      assert.deepEqual({ vendor: d.vendor, family: d.family, model: d.model }, { vendor, family, model });
    });
  }

  it("round-trips each guest feature alone, so no bit drags another in", () => {
    for (const f of CPUID_FEATURES.filter((x) => x.guest)) {
      const kind = f.vendors[0] ?? CpuVendorKind.intel;
      const vendor = kind === CpuVendorKind.amd ? "AuthenticAMD" : "GenuineIntel";
      assert.deepEqual(decodeCpuid(encodeCpuid([f.name], vendor, 6, 0x0f)).flags, [f.name], f.name);
    }
  });

  it("leaves out flags that are no CPUID bit and keeps the brand and stepping", () => {
    const d = decodeCpuid(encodeCpuid(["sse2", "constant_tsc"], "GenuineIntel", 6, 0x55, { brand: "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz", stepping: 4 }));
    assert.deepEqual(d.flags, ["sse2"]);
    assert.equal(d.brand, "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz");
    assert.equal(d.stepping, 4);
  });

  it("refuses what CPUID cannot hold", () => {
    rejects(() => encodeCpuid([], "Intel", 6, 1), ErrorCode.invalidInput, /vendor "Intel" is not a CPUID vendor string/);
    rejects(() => encodeCpuid([], "AuthenticAMD", 6, 0x20), ErrorCode.invalidInput, /model 32 cannot be written in CPUID\.1:EAX for family 6 \(0 to 15\)/);
    rejects(() => encodeCpuid([], "GenuineIntel", 0x200, 1), ErrorCode.invalidInput, /family 512 cannot be written/);
  });
});

describe("the leaves Ferry reads", () => {
  it("asks only within the CPU's limits: no leaf past CPUID.0:EAX, no leaf 7 subleaf past CPUID.7.0:EAX", () => {
    const queries = cpuidQueries({ maxLeaf: 0xd, maxExtendedLeaf: 0x80000008, maxLeaf7Subleaf: 1 });
    const names = queries.map((q) => `${q.leaf.toString(16)}.${q.subleaf}`);
    for (const want of ["0.0", "1.0", "6.0", "7.0", "7.1", "d.1", "80000000.0", "80000001.0", "80000004.0", "80000007.0", "80000008.0"]) assert.ok(names.includes(want), want);
    for (const never of ["7.2", "14.0", "19.0", "8000000a.0", "80000021.0"]) assert.ok(!names.includes(never), never);
    assert.ok(queries.every((q) => (q.leaf >= 0x80000000 ? q.leaf <= 0x80000008 : q.leaf <= 0xd)));
  });

  it("asks no extended leaf of a CPU whose CPUID.80000000h:EAX is no extended limit", async () => {
    const asked: string[] = [];
    const leaf0 = { ...(handMade("GenuineIntel", 0x6fb).leaves[0] ?? leaf(0, 0, 0)), eax: 2 };
    const dump = await collectCpuid((l, s) => {
      asked.push(`${l.toString(16)}.${s}`);
      // An old CPU (highest basic leaf 2) echoing that leaf's data for 0x80000000.
      return Promise.resolve(l === 0 ? leaf0 : leaf(l, s, l === 0x80000000 ? 2 : 0x6fb));
    }, "an old CPU");
    assert.deepEqual(asked, ["0.0", "80000000.0", "1.0"]);
    assert.deepEqual(dump.leaves.map((l) => l.leaf), [0, 1]);
    assert.equal(decodeCpuid(dump).vendor, "GenuineIntel");
  });

  it("collects from a CPU the dump it came from, asking each leaf once", async () => {
    const original = encodeCpuid(["sse4_2", "avx2"], "GenuineIntel", 6, 0x55, { brand: "Xeon" });
    const byKey = new Map(original.leaves.map((l) => [`${l.leaf}.${l.subleaf}`, l]));
    const asked: string[] = [];
    const collected = await collectCpuid((l, s) => {
      asked.push(`${l}.${s}`);
      return Promise.resolve(byKey.get(`${l}.${s}`) ?? leaf(l, s, 0));
    }, "replayed");
    assert.equal(new Set(asked).size, asked.length, "no leaf asked twice");
    assert.deepEqual(decodeCpuid(collected), decodeCpuid(original));
  });
});

describe("CPUID dump files", () => {
  const good = {
    source: "esx01",
    leaves: [
      { leaf: "0x00000000", subleaf: 0, eax: "0x0000000d", ebx: "0x756e6547", ecx: "0x6c65746e", edx: "0x49656e69" },
      { leaf: 1, eax: 0x000306c3, ebx: 0, ecx: "0x7ffafbff", edx: "0xbfebfbff" },
    ],
  };

  it("accepts hex strings and numbers and gives numbers", () => {
    const dump = parseCpuidDump(good, "esx01.json");
    assert.deepEqual(dump.leaves[0], { leaf: 0, subleaf: 0, eax: 0xd, ebx: 0x756e6547, ecx: 0x6c65746e, edx: 0x49656e69 });
    assert.deepEqual(dump.leaves[1], { leaf: 1, subleaf: 0, eax: 0x306c3, ebx: 0, ecx: 0x7ffafbff, edx: 0xbfebfbff });
    assert.equal(decodeCpuid(dump).model, 0x3c);
  });

  const bad: readonly { name: string; value: unknown; err: RegExp }[] = [
    { name: "a register that is no hex", value: { ...good, leaves: [good.leaves[0], { ...good.leaves[1], eax: "0x3g" }] }, err: /^esx01\.json: dump\.leaves\[1\]\.eax: expected a 32-bit number or a hex string like 0x000306c3$/ },
    { name: "a register past 32 bits", value: { ...good, leaves: [{ ...good.leaves[0], ebx: 2 ** 32 }, good.leaves[1]] }, err: /^esx01\.json: dump\.leaves\[0\]\.ebx: / },
    { name: "a missing register", value: { ...good, leaves: [good.leaves[0], { leaf: 1, eax: 1, ebx: 0, ecx: 0 }] }, err: /^esx01\.json: dump\.leaves\[1\]\.edx: / },
    { name: "an unknown field", value: { ...good, leaves: [good.leaves[0], { ...good.leaves[1], esi: 0 }] }, err: /^esx01\.json: dump\.leaves\[1\]: Unrecognized key: "esi"$/ },
    { name: "no leaf 1", value: { ...good, leaves: [good.leaves[0]] }, err: /^esx01\.json: dump\.leaves: leaf 1 is missing/ },
    { name: "a leaf twice", value: { ...good, leaves: [...good.leaves, good.leaves[1]] }, err: /^esx01\.json: dump\.leaves\[2\]: leaf 0x1\.0 appears twice$/ },
    { name: "no source", value: { leaves: good.leaves }, err: /^esx01\.json: dump\.source: / },
    { name: "an array", value: [good], err: /^esx01\.json: dump: / },
  ];
  for (const c of bad) {
    it(`rejects ${c.name} in one line naming the file and the field`, () => {
      rejects(() => parseCpuidDump(c.value, "esx01.json"), ErrorCode.invalidInput, c.err);
    });
  }
});

describe("showing and comparing dumps", () => {
  it("prints each leaf in hex on a line of its own, in leaf order", () => {
    const dump: CpuidDump = { source: "x", leaves: [leaf(0x80000000, 0, 0x80000008), leaf(7, 0, 0, 0x029c6fbf, 0, 0x9c000400), leaf(0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69)] };
    assert.equal(
      formatRawCpuid(dump),
      [
        "0x00000000.0: eax=0x0000000d ebx=0x756e6547 ecx=0x6c65746e edx=0x49656e69",
        "0x00000007.0: eax=0x00000000 ebx=0x029c6fbf ecx=0x00000000 edx=0x9c000400",
        "0x80000000.0: eax=0x80000008 ebx=0x00000000 ecx=0x00000000 edx=0x00000000",
      ].join("\n"),
    );
  });

  it("names each differing feature with its label, its place and the side that has it", () => {
    const hidden = CPUID_FEATURES.find((f) => !f.procCpuinfo && f.vendors.includes(CpuVendorKind.intel));
    assert.ok(hidden !== undefined, "the table has a feature /proc/cpuinfo does not show");
    const a = encodeCpuid(["sse4_2", "avx2", hidden.name], "GenuineIntel", 6, 0x55);
    const b = encodeCpuid(["sse4_2", "avx512f"], "GenuineIntel", 6, 0x55);
    const diff = compareDumps(a, b);
    const byName = new Map(diff.map((d) => [d.name, d]));
    assert.deepEqual([...byName.keys()].sort(), ["avx2", "avx512f", hidden.name].sort());
    assert.equal(byName.get("avx2")?.side, "a");
    assert.equal(byName.get("avx512f")?.side, "b");
    assert.equal(byName.get("avx512f")?.label, CPUID_FEATURES.find((f) => f.name === "avx512f")?.label);
    assert.equal(byName.get("avx2")?.location, "CPUID.(EAX=07H,ECX=0):EBX[5]");
    assert.equal(byName.get(hidden.name)?.procCpuinfo, false);
    assert.deepEqual(compareDumps(a, a), []);
    assert.deepEqual(hiddenFromProcCpuinfo(decodeCpuid(a).flags).map((f) => f.name), [hidden.name]);
  });
});
