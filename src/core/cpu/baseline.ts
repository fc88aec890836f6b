// The EVC decision: which CPU baseline a cluster's hosts can all present to their guests.
// Like vSphere's EVC, Ferry picks the newest named model every host supports, so a guest
// booted anywhere in the cluster sees the same CPU and can move anywhere in it. Like EVC,
// a baseline never crosses vendors. Unlike EVC, Ferry also reports the raw intersection of
// the hosts' features, usable as a custom baseline when no named model fits.
import type { Cpu, CpuBaseline } from "../inventory/schema.ts";
import { ErrorCode, FerryError } from "../errors.ts";
import { guestFeatures, sortFeatures } from "./compare.ts";
import { isGuestFeature } from "./features.ts";
import { CPU_MODELS, customBaseline, highestModelFor, hostSupportsBaseline, modelBaseline, modelsOfVendor, resolveBaseline, sameBaseline, type CpuModel, type ResolvedBaseline } from "./models.ts";

export interface HostCpu {
  readonly name: string;
  readonly cpu: Cpu;
}

/** Why no named model fits a cluster. */
export const NoBaselineReason = {
  noHosts: "no-hosts",
  mixedVendors: "mixed-vendors",
  /** A vendor Ferry has no named models for. */
  unknownVendor: "unknown-vendor",
  /** Same vendor, but some host lacks a feature of even the oldest model. */
  noModelFits: "no-model-fits",
} as const;
export type NoBaselineReason = (typeof NoBaselineReason)[keyof typeof NoBaselineReason];

export interface HostUnderBaseline {
  readonly name: string;
  readonly vendor: string;
  readonly family: number;
  /** The newest model this host alone could present. */
  readonly highestModel: string | undefined;
  /** Guest-visible features this host has that the cluster's baseline hides from guests. */
  readonly givesUp: readonly string[];
}

/** The next model up from the chosen one (or the oldest when none fits), and which hosts keep the cluster from it. */
export interface NextModel {
  readonly model: string;
  readonly blockedBy: readonly { readonly host: string; readonly missing: readonly string[] }[];
}

export interface ClusterBaselineReport {
  /** The newest named model every host supports; undefined when none does (see `reason`). */
  readonly model: CpuModel | undefined;
  readonly reason: { readonly code: NoBaselineReason; readonly message: string } | undefined;
  /**
   * The baseline guests would see: the model, or with one vendor and no model, the
   * intersection as a custom baseline. Undefined with no hosts or mixed vendors.
   */
  readonly baseline: ResolvedBaseline | undefined;
  /** Guest-visible features every host has, whatever the vendors. */
  readonly intersection: readonly string[];
  /** The one vendor of all hosts; undefined when mixed or empty. */
  readonly vendor: string | undefined;
  readonly hosts: readonly HostUnderBaseline[];
  readonly next: NextModel | undefined;
}

function intersect(hosts: readonly HostCpu[]): Set<string> {
  const [first, ...rest] = hosts;
  if (first === undefined) return new Set();
  const out = guestFeatures(first.cpu);
  for (const host of rest) {
    const have = guestFeatures(host.cpu);
    for (const flag of out) if (!have.has(flag)) out.delete(flag);
  }
  return out;
}

/** Guest-visible features in `guestFlags` that `baseline` does not offer, in catalogue order. */
export function featuresLostUnderBaseline(guestFlags: ReadonlySet<string>, baseline: ResolvedBaseline): string[] {
  return sortFeatures([...guestFlags].filter((flag) => isGuestFeature(flag) && !baseline.flags.has(flag)));
}

function vendorList(hosts: readonly HostCpu[]): string {
  const byVendor = new Map<string, string[]>();
  for (const host of hosts) {
    const names = byVendor.get(host.cpu.vendor) ?? [];
    names.push(host.name);
    byVendor.set(host.cpu.vendor, names);
  }
  return [...byVendor].map(([vendor, names]) => `${vendor} (${names.join(", ")})`).join(" and ");
}

function blockedBy(hosts: readonly HostCpu[], model: CpuModel): NextModel {
  const baseline = modelBaseline(model);
  const blocked = hosts
    .map((host) => ({ host: host.name, missing: sortFeatures(hostSupportsBaseline(host.cpu, baseline).missing) }))
    .filter((entry) => entry.missing.length > 0);
  return { model: model.name, blockedBy: blocked };
}

/** The EVC decision for a set of hosts. */
export function clusterBaseline(hosts: readonly HostCpu[]): ClusterBaselineReport {
  const intersection = sortFeatures(intersect(hosts));
  const vendors = new Set(hosts.map((host) => host.cpu.vendor));
  const [onlyVendor] = vendors;
  const vendor = vendors.size === 1 ? onlyVendor : undefined;
  const describe = (baseline: ResolvedBaseline | undefined) =>
    hosts.map((host): HostUnderBaseline => ({
      name: host.name,
      vendor: host.cpu.vendor,
      family: host.cpu.family,
      highestModel: highestModelFor(host.cpu)?.name,
      givesUp: baseline === undefined ? [] : featuresLostUnderBaseline(guestFeatures(host.cpu), baseline),
    }));

  if (hosts.length === 0) {
    return {
      model: undefined,
      reason: { code: NoBaselineReason.noHosts, message: "there are no hosts to take a baseline of" },
      baseline: undefined,
      intersection,
      vendor: undefined,
      hosts: [],
      next: undefined,
    };
  }
  if (vendor === undefined) {
    return {
      model: undefined,
      reason: {
        code: NoBaselineReason.mixedVendors,
        message: `the hosts mix CPU vendors, ${vendorList(hosts)}: no baseline crosses vendors, so guests cannot move between them while running`,
      },
      baseline: undefined,
      intersection,
      vendor: undefined,
      hosts: describe(undefined),
      next: undefined,
    };
  }

  const custom = customBaseline(vendor, intersection);
  const models = modelsOfVendor(vendor);
  const oldest = models[0];
  if (oldest === undefined) {
    return {
      model: undefined,
      reason: {
        code: NoBaselineReason.unknownVendor,
        message: `Ferry has no named CPU models for vendor ${vendor}; the features all hosts share can serve as a custom baseline`,
      },
      baseline: custom,
      intersection,
      vendor,
      hosts: describe(custom),
      next: undefined,
    };
  }

  let chosen: CpuModel | undefined;
  let chosenIndex = -1;
  for (const [index, model] of models.entries()) {
    const baseline = modelBaseline(model);
    if (hosts.every((host) => hostSupportsBaseline(host.cpu, baseline).ok)) {
      chosen = model;
      chosenIndex = index;
    }
  }
  const nextModel = models[chosenIndex + 1];
  const next = nextModel === undefined ? undefined : blockedBy(hosts, nextModel);

  if (chosen === undefined) {
    const first = blockedBy(hosts, oldest).blockedBy[0];
    const why = first === undefined ? "" : `: even ${oldest.name} needs ${first.missing.join(" ")} on ${first.host}`;
    return {
      model: undefined,
      reason: {
        code: NoBaselineReason.noModelFits,
        message: `no named model fits every host${why}; the features all hosts share can serve as a custom baseline`,
      },
      baseline: custom,
      intersection,
      vendor,
      hosts: describe(custom),
      next,
    };
  }

  const baseline = modelBaseline(chosen);
  return { model: chosen, reason: undefined, baseline, intersection, vendor, hosts: describe(baseline), next };
}

/** What changing a cluster's hosts does to its baseline. */
export interface BaselineChange {
  readonly before: ClusterBaselineReport;
  readonly after: ClusterBaselineReport;
  /** The named model (or its absence) differs. */
  readonly modelChanged: boolean;
  /** The CPU guests would see differs: another vendor or other features (sameBaseline), whatever the names. */
  readonly baselineChanged: boolean;
  /** Features guests of the cluster would gain, and lose, going from the old baseline to the new. */
  readonly gained: readonly string[];
  readonly lost: readonly string[];
}

export interface HostChange {
  /** Hosts to add. */
  readonly add?: readonly HostCpu[];
  /** Names of hosts to remove. */
  readonly remove?: readonly string[];
}

/**
 * The baseline before and after adding or removing hosts: what vSphere's EVC asks before
 * a host joins ("this host cannot run at the cluster's EVC mode") and what retiring the
 * oldest host would let the cluster gain. Throws notFound for a host to remove that is not
 * there and invalidInput for a host to add whose name is taken.
 */
export function baselineWhatIf(hosts: readonly HostCpu[], change: HostChange): BaselineChange {
  const names = new Set(hosts.map((host) => host.name));
  for (const name of change.remove ?? []) {
    if (!names.has(name)) throw new FerryError(ErrorCode.notFound, `there is no host named ${name} to remove`);
  }
  const removed = new Set(change.remove ?? []);
  for (const host of change.add ?? []) {
    if (names.has(host.name) && !removed.has(host.name)) {
      throw new FerryError(ErrorCode.invalidInput, `a host named ${host.name} is already in the cluster`);
    }
  }
  const afterHosts = [...hosts.filter((host) => !removed.has(host.name)), ...(change.add ?? [])];
  const before = clusterBaseline(hosts);
  const after = clusterBaseline(afterHosts);
  const was = before.baseline?.flags ?? new Set<string>();
  const now = after.baseline?.flags ?? new Set<string>();
  return {
    before,
    after,
    modelChanged: before.model?.name !== after.model?.name,
    baselineChanged:
      before.baseline === undefined || after.baseline === undefined
        ? before.baseline !== after.baseline
        : !sameBaseline(before.baseline, after.baseline),
    gained: sortFeatures([...now].filter((flag) => !was.has(flag))),
    lost: sortFeatures([...was].filter((flag) => !now.has(flag))),
  };
}

/** One host measured against a configured baseline. */
export interface HostBaselineFit {
  readonly name: string;
  readonly ok: boolean;
  readonly vendorMismatch: boolean;
  /** Baseline features the host lacks. */
  readonly missing: readonly string[];
  /** Guest-visible features the host has that the baseline hides. */
  readonly givesUp: readonly string[];
}

export type BaselineCheck =
  | { readonly ok: true; readonly baseline: ResolvedBaseline; readonly hosts: readonly HostBaselineFit[] }
  | { readonly ok: false; readonly unknownModel: string; readonly known: readonly string[] };

/**
 * A cluster's configured baseline (inventory `clusters[].baseline`) against its hosts: which
 * hosts cannot present it and what each gives up. `ok: false` only for a model name Ferry
 * does not know; hosts that do not fit are listed with `ok: false` each.
 */
export function checkBaseline(hosts: readonly HostCpu[], baseline: CpuBaseline): BaselineCheck {
  const resolved = resolveBaseline(baseline);
  if (resolved === undefined) {
    return { ok: false, unknownModel: baseline.model ?? "", known: CPU_MODELS.map((model) => model.name) };
  }
  return {
    ok: true,
    baseline: resolved,
    hosts: hosts.map((host) => {
      const fit = hostSupportsBaseline(host.cpu, resolved);
      return {
        name: host.name,
        ok: fit.ok,
        vendorMismatch: fit.vendorMismatch,
        missing: sortFeatures(fit.missing),
        givesUp: featuresLostUnderBaseline(guestFeatures(host.cpu), resolved),
      };
    }),
  };
}
