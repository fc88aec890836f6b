// The CPU a guest sees. The seed's point: the guest detected its processor when it booted
// and a migration does not reboot it, so what must exist on the destination is what the
// guest saw at boot, not what its current host has now.
import type { CpuidMask, Host, Template, Vm, Cluster } from "../inventory/schema.ts";
import { isGuestFeature, maskedFlags } from "./features.ts";
import { resolveBaseline, type ResolvedBaseline } from "./models.ts";

export const GuestCpuSource = {
  /** A VM or cluster baseline (EVC): the guest sees the baseline's features. */
  baseline: "baseline",
  /** The features the VM recorded when it powered on. */
  boot: "boot",
  /** Unknown boot features: the current host's, minus the mask. */
  host: "host",
} as const;
export type GuestCpuSource = (typeof GuestCpuSource)[keyof typeof GuestCpuSource];

export interface GuestCpu {
  readonly vendor: string;
  /** The family the guest detected; undefined under a baseline, which replaces the family check. */
  readonly family: number | undefined;
  readonly source: GuestCpuSource;
  readonly baseline: ResolvedBaseline | undefined;
  /** Where the baseline comes from, for messages. */
  readonly baselineOwner: { readonly kind: "vm" | "cluster"; readonly name: string } | undefined;
  /** Guest-visible features the guest may use, after its mask. */
  readonly flags: ReadonlySet<string>;
  /** The mask in force and where it comes from (the VM itself or its template). */
  readonly mask: CpuidMask | undefined;
  readonly maskOwner: { readonly kind: "vm" | "template"; readonly name: string } | undefined;
  /**
   * Flags the current mask hides but the guest still sees, because the mask was set after
   * the guest booted: a new mask reaches the guest only after a power cycle.
   */
  readonly maskPending: ReadonlySet<string>;
}

export type GuestCpuResult =
  | { readonly ok: true; readonly cpu: GuestCpu }
  | { readonly ok: false; readonly unknownModel: string; readonly owner: { readonly kind: "vm" | "cluster"; readonly name: string } };

/** The mask in force: the VM's own, else its template's (a VM deployed from a template takes its mask). */
export function effectiveMask(
  vm: Pick<Vm, "name" | "cpuidMask"> & { readonly template?: string | undefined },
  templates: ReadonlyMap<string, Template>,
): { mask: CpuidMask | undefined; owner: GuestCpu["maskOwner"] } {
  if (vm.cpuidMask !== undefined) return { mask: vm.cpuidMask, owner: { kind: "vm", name: vm.name } };
  const template = vm.template === undefined ? undefined : templates.get(vm.template);
  if (template?.cpuidMask !== undefined) return { mask: template.cpuidMask, owner: { kind: "template", name: template.name } };
  return { mask: undefined, owner: undefined };
}

function guestOnly(flags: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const flag of flags) if (isGuestFeature(flag)) out.add(flag);
  return out;
}

function minus(flags: ReadonlySet<string>, hidden: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const flag of flags) if (!hidden.has(flag)) out.add(flag);
  return out;
}

/**
 * What the guest of `vm` sees. `host` is the VM's current host (undefined if unknown),
 * `cluster` that host's cluster.
 */
export function guestCpu(
  vm: Vm,
  host: Host | undefined,
  cluster: Cluster | undefined,
  templates: ReadonlyMap<string, Template>,
): GuestCpuResult {
  const { mask, owner: maskOwner } = effectiveMask(vm, templates);
  const hidden = maskedFlags(mask);
  const baselineDef = vm.baseline ?? cluster?.baseline;
  const baselineOwner =
    vm.baseline !== undefined
      ? ({ kind: "vm", name: vm.name } as const)
      : cluster?.baseline !== undefined
        ? ({ kind: "cluster", name: cluster.name } as const)
        : undefined;

  if (baselineDef !== undefined && baselineOwner !== undefined) {
    const baseline = resolveBaseline(baselineDef);
    if (baseline === undefined) return { ok: false, unknownModel: baselineDef.model ?? "", owner: baselineOwner };
    return {
      ok: true,
      cpu: {
        vendor: baseline.vendor,
        family: undefined,
        source: GuestCpuSource.baseline,
        baseline,
        baselineOwner,
        flags: minus(guestOnly(baseline.flags), hidden),
        mask,
        maskOwner,
        maskPending: new Set(),
      },
    };
  }

  if (vm.bootFlags !== undefined) {
    // The guest saw exactly these at boot; a mask set since then is not in force yet.
    const seen = guestOnly(vm.bootFlags);
    const pending = new Set([...hidden].filter((flag) => seen.has(flag)));
    return {
      ok: true,
      cpu: {
        vendor: host?.cpu.vendor ?? "",
        family: host?.cpu.family,
        source: GuestCpuSource.boot,
        baseline: undefined,
        baselineOwner: undefined,
        flags: seen,
        mask,
        maskOwner,
        maskPending: pending,
      },
    };
  }

  return {
    ok: true,
    cpu: {
      vendor: host?.cpu.vendor ?? "",
      family: host?.cpu.family,
      source: GuestCpuSource.host,
      baseline: undefined,
      baselineOwner: undefined,
      flags: minus(guestOnly(host?.cpu.flags ?? []), hidden),
      mask,
      maskOwner,
      maskPending: new Set(),
    },
  };
}
