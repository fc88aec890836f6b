// `ferry host cpuid --compare A.json B.json`: the seed's "compare the cupid output of two
// hosts". Each file is a saved `ferry host cpuid --json` (with its raw CPUID dump, or an older
// one without), a bare Cpu object, or a bare CPUID dump. It says, for each direction, whether a
// running guest could move and which CPUID mask would let it; when both files carry dumps it
// also names every CPUID feature that differs, /proc/cpuinfo-hidden ones included.
import { ErrorCode, FerryError, isFerryError } from "../../core/errors.ts";
import { CpuSchema, type Cpu } from "../../core/inventory/schema.ts";
import { compareDumps, decodeCpuid, issuePath, parseCpuidDump, type CpuidDifference } from "../../core/cpu/cpuid.ts";
import type { CpuidDump } from "../../core/cpu/cpuid-types.ts";
import { CpuBlockerKind, compareCpus, describeMask, guestFeatures, type CpuMove } from "../../core/cpu/compare.ts";
import { clusterBaseline } from "../../core/cpu/baseline.ts";
import { highestModelFor } from "../../core/cpu/models.ts";
import { ExitStatus, printJson, type CliIo } from "../io.ts";
import { featureTable, table } from "./cpuid-text.ts";

/** One saved host: its CPU and, when the file carries one, the raw CPUID it was read from. */
export interface SavedCpu {
  readonly cpu: Cpu;
  readonly dump: CpuidDump | undefined;
}

function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new FerryError(ErrorCode.invalidInput, `${file}: is not JSON (${cause instanceof Error ? cause.message : String(cause)})`, { cause });
  }
}

function parseCpu(file: string, candidate: unknown): Cpu {
  const parsed = CpuSchema.safeParse(candidate);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new FerryError(ErrorCode.invalidInput, `${file}: ${issuePath("cpu", issue?.path ?? [])}: ${issue?.message ?? "is not a CPU description"}`, {
    details: parsed.error.issues,
  });
}

/** A bare dump's CPU, with a decoding failure named by the file. */
function cpuOfDump(file: string, dump: CpuidDump): Cpu {
  try {
    return decodeCpuid(dump).cpu;
  } catch (error) {
    if (isFerryError(error)) throw new FerryError(error.code, `${file}: dump: ${error.message}`, { cause: error });
    throw error;
  }
}

/** Reads a saved host: `--json` output (with or without `dump`), a bare Cpu object or a bare dump. */
export async function loadSavedCpu(io: CliIo, file: string): Promise<SavedCpu> {
  const value = parseJson(file, await io.readText(file));
  const object = typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  if (object !== undefined && "cpu" in object) {
    const cpu = parseCpu(file, object["cpu"]);
    const rawDump = object["dump"];
    return { cpu, dump: rawDump === undefined || rawDump === null ? undefined : parseCpuidDump(rawDump, file) };
  }
  if (object !== undefined && "leaves" in object) {
    const dump = parseCpuidDump(object, file);
    return { cpu: cpuOfDump(file, dump), dump };
  }
  return { cpu: parseCpu(file, value), dump: undefined };
}

/** The mask in the words of the VM's settings (the seed's Figure 9.33/9.34). */
function printMove(io: CliIo, title: string, move: CpuMove): void {
  io.out(`${title}: ${move.ok ? "a running guest can move" : "a running guest cannot move"}`);
  for (const blocker of move.blockers) io.out(`  - ${blocker.message}`);
  if (move.mask !== undefined) {
    io.out(`  fix: set the VM's CPUID mask: ${describeMask(move.mask)}; the change reaches the guest at its next power cycle`);
    io.out(`  the guest would no longer see: ${move.lost.join(" ")}`);
  } else if (move.blockers.some((b) => b.kind === CpuBlockerKind.vendor)) {
    io.out("  fix: none while the VM runs; power it off to move it");
  } else if (!move.ok && !move.fixableByMask) {
    io.out("  fix: no CPUID mask can; a cluster baseline both hosts support can (see the shared baseline below)");
  }
  for (const warning of move.warnings) io.out(`  warning: ${warning}`);
}

/** The raw CPUID differences, or why there are none to show. */
function printDumpDifferences(io: CliIo, a: SavedCpu, b: SavedCpu, differences: readonly CpuidDifference[] | undefined): void {
  if (differences === undefined) {
    const without = [a.dump === undefined ? "A" : undefined, b.dump === undefined ? "B" : undefined].filter((s) => s !== undefined).join(" and ");
    io.out(`Raw CPUID: ${without} ${without.includes(" and ") ? "carry" : "carries"} no CPUID dump (saved from /proc/cpuinfo or by an older Ferry): only the flags above are compared.`);
    return;
  }
  if (differences.length === 0) {
    io.out("Raw CPUID: every feature of Ferry's table is the same on both.");
    return;
  }
  io.out(`Raw CPUID features that differ (${differences.length}):`);
  const t = table(["flag", "feature", "where", "only in", "guest sees it", "in /proc/cpuinfo"]);
  for (const d of differences) t.push([d.name, d.label, d.location, d.side.toUpperCase(), d.guest ? "yes" : "no", d.procCpuinfo ? "yes" : "no"]);
  io.out(t.toString());
}

interface Compared {
  readonly a: SavedCpu;
  readonly b: SavedCpu;
  readonly comparison: ReturnType<typeof compareCpus>;
  readonly differences: readonly CpuidDifference[] | undefined;
}

function printComparisonText(io: CliIo, files: readonly [string, string], { a, b, comparison, differences }: Compared): void {
  const shared = clusterBaseline([
    { name: "A", cpu: a.cpu },
    { name: "B", cpu: b.cpu },
  ]);
  io.out(`A: ${files[0]}\nB: ${files[1]}`);
  const t = table(["", "A", "B"]);
  t.push(
    ["vendor", a.cpu.vendor, b.cpu.vendor],
    ["family", a.cpu.family, b.cpu.family],
    ["model", a.cpu.model, b.cpu.model],
    ["model name", a.cpu.modelName ?? "", b.cpu.modelName ?? ""],
    ["virtualization", a.cpu.virtualization ? "enabled" : "disabled", b.cpu.virtualization ? "enabled" : "disabled"],
    ["guest-visible features", guestFeatures(a.cpu).size, guestFeatures(b.cpu).size],
    ["highest named model", highestModelFor(a.cpu)?.name ?? "none", highestModelFor(b.cpu)?.name ?? "none"],
  );
  io.out(t.toString());
  io.out(`Same vendor: ${comparison.sameVendor ? "yes" : "no"}. Same family: ${comparison.sameFamily ? "yes" : "no"}.`);
  for (const [side, flags] of [["A", comparison.onlyInA], ["B", comparison.onlyInB]] as const) {
    io.out(flags.length === 0 ? `Only in ${side}: nothing.` : `Only in ${side} (${flags.length}):\n${featureTable(flags)}`);
  }
  printDumpDifferences(io, a, b, differences);
  printMove(io, "A → B", comparison.aToB);
  printMove(io, "B → A", comparison.bToA);
  if (shared.model !== undefined) {
    io.out(`Shared baseline: ${shared.model.name}, the newest named model both can present; a cluster at this baseline lets guests move both ways.`);
  } else {
    io.out(`Shared baseline: none: ${shared.reason?.message ?? "no named model fits both"}.`);
  }
}

export async function compareSaved(io: CliIo, files: readonly string[], json: boolean, setStatus: (n: number) => void): Promise<void> {
  const [fileA, fileB] = files;
  if (files.length !== 2 || fileA === undefined || fileB === undefined) {
    throw new FerryError(ErrorCode.usage, `--compare takes two files, A.json and B.json; got ${files.length}`);
  }
  const a = await loadSavedCpu(io, fileA);
  const b = await loadSavedCpu(io, fileB);
  const comparison = compareCpus(a.cpu, b.cpu);
  const differences = a.dump !== undefined && b.dump !== undefined ? compareDumps(a.dump, b.dump) : undefined;
  if (json) {
    const shared = clusterBaseline([
      { name: "A", cpu: a.cpu },
      { name: "B", cpu: b.cpu },
    ]);
    printJson(io, {
      a: { file: fileA, cpu: a.cpu },
      b: { file: fileB, cpu: b.cpu },
      comparison,
      // null when either file carries no raw CPUID dump.
      cpuidDifferences: differences ?? null,
      sharedBaseline: {
        model: shared.model?.name ?? null,
        reason: shared.reason ?? null,
        givesUp: { a: shared.hosts[0]?.givesUp ?? [], b: shared.hosts[1]?.givesUp ?? [] },
      },
    });
  } else {
    printComparisonText(io, [fileA, fileB], { a, b, comparison, differences });
  }
  if (!(comparison.aToB.ok && comparison.bToA.ok)) setStatus(ExitStatus.refused);
}
