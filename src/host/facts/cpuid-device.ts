// A host's CPU read the way the seed's cupid.iso read it: raw CPUID through Linux's cpuid
// driver (/dev/cpu/0/cpuid, root only, module `cpuid`), decoded with Ferry's feature table;
// /proc/cpuinfo still gives what CPUID cannot (logical processors, clock, Linux's tidied model
// name, and whether the firmware left VT-x/AMD-V on). Without the device Ferry falls back to
// /proc/cpuinfo alone and says which bits it then cannot see.
import { open } from "node:fs/promises";
import { hostname } from "node:os";
import { collectCpuid, decodeCpuid, invisibleInProcCpuinfo } from "../../core/cpu/cpuid.ts";
import type { CpuidDump, CpuidLeaf } from "../../core/cpu/cpuid-types.ts";
import { parseCpuinfo } from "../../core/cpu/cpuinfo.ts";
import type { Cpu } from "../../core/inventory/schema.ts";
import type { CommandRunner } from "../command.ts";

export const CPUID_DEVICE_PATH = "/dev/cpu/0/cpuid";
export const PROC_CPUINFO_PATH = "/proc/cpuinfo";

export const HostCpuSource = { cpuid: "cpuid", procCpuinfo: "proc-cpuinfo" } as const;
export type HostCpuSource = (typeof HostCpuSource)[keyof typeof HostCpuSource];

/** An open CPUID device: one answer per (leaf, subleaf). */
export interface CpuidDevice {
  readonly query: (leaf: number, subleaf: number) => Promise<CpuidLeaf>;
  readonly close: () => Promise<void>;
}

export type OpenCpuidDevice = (path: string) => Promise<CpuidDevice>;

export interface HostCpuReading {
  readonly cpu: Cpu;
  /** The raw answers, when the device could be read. */
  readonly dump: CpuidDump | undefined;
  readonly source: HostCpuSource;
  /** A sentence on what this reading cannot see (the /proc/cpuinfo fallback), or on the firmware hiding VT. */
  readonly note: string | undefined;
  /** Why the device could not be read (`/dev/cpu/0/cpuid: permission denied ...`); undefined when it was. */
  readonly unreadable: string | undefined;
}

export interface ReadHostCpuOptions {
  /** Runs `modprobe cpuid` when the device is missing; default: the caller's runner. */
  readonly run: CommandRunner;
  /** Reads /proc/cpuinfo. */
  readonly readText: (path: string) => Promise<string>;
  /** Default: node's fs on this machine. */
  readonly openDevice?: OpenCpuidDevice;
  readonly devicePath?: string;
  /** Names the dump's source (`/dev/cpu/0/cpuid on esx01`); default this machine's hostname. */
  readonly hostName?: string;
}

/**
 * The cpuid driver's file: a read of 16 bytes at offset `leaf | subleaf << 32` runs CPUID on
 * that CPU and returns EAX, EBX, ECX, EDX little-endian (arch/x86/kernel/cpuid.c). The offset
 * is a Number (exact below 2^53, and Ferry's subleaves are 0–2): Node 20's FileHandle.read
 * ignores a BigInt position and reads at the file's own offset, which the driver advances one
 * leaf per 16 bytes, so every answer after the first came from the wrong leaf.
 */
export const openCpuidDevice: OpenCpuidDevice = async (path) => {
  const handle = await open(path, "r");
  return {
    query: async (leaf, subleaf) => {
      const buffer = Buffer.alloc(16);
      const { bytesRead } = await handle.read(buffer, 0, 16, leaf + subleaf * 2 ** 32);
      if (bytesRead !== 16) throw new Error(`${path} answered leaf 0x${leaf.toString(16)}.${subleaf} with ${bytesRead} bytes, not 16`);
      return { leaf, subleaf, eax: buffer.readUInt32LE(0), ebx: buffer.readUInt32LE(4), ecx: buffer.readUInt32LE(8), edx: buffer.readUInt32LE(12) };
    },
    close: () => handle.close(),
  };
};

function reasonOf(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (code === "EACCES" || code === "EPERM") return "permission denied (only root may read it)";
  if (code === "ENOENT") return "no such file (the cpuid module is not loaded)";
  return error instanceof Error ? error.message : String(error);
}

async function readDump(path: string, openDevice: OpenCpuidDevice, source: string): Promise<CpuidDump> {
  const device = await openDevice(path);
  try {
    return await collectCpuid(device.query, source);
  } finally {
    await device.close();
  }
}

/** The dump, or why not: a missing device gets one `modprobe cpuid` and a second try. */
async function tryReadDump(options: ReadHostCpuOptions): Promise<{ dump: CpuidDump } | { reason: string }> {
  const path = options.devicePath ?? CPUID_DEVICE_PATH;
  const openDevice = options.openDevice ?? openCpuidDevice;
  const source = `${path} on ${options.hostName ?? hostname()}`;
  try {
    return { dump: await readDump(path, openDevice, source) };
  } catch (first) {
    if ((first as { code?: unknown }).code !== "ENOENT") return { reason: `${path}: ${reasonOf(first)}` };
    let modprobe = "";
    try {
      await options.run("modprobe", ["cpuid"]);
    } catch (error) {
      modprobe = `; modprobe cpuid failed: ${error instanceof Error ? error.message : String(error)}`;
    }
    try {
      return { dump: await readDump(path, openDevice, source) };
    } catch (second) {
      return { reason: `${path}: ${reasonOf(second)}${modprobe}` };
    }
  }
}

/** What the fallback cannot see, in one sentence: the table's bits /proc/cpuinfo never shows. */
export function procCpuinfoNote(reason: string): string {
  const hidden = invisibleInProcCpuinfo().map((f) => f.name);
  return (
    `CPU read from /proc/cpuinfo, not raw CPUID (${reason}): the ${hidden.length} CPUID features Linux does not list there ` +
    `cannot be seen or compared (${hidden.join(" ")}); run the agent as root with the cpuid module (modprobe cpuid) to see them.`
  );
}

/**
 * This host's CPU: vendor, family, model and flags from raw CPUID when the device can be read,
 * with cores, clock and model name from /proc/cpuinfo as before; from /proc/cpuinfo alone
 * otherwise, with a note saying what that hides. Rejects (FerryError) only when /proc/cpuinfo
 * is missing or not an x86 host's.
 */
export async function readHostCpu(options: ReadHostCpuOptions): Promise<HostCpuReading> {
  const fromLinux = parseCpuinfo(await options.readText(PROC_CPUINFO_PATH));
  const read = await tryReadDump(options);
  if ("reason" in read) {
    return { cpu: fromLinux, dump: undefined, source: HostCpuSource.procCpuinfo, note: procCpuinfoNote(read.reason), unreadable: read.reason };
  }
  const decoded = decodeCpuid(read.dump, {
    cores: fromLinux.cores,
    mhz: fromLinux.mhz,
    ...(fromLinux.modelName === undefined ? {} : { modelName: fromLinux.modelName }),
  });
  // CPUID shows VT-x/AMD-V whether or not the firmware locked it off; Linux drops vmx/svm from
  // /proc/cpuinfo when it did (IA32_FEAT_CTL, VM_CR.SVMDIS), and `virtualization` means usable.
  const firmwareOff = decoded.virtualization && !fromLinux.virtualization;
  return {
    cpu: { ...decoded.cpu, virtualization: decoded.virtualization && fromLinux.virtualization },
    dump: read.dump,
    source: HostCpuSource.cpuid,
    note: firmwareOff ? "The CPU has VT-x/AMD-V (CPUID) but the firmware turned it off (Linux does not list vmx/svm): enable it in the BIOS." : undefined,
    unreadable: undefined,
  };
}
