// When to stop pre-copying. After each pass the source knows how much is left and how fast
// the link and the guest are; it switches over when the rest fits in the downtime limit.
// Past the caps (passes, traffic), auto-converge throttles the guest in steps, as QEMU's
// `auto-converge` capability does (cpu-throttle-initial 20, cpu-throttle-increment 10, up
// to 99); without it, the migration fails and the VM stays on the source.
import type { MigrateOptions } from "./types.ts";

export interface PassStats {
  /** The pass just finished, 1-based. */
  readonly pass: number;
  readonly memoryBytes: number;
  /** Bytes sent so far, all passes. */
  readonly bytesSentTotal: number;
  /** Bytes dirtied since the pass started: what the next pass (or switchover) must send. */
  readonly remainingBytes: number;
  readonly linkRateBytesPerSec: number;
  readonly dirtyRateBytesPerSec: number;
  /** Current throttle of the guest, percent (0 = none). */
  readonly throttlePercent: number;
}

export type ConvergenceDecision =
  | { readonly action: "switchover"; readonly expectedDowntimeMs: number }
  | { readonly action: "continue"; readonly expectedDowntimeMs: number }
  | { readonly action: "throttle"; readonly throttlePercent: number; readonly expectedDowntimeMs: number }
  | { readonly action: "fail"; readonly message: string; readonly expectedDowntimeMs: number };

export const THROTTLE_INITIAL = 20;
export const THROTTLE_INCREMENT = 10;
export const THROTTLE_MAX = 99;

/** Time to send `bytes` at `rate`, in ms; infinite when the rate is zero. */
export function transferMs(bytes: number, rateBytesPerSec: number): number {
  if (bytes <= 0) return 0;
  return rateBytesPerSec > 0 ? (bytes / rateBytesPerSec) * 1000 : Number.POSITIVE_INFINITY;
}

/** ">" in the usual case; "≈" when the guest dirties about as fast as the link sends (what remains stays put); "<" when it shrinks too slowly. */
function compare(dirty: number, link: number): string {
  if (link > 0 && Math.abs(dirty - link) / link < 0.05) return "≈";
  return dirty > link ? ">" : "<";
}

function mbps(bytesPerSec: number): string {
  return `${((bytesPerSec * 8) / 1e6).toFixed(0)} Mb/s`;
}

export function decideAfterPass(stats: PassStats, options: MigrateOptions): ConvergenceDecision {
  const expectedDowntimeMs = transferMs(stats.remainingBytes, stats.linkRateBytesPerSec);
  if (expectedDowntimeMs <= options.downtimeLimitMs) return { action: "switchover", expectedDowntimeMs };
  const overPasses = stats.pass >= options.maxPasses;
  const overTraffic = stats.bytesSentTotal >= options.maxTrafficFactor * stats.memoryBytes;
  if (!overPasses && !overTraffic) return { action: "continue", expectedDowntimeMs };
  if (options.autoConverge && stats.throttlePercent < THROTTLE_MAX) {
    const next = stats.throttlePercent === 0 ? THROTTLE_INITIAL : Math.min(THROTTLE_MAX, stats.throttlePercent + THROTTLE_INCREMENT);
    return { action: "throttle", throttlePercent: next, expectedDowntimeMs };
  }
  const cap = overPasses ? `${options.maxPasses} passes` : `${options.maxTrafficFactor}x the VM's memory sent`;
  const throttled = stats.throttlePercent > 0 ? ` even with the guest throttled to ${stats.throttlePercent}%` : "";
  return {
    action: "fail",
    message: `not converging: dirty rate ${mbps(stats.dirtyRateBytesPerSec)} ${compare(stats.dirtyRateBytesPerSec, stats.linkRateBytesPerSec)} link rate ${mbps(stats.linkRateBytesPerSec)}${throttled}; after ${cap}, ${(stats.remainingBytes / 1048576).toFixed(1)} MiB still dirty would take ${Math.round(expectedDowntimeMs)} ms to send, over the ${Number(options.downtimeLimitMs.toFixed(1))} ms downtime limit`,
    expectedDowntimeMs,
  };
}
