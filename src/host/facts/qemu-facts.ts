// The answers of the host's QEMU binary, asked once per binary. Starting QEMU three times
// costs ~100 ms on a loaded host and the answers change only when the package does, so they
// are cached per binary path, mtime and size: an upgrade (new mtime) is asked again.
import { stat } from "node:fs/promises";
import { delimiter, join } from "node:path";
import type { CommandRunner } from "../command.ts";
import { parseCpuHelp, parseMachineHelp, parseQemuVersion, type MachineType, type QemuVersion } from "./qemu-help.ts";

export const DEFAULT_QEMU_BINARY = "qemu-system-x86_64";

/** What the QEMU binary says of itself, independent of the accelerator. */
export interface QemuFacts {
  readonly binary: string;
  readonly version: QemuVersion;
  readonly machineTypes: readonly MachineType[];
  readonly cpuModels: readonly string[];
}

/** The binary's path and identity, or undefined when it is not installed. */
interface BinaryIdentity {
  readonly path: string;
  readonly key: string;
}

/** Per binary path: the identity its answers were asked for, and the answers. */
const cache = new Map<string, { readonly key: string; readonly facts: Promise<QemuFacts> }>();

/** Forgets every cached answer (tests measuring a cold refresh). */
export function clearQemuFactsCache(): void {
  cache.clear();
}

async function identify(path: string): Promise<BinaryIdentity | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? { path, key: `${path}\0${info.mtimeMs}\0${info.size}` } : undefined;
  } catch {
    return undefined;
  }
}

/** `binary` itself when it holds a slash, else the first match on PATH, as execvp finds it. */
export async function locateBinary(binary: string, searchPath = process.env["PATH"] ?? ""): Promise<BinaryIdentity | undefined> {
  if (binary.includes("/")) return identify(binary);
  for (const dir of searchPath.split(delimiter)) {
    if (dir === "") continue;
    const found = await identify(join(dir, binary));
    if (found !== undefined) return found;
  }
  return undefined;
}

async function ask(path: string, run: CommandRunner): Promise<QemuFacts> {
  const [version, machines, cpus] = await Promise.all([
    run(path, ["--version"]),
    run(path, ["-machine", "help"]),
    run(path, ["-cpu", "help"]),
  ]);
  return { binary: path, version: parseQemuVersion(version), machineTypes: parseMachineHelp(machines), cpuModels: parseCpuHelp(cpus) };
}

/**
 * The binary's facts, from the cache when the same file was asked before; undefined when the
 * binary is not installed. A failed question is not cached: the next refresh asks again.
 */
export async function readQemuFacts(binary: string, run: CommandRunner): Promise<QemuFacts | undefined> {
  const found = await locateBinary(binary);
  if (found === undefined) return undefined;
  const cached = cache.get(found.path);
  if (cached?.key === found.key) return cached.facts;
  const facts = ask(found.path, run);
  const entry = { key: found.key, facts };
  cache.set(found.path, entry);
  void facts.catch(() => {
    if (cache.get(found.path) === entry) cache.delete(found.path);
  });
  return facts;
}
