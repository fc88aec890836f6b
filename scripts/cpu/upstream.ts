// Reads the facts of Ferry's CPUID feature table out of three upstream sources: Linux's
// arch/x86/include/asm/cpufeatures.h (X86_FEATURE_ macros, and the names /proc/cpuinfo shows),
// QEMU's target/i386/cpu.c (feature_word_info[]: the `-cpu` property names) and Linux's
// arch/x86/kvm/reverse_cpuid.h (the bits KVM names itself: leaves cpufeatures.h has no word for,
// such as 7.1 EDX, and bits Linux keeps in a word of its own). Pure: text in, facts out;
// extract-upstream.ts does the file I/O. Only names and bit positions are kept.
import type { CpuidRegister } from "../../src/core/cpu/cpuid-types.ts";

/** One CPUID bit as the sources know it: what cpuid-bits.json holds. */
export interface CpuidBitFacts {
  readonly leaf: number;
  readonly subleaf: number;
  readonly register: CpuidRegister;
  readonly bit: number;
  /** X86_FEATURE_ suffix, or null when Linux has no macro for this bit. */
  readonly linux: string | null;
  /** The /proc/cpuinfo name; null when Linux hides it or has no macro. */
  readonly procCpuinfo: string | null;
  /** QEMU's property name, or null. */
  readonly qemu: string | null;
  /** The suffix of KVM's macro for this bit in reverse_cpuid.h (X86_FEATURE_ or KVM_X86_FEATURE_), or null. */
  readonly kvm: string | null;
}

export interface UpstreamSource {
  readonly repo: string;
  readonly path: string;
  readonly commit: string;
}

/** The FACTS file, src/core/cpu/cpuid-bits.json. */
export interface CpuidBitsFile {
  readonly comment: string;
  readonly sources: { readonly linux: UpstreamSource; readonly qemu: UpstreamSource; readonly kvm: UpstreamSource };
  readonly bits: readonly CpuidBitFacts[];
}

/** A register of one CPUID leaf/subleaf. */
export interface CpuidWord {
  readonly leaf: number;
  readonly subleaf: number;
  readonly register: CpuidRegister;
}

/**
 * The words Ferry's table covers: those whose bits a guest may use (instructions, MSRs,
 * mitigations) or that say whether a host can run guests (VT-x/AMD-V and SVM's sub-features).
 */
export const COVERED_WORDS: readonly CpuidWord[] = [
  { leaf: 0x1, subleaf: 0, register: "ecx" },
  { leaf: 0x1, subleaf: 0, register: "edx" },
  { leaf: 0x6, subleaf: 0, register: "eax" },
  { leaf: 0x7, subleaf: 0, register: "ebx" },
  { leaf: 0x7, subleaf: 0, register: "ecx" },
  { leaf: 0x7, subleaf: 0, register: "edx" },
  { leaf: 0x7, subleaf: 1, register: "eax" },
  { leaf: 0x7, subleaf: 1, register: "edx" },
  { leaf: 0x7, subleaf: 2, register: "edx" },
  { leaf: 0xd, subleaf: 1, register: "eax" },
  { leaf: 0x14, subleaf: 0, register: "ecx" },
  { leaf: 0x19, subleaf: 0, register: "ebx" },
  { leaf: 0x80000001, subleaf: 0, register: "ecx" },
  { leaf: 0x80000001, subleaf: 0, register: "edx" },
  { leaf: 0x80000007, subleaf: 0, register: "edx" },
  { leaf: 0x80000008, subleaf: 0, register: "ebx" },
  { leaf: 0x8000000a, subleaf: 0, register: "edx" },
  { leaf: 0x80000021, subleaf: 0, register: "eax" },
];

/**
 * Linux's capability words that are CPUID registers of a covered leaf (cpufeatures.h numbers
 * them; its section comments say which leaf each is). The other words are Linux's own
 * (synthetic: 3, 7, 8, 11, 21), other vendors' (2 Transmeta, 5 VIA) or uncovered leaves
 * (17: 0x80000007 EBX, RAS; 19: 0x8000001F, memory encryption of the host).
 */
export const LINUX_WORDS: ReadonlyMap<number, CpuidWord> = new Map([
  [0, { leaf: 0x1, subleaf: 0, register: "edx" }],
  [1, { leaf: 0x80000001, subleaf: 0, register: "edx" }],
  [4, { leaf: 0x1, subleaf: 0, register: "ecx" }],
  [6, { leaf: 0x80000001, subleaf: 0, register: "ecx" }],
  [9, { leaf: 0x7, subleaf: 0, register: "ebx" }],
  [10, { leaf: 0xd, subleaf: 1, register: "eax" }],
  [12, { leaf: 0x7, subleaf: 1, register: "eax" }],
  [13, { leaf: 0x80000008, subleaf: 0, register: "ebx" }],
  [14, { leaf: 0x6, subleaf: 0, register: "eax" }],
  [15, { leaf: 0x8000000a, subleaf: 0, register: "edx" }],
  [16, { leaf: 0x7, subleaf: 0, register: "ecx" }],
  [18, { leaf: 0x7, subleaf: 0, register: "edx" }],
  [20, { leaf: 0x80000021, subleaf: 0, register: "eax" }],
] as const);

export class UpstreamParseError extends Error {
  override readonly name = "UpstreamParseError";
}

/** One X86_FEATURE_ macro of a covered word. */
export interface LinuxBit extends CpuidWord {
  readonly bit: number;
  readonly linux: string;
  readonly procCpuinfo: string | null;
}

// `#define X86_FEATURE_XMM3 ( 4*32+ 0) /* "pni" SSE-3 */`. Spaces vary (`(21*32 + 5)`).
const DEFINE = /^#define\s+X86_FEATURE_(\w+)\s+\(\s*(\d+)\s*\*\s*32\s*\+\s*(\d+)\s*\)\s*(?:\/\*(.*?)(?:\*\/|$))?/;
// A section comment that names the word's leaf: `CPUID level 0x00000007:0 (EBX), word 9`.
const SECTION = /CPUID level (0x[0-9a-fA-F]+)\b.*\bword (\d+)/;

/**
 * The covered bits of a cpufeatures.h. A comment starting with a quoted string names the bit in
 * /proc/cpuinfo ("" hides it); otherwise /proc/cpuinfo shows the macro's suffix in lower case
 * (the rule the file states at its top, up to Linux 6.10). Throws on a section comment whose
 * leaf contradicts LINUX_WORDS, or on two macros for one bit.
 */
export function parseLinuxCpufeatures(text: string): LinuxBit[] {
  const out = new Map<string, LinuxBit>();
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    const section = SECTION.exec(line);
    if (section !== null && line.startsWith("/*")) checkSection(Number(section[2]), Number.parseInt(section[1] ?? "", 16), index + 1);
    const match = DEFINE.exec(line);
    if (match === null) continue;
    const [, name = "", wordText = "", bitText = "", comment = ""] = match;
    const word = LINUX_WORDS.get(Number(wordText));
    if (word === undefined) continue;
    const bit = Number(bitText);
    if (bit > 31) throw new UpstreamParseError(`line ${index + 1}: X86_FEATURE_${name} has bit ${bit}, past 31`);
    const quoted = /^\s*"([^"]*)"/.exec(comment);
    const shown = quoted === null ? name.toLowerCase() : (quoted[1] ?? "");
    const key = `${word.leaf}.${word.subleaf}.${word.register}.${bit}`;
    const before = out.get(key);
    if (before !== undefined) throw new UpstreamParseError(`line ${index + 1}: X86_FEATURE_${name} and X86_FEATURE_${before.linux} share bit ${bit} of word ${wordText}`);
    out.set(key, { ...word, bit, linux: name, procCpuinfo: shown === "" ? null : shown });
  }
  return [...out.values()];
}

function checkSection(word: number, leaf: number, line: number): void {
  const known = LINUX_WORDS.get(word);
  if (known !== undefined && known.leaf !== leaf) {
    throw new UpstreamParseError(`line ${line}: word ${word} is CPUID leaf 0x${leaf.toString(16)}, not 0x${known.leaf.toString(16)} as Ferry maps it`);
  }
}

/** One named bit of QEMU's feature_word_info[]. */
export interface QemuBit extends CpuidWord {
  readonly bit: number;
  readonly qemu: string;
}

const REGISTERS: Readonly<Record<string, CpuidRegister>> = { R_EAX: "eax", R_EBX: "ebx", R_ECX: "ecx", R_EDX: "edx" };

/**
 * The CPUID feature words of QEMU's feature_word_info[] (MSR words are skipped): each
 * `[FEAT_x] = { ... .feat_names = { "a", NULL, ... }, .cpuid = { .eax = LEAF, .ecx = SUB, .reg = R_X } }`.
 * Words whose leaf is a symbol (KVM_CPUID_FEATURES) are skipped too: they are no CPU's.
 */
export function parseQemuFeatureWords(text: string): QemuBit[] {
  const start = text.indexOf("feature_word_info[");
  if (start < 0) throw new UpstreamParseError("no feature_word_info[] in the QEMU file");
  const body = stripComments(text.slice(start));
  const out: QemuBit[] = [];
  const entry = /\[(FEAT_\w+)\]\s*=\s*\{/g;
  const starts = [...body.matchAll(entry)];
  for (const [i, m] of starts.entries()) {
    const block = body.slice(m.index, starts[i + 1]?.index ?? body.length);
    if (/\.type\s*=\s*MSR_FEATURE_WORD/.test(block)) continue;
    const word = qemuWord(block, m[1] ?? "");
    if (word === undefined) continue;
    for (const [bit, name] of featNames(block, m[1] ?? "").entries()) {
      if (name !== null) out.push({ ...word, bit, qemu: name });
    }
  }
  return out;
}

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/[^\n]*/g, "");
}

function qemuWord(block: string, feat: string): CpuidWord | undefined {
  const cpuid = /\.cpuid\s*=\s*\{([^}]*)\}/.exec(block)?.[1];
  if (cpuid === undefined) return undefined;
  const leafText = /\.eax\s*=\s*(\w+)/.exec(cpuid)?.[1] ?? "";
  if (!/^(0x[0-9a-fA-F]+|\d+)$/.test(leafText)) return undefined;
  const register = REGISTERS[/\.reg\s*=\s*(R_E[ABCD]X)/.exec(cpuid)?.[1] ?? ""];
  if (register === undefined) throw new UpstreamParseError(`${feat}: .cpuid has no .reg = R_E?X`);
  const subleafText = /\.ecx\s*=\s*(0x[0-9a-fA-F]+|\d+)/.exec(cpuid)?.[1];
  return { leaf: Number(leafText), subleaf: subleafText === undefined ? 0 : Number(subleafText), register };
}

function featNames(block: string, feat: string): (string | null)[] {
  const list = /\.feat_names\s*=\s*\{([^}]*)\}/.exec(block)?.[1];
  if (list === undefined) return [];
  const names: (string | null)[] = [];
  for (const token of list.split(",").map((t) => t.trim()).filter((t) => t !== "")) {
    const designated = /^\[(\d+)\]\s*=\s*(.*)$/.exec(token);
    const value = designated?.[2] ?? token;
    const index = designated === null ? names.length : Number(designated[1]);
    if (value === "NULL") names[index] = null;
    else if (/^"[^"]*"$/.test(value)) names[index] = value.slice(1, -1);
    else throw new UpstreamParseError(`${feat}: .feat_names entry ${JSON.stringify(token)} is neither a string nor NULL`);
  }
  if (names.length > 32) throw new UpstreamParseError(`${feat}: ${names.length} names for a 32-bit register`);
  return Array.from({ length: names.length }, (_, i) => names[i] ?? null);
}

const wordKey = (w: CpuidWord): string => `${w.leaf}.${w.subleaf}.${w.register}`;

/** One bit KVM names in reverse_cpuid.h. */
export interface KvmBit extends CpuidWord {
  readonly bit: number;
  readonly kvm: string;
}

// `[CPUID_7_1_EDX]       = {         7, 1, CPUID_EDX},`: KVM's word -> (leaf, subleaf, register).
const KVM_WORD = /\[(CPUID_\w+)\]\s*=\s*\{\s*(0x[0-9a-fA-F]+|\d+)\s*,\s*(0x[0-9a-fA-F]+|\d+)\s*,\s*CPUID_(E[ABCD]X)\s*\}/g;
// `#define X86_FEATURE_AVX_VNNI_INT8 KVM_X86_FEATURE(CPUID_7_1_EDX, 4)`, and the KVM_X86_FEATURE_
// form KVM gives a bit cpufeatures.h keeps in a Linux-defined word (CONSTANT_TSC, SGX1).
const KVM_DEFINE = /^#define\s+(?:KVM_)?X86_FEATURE_(\w+)\s+KVM_X86_FEATURE\(\s*(CPUID_\w+)\s*,\s*(\d+)\s*\)/;

/**
 * Every bit KVM's reverse_cpuid.h names with KVM_X86_FEATURE(word, bit), placed by the file's
 * own reverse_cpuid[] table of words (mergeBits keeps the covered ones). Throws when the file has
 * no reverse_cpuid[] table, a macro uses a word the table lacks, a bit is past 31, or two macros
 * name one bit.
 */
export function parseKvmReverseCpuid(text: string): KvmBit[] {
  const words = new Map<string, CpuidWord>();
  for (const m of stripComments(text).matchAll(KVM_WORD)) {
    const register = REGISTERS[`R_${m[4] ?? ""}`];
    if (register !== undefined) words.set(m[1] ?? "", { leaf: Number(m[2]), subleaf: Number(m[3]), register });
  }
  if (words.size === 0) throw new UpstreamParseError("no reverse_cpuid[] table of CPUID words in the KVM file");
  const out = new Map<string, KvmBit>();
  for (const [index, raw] of text.split("\n").entries()) {
    const match = KVM_DEFINE.exec(raw.trim());
    if (match === null) continue;
    const [, name = "", wordName = "", bitText = ""] = match;
    const word = words.get(wordName);
    if (word === undefined) throw new UpstreamParseError(`line ${index + 1}: ${name} uses ${wordName}, which reverse_cpuid[] does not map to a CPUID leaf`);
    const bit = Number(bitText);
    if (bit > 31) throw new UpstreamParseError(`line ${index + 1}: ${name} has bit ${bit}, past 31`);
    const key = `${wordKey(word)}.${bit}`;
    const before = out.get(key);
    if (before !== undefined) throw new UpstreamParseError(`line ${index + 1}: ${name} and ${before.kvm} share bit ${bit} of ${wordName}`);
    out.set(key, { ...word, bit, kvm: name });
  }
  return [...out.values()];
}

const coveredKeys = new Set(COVERED_WORDS.map(wordKey));

/** Whether a (leaf, subleaf, register) is one of Ferry's covered words. */
export function isCoveredWord(word: CpuidWord): boolean {
  return coveredKeys.has(wordKey(word));
}

const registerOrder: Readonly<Record<CpuidRegister, number>> = { eax: 0, ebx: 1, ecx: 2, edx: 3 };

/** Orders bits by leaf, subleaf, register (eax..edx), bit: the table's order. */
export function compareBits(a: CpuidWord & { bit: number }, b: CpuidWord & { bit: number }): number {
  return a.leaf - b.leaf || a.subleaf - b.subleaf || registerOrder[a.register] - registerOrder[b.register] || a.bit - b.bit;
}

/** Joins the sources' bits of the covered words, one entry per bit, in table order. */
export function mergeBits(linux: readonly LinuxBit[], qemu: readonly QemuBit[], kvm: readonly KvmBit[]): CpuidBitFacts[] {
  const merged = new Map<string, CpuidBitFacts>();
  const blank = (w: CpuidWord, bit: number): CpuidBitFacts => ({ leaf: w.leaf, subleaf: w.subleaf, register: w.register, bit, linux: null, procCpuinfo: null, qemu: null, kvm: null });
  for (const l of linux.filter(isCoveredWord)) {
    merged.set(`${wordKey(l)}.${l.bit}`, { ...blank(l, l.bit), linux: l.linux, procCpuinfo: l.procCpuinfo });
  }
  for (const q of qemu.filter(isCoveredWord)) {
    const key = `${wordKey(q)}.${q.bit}`;
    merged.set(key, { ...(merged.get(key) ?? blank(q, q.bit)), qemu: q.qemu });
  }
  for (const k of kvm.filter(isCoveredWord)) {
    const key = `${wordKey(k)}.${k.bit}`;
    merged.set(key, { ...(merged.get(key) ?? blank(k, k.bit)), kvm: k.kvm });
  }
  return [...merged.values()].sort(compareBits);
}

/**
 * The table name of a bit (see CpuidFeature.name): /proc/cpuinfo's, else Linux's macro, else
 * QEMU's, else KVM's macro. QEMU's name comes before KVM's so that a flag keeps the name it had:
 * KVM calls 0x80000007.edx[8] CONSTANT_TSC after the Linux flag it feeds, Ferry calls it invtsc.
 */
export function ferryName(bit: CpuidBitFacts): string {
  if (bit.procCpuinfo !== null) return bit.procCpuinfo;
  if (bit.linux !== null) return bit.linux.toLowerCase();
  if (bit.qemu !== null) return bit.qemu.replaceAll("-", "_").replaceAll(".", "_");
  return (bit.kvm ?? "").toLowerCase();
}

/** `0x80000001.ecx[3]`, how docs and errors name a bit's position. */
export function bitPosition(bit: CpuidWord & { bit: number }): string {
  const leaf = `0x${bit.leaf.toString(16)}`;
  return `${leaf}${bit.subleaf === 0 ? "" : `.${bit.subleaf}`}.${bit.register}[${bit.bit}]`;
}
