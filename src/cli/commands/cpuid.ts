// `ferry host cpuid`: the seed's cupid.iso ("boot each ESX host from the cupid CD and compare
// the output") as a command. Without options it prints this machine's CPU as Ferry sees it,
// read from raw CPUID (/dev/cpu/0/cpuid) when it can and from /proc/cpuinfo otherwise;
// `--raw` prints the CPUID answers in hex; `--json` saves a report with the raw dump; with
// `--compare A.json B.json` it compares two saved outputs (cpuid-compare.ts).
import type { Command, CommandUnknownOpts } from "@commander-js/extra-typings";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import type { Cpu } from "../../core/inventory/schema.ts";
import { featureLabel } from "../../core/cpu/features.ts";
import { formatRawCpuid, hiddenFromProcCpuinfo } from "../../core/cpu/cpuid.ts";
import type { CpuidDump } from "../../core/cpu/cpuid-types.ts";
import { guestFeatures, sortFeatures } from "../../core/cpu/compare.ts";
import { CPU_MODELS, highestModelFor, hostSupportsBaseline, modelBaseline } from "../../core/cpu/models.ts";
import { execRunner } from "../../host/command.ts";
import { HostCpuSource, PROC_CPUINFO_PATH, readHostCpu, type HostCpuReading } from "../../host/facts/cpuid-device.ts";
import { printJson, type CliIo } from "../io.ts";
import { compareSaved } from "./cpuid-compare.ts";
import { featureTable, table } from "./cpuid-text.ts";

/** Where Linux describes the CPU. */
export const CPUINFO_PATH = PROC_CPUINFO_PATH;

/** Reads this machine's CPU; a test passes its own. */
export type ReadCpu = () => Promise<HostCpuReading>;

/**
 * What `ferry host cpuid --json` prints. `cpu` is exactly a CpuSchema object and `dump` the
 * raw CPUID answers (null when read from /proc/cpuinfo), so the file round-trips into `--compare`.
 */
export interface CpuidReport {
  readonly cpu: Cpu;
  readonly source: HostCpuSource;
  readonly note: string | null;
  readonly guestFeatures: readonly { readonly flag: string; readonly label: string }[];
  /** Features CPUID reports here that /proc/cpuinfo does not show; empty without a dump. */
  readonly hiddenFromProcCpuinfo: readonly { readonly flag: string; readonly label: string }[];
  readonly highestModel: string | null;
  readonly supportedModels: readonly string[];
  readonly dump: CpuidDump | null;
}

export function cpuidReport(reading: HostCpuReading): CpuidReport {
  const { cpu } = reading;
  return {
    cpu,
    source: reading.source,
    note: reading.note ?? null,
    guestFeatures: sortFeatures(guestFeatures(cpu)).map((flag) => ({ flag, label: featureLabel(flag) })),
    hiddenFromProcCpuinfo: reading.dump === undefined ? [] : hiddenFromProcCpuinfo(cpu.flags).map((f) => ({ flag: f.name, label: f.label })),
    highestModel: highestModelFor(cpu)?.name ?? null,
    supportedModels: CPU_MODELS.filter((model) => hostSupportsBaseline(cpu, modelBaseline(model)).ok).map((model) => model.name),
    dump: reading.dump ?? null,
  };
}

function virtualizationText(cpu: Cpu): string {
  const vt = cpu.flags.includes("vmx") ? "Intel VT-x, vmx" : cpu.flags.includes("svm") ? "AMD-V, svm" : undefined;
  if (!cpu.virtualization) {
    return vt === undefined ? "disabled or absent (no vmx/svm flag: check the BIOS setting)" : `disabled (the CPU has ${vt} but the firmware turned it off: check the BIOS setting)`;
  }
  return `enabled (${vt ?? "yes"})`;
}

function sourceText(report: CpuidReport): string {
  switch (report.source) {
    case HostCpuSource.cpuid:
      return `raw CPUID (${report.dump?.source ?? "/dev/cpu/0/cpuid"})`;
    case HostCpuSource.procCpuinfo:
      return "/proc/cpuinfo (raw CPUID could not be read; see the note below)";
  }
}

function printCpuid(io: CliIo, report: CpuidReport): void {
  const { cpu } = report;
  const t = table();
  t.push(
    ["source", sourceText(report)],
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
  if (report.source === HostCpuSource.cpuid) {
    const hidden = report.hiddenFromProcCpuinfo;
    io.out(
      hidden.length === 0
        ? "/proc/cpuinfo shows every feature CPUID reports here."
        : `/proc/cpuinfo does not show ${hidden.length} of the features CPUID reports here: ${hidden.map((f) => `${f.flag} (${f.label})`).join(", ")}.`,
    );
  }
  if (report.note !== null) io.out(`note: ${report.note}`);
}

async function printRaw(io: CliIo, readCpu: ReadCpu): Promise<void> {
  const reading = await readCpu();
  if (reading.dump === undefined) {
    throw new FerryError(ErrorCode.io, `raw CPUID cannot be read here: ${reading.unreadable ?? "no dump"}; run as root (the cpuid module is loaded with modprobe cpuid)`);
  }
  io.out(`# raw CPUID, ${reading.dump.source}`);
  io.out(formatRawCpuid(reading.dump));
}

export function registerCpuidCommands(program: Command, io: CliIo, setStatus: (n: number) => void, readCpu?: ReadCpu): void {
  const read: ReadCpu = readCpu ?? (() => readHostCpu({ run: execRunner, readText: io.readText }));
  // `host` may already exist (other host subcommands register there too).
  const host: CommandUnknownOpts =
    program.commands.find((c) => c.name() === "host") ?? program.command("host").description("host facts and checks");
  host
    .command("cpuid")
    .description("show this host's CPU as Ferry sees it (raw CPUID), or compare two hosts' CPUs (the seed's cupid.iso)")
    .option("--compare <files...>", "compare two CPUs saved with `ferry host cpuid --json`: A.json B.json")
    .option("--raw", "print this host's raw CPUID answers in hex, one leaf a line")
    .option("--json", "print JSON (with the raw CPUID dump, so the file can be compared later)")
    .action(async (options) => {
      const json = options.json === true;
      if (options.raw === true && (json || options.compare !== undefined)) {
        throw new FerryError(ErrorCode.usage, "--raw prints this host's CPUID in hex and takes neither --json (whose output holds the dump) nor --compare");
      }
      if (options.compare !== undefined) {
        await compareSaved(io, options.compare, json, setStatus);
        return;
      }
      if (options.raw === true) {
        await printRaw(io, read);
        return;
      }
      const report = cpuidReport(await read());
      if (json) printJson(io, report);
      else printCpuid(io, report);
    });
}
