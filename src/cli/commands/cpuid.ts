// `ferry host cpuid`: the seed's cupid.iso ("boot each ESX host from the cupid CD and compare
// the output") as a command. Without options it prints this machine's CPU as Ferry sees it;
// with `--compare A.json B.json` it compares two saved outputs and says, for each direction,
// whether a running guest could move and which CPUID mask would let it.
import type { Command, CommandUnknownOpts } from "@commander-js/extra-typings";
import Table from "cli-table3";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { CpuSchema, type Cpu } from "../../core/inventory/schema.ts";
import { featureLabel } from "../../core/cpu/features.ts";
import { parseCpuinfo } from "../../core/cpu/cpuinfo.ts";
import { CpuBlockerKind, compareCpus, describeMask, guestFeatures, sortFeatures, type CpuMove } from "../../core/cpu/compare.ts";
import { clusterBaseline } from "../../core/cpu/baseline.ts";
import { CPU_MODELS, highestModelFor, hostSupportsBaseline, modelBaseline } from "../../core/cpu/models.ts";
import { ExitStatus, printJson, type CliIo } from "../io.ts";

/** Where Linux describes the CPU. */
export const CPUINFO_PATH = "/proc/cpuinfo";

/** What `ferry host cpuid --json` prints; `cpu` is exactly a CpuSchema object, so the file round-trips into `--compare`. */
export interface CpuidReport {
  readonly cpu: Cpu;
  readonly guestFeatures: readonly { readonly flag: string; readonly label: string }[];
  readonly highestModel: string | null;
  readonly supportedModels: readonly string[];
}

export function cpuidReport(cpu: Cpu): CpuidReport {
  return {
    cpu,
    guestFeatures: sortFeatures(guestFeatures(cpu)).map((flag) => ({ flag, label: featureLabel(flag) })),
    highestModel: highestModelFor(cpu)?.name ?? null,
    supportedModels: CPU_MODELS.filter((model) => hostSupportsBaseline(cpu, modelBaseline(model)).ok).map((model) => model.name),
  };
}

function table(head?: string[]): Table.Table {
  // No colours: the output is the same on a terminal and in a pipe or a test.
  return new Table({ ...(head === undefined ? {} : { head }), style: { head: [], border: [] } });
}

function virtualizationText(cpu: Cpu): string {
  if (!cpu.virtualization) return "disabled or absent (no vmx/svm flag: check the BIOS setting)";
  return `enabled (${cpu.flags.includes("vmx") ? "Intel VT-x, vmx" : cpu.flags.includes("svm") ? "AMD-V, svm" : "yes"})`;
}

/** Features as a table of flag/label pairs, three pairs a row. */
function featureTable(flags: readonly string[]): string {
  const perRow = 3;
  const t = table(Array.from({ length: perRow }, () => ["flag", "feature"]).flat());
  for (let i = 0; i < flags.length; i += perRow) {
    const row = flags.slice(i, i + perRow).flatMap((flag) => [flag, featureLabel(flag)]);
    while (row.length < perRow * 2) row.push("");
    t.push(row);
  }
  return t.toString();
}

function printCpuid(io: CliIo, report: CpuidReport): void {
  const { cpu } = report;
  const t = table();
  t.push(
    ["vendor", cpu.vendor],
    ["family", cpu.family],
    ["model", cpu.model],
    ["model name", cpu.modelName ?? "(not reported)"],
    ["virtualization", virtualizationText(cpu)],
    ["processors", `${cpu.cores} logical, ${cpu.mhz} MHz`],
    ["highest named model", report.highestModel ?? "none (no catalogue model fits this CPU)"],
  );
  io.out(t.toString());
  io.out(`Guest-visible features (${report.guestFeatures.length}):`);
  io.out(featureTable(report.guestFeatures.map((f) => f.flag)));
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

/** Reads a Cpu from a file holding `ferry host cpuid --json` output or a bare Cpu object. */
async function loadCpu(io: CliIo, file: string): Promise<Cpu> {
  const text = await io.readText(file);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new FerryError(ErrorCode.invalidInput, `${file}: is not JSON (${cause instanceof Error ? cause.message : String(cause)})`, { cause });
  }
  const wrapped = typeof value === "object" && value !== null && !Array.isArray(value) && "cpu" in value;
  const candidate: unknown = wrapped ? (value as { cpu: unknown }).cpu : value;
  const parsed = CpuSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = ["cpu", ...(issue?.path ?? []).map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))].join("");
    throw new FerryError(ErrorCode.invalidInput, `${file}: ${field}: ${issue?.message ?? "is not a CPU description"}`, {
      details: parsed.error.issues,
    });
  }
  return parsed.data;
}

async function compare(io: CliIo, files: readonly string[], json: boolean, setStatus: (n: number) => void): Promise<void> {
  const [fileA, fileB] = files;
  if (files.length !== 2 || fileA === undefined || fileB === undefined) {
    throw new FerryError(ErrorCode.usage, `--compare takes two files, A.json and B.json; got ${files.length}`);
  }
  const a = await loadCpu(io, fileA);
  const b = await loadCpu(io, fileB);
  const comparison = compareCpus(a, b);
  const shared = clusterBaseline([
    { name: "A", cpu: a },
    { name: "B", cpu: b },
  ]);
  const bothWays = comparison.aToB.ok && comparison.bToA.ok;

  if (json) {
    printJson(io, {
      a: { file: fileA, cpu: a },
      b: { file: fileB, cpu: b },
      comparison,
      sharedBaseline: {
        model: shared.model?.name ?? null,
        reason: shared.reason ?? null,
        givesUp: { a: shared.hosts[0]?.givesUp ?? [], b: shared.hosts[1]?.givesUp ?? [] },
      },
    });
  } else {
    io.out(`A: ${fileA}\nB: ${fileB}`);
    const t = table(["", "A", "B"]);
    t.push(
      ["vendor", a.vendor, b.vendor],
      ["family", a.family, b.family],
      ["model", a.model, b.model],
      ["model name", a.modelName ?? "", b.modelName ?? ""],
      ["virtualization", a.virtualization ? "enabled" : "disabled", b.virtualization ? "enabled" : "disabled"],
      ["guest-visible features", guestFeatures(a).size, guestFeatures(b).size],
      ["highest named model", highestModelFor(a)?.name ?? "none", highestModelFor(b)?.name ?? "none"],
    );
    io.out(t.toString());
    io.out(`Same vendor: ${comparison.sameVendor ? "yes" : "no"}. Same family: ${comparison.sameFamily ? "yes" : "no"}.`);
    for (const [side, flags] of [["A", comparison.onlyInA], ["B", comparison.onlyInB]] as const) {
      io.out(flags.length === 0 ? `Only in ${side}: nothing.` : `Only in ${side} (${flags.length}):\n${featureTable(flags)}`);
    }
    printMove(io, "A → B", comparison.aToB);
    printMove(io, "B → A", comparison.bToA);
    if (shared.model !== undefined) {
      io.out(`Shared baseline: ${shared.model.name}, the newest named model both can present; a cluster at this baseline lets guests move both ways.`);
    } else {
      io.out(`Shared baseline: none: ${shared.reason?.message ?? "no named model fits both"}.`);
    }
  }
  if (!bothWays) setStatus(ExitStatus.refused);
}

export function registerCpuidCommands(program: Command, io: CliIo, setStatus: (n: number) => void): void {
  // `host` may already exist (other host subcommands register there too).
  const host: CommandUnknownOpts =
    program.commands.find((c) => c.name() === "host") ?? program.command("host").description("host facts and checks");
  host
    .command("cpuid")
    .description("show this host's CPU as Ferry sees it, or compare two hosts' CPUs (the seed's cupid.iso)")
    .option("--compare <files...>", "compare two CPUs saved with `ferry host cpuid --json`: A.json B.json")
    .option("--json", "print JSON")
    .action(async (options) => {
      const json = options.json === true;
      if (options.compare !== undefined) {
        await compare(io, options.compare, json, setStatus);
        return;
      }
      const report = cpuidReport(parseCpuinfo(await io.readText(CPUINFO_PATH)));
      if (json) printJson(io, report);
      else printCpuid(io, report);
    });
}
