// Writes src/core/cpu/cpuid-bits.json, the facts of Ferry's CPUID feature table, from a Linux
// cpufeatures.h, a QEMU target/i386/cpu.c and a Linux arch/x86/kvm/reverse_cpuid.h:
//   node --import tsx scripts/cpu/extract-upstream.ts --linux FILE --qemu FILE --kvm FILE \
//     --linux-commit SHA --qemu-commit SHA --kvm-commit SHA [--out FILE]
// Then `npm run generate:cpu` turns the facts and src/core/cpu/feature-notes.ts into the table.
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { mergeBits, parseKvmReverseCpuid, parseLinuxCpufeatures, parseQemuFeatureWords, type CpuidBitsFile } from "./upstream.ts";

const LINUX_PATH = "arch/x86/include/asm/cpufeatures.h";
const QEMU_PATH = "target/i386/cpu.c";
const KVM_PATH = "arch/x86/kvm/reverse_cpuid.h";
const USAGE = "usage: extract-upstream.ts --linux FILE --qemu FILE --kvm FILE --linux-commit SHA --qemu-commit SHA --kvm-commit SHA [--out FILE]";

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
        kvm: { type: "string" },
        "linux-commit": { type: "string" },
        "qemu-commit": { type: "string" },
        "kvm-commit": { type: "string" },
        out: { type: "string", default: new URL("../../src/core/cpu/cpuid-bits.json", import.meta.url).pathname },
      },
    }));
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  const { linux, qemu, kvm, out } = values;
  const linuxCommit = values["linux-commit"];
  const qemuCommit = values["qemu-commit"];
  const kvmCommit = values["kvm-commit"];
  if (linux === undefined || qemu === undefined || kvm === undefined) fail(USAGE);
  if (linuxCommit === undefined || qemuCommit === undefined || kvmCommit === undefined) fail(USAGE);
  let file: CpuidBitsFile;
  try {
    file = {
      comment: "Facts read from the sources below by scripts/cpu/extract-upstream.ts: names and bit positions only. Regenerate, do not edit.",
      sources: {
        linux: { repo: "torvalds/linux", path: LINUX_PATH, commit: linuxCommit },
        qemu: { repo: "qemu/qemu", path: QEMU_PATH, commit: qemuCommit },
        kvm: { repo: "torvalds/linux", path: KVM_PATH, commit: kvmCommit },
      },
      bits: mergeBits(parseLinuxCpufeatures(read(linux)), parseQemuFeatureWords(read(qemu)), parseKvmReverseCpuid(read(kvm))),
    };
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  writeFileSync(out, `${JSON.stringify(file, null, 2)}\n`);
  console.log(`wrote ${out}: ${file.bits.length} bits`);
}

main();
