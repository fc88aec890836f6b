// Writes src/core/cpu/cpuid-bits.json, the facts of Ferry's CPUID feature table, from a Linux
// cpufeatures.h and a QEMU target/i386/cpu.c:
//   node --import tsx scripts/cpu/extract-upstream.ts --linux FILE --qemu FILE \
//     --linux-commit SHA --qemu-commit SHA [--out FILE]
// Then `npm run generate:cpu` turns the facts and src/core/cpu/feature-notes.ts into the table.
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { mergeBits, parseLinuxCpufeatures, parseQemuFeatureWords, type CpuidBitsFile } from "./upstream.ts";

const LINUX_PATH = "arch/x86/include/asm/cpufeatures.h";
const QEMU_PATH = "target/i386/cpu.c";

function fail(message: string): never {
  console.error(`extract-upstream: ${message}`);
  process.exit(2);
}

function read(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    return fail(`cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function main(): void {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        linux: { type: "string" },
        qemu: { type: "string" },
        "linux-commit": { type: "string" },
        "qemu-commit": { type: "string" },
        out: { type: "string", default: new URL("../../src/core/cpu/cpuid-bits.json", import.meta.url).pathname },
      },
    }));
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  const { linux, qemu, out } = values;
  const linuxCommit = values["linux-commit"];
  const qemuCommit = values["qemu-commit"];
  if (linux === undefined || qemu === undefined || linuxCommit === undefined || qemuCommit === undefined) {
    fail("usage: extract-upstream.ts --linux FILE --qemu FILE --linux-commit SHA --qemu-commit SHA [--out FILE]");
  }
  let file: CpuidBitsFile;
  try {
    file = {
      comment: "Facts read from the sources below by scripts/cpu/extract-upstream.ts: names and bit positions only. Regenerate, do not edit.",
      sources: {
        linux: { repo: "torvalds/linux", path: LINUX_PATH, commit: linuxCommit },
        qemu: { repo: "qemu/qemu", path: QEMU_PATH, commit: qemuCommit },
      },
      bits: mergeBits(parseLinuxCpufeatures(read(linux)), parseQemuFeatureWords(read(qemu))),
    };
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  writeFileSync(out, `${JSON.stringify(file, null, 2)}\n`);
  console.log(`wrote ${out}: ${file.bits.length} bits`);
}

main();
