// Which migrations may start now, and why the others wait: vCenter's concurrency limits for
// VMotion. vSphere counts each migration against both its hosts — at most 4 concurrent
// migrations per host whose VMotion NIC runs at 1 Gb/s, 8 at 10 Gb/s and faster — and against
// each datastore it touches, at most 128 ("Limits on Simultaneous Migrations", vSphere
// documentation). Migrations past a limit are never rejected: they wait, in arrival order,
// each with a sentence saying which limit holds it.
import type { PhysicalNic, VSwitch } from "../inventory/schema.ts";
import type { Priority } from "./types.ts";

export interface AdmissionLimits {
  /** Concurrent migrations per host on a VMotion NIC below 10 Gb/s. */
  readonly perHostSlowNic: number;
  /** Concurrent migrations per host on a VMotion NIC of 10 Gb/s or more. */
  readonly perHostFastNic: number;
  /** The NIC speed from which the higher limit applies, Mb/s. */
  readonly fastNicMbps: number;
  /** Concurrent migrations touching one datastore. */
  readonly perDatastore: number;
}

export const VCENTER_LIMITS: AdmissionLimits = { perHostSlowNic: 4, perHostFastNic: 8, fastNicMbps: 10_000, perDatastore: 128 };

/** A migration as admission sees it: where it runs, nothing else. */
export interface AdmissionRequest {
  readonly migrationId: string;
  readonly source: string;
  readonly destination: string;
  /** Datastores the migration touches (the VM's files), each counted once. */
  readonly datastores?: readonly string[] | undefined;
  readonly priority?: Priority | undefined;
}

export interface AdmissionInput {
  readonly running: readonly AdmissionRequest[];
  /** In arrival order: earlier ones get free slots first. */
  readonly waiting: readonly AdmissionRequest[];
  /** The speed of each host's VMotion NIC in Mb/s; undefined when not known. */
  readonly vmotionNicMbps: (host: string) => number | undefined;
  readonly limits?: AdmissionLimits | undefined;
}

export const BlockKind = { host: "host", datastore: "datastore" } as const;
export type BlockKind = (typeof BlockKind)[keyof typeof BlockKind];

/** The limit that holds a waiting migration. */
export interface AdmissionBlock {
  readonly kind: BlockKind;
  readonly name: string;
  /** Migrations counted against it, including those admitted in this same decision. */
  readonly count: number;
  readonly limit: number;
}

export interface WaitingMigration {
  readonly migrationId: string;
  /** One sentence: "esx01 runs 4 migrations, the limit on a 1 Gb/s VMotion NIC". */
  readonly reason: string;
  readonly blockedBy: AdmissionBlock;
}

export interface AdmissionDecision {
  /** Migrations to start now, in arrival order. */
  readonly start: readonly string[];
  readonly waiting: readonly WaitingMigration[];
}

function speedWords(mbps: number): string {
  return mbps >= 1000 && mbps % 1000 === 0 ? `${mbps / 1000} Gb/s` : mbps >= 1000 ? `${(mbps / 1000).toFixed(1)} Gb/s` : `${mbps} Mb/s`;
}

/** The concurrent-migration limit of a host and the words that explain it. */
export function hostLimit(nicMbps: number | undefined, limits: AdmissionLimits = VCENTER_LIMITS): { readonly limit: number; readonly because: string } {
  if (nicMbps === undefined) return { limit: limits.perHostSlowNic, because: "the limit when the VMotion NIC's speed is not known" };
  const limit = nicMbps >= limits.fastNicMbps ? limits.perHostFastNic : limits.perHostSlowNic;
  return { limit, because: `the limit on a ${speedWords(nicMbps)} VMotion NIC` };
}

/**
 * The speed of a host's VMotion link: the fastest uplink of the vSwitch holding its first
 * VMotion-enabled VMkernel port (the checker reads the same link). Undefined when the host
 * has no such port or the vSwitch no uplink.
 */
export function vmotionNicMbps(host: { readonly nics: readonly PhysicalNic[]; readonly vswitches: readonly VSwitch[] }): number | undefined {
  const vswitch = host.vswitches.find((v) => v.vmkernelPorts.some((p) => p.vmotion));
  if (vswitch === undefined) return undefined;
  const speeds = vswitch.uplinks.flatMap((u) => host.nics.filter((n) => n.name === u).map((n) => n.speedMbps));
  return speeds.length === 0 ? undefined : Math.max(...speeds);
}

/** The hosts a migration counts against: its source and destination, once each. */
function hostsOf(m: AdmissionRequest): string[] {
  return m.source === m.destination ? [m.source] : [m.source, m.destination];
}

function datastoresOf(m: AdmissionRequest): string[] {
  return [...new Set(m.datastores ?? [])];
}

const plural = (n: number): string => `${n} migration${n === 1 ? "" : "s"}`;

export function admit(input: AdmissionInput): AdmissionDecision {
  const limits = input.limits ?? VCENTER_LIMITS;
  const perHost = new Map<string, number>();
  const perDatastore = new Map<string, number>();
  const count = (m: AdmissionRequest): void => {
    for (const h of hostsOf(m)) perHost.set(h, (perHost.get(h) ?? 0) + 1);
    for (const d of datastoresOf(m)) perDatastore.set(d, (perDatastore.get(d) ?? 0) + 1);
  };
  for (const m of input.running) count(m);

  const start: string[] = [];
  const waiting: WaitingMigration[] = [];
  for (const m of input.waiting) {
    const block = blockOf(m);
    if (block === undefined) {
      start.push(m.migrationId);
      count(m);
    } else {
      waiting.push({ migrationId: m.migrationId, ...block });
    }
  }
  return { start, waiting };

  function blockOf(m: AdmissionRequest): { reason: string; blockedBy: AdmissionBlock } | undefined {
    for (const h of hostsOf(m)) {
      const { limit, because } = hostLimit(input.vmotionNicMbps(h), limits);
      const n = perHost.get(h) ?? 0;
      if (n >= limit) return { reason: `${h} runs ${plural(n)}, ${because}`, blockedBy: { kind: BlockKind.host, name: h, count: n, limit } };
    }
    for (const d of datastoresOf(m)) {
      const n = perDatastore.get(d) ?? 0;
      if (n >= limits.perDatastore) {
        return { reason: `datastore ${d} has ${plural(n)} in flight, the limit per datastore`, blockedBy: { kind: BlockKind.datastore, name: d, count: n, limit: limits.perDatastore } };
      }
    }
    return undefined;
  }
}
