// Raw CPUID, the way the seed's cupid.iso read it: the leaves Ferry asks a CPU, what their
// answers mean (vendor, family/model/stepping, brand string, the feature bits of Ferry's
// table) and the reverse (a CPU described as the answers it would give). /proc/cpuinfo shows
// only what Linux chooses to show (spec_ctrl, the ssbd variants and many leaf 7 bits are
// hidden or merged there); the raw answers show every bit. Reading them is the host's
// business (src/host/facts/cpuid-device.ts): here the CPU is a function `query` or a dump.
import { z } from "zod";
import { ErrorCode, FerryError } from "../errors.ts";
import { CpuSchema, type Cpu } from "../inventory/schema.ts";
import { CpuVendorKind, CpuidRegister, type CpuidDump, type CpuidFeature, type CpuidLeaf } from "./cpuid-types.ts";
import { CPUID_FEATURES } from "./feature-table.generated.ts";

/** One question to the CPU: EAX = leaf, ECX = subleaf. */
export interface CpuidQuery {
  readonly leaf: number;
  readonly subleaf: number;
}

/** How far a CPU answers: the highest basic and extended leaf, and leaf 7's highest subleaf. */
export interface CpuidLimits {
  /** CPUID.0:EAX. */
  readonly maxLeaf: number;
  /** CPUID.80000000h:EAX, or 0 when the CPU has no extended leaves. */
  readonly maxExtendedLeaf: number;
  /** CPUID.7.0:EAX, or 0 when leaf 7 is beyond maxLeaf. */
  readonly maxLeaf7Subleaf: number;
}

const EXTENDED = 0x80000000;
/** Leaf 7's subleaves Ferry reads (0–2), whatever higher one a future CPU reports. */
const LEAF7_SUBLEAVES = 2;

/**
 * The leaves Ferry reads besides 0 and 0x80000000 (which give the limits): basic leaves 1, 6,
 * 7.0–2, 0xD.1 (the XSAVE extensions), 0x14 (Processor Trace), 0x19 (Key Locker); extended
 * 0x80000001 (AMD's feature bits), 0x80000002–4 (brand string), 0x80000007 (power
 * management, invariant TSC), 0x80000008 (address sizes and AMD's speculation bits),
 * 0x8000000A (SVM features), 0x80000021 (AMD's extended features 2).
 */
const READ_LEAVES: readonly CpuidQuery[] = [
  { leaf: 1, subleaf: 0 },
  { leaf: 6, subleaf: 0 },
  { leaf: 0xd, subleaf: 1 },
  { leaf: 0x14, subleaf: 0 },
  { leaf: 0x19, subleaf: 0 },
  ...[0x80000001, 0x80000002, 0x80000003, 0x80000004, 0x80000007, 0x80000008, 0x8000000a, 0x80000021].map((leaf) => ({ leaf, subleaf: 0 })),
];

const key = (leaf: number, subleaf: number): string => `${leaf}.${subleaf}`;
const isExtended = (leaf: number): boolean => leaf >= EXTENDED;

/**
 * The questions worth asking a CPU with these limits, each once, in leaf order: Ferry's leaves
 * and every leaf the feature table names, only within what the CPU reports. An Intel CPU asked
 * past its highest basic leaf answers with that leaf's data, so an answer there would be a lie.
 */
export function cpuidQueries(limits: CpuidLimits, table: readonly CpuidFeature[] = CPUID_FEATURES): CpuidQuery[] {
  const wanted = new Map<string, CpuidQuery>();
  const add = (q: CpuidQuery): void => {
    const within = isExtended(q.leaf) ? q.leaf <= limits.maxExtendedLeaf : q.leaf <= limits.maxLeaf;
    const subleafOk = q.leaf !== 7 || q.subleaf <= Math.min(limits.maxLeaf7Subleaf, LEAF7_SUBLEAVES);
    if (within && subleafOk) wanted.set(key(q.leaf, q.subleaf), q);
  };
  add({ leaf: 0, subleaf: 0 });
  if (limits.maxExtendedLeaf >= EXTENDED) add({ leaf: EXTENDED, subleaf: 0 });
  for (let subleaf = 0; subleaf <= LEAF7_SUBLEAVES; subleaf++) add({ leaf: 7, subleaf });
  for (const q of READ_LEAVES) add(q);
  for (const f of table) add({ leaf: f.leaf, subleaf: f.subleaf });
  return [...wanted.values()].sort((a, b) => a.leaf - b.leaf || a.subleaf - b.subleaf);
}

/** A valid CPUID.80000000h:EAX reads 0x8000_00xx; older CPUs echo a basic leaf or garbage. */
function extendedLimit(eax: number): number {
  return (eax & 0xffff0000) >>> 0 === EXTENDED ? eax : 0;
}

/**
 * Asks `query` every leaf Ferry reads, within the limits the CPU itself reports, and returns
 * the answers as a dump. `query` is the CPU: /dev/cpu/N/cpuid on a host, a dump in a test.
 */
export async function collectCpuid(
  query: (leaf: number, subleaf: number) => Promise<CpuidLeaf>,
  source: string,
  table: readonly CpuidFeature[] = CPUID_FEATURES,
): Promise<CpuidDump> {
  const leaf0 = await query(0, 0);
  const ext0 = await query(EXTENDED, 0);
  const leaf7 = leaf0.eax >= 7 ? await query(7, 0) : undefined;
  const limits: CpuidLimits = { maxLeaf: leaf0.eax, maxExtendedLeaf: extendedLimit(ext0.eax), maxLeaf7Subleaf: leaf7?.eax ?? 0 };
  const known = new Map<string, CpuidLeaf>([[key(0, 0), leaf0]]);
  if (limits.maxExtendedLeaf >= EXTENDED) known.set(key(EXTENDED, 0), ext0);
  if (leaf7 !== undefined) known.set(key(7, 0), leaf7);
  const leaves: CpuidLeaf[] = [];
  for (const q of cpuidQueries(limits, table)) {
    leaves.push(known.get(key(q.leaf, q.subleaf)) ?? (await query(q.leaf, q.subleaf)));
  }
  return { source, leaves };
}

// ---- decoding -------------------------------------------------------------------------------

/** What a dump says about its CPU, beside the features. */
export interface DecodedCpuid {
  /** The 12-character vendor string of leaf 0 (`GenuineIntel`, `AuthenticAMD`). */
  readonly vendor: string;
  /** Intel or AMD (Hygon counts as AMD: its CPUs are Zen); undefined for any other vendor. */
  readonly vendorKind: CpuVendorKind | undefined;
  /** The display family: base family, plus the extended family when the base is 0xF. */
  readonly family: number;
  /** The display model: base model, plus the extended model << 4 where the vendor's rule says. */
  readonly model: number;
  readonly stepping: number;
  /** Leaves 0x80000002–4, trimmed; undefined when the CPU has none or they are blank. */
  readonly brand: string | undefined;
  /** Every table feature whose bit is set, by name, in table order. */
  readonly flags: readonly string[];
  /** VT-x (CPUID.1:ECX[5]) or AMD-V (CPUID.80000001h:ECX[2]) is in the CPU. */
  readonly virtualization: boolean;
  /** The CPU as Ferry's inventory describes it; cores and mhz come from the caller or the schema's defaults. */
  readonly cpu: Cpu;
}

/** What CPUID cannot say: how many threads the host has and its nominal clock (Linux knows). */
export interface CpuExtras {
  readonly cores?: number;
  readonly mhz?: number;
  /** Overrides the brand string (Linux's `model name` is the same text, tidied). */
  readonly modelName?: string;
}

type Answers = ReadonlyMap<string, CpuidLeaf>;

function answers(dump: CpuidDump): Answers {
  return new Map(dump.leaves.map((l) => [key(l.leaf, l.subleaf), l]));
}

/** Four little-endian ASCII bytes per register, the way vendor and brand strings are packed. */
function registerText(values: readonly number[]): string {
  let text = "";
  for (const value of values) {
    for (let shift = 0; shift < 32; shift += 8) text += String.fromCharCode((value >>> shift) & 0xff);
  }
  return text;
}

export function vendorKindOf(vendor: string): CpuVendorKind | undefined {
  if (vendor === "GenuineIntel") return CpuVendorKind.intel;
  if (vendor === "AuthenticAMD" || vendor === "HygonGenuine") return CpuVendorKind.amd;
  return undefined;
}

function required(a: Answers, leaf: number, source: string): CpuidLeaf {
  const found = a.get(key(leaf, 0));
  if (found === undefined) {
    throw new FerryError(ErrorCode.invalidInput, `${source}: the dump has no leaf 0x${leaf.toString(16)}: a CPU description needs leaves 0 and 1`);
  }
  return found;
}

/**
 * Family and model from CPUID.1:EAX (Intel SDM vol. 2A, CPUID "Version Information"; AMD
 * APM vol. 3, CPUID Fn0000_0001_EAX): the extended family is added when the base family is
 * 0xF; the extended model is the model's high nibble when the base family is 0xF, and on Intel
 * also when it is 6.
 */
function signature(eax: number, kind: CpuVendorKind | undefined): { family: number; model: number; stepping: number } {
  const stepping = eax & 0xf;
  const baseModel = (eax >>> 4) & 0xf;
  const baseFamily = (eax >>> 8) & 0xf;
  const extModel = (eax >>> 16) & 0xf;
  const extFamily = (eax >>> 20) & 0xff;
  const family = baseFamily === 0xf ? baseFamily + extFamily : baseFamily;
  const usesExtModel = baseFamily === 0xf || (baseFamily === 6 && kind !== CpuVendorKind.amd);
  return { family, model: usesExtModel ? (extModel << 4) + baseModel : baseModel, stepping };
}

function brandString(a: Answers): string | undefined {
  const parts = [0x80000002, 0x80000003, 0x80000004].map((leaf) => a.get(key(leaf, 0)));
  if (parts.some((p) => p === undefined)) return undefined;
  const text = registerText(parts.flatMap((p) => (p === undefined ? [] : [p.eax, p.ebx, p.ecx, p.edx])));
  // NUL-terminated; Intel right-justifies older brands with leading spaces.
  const brand = text.split("\0")[0]?.trim() ?? "";
  return brand === "" ? undefined : brand;
}

function bitSet(a: Answers, leaf: number, subleaf: number, register: CpuidRegister, bit: number): boolean {
  const answer = a.get(key(leaf, subleaf));
  return answer !== undefined && ((answer[register] >>> bit) & 1) === 1;
}

const slot = (f: CpuidFeature): string => `${f.leaf}.${f.subleaf}.${f.register}.${f.bit}`;

/**
 * The table's features that apply to a CPU of this vendor. A bit is one feature on every
 * vendor, except where the table itself names two features for one bit (a vendor reusing a
 * bit); only then does the vendor choose. The table's vendor lists lag the CPUs (Intel
 * adopting an AMD bit), so they never drop a bit on their own.
 */
function featuresFor(kind: CpuVendorKind | undefined, table: readonly CpuidFeature[]): CpuidFeature[] {
  const bySlot = new Map<string, CpuidFeature[]>();
  for (const f of table) bySlot.set(slot(f), [...(bySlot.get(slot(f)) ?? []), f]);
  return table.filter((f) => {
    const sharing = bySlot.get(slot(f)) ?? [f];
    if (sharing.length === 1 || kind === undefined) return sharing[0] === f;
    const mine = sharing.filter((s) => s.vendors.includes(kind));
    return (mine[0] ?? sharing[0]) === f;
  });
}

/** The CPU a dump describes. Rejects (INVALID_INPUT) a dump without leaves 0 and 1. */
export function decodeCpuid(dump: CpuidDump, extras: CpuExtras = {}, table: readonly CpuidFeature[] = CPUID_FEATURES): DecodedCpuid {
  const a = answers(dump);
  const leaf0 = required(a, 0, dump.source);
  const leaf1 = required(a, 1, dump.source);
  const vendor = registerText([leaf0.ebx, leaf0.edx, leaf0.ecx]).replace(/\0+$/, "");
  if (!/^[\x20-\x7e]+$/.test(vendor)) {
    throw new FerryError(ErrorCode.invalidInput, `${dump.source}: leaf 0 holds no vendor string (EBX, EDX, ECX are not ASCII text)`);
  }
  const vendorKind = vendorKindOf(vendor);
  const { family, model, stepping } = signature(leaf1.eax, vendorKind);
  const brand = brandString(a);
  const flags = [...new Set(featuresFor(vendorKind, table).filter((f) => bitSet(a, f.leaf, f.subleaf, f.register, f.bit)).map((f) => f.name))];
  const virtualization = bitSet(a, 1, 0, CpuidRegister.ecx, 5) || bitSet(a, 0x80000001, 0, CpuidRegister.ecx, 2);
  const modelName = extras.modelName ?? brand;
  const cpu = CpuSchema.parse({
    vendor,
    family,
    model,
    ...(modelName === undefined ? {} : { modelName }),
    flags,
    virtualization,
    ...(extras.cores === undefined ? {} : { cores: extras.cores }),
    ...(extras.mhz === undefined ? {} : { mhz: extras.mhz }),
  });
  return { vendor, vendorKind, family, model, stepping, brand, flags, virtualization, cpu };
}

// ---- encoding -------------------------------------------------------------------------------

function mutableLeaf(leaf: number, subleaf: number): { -readonly [K in keyof CpuidLeaf]: number } {
  return { leaf, subleaf, eax: 0, ebx: 0, ecx: 0, edx: 0 };
}

/** CPUID.1:EAX for a display family and model: the reverse of `signature`. */
function encodeSignature(family: number, model: number, kind: CpuVendorKind | undefined, stepping: number): number {
  const baseFamily = family >= 0xf ? 0xf : family;
  const extFamily = family >= 0xf ? family - 0xf : 0;
  const usesExtModel = baseFamily === 0xf || (baseFamily === 6 && kind !== CpuVendorKind.amd);
  if (!Number.isInteger(family) || family < 0 || extFamily > 0xff) {
    throw new FerryError(ErrorCode.invalidInput, `family ${family} cannot be written in CPUID.1:EAX (0 to ${0xf + 0xff})`);
  }
  if (!Number.isInteger(model) || model < 0 || model > (usesExtModel ? 0xff : 0xf)) {
    throw new FerryError(ErrorCode.invalidInput, `model ${model} cannot be written in CPUID.1:EAX for family ${family} (0 to ${usesExtModel ? 255 : 15})`);
  }
  return ((extFamily << 20) | ((model >>> 4) << 16) | (baseFamily << 8) | ((model & 0xf) << 4) | (stepping & 0xf)) >>> 0;
}

/** A string packed into little-endian registers, NUL-padded to `registers` × 4 bytes. */
function packText(text: string, registers: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < registers; r++) {
    let value = 0;
    for (let i = 0; i < 4; i++) value |= (text.charCodeAt(r * 4 + i) || 0) << (i * 8);
    out.push(value >>> 0);
  }
  return out;
}

/** Limits that cover every leaf the flags and the table use, so nothing falls off the dump. */
function limitsFor(table: readonly CpuidFeature[], brand: boolean): CpuidLimits {
  const basic = table.filter((f) => !isExtended(f.leaf)).map((f) => f.leaf);
  const extended = table.filter((f) => isExtended(f.leaf)).map((f) => f.leaf);
  const leaf7 = table.filter((f) => f.leaf === 7).map((f) => f.subleaf);
  return {
    maxLeaf: Math.max(1, ...basic),
    maxExtendedLeaf: Math.max(brand ? 0x80000004 : EXTENDED, ...extended),
    maxLeaf7Subleaf: Math.max(0, ...leaf7),
  };
}

/**
 * A dump whose decode gives these flags, vendor, family and model back: a CPU described as
 * the answers it would give. Flags that are no CPUID bit of the table (Linux's synthetic
 * constant_tsc, rep_good, ...) have no place in a dump and are left out. Rejects
 * (INVALID_INPUT) a vendor that is not 12 ASCII characters or a family/model CPUID cannot hold.
 */
export function encodeCpuid(
  flags: Iterable<string>,
  vendor: string,
  family: number,
  model: number,
  options: { readonly brand?: string; readonly stepping?: number; readonly source?: string } = {},
  table: readonly CpuidFeature[] = CPUID_FEATURES,
): CpuidDump {
  if (!/^[\x20-\x7e]{12}$/.test(vendor)) {
    throw new FerryError(ErrorCode.invalidInput, `vendor "${vendor}" is not a CPUID vendor string (12 ASCII characters, like GenuineIntel)`);
  }
  if (options.brand !== undefined && !/^[\x20-\x7e]{0,47}$/.test(options.brand)) {
    throw new FerryError(ErrorCode.invalidInput, `brand "${options.brand}" does not fit CPUID's brand string (up to 47 ASCII characters)`);
  }
  const kind = vendorKindOf(vendor);
  const limits = limitsFor(table, options.brand !== undefined);
  const leaves = new Map(cpuidQueries(limits, table).map((q) => [key(q.leaf, q.subleaf), mutableLeaf(q.leaf, q.subleaf)]));
  const at = (leaf: number, subleaf = 0): ReturnType<typeof mutableLeaf> => {
    const found = leaves.get(key(leaf, subleaf));
    if (found === undefined) throw new FerryError(ErrorCode.internal, `encodeCpuid: leaf 0x${leaf.toString(16)}.${subleaf} is missing from its own plan`);
    return found;
  };
  const [ebx, edx, ecx] = packText(vendor, 3);
  Object.assign(at(0), { eax: limits.maxLeaf, ebx, ecx, edx });
  at(1).eax = encodeSignature(family, model, kind, options.stepping ?? 0);
  if (limits.maxLeaf >= 7) at(7).eax = limits.maxLeaf7Subleaf;
  at(EXTENDED).eax = limits.maxExtendedLeaf;
  if (options.brand !== undefined) {
    const packed = packText(options.brand, 12);
    [0x80000002, 0x80000003, 0x80000004].forEach((leaf, i) => Object.assign(at(leaf), { eax: packed[i * 4], ebx: packed[i * 4 + 1], ecx: packed[i * 4 + 2], edx: packed[i * 4 + 3] }));
  }
  const wanted = new Set(flags);
  for (const f of featuresFor(kind, table)) {
    if (!wanted.has(f.name)) continue;
    const answer = at(f.leaf, f.subleaf);
    answer[f.register] = (answer[f.register] | (1 << f.bit)) >>> 0;
  }
  return { source: options.source ?? `encoded: ${vendor} family ${family} model ${model}`, leaves: [...leaves.values()] };
}

// ---- dump files -------------------------------------------------------------------------------

/** A 32-bit register as a number or a hex string ("0x000306c3"), as people write dumps. */
const register32 = z.union(
  [
    z.number().int().min(0).max(0xffffffff),
    z
      .string()
      .regex(/^0x[0-9a-f]{1,8}$/i)
      .transform((s) => Number.parseInt(s.slice(2), 16)),
  ],
  { error: "expected a 32-bit number or a hex string like 0x000306c3" },
);

export const CpuidLeafSchema = z
  .object({ leaf: register32, subleaf: register32.default(0), eax: register32, ebx: register32, ecx: register32, edx: register32 })
  .strict();

/** A CPUID dump file: what `ferry host cpuid --json` saves as `dump`, or a hand-written one. */
export const CpuidDumpSchema = z
  .object({ source: z.string().min(1), leaves: z.array(CpuidLeafSchema).min(1) })
  .strict()
  .superRefine((dump, ctx) => {
    const seen = new Set<string>();
    dump.leaves.forEach((l, i) => {
      const k = key(l.leaf, l.subleaf);
      if (seen.has(k)) ctx.addIssue({ code: "custom", path: ["leaves", i], message: `leaf 0x${l.leaf.toString(16)}.${l.subleaf} appears twice` });
      seen.add(k);
    });
    for (const leaf of [0, 1]) {
      if (!seen.has(key(leaf, 0))) ctx.addIssue({ code: "custom", path: ["leaves"], message: `leaf ${leaf} is missing: a CPU description needs leaves 0 and 1` });
    }
  });

/** A JSON path as people read it: `dump.leaves[3].eax`. */
export function issuePath(root: string, path: readonly PropertyKey[]): string {
  return [root, ...path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))].join("");
}

/** The dump in `value`, or INVALID_INPUT in one line naming the file and the field. */
export function parseCpuidDump(value: unknown, file: string, root = "dump"): CpuidDump {
  const parsed = CpuidDumpSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new FerryError(ErrorCode.invalidInput, `${file}: ${issuePath(root, issue?.path ?? [])}: ${issue?.message ?? "is not a CPUID dump"}`, {
    details: parsed.error.issues,
  });
}

// ---- showing and comparing -------------------------------------------------------------------

const hex32 = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, "0")}`;

/** The dump's answers in hex, one line a leaf, in leaf order: `0x00000007.0: eax=… ebx=… ecx=… edx=…`. */
export function formatRawCpuid(dump: CpuidDump): string {
  return [...dump.leaves]
    .sort((a, b) => a.leaf - b.leaf || a.subleaf - b.subleaf)
    .map((l) => `${hex32(l.leaf)}.${l.subleaf.toString(16)}: eax=${hex32(l.eax)} ebx=${hex32(l.ebx)} ecx=${hex32(l.ecx)} edx=${hex32(l.edx)}`)
    .join("\n");
}

/** Where a feature lives, the way Intel's manuals write it: `CPUID.(EAX=07H,ECX=0):EDX[26]`. */
export function featureLocation(f: Pick<CpuidFeature, "leaf" | "subleaf" | "register" | "bit">): string {
  return `CPUID.(EAX=${f.leaf.toString(16).toUpperCase().padStart(2, "0")}H,ECX=${f.subleaf}):${f.register.toUpperCase()}[${f.bit}]`;
}

export const DumpSide = { a: "a", b: "b" } as const;
export type DumpSide = (typeof DumpSide)[keyof typeof DumpSide];

/** A table feature one CPU has and the other lacks. */
export interface CpuidDifference {
  readonly name: string;
  readonly label: string;
  /** `CPUID.(EAX=07H,ECX=0):EDX[26]`. */
  readonly location: string;
  /** The side whose CPU has it. */
  readonly side: DumpSide;
  /** Whether a guest can see it (so it matters for moving a running VM). */
  readonly guest: boolean;
  /** Whether /proc/cpuinfo would show it. */
  readonly procCpuinfo: boolean;
}

/** The table's features that differ between two dumps, in table order, each with the side that has it. */
export function compareDumps(a: CpuidDump, b: CpuidDump, table: readonly CpuidFeature[] = CPUID_FEATURES): CpuidDifference[] {
  const inA = new Set(decodeCpuid(a, {}, table).flags);
  const inB = new Set(decodeCpuid(b, {}, table).flags);
  const out: CpuidDifference[] = [];
  const seen = new Set<string>();
  for (const f of table) {
    if (seen.has(f.name) || inA.has(f.name) === inB.has(f.name)) continue;
    seen.add(f.name);
    out.push({ name: f.name, label: f.label, location: featureLocation(f), side: inA.has(f.name) ? DumpSide.a : DumpSide.b, guest: f.guest, procCpuinfo: f.procCpuinfo });
  }
  return out;
}

/** The table's features among `flags` that /proc/cpuinfo does not show, in table order. */
export function hiddenFromProcCpuinfo(flags: Iterable<string>, table: readonly CpuidFeature[] = CPUID_FEATURES): CpuidFeature[] {
  const have = new Set(flags);
  const seen = new Set<string>();
  return table.filter((f) => {
    if (f.procCpuinfo || !have.has(f.name) || seen.has(f.name)) return false;
    seen.add(f.name);
    return true;
  });
}

/** Every table feature /proc/cpuinfo never shows: what a host read that way cannot express. */
export function invisibleInProcCpuinfo(table: readonly CpuidFeature[] = CPUID_FEATURES): CpuidFeature[] {
  return hiddenFromProcCpuinfo(
    table.map((f) => f.name),
    table,
  );
}

/** A feature's label by flag name, from the table; the name itself when the table has none. */
export function cpuidFeatureLabel(name: string, table: readonly CpuidFeature[] = CPUID_FEATURES): string {
  return table.find((f) => f.name === name)?.label ?? name;
}
