// What a QEMU binary says about itself: `--version`, `-machine help`, `-cpu help` (x86).
// The texts are passed in; src/host/facts/qemu-facts.ts runs the binary and caches them.
import { ErrorCode, FerryError } from "../../core/errors.ts";

export interface QemuVersion {
  /** "7.2.22": what a compatibility rule compares. */
  readonly version: string;
  /** The whole first line, with the distribution's build ("(Debian 1:7.2+dfsg-7+deb12u18+b3)"). */
  readonly line: string;
}

/** The version in `qemu-system-x86_64 --version`'s "QEMU emulator version 7.2.22 (...)" line. */
export function parseQemuVersion(text: string): QemuVersion {
  const line = text.split(/\r?\n/, 1)[0]?.trim() ?? "";
  const match = /\bversion\s+(\d+\.\d+\.\d+)/i.exec(line);
  if (match?.[1] === undefined) {
    throw new FerryError(ErrorCode.invalidInput, `this is not QEMU's --version output: "${line.slice(0, 80)}" names no version`);
  }
  return { version: match[1], line };
}

export interface MachineType {
  /** `pc`, `pc-i440fx-7.2`, `q35`, `microvm`. */
  readonly name: string;
  readonly description: string;
  /** For an alias (`pc`), the versioned machine type it stands for on this QEMU. */
  readonly aliasOf: string | undefined;
  readonly isDefault: boolean;
  /** QEMU marks machine types it will remove (pc-i440fx-1.x in 7.2). */
  readonly deprecated: boolean;
}

/**
 * The machine types of `-machine help`: a header line, then `name  description` lines whose
 * description may end in "(alias of X)", "(default)" or "(deprecated)".
 */
export function parseMachineHelp(text: string): MachineType[] {
  const out: MachineType[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const match = /^(\S+)\s+(.*)$/.exec(raw.trimEnd());
    if (match?.[1] === undefined || match[2] === undefined || raw.startsWith("Supported machines")) continue;
    const description = match[2];
    out.push({
      name: match[1],
      description,
      aliasOf: /\(alias of ([^)]+)\)/.exec(description)?.[1],
      isDefault: description.includes("(default)"),
      deprecated: description.includes("(deprecated)"),
    });
  }
  return out;
}

/**
 * The CPU model names of `-cpu help`: the "Available CPUs:" lines up to the blank line before
 * "Recognized CPUID flags:". Aliases (`Broadwell`) and versions (`Broadwell-v1`) both count:
 * `-cpu` accepts either. QEMU 7.2 prefixes each line with the arch ("x86 "); older ones put
 * the name in brackets ("x86 [n270]"); both are read.
 */
export function parseCpuHelp(text: string): string[] {
  const out: string[] = [];
  let inList = false;
  for (const raw of text.split(/\r?\n/)) {
    if (/^Available CPUs:/.test(raw)) {
      inList = true;
      continue;
    }
    if (!inList) continue;
    if (raw.trim() === "") break;
    const name = /^\s*(?:x86\s+)?\[?([^\s\]]+)\]?/.exec(raw)?.[1];
    if (name !== undefined && !out.includes(name)) out.push(name);
  }
  return out;
}
