// The CPU a guest sees. The seed's point: the guest detected its processor when it booted
// and a migration does not reboot it, so what must exist on the destination is what the
// guest saw at boot, not what its current host has now.
//
// The family rule under a baseline (vSphere's EVC): a baseline shows the guest one CPU, the
// model's family included, on every host that can present it, so between two such hosts the
// family check does not apply. It applies again as soon as one of the two hosts cannot present
// the baseline (lacks a feature the guest sees under it): that host would give the guest its
// own CPU, family included. Here the current host's side is decided (`baselineLacks`, and then
// `family` is the host's); rules/cpu.ts decides the destination's.
import type { CpuidMask, Host, Template, Vm, Cluster } from "../inventory/schema.ts";
import { isGuestFeature, isPresentable, maskedFlags } from "./features.ts";
import { baselineKey, resolveBaseline, type ResolvedBaseline } from "./models.ts";

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
  /**
   * The family the family check compares: the one the guest detected at boot; undefined under
   * a baseline its current host can present, which replaces the family check.
   */
  readonly family: number | undefined;
  /** The current host's family (under a baseline too: the destination side of the family rule needs it). */
  readonly hostFamily: number | undefined;
  /**
   * Under a baseline: the features the guest sees under it that its current host lacks, so that
   * host cannot present the baseline (and the baseline does not replace the family check).
   * Undefined when there is no baseline or the host is unknown; empty when the host presents it.
   */
  readonly baselineLacks: { readonly host: string; readonly flags: readonly string[] } | undefined;
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
    const flags = minus(guestOnly(baseline.flags), hidden);
    const hostHas = new Set(host?.cpu.flags ?? []);
    const lacks = host === undefined ? undefined : { host: host.name, flags: [...flags].filter((flag) => !hostHas.has(flag)).sort() };
    const presented = lacks === undefined || lacks.flags.length === 0;
    return {
      ok: true,
      cpu: {
        vendor: baseline.vendor,
        family: presented ? undefined : host?.cpu.family,
        hostFamily: host?.cpu.family,
        baselineLacks: lacks,
        source: GuestCpuSource.baseline,
        baseline,
        baselineOwner,
        flags,
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
        hostFamily: host?.cpu.family,
        baselineLacks: undefined,
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
      hostFamily: host?.cpu.family,
      baselineLacks: undefined,
      source: GuestCpuSource.host,
      baseline: undefined,
      baselineOwner: undefined,
      // What a guest booted there sees: the host's guest features QEMU can be asked to show.
      flags: minus(new Set((host?.cpu.flags ?? []).filter(isPresentable)), hidden),
      mask,
      maskOwner,
      maskPending: new Set(),
    },
  };
}

/**
 * Everything of a guest CPU the CPU rules read, as a string: equal strings, equal verdicts on
 * any destination. The baseline counts by content (baselineKey); its name is there only because
 * the findings' words quote it.
 */
export function guestCpuKey(cpu: GuestCpu): string {
  return [
    cpu.vendor,
    cpu.family ?? "",
    cpu.hostFamily ?? "",
    cpu.baseline === undefined ? "" : `${baselineKey(cpu.baseline)}|${cpu.baseline.name}`,
    cpu.baselineLacks === undefined ? "" : `${cpu.baselineLacks.host}:${cpu.baselineLacks.flags.join(" ")}`,
    cpu.source,
    [...cpu.flags].sort().join(" "),
    [...cpu.maskPending].sort().join(" "),
  ].join("|");
}
