// Host-to-host CPU comparison: the seed's cupid.iso procedure ("boot each host from the
// cupid CD and compare the output") as a function. For each direction it answers the
// question VMotion asks: can a guest that booted on the source keep running on the
// destination, and if not, which CPUID mask (the seed's Figure 9.33/9.34) would let it.
import type { Cpu, CpuidMask } from "../inventory/schema.ts";
import { CPU_FEATURES, MASK_PRESETS, isGuestFeature, maskFor, maskedFlags, withDependents } from "./features.ts";

/** Why a guest cannot move in one direction. */
export const CpuBlockerKind = {
  /** Intel vs AMD: nothing fixes it, neither a mask nor a baseline. */
  vendor: "vendor",
  /** Different CPU family: a mask cannot hide it; a named baseline of the same vendor can. */
  family: "family",
  /** The guest saw features the destination lacks: a mask fixes it. */
  features: "features",
} as const;
export type CpuBlockerKind = (typeof CpuBlockerKind)[keyof typeof CpuBlockerKind];

export interface CpuBlocker {
  readonly kind: CpuBlockerKind;
  readonly message: string;
  /** For `features`: the features the destination lacks. */
  readonly flags: readonly string[];
}

/** One direction of a comparison: a guest booted on `from` moving to `to`. */
export interface CpuMove {
  readonly from: "a" | "b";
  readonly to: "a" | "b";
  /** The guest can move as it is, without a mask. */
  readonly ok: boolean;
  readonly blockers: readonly CpuBlocker[];
  /** Guest-visible features the source offers and the destination lacks. */
  readonly missing: readonly string[];
  /** Whether a CPUID mask alone makes the move possible (false on a vendor or family mismatch). */
  readonly fixableByMask: boolean;
  /** The smallest mask that hides every missing feature; undefined when the move is ok or a mask cannot help. */
  readonly mask: CpuidMask | undefined;
  /**
   * What a guest booted under `mask` no longer sees: the masked features and everything that
   * depends on them, limited to what the source offers. Empty without a mask.
   */
  readonly lost: readonly string[];
  /** Things that do not block the move but deserve a look (hardware virtualization disabled). */
  readonly warnings: readonly string[];
}

export interface CpuComparison {
  readonly sameVendor: boolean;
  readonly sameFamily: boolean;
  /** Guest-visible features both offer. */
  readonly common: readonly string[];
  /** Guest-visible features only A offers. */
  readonly onlyInA: readonly string[];
  /** Guest-visible features only B offers. */
  readonly onlyInB: readonly string[];
  readonly aToB: CpuMove;
  readonly bToA: CpuMove;
}

const catalogueOrder = new Map(CPU_FEATURES.map((feature, index) => [feature.flag, index]));

/** Flags in the feature catalogue's order (roughly by age: sse before sse2 before pni), unknown ones last by name. */
export function sortFeatures(flags: Iterable<string>): string[] {
  return [...new Set(flags)].sort((x, y) => {
    const ix = catalogueOrder.get(x) ?? Number.MAX_SAFE_INTEGER;
    const iy = catalogueOrder.get(y) ?? Number.MAX_SAFE_INTEGER;
    return ix !== iy ? ix - iy : x.localeCompare(y);
  });
}

/** The guest-visible features of a CPU (host-only flags such as vmx or constant_tsc dropped). */
export function guestFeatures(cpu: Pick<Cpu, "flags">): Set<string> {
  return new Set(cpu.flags.filter(isGuestFeature));
}

/**
 * The mask a VM needs so that none of `missing` is visible, hiding no more than that.
 * Hiding a feature also hides what depends on it (withDependents), so only the "roots" of
 * `missing` are named. A preset (nx, sse3, sse4) is used when it hides nothing beyond what
 * must go anyway; otherwise the flag goes into `custom`. Example: a destination without
 * SSE4.2 but with SSE4.1 gets `custom: ["sse4_2"]`, not the sse4 preset, which would also
 * take SSE4.1 away from the guest.
 */
export function maskHiding(missing: Iterable<string>, offered: ReadonlySet<string>): CpuidMask {
  const wanted = new Set(missing);
  const roots = [...wanted].filter((flag) => {
    const others = [...wanted].filter((other) => other !== flag);
    return !withDependents(others).has(flag);
  });
  const mustGo = withDependents(roots);
  const costless = (preset: readonly string[]): boolean =>
    [...withDependents(preset)].every((flag) => !offered.has(flag) || mustGo.has(flag));

  const mask: CpuidMask = { nx: false, sse3: false, sse4: false, custom: [] };
  for (const flag of sortFeatures(roots)) {
    const setting = maskFor(flag);
    switch (setting) {
      case "nx":
      case "sse3":
      case "sse4":
        if (costless(MASK_PRESETS[setting])) {
          mask[setting] = true;
          break;
        }
        mask.custom.push(flag);
        break;
      case "custom":
        mask.custom.push(flag);
        break;
    }
  }
  return mask;
}

/** A mask in the words of the VM's settings: "hide NX/XD (nx), mask SSE3 (sse3)". */
export function describeMask(mask: CpuidMask): string {
  const parts: string[] = [];
  if (mask.nx) parts.push("hide NX/XD (nx)");
  if (mask.sse3) parts.push("mask SSE3 (sse3)");
  if (mask.sse4) parts.push("mask SSE4.1/4.2 (sse4)");
  if (mask.custom.length > 0) parts.push(`hide ${mask.custom.join(" ")} (custom)`);
  return parts.join(", ");
}

/** Whether a mask hides nothing. */
export function isEmptyMask(mask: CpuidMask | undefined): boolean {
  return mask === undefined || (!mask.nx && !mask.sse3 && !mask.sse4 && mask.custom.length === 0);
}

function describeCpu(cpu: Cpu): string {
  return `${cpu.vendor} family ${cpu.family}`;
}

function move(from: "a" | "b", to: "a" | "b", source: Cpu, destination: Cpu): CpuMove {
  const offered = guestFeatures(source);
  const available = guestFeatures(destination);
  const missing = sortFeatures([...offered].filter((flag) => !available.has(flag)));
  const blockers: CpuBlocker[] = [];
  const sameVendor = source.vendor === destination.vendor;
  const sameFamily = source.family === destination.family;

  if (!sameVendor) {
    blockers.push({
      kind: CpuBlockerKind.vendor,
      message: `the source is ${source.vendor} and the destination ${destination.vendor}: a running guest cannot change CPU vendor, and neither a CPUID mask nor a baseline crosses vendors; power the VM off to move it`,
      flags: [],
    });
  } else if (!sameFamily) {
    blockers.push({
      kind: CpuBlockerKind.family,
      message: `the source is ${describeCpu(source)} and the destination ${describeCpu(destination)}: a CPUID mask cannot hide the family; a cluster baseline (a named model of the same vendor) shows the guest one family on every host`,
      flags: [],
    });
  }
  if (missing.length > 0) {
    blockers.push({
      kind: CpuBlockerKind.features,
      message: `the guest may use ${missing.length === 1 ? "a feature" : `${missing.length} features`} the destination lacks: ${missing.join(" ")}`,
      flags: missing,
    });
  }

  const fixableByMask = sameVendor && sameFamily;
  const mask = missing.length > 0 && fixableByMask ? maskHiding(missing, offered) : undefined;
  const hidden = maskedFlags(mask);
  const lost = sortFeatures([...offered].filter((flag) => hidden.has(flag)));

  // The seed: "For 64-bit virtual machines, CPUs must have virtualization technology
  // enabled". Without the VM's guest bits this can only be a warning here.
  const warnings: string[] = [];
  if (!destination.virtualization) {
    warnings.push("the destination has hardware virtualization (Intel VT / AMD-V) disabled or absent: 64-bit guests cannot run there");
  }

  return { from, to, ok: blockers.length === 0, blockers, missing, fixableByMask, mask, lost, warnings };
}

/** Compares two host CPUs as VMotion would, both ways. */
export function compareCpus(a: Cpu, b: Cpu): CpuComparison {
  const inA = guestFeatures(a);
  const inB = guestFeatures(b);
  return {
    sameVendor: a.vendor === b.vendor,
    sameFamily: a.family === b.family,
    common: sortFeatures([...inA].filter((flag) => inB.has(flag))),
    onlyInA: sortFeatures([...inA].filter((flag) => !inB.has(flag))),
    onlyInB: sortFeatures([...inB].filter((flag) => !inA.has(flag))),
    aToB: move("a", "b", a, b),
    bToA: move("b", "a", b, a),
  };
}
