// Joins the facts of cpuid-bits.json with Ferry's notes (src/core/cpu/feature-notes.ts) into
// the CPUID feature table, and renders it as src/core/cpu/feature-table.generated.ts. Pure:
// generate-feature-table.ts does the file I/O, the drift test calls renderFeatureTable too.
import type { CpuidFeature } from "../../src/core/cpu/cpuid-types.ts";
import type { FeatureNote } from "../../src/core/cpu/feature-notes.ts";
import { bitPosition, compareBits, ferryName, type CpuidBitsFile } from "./upstream.ts";

export class FeatureTableError extends Error {
  override readonly name = "FeatureTableError";
}

/**
 * The table: one feature per bit of `facts`, except the names of `leftOut`. Throws (one line)
 * on a bit without a note, a note without a bit, two bits of one name, a host-only note without
 * its reason, or a `requires` naming a flag the table lacks.
 */
export function buildFeatures(
  facts: CpuidBitsFile,
  notes: Readonly<Record<string, FeatureNote>>,
  leftOut: Readonly<Record<string, string>>,
): CpuidFeature[] {
  const features: CpuidFeature[] = [];
  const seen = new Map<string, string>();
  for (const bit of [...facts.bits].sort(compareBits)) {
    const name = ferryName(bit);
    const where = bitPosition(bit);
    if (name === "") throw new FeatureTableError(`bit ${where} has no name in either source`);
    const before = seen.get(name);
    if (before !== undefined) throw new FeatureTableError(`bits ${before} and ${where} are both named ${name}`);
    seen.set(name, where);
    if (Object.hasOwn(leftOut, name)) continue;
    const note = Object.hasOwn(notes, name) ? notes[name] : undefined;
    if (note === undefined || note.label === "") throw new FeatureTableError(`bit ${where} (${name}) has no label: add it to src/core/cpu/feature-notes.ts`);
    if (note.guest === false && (note.why ?? "") === "") throw new FeatureTableError(`${name} is guest: false without a why`);
    features.push({
      name,
      leaf: bit.leaf,
      subleaf: bit.subleaf,
      register: bit.register,
      bit: bit.bit,
      // A bit KVM alone names carries KVM's macro (X86_FEATURE_AVX_VNNI_INT8 is a Linux macro too);
      // not invtsc, which KVM calls CONSTANT_TSC after a wider flag of Linux's own.
      linux: bit.linux ?? (bit.qemu === null ? bit.kvm : null) ?? undefined,
      procCpuinfo: bit.procCpuinfo === name,
      qemu: bit.qemu ?? undefined,
      label: note.label,
      vendors: note.vendors,
      guest: note.guest ?? true,
      requires: note.requires ?? [],
    });
  }
  const names = new Set(features.map((f) => f.name));
  for (const feature of features) {
    const unknown = feature.requires.find((req) => !names.has(req));
    if (unknown !== undefined) throw new FeatureTableError(`${feature.name} requires ${unknown}, which is not a flag of the table`);
  }
  const stale = Object.keys(notes).find((name) => !seen.has(name));
  if (stale !== undefined) throw new FeatureTableError(`feature-notes.ts has a note for ${stale}, which is no bit of cpuid-bits.json`);
  const staleLeftOut = Object.keys(leftOut).find((name) => !seen.has(name));
  if (staleLeftOut !== undefined) throw new FeatureTableError(`LEFT_OUT names ${staleLeftOut}, which is no bit of cpuid-bits.json`);
  return features;
}

const str = (value: string | undefined): string => (value === undefined ? "undefined" : JSON.stringify(value));
const list = (values: readonly string[]): string => `[${values.map((v) => JSON.stringify(v)).join(", ")}]`;
const hex = (n: number): string => `0x${n.toString(16)}`;

function renderFeature(f: CpuidFeature): string {
  return (
    `  { name: ${str(f.name)}, leaf: ${hex(f.leaf)}, subleaf: ${f.subleaf}, register: ${str(f.register)}, bit: ${f.bit}, ` +
    `linux: ${str(f.linux)}, procCpuinfo: ${f.procCpuinfo}, qemu: ${str(f.qemu)}, label: ${str(f.label)}, ` +
    `vendors: ${list(f.vendors)}, guest: ${f.guest}, requires: ${list(f.requires)} },`
  );
}

/** The text of feature-table.generated.ts. */
export function renderFeatureTable(facts: CpuidBitsFile, features: readonly CpuidFeature[]): string {
  const { linux, qemu, kvm } = facts.sources;
  return [
    "// Generated, do not edit; regenerate with npm run generate:cpu (scripts/cpu/generate-feature-table.ts).",
    "// Facts from src/core/cpu/cpuid-bits.json, read by scripts/cpu/extract-upstream.ts from:",
    `//   ${linux.repo} ${linux.path} at ${linux.commit}`,
    `//   ${qemu.repo} ${qemu.path} at ${qemu.commit}`,
    `//   ${kvm.repo} ${kvm.path} at ${kvm.commit}`,
    "// Labels, vendors, prerequisites and host-only bits from src/core/cpu/feature-notes.ts.",
    'import type { CpuidFeature } from "./cpuid-types.ts";',
    "",
    "/** Every CPUID feature bit Ferry knows, by leaf, subleaf, register and bit. */",
    "export const CPUID_FEATURES: readonly CpuidFeature[] = [",
    ...features.map(renderFeature),
    "];",
    "",
  ].join("\n");
}
