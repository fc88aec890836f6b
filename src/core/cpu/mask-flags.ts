// The custom flags of a CPUID mask must be features Ferry knows a guest can see, named as in
// /proc/cpuinfo: a misspelt flag ("avx3") would hide nothing and leave the operator believing
// the guest lost a feature it still has. The known names are the generated feature table's
// guest bits (features.ts); a refusal suggests the nearest of them.
import { ErrorCode, FerryError } from "../errors.ts";
import type { CpuidMask } from "../inventory/schema.ts";
import { CPU_FEATURES, featureByName } from "./features.ts";

/** Guest-visible flag names, the ones a mask's custom list may name. */
export const GUEST_FLAG_NAMES: readonly string[] = CPU_FEATURES.map((feature) => feature.flag);
const known = new Set(GUEST_FLAG_NAMES);

/** A custom flag Ferry cannot hide, with why and the known names nearest to it. */
export interface UnknownMaskFlag {
  readonly flag: string;
  /** `hostOnly`: a real CPUID bit, but one a guest never sees (vmx, hypervisor...); `unknown`: no such flag. */
  readonly kind: "unknown" | "hostOnly";
  readonly suggestions: readonly string[];
}

/** Levenshtein distance, capped: names further apart than `cap` are not suggestions anyway. */
function distance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) > cap) return cap + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((previous[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost));
    }
    previous = row;
  }
  return previous[b.length] ?? cap + 1;
}

/** The known names nearest to `flag` (at most three: within two edits, or starting with it). */
export function suggestFlags(flag: string): string[] {
  const scored = GUEST_FLAG_NAMES.map((name) => ({ name, d: distance(flag, name, 2) - (name.startsWith(flag) && flag.length >= 3 ? 1 : 0) }))
    .filter((s) => s.d <= 2)
    .sort((x, y) => x.d - y.d || Math.abs(x.name.length - flag.length) - Math.abs(y.name.length - flag.length) || x.name.localeCompare(y.name));
  return scored.slice(0, 3).map((s) => s.name);
}

/** The custom flags of a mask that are not guest-visible CPUID features, each with suggestions. */
export function unknownMaskFlags(custom: readonly string[]): UnknownMaskFlag[] {
  return custom.filter((flag) => !known.has(flag)).map((flag) => ({ flag, kind: featureByName(flag) === undefined ? "unknown" : "hostOnly", suggestions: suggestFlags(flag) }));
}

/** One sentence for a list of refused flags, as the API and both mask editors say it. */
export function unknownFlagsMessage(unknown: readonly UnknownMaskFlag[]): string {
  return unknown
    .map((u) => {
      const what = u.kind === "hostOnly" ? `"${u.flag}" is a host-only CPUID bit a guest never sees, so a mask cannot hide it` : `"${u.flag}" is not a CPUID flag Ferry knows`;
      return u.suggestions.length === 0 ? `${what} (names as in /proc/cpuinfo)` : `${what}: did you mean ${u.suggestions.join(", ")}?`;
    })
    .join("; ");
}

/** Refuses a mask naming custom flags a guest cannot see, with the nearest known names. */
export function checkMaskFlags(mask: CpuidMask | null | undefined): void {
  if (mask === null || mask === undefined) return;
  const unknown = unknownMaskFlags(mask.custom);
  if (unknown.length > 0) throw new FerryError(ErrorCode.invalidInput, unknownFlagsMessage(unknown), { details: { unknownFlags: unknown } });
}
