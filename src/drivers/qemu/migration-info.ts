// QEMU's view of a migration, from QMP `query-migrate` (qapi/migration.json, MigrationInfo and
// MigrationStats, QEMU 7.2), in Ferry's units, plus the arguments of the commands that
// configure a migration. Pure: the driver feeds it what QMP returned.

import { THROTTLE_INCREMENT, THROTTLE_INITIAL, THROTTLE_MAX } from "../../core/migration/convergence.ts";

/** qapi/migration.json MigrationStatus, QEMU 7.2. */
export const MigrationStatus = {
  none: "none",
  setup: "setup",
  cancelling: "cancelling",
  cancelled: "cancelled",
  active: "active",
  postcopyActive: "postcopy-active",
  postcopyPaused: "postcopy-paused",
  postcopyRecover: "postcopy-recover",
  completed: "completed",
  failed: "failed",
  colo: "colo",
  /** Waiting in the `pause-before-switchover` hook for `migrate-continue`. */
  preSwitchover: "pre-switchover",
  /** Copying device state after the guest stopped: the stop-and-copy. */
  device: "device",
  waitUnplug: "wait-unplug",
} as const;
export type MigrationStatus = (typeof MigrationStatus)[keyof typeof MigrationStatus];

const statuses = new Set<string>(Object.values(MigrationStatus));

/** One `query-migrate` answer. Absent counters are undefined, not 0: QEMU omits what it has not measured. */
export interface MigrationSample {
  readonly status: MigrationStatus;
  /** RAM bytes sent so far (MigrationStats.transferred). */
  readonly transferredBytes: number | undefined;
  /** RAM bytes still dirty (MigrationStats.remaining). */
  readonly remainingBytes: number | undefined;
  readonly totalBytes: number | undefined;
  /** Completed passes over dirty memory (MigrationStats.dirty-sync-count). */
  readonly dirtySyncCount: number | undefined;
  /** Pages sent whole (MigrationStats.normal). */
  readonly normalPages?: number | undefined;
  /** Pages found zero and sent as a marker (MigrationStats.duplicate). */
  readonly zeroPages?: number | undefined;
  readonly totalTimeMs: number | undefined;
  /** Only once completed. */
  readonly downtimeMs: number | undefined;
  readonly expectedDowntimeMs: number | undefined;
  readonly setupTimeMs: number | undefined;
  /** auto-converge's current throttle. */
  readonly cpuThrottlePercent: number | undefined;
  /** QEMU's reason when failed (`error-desc`). */
  readonly error: string | undefined;
  /** Pages the destination asked for during post-copy, one per fault (MigrationStats.postcopy-requests). */
  readonly postcopyRequests?: number | undefined;
  /** The destination's total vCPU time blocked on post-copy faults, ms (MigrationInfo.postcopy-blocktime, with the `postcopy-blocktime` capability). */
  readonly postcopyBlocktimeMs?: number | undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

function record(value: unknown): Readonly<Record<string, unknown>> {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/**
 * Parses a `query-migrate` return. QEMU answers `{}` before any migration (status none);
 * an unknown status (a newer QEMU) reads as `none` with the raw value in `error`.
 */
export function parseMigrationInfo(value: unknown): MigrationSample {
  const info = record(value);
  const ram = record(info["ram"]);
  const rawStatus = info["status"];
  const known = typeof rawStatus === "string" && statuses.has(rawStatus);
  const errorDesc = typeof info["error-desc"] === "string" ? info["error-desc"] : undefined;
  return {
    status: known ? (rawStatus as MigrationStatus) : MigrationStatus.none,
    transferredBytes: num(ram["transferred"]),
    remainingBytes: num(ram["remaining"]),
    totalBytes: num(ram["total"]),
    dirtySyncCount: num(ram["dirty-sync-count"]),
    normalPages: num(ram["normal"]),
    zeroPages: num(ram["duplicate"]),
    totalTimeMs: num(info["total-time"]),
    downtimeMs: num(info["downtime"]),
    expectedDowntimeMs: num(info["expected-downtime"]),
    setupTimeMs: num(info["setup-time"]),
    cpuThrottlePercent: num(info["cpu-throttle-percentage"]),
    error: errorDesc ?? (typeof rawStatus === "string" && !known ? `unknown migration status ${rawStatus}` : undefined),
    postcopyRequests: num(ram["postcopy-requests"]),
    postcopyBlocktimeMs: num(info["postcopy-blocktime"]),
  };
}

/**
 * Whether the sample is final. QEMU 7.2 may answer `completed` with total-time and downtime
 * still 0 for a moment (QEMU-NOTES trap 6): that is not final yet; query again.
 */
export function isFinal(sample: MigrationSample): boolean {
  switch (sample.status) {
    case MigrationStatus.completed:
      return (sample.totalTimeMs ?? 0) > 0;
    case MigrationStatus.failed:
    case MigrationStatus.cancelled:
      return true;
    case MigrationStatus.none:
    case MigrationStatus.setup:
    case MigrationStatus.cancelling:
    case MigrationStatus.active:
    case MigrationStatus.postcopyActive:
    case MigrationStatus.postcopyPaused:
    case MigrationStatus.postcopyRecover:
    case MigrationStatus.colo:
    case MigrationStatus.preSwitchover:
    case MigrationStatus.device:
    case MigrationStatus.waitUnplug:
      return false;
  }
}

export interface MigrationRates {
  /** Bytes per second sent between the samples. */
  readonly sentBytesPerSec: number;
  /**
   * Bytes per second the guest dirtied between the samples: what was remaining, less what
   * was sent, is what should remain; anything more was dirtied meanwhile.
   */
  readonly dirtiedBytesPerSec: number;
  /** Bytes per second `remaining` shrank; ≤ 0 means the migration is not converging. */
  readonly convergenceBytesPerSec: number;
}

/**
 * Rates from two samples `elapsedMs` apart. QEMU's own `dirty-pages-rate` stays 0 until a
 * dirty-sync period of at least 1 s has passed, and `expected-downtime` equals the downtime
 * limit until its first bandwidth estimate (QEMU-NOTES trap 7), so Ferry derives rates from
 * the `transferred` and `remaining` counters. Undefined when a counter is missing.
 */
export function migrationRates(before: MigrationSample, after: MigrationSample, elapsedMs: number): MigrationRates | undefined {
  if (elapsedMs <= 0) return undefined;
  const { transferredBytes: t0, remainingBytes: r0 } = before;
  const { transferredBytes: t1, remainingBytes: r1 } = after;
  if (t0 === undefined || r0 === undefined || t1 === undefined || r1 === undefined) return undefined;
  const seconds = elapsedMs / 1000;
  const sent = Math.max(0, t1 - t0);
  return {
    sentBytesPerSec: sent / seconds,
    dirtiedBytesPerSec: Math.max(0, r1 - (r0 - sent)) / seconds,
    convergenceBytesPerSec: (r0 - r1) / seconds,
  };
}

export interface MigrationSettings {
  /** `downtime-limit`, ms: the longest stop-and-copy QEMU aims for (at the start, when it steps). */
  readonly downtimeLimitMs: number;
  /** When set, the driver doubles `downtime-limit` at each dirty sync up to this, ms (qemuDowntimeStepMs); absent: it stays. */
  readonly downtimeTargetMs?: number | undefined;
  /** `max-bandwidth`, bytes per second; QEMU's default is 128 MiB/s (QEMU 7.2). */
  readonly maxBandwidthBytesPerSec: number;
  /** Throttle the guest's vCPUs when the copy cannot keep up (QEMU's `auto-converge`). */
  readonly autoConverge: boolean;
  /** Stop in `pre-switchover` for `migrate-continue` (adds its time to the downtime one for one). */
  readonly pauseBeforeSwitchover: boolean;
  /** `multifd` with this many `multifd-channels`; 0: one stream. Both ends must agree (tuning.ts). */
  readonly multifdChannels: number;
  /** `xbzrle` with this `xbzrle-cache-size` in bytes; 0: off. */
  readonly xbzrleCacheBytes: number;
  /** `postcopy-ram`: the source may switch to post-copy (its policy); QEMU 7.2 refuses it beside multifd. Absent: off. */
  readonly postcopy?: boolean | undefined;
}

/** QEMU 7.2's defaults for the parameters of a capability that is off: set anyway, since they stick (trap 5). */
const OFF_MULTIFD_CHANNELS = 2;
const OFF_XBZRLE_CACHE_BYTES = 64 * 1024 * 1024;

/**
 * The `migrate-set-capabilities` arguments. Capabilities stick to a QEMU process (trap 5),
 * so every one Ferry uses is set, on or off, before each migrate. `events` is always on:
 * MIGRATION and MIGRATION_PASS come only with it (trap 9).
 */
export function capabilityArguments(settings: MigrationSettings): { capabilities: { capability: string; state: boolean }[] } {
  return {
    capabilities: [
      { capability: "events", state: true },
      { capability: "auto-converge", state: settings.autoConverge },
      { capability: "pause-before-switchover", state: settings.pauseBeforeSwitchover },
      { capability: "multifd", state: settings.multifdChannels > 0 },
      { capability: "xbzrle", state: settings.xbzrleCacheBytes > 0 },
      // After multifd in the list: QEMU 7.2 checks the combination as a whole ("Postcopy is not yet compatible with multifd").
      { capability: "postcopy-ram", state: settings.postcopy === true },
    ],
  };
}

/**
 * The `migrate-set-parameters` arguments: set every time, for the same reason. auto-converge's
 * steps are Ferry's (src/core/migration/convergence.ts: 20%, then +10% up to 99%), so the
 * model's prediction and QEMU's throttle follow one rule.
 */
export function parameterArguments(settings: MigrationSettings): {
  "downtime-limit": number;
  "max-bandwidth": number;
  "cpu-throttle-initial": number;
  "cpu-throttle-increment": number;
  "max-cpu-throttle": number;
  "multifd-channels": number;
  "xbzrle-cache-size": number;
  "max-postcopy-bandwidth": number;
} {
  return {
    "downtime-limit": Math.max(1, Math.round(settings.downtimeLimitMs)),
    "max-bandwidth": Math.max(1, Math.round(settings.maxBandwidthBytesPerSec)),
    "cpu-throttle-initial": THROTTLE_INITIAL,
    "cpu-throttle-increment": THROTTLE_INCREMENT,
    "max-cpu-throttle": THROTTLE_MAX,
    "multifd-channels": settings.multifdChannels > 0 ? Math.round(settings.multifdChannels) : OFF_MULTIFD_CHANNELS,
    "xbzrle-cache-size": settings.xbzrleCacheBytes > 0 ? Math.round(settings.xbzrleCacheBytes) : OFF_XBZRLE_CACHE_BYTES,
    // QEMU 7.2 drops max-bandwidth at the switch to post-copy for this one (0: unlimited, its default): the request's cap holds for the whole move.
    "max-postcopy-bandwidth": settings.postcopy === true ? Math.max(1, Math.round(settings.maxBandwidthBytesPerSec)) : 0,
  };
}
