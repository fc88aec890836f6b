// Reading a host's CPU from Linux /proc/cpuinfo (x86), the way the agent and
// `ferry host cpuid` learn what the seed's cupid.iso showed: vendor, family, model, features.
// The text is passed in: reading the file is the caller's business.
import { ErrorCode, FerryError } from "../errors.ts";
import { CpuSchema, type Cpu } from "../inventory/schema.ts";

/** One `processor : N` block of /proc/cpuinfo, its `key : value` lines. */
type Block = Map<string, string>;

function blocks(text: string): Block[] {
  const out: Block[] = [];
  let current: Block | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "") {
      current = undefined;
      continue;
    }
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (current === undefined || key === "processor") {
      current = new Map();
      out.push(current);
    }
    // The first occurrence wins: a block never repeats a key in real cpuinfo.
    if (!current.has(key)) current.set(key, value);
  }
  return out;
}

function integer(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

/** The nominal clock in a model name such as "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz". */
function nominalMhz(modelName: string | undefined): number | undefined {
  const match = modelName === undefined ? null : /@\s*(\d+(?:\.\d+)?)\s*GHz/i.exec(modelName);
  return match?.[1] === undefined ? undefined : Math.round(Number(match[1]) * 1000);
}

/**
 * The CPU described by the text of /proc/cpuinfo. Flags are kept exactly as Linux lists
 * them (host-only ones such as vmx and constant_tsc included); the comparisons filter them.
 * `cores` counts logical processors (hardware threads), what KVM schedules vCPUs on.
 * `mhz` is the nominal clock from the model name when it states one (Intel), else the
 * highest `cpu MHz` line: that line is the current clock, which frequency scaling lowers.
 */
export function parseCpuinfo(text: string): Cpu {
  const processors = blocks(text).filter((b) => b.has("vendor_id") || b.has("flags"));
  const first = processors[0];
  const vendor = first?.get("vendor_id");
  const family = integer(first?.get("cpu family"));
  const model = integer(first?.get("model"));
  const flagsLine = first?.get("flags");
  if (first === undefined || vendor === undefined || vendor === "" || family === undefined || model === undefined || flagsLine === undefined) {
    throw new FerryError(
      ErrorCode.invalidInput,
      "this is not Linux /proc/cpuinfo of an x86 host: it needs vendor_id, cpu family, model and flags lines",
    );
  }
  // All processors of a host list the same flags; the first one speaks for them.
  const flags = [...new Set(flagsLine.split(/\s+/).filter((f) => f !== ""))];
  const modelName = first.get("model name");
  const readings = processors.map((b) => Number(b.get("cpu MHz"))).filter((n) => Number.isFinite(n) && n > 0);
  const mhz = nominalMhz(modelName) ?? (readings.length > 0 ? Math.round(Math.max(...readings)) : undefined);

  return CpuSchema.parse({
    vendor,
    family,
    model,
    ...(modelName === undefined || modelName === "" ? {} : { modelName }),
    flags,
    // /proc/cpuinfo cannot see VT that the BIOS disabled: Linux then leaves vmx/svm out of
    // the flags, so Ferry reads an absent flag as "disabled", which is what it means for us.
    virtualization: flags.includes("vmx") || flags.includes("svm"),
    cores: Math.max(1, processors.length),
    // Absent (some hypervisors omit it): the schema's default applies.
    ...(mhz === undefined || mhz <= 0 ? {} : { mhz }),
  });
}
