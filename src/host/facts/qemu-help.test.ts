import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isFerryError } from "../../core/errors.ts";
import { fixture } from "./fixtures/fixtures.ts";
import { parseCpuHelp, parseMachineHelp, parseQemuVersion } from "./qemu-help.ts";

describe("qemu-system-x86_64 --version", () => {
  test("Debian's build: the version and the whole first line", () => {
    assert.deepEqual(parseQemuVersion(fixture("qemu-version.txt")), {
      version: "7.2.22",
      line: "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)",
    });
  });

  test("an upstream build and a newer distribution's", () => {
    assert.equal(parseQemuVersion("QEMU emulator version 9.1.0\nCopyright (c) 2003-2024 Fabrice Bellard and the QEMU Project developers\n").version, "9.1.0");
    assert.equal(parseQemuVersion("QEMU emulator version 8.2.2 (Debian 1:8.2.2+ds-0ubuntu1.4)\n").version, "8.2.2");
  });

  test("a text naming no version is one INVALID_INPUT sentence", () => {
    for (const text of ["", "qemu-system-x86_64: unrecognised option", "QEMU emulator version 7.2"]) {
      assert.throws(() => parseQemuVersion(text), (e) => isFerryError(e) && e.code === "INVALID_INPUT" && /names no version/.test(e.message));
    }
  });
});

describe("-machine help", () => {
  const machines = parseMachineHelp(fixture("qemu-machine-help.txt"));

  test("every machine type of QEMU 7.2, aliases and versioned ones", () => {
    assert.equal(machines.length, 61);
    const names = machines.map((m) => m.name);
    for (const name of ["microvm", "pc", "pc-i440fx-7.2", "pc-i440fx-2.0", "q35", "pc-q35-7.2", "pc-q35-4.0.1", "isapc"]) assert.ok(names.includes(name), name);
    assert.ok(!names.includes("Supported"), "the header is no machine type");
  });

  test("an alias names its machine type; the default and the deprecated ones are marked", () => {
    const pc = machines.find((m) => m.name === "pc");
    assert.equal(pc?.aliasOf, "pc-i440fx-7.2");
    assert.equal(pc.isDefault, false);
    assert.equal(machines.find((m) => m.name === "q35")?.aliasOf, "pc-q35-7.2");
    assert.deepEqual(machines.filter((m) => m.isDefault).map((m) => m.name), ["pc-i440fx-7.2"]);
    assert.deepEqual(machines.filter((m) => m.deprecated).map((m) => m.name), ["pc-i440fx-1.7", "pc-i440fx-1.6", "pc-i440fx-1.5", "pc-i440fx-1.4"]);
    assert.equal(machines.find((m) => m.name === "isapc")?.description, "ISA-only PC");
  });

  test("nothing in, nothing out", () => {
    assert.deepEqual(parseMachineHelp(""), []);
    assert.deepEqual(parseMachineHelp("Supported machines are:\n"), []);
  });
});

describe("-cpu help", () => {
  const models = parseCpuHelp(fixture("qemu-cpu-help.txt"));

  test("aliases and versioned models, base, host and max; no CPUID flags", () => {
    assert.equal(models.length, 132);
    for (const name of ["486", "Broadwell", "Broadwell-v1", "Broadwell-noTSX-IBRS", "Nehalem", "Opteron_G3", "qemu64", "base", "host", "max"]) assert.ok(models.includes(name), name);
    for (const flag of ["3dnow", "sse4.2", "avx2", "x86", "Recognized"]) assert.ok(!models.includes(flag), flag);
  });

  test("older QEMU: names in brackets; a list without the arch prefix", () => {
    assert.deepEqual(parseCpuHelp("Available CPUs:\nx86           [n270]\nx86         [qemu64]  QEMU Virtual CPU version 1.5.3\n\nRecognized CPUID flags:\n  fpu\n"), ["n270", "qemu64"]);
    assert.deepEqual(parseCpuHelp("Available CPUs:\n  Nehalem               Intel Core i7 9xx\n  max\n"), ["Nehalem", "max"]);
    assert.deepEqual(parseCpuHelp("qemu: unknown option\n"), []);
  });
});
