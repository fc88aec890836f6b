// Turns what a driver measures (phase, bytes sent and remaining, rates) into the progress
// events users see, on the seed's scale: preparing 0–10%, pre-copy 10–90%, switchover 90–100%.
//
// The one promise is that the percentage never goes backwards. Pre-copy makes that hard: the
// bytes left grow again at the start of every pass (what the guest dirtied meanwhile), so
// "sent / (sent + remaining)" drops each pass, which is exactly the jumping bar users of
// QEMU's `info migrate` learn to ignore. Here each pass gets a slice of what is left of the
// pre-copy range instead: pass k starts where pass k−1 got to and may go a share of the way to
// 90% that shrinks as the guest dirties faster relative to the link (the next passes will be
// larger then). So every pass moves the bar forward, by less and less, toward 90; 100 is shown
// only once the destination has confirmed.
import { transferMs } from "./convergence.ts";
import { DEFAULT_MIGRATE_OPTIONS, Phase, TERMINAL_PHASES, type MigrationProgress } from "./types.ts";

/** One raw reading from a driver. Everything but the phase and the time is optional. */
export interface ProgressSample {
  readonly phase: Phase;
  /**
   * How far the phase (preparing, switchover) or, in pre-copy, the current pass has got,
   * when the reporter knows it directly; otherwise it is derived from the bytes.
   */
  readonly fraction?: number | undefined;
  /** Pre-copy pass number, 1-based; omitted: the pass of the previous sample. */
  readonly pass?: number | undefined;
  /** Bytes sent so far, all passes. */
  readonly bytesSent?: number | undefined;
  /** Bytes still to send as far as the source knows now. */
  readonly bytesRemaining?: number | undefined;
  readonly dirtyRateBytesPerSec?: number | undefined;
  readonly linkRateBytesPerSec?: number | undefined;
  readonly throttlePercent?: number | undefined;
  /** decideAfterPass's estimate, when the reporter has one; else remaining / link rate. */
  readonly expectedDowntimeMs?: number | undefined;
  readonly message?: string | undefined;
  /**
   * The source passed its point of no return (the sim sent COMMIT, QEMU's stream is complete):
   * from here an abort cannot leave the VM on the source. Once given, every later event carries it.
   */
  readonly committed?: boolean | undefined;
  /** Milliseconds since the epoch. */
  readonly at: number;
}

/**
 * What a migration's source reports while it runs (the driver, relayed by its agent): the raw
 * figures of a ProgressSample with the migration named, and no percent or time left; the
 * engine's tracker computes those, in one place. `fraction` is given where only the source
 * knows how far a phase got (preparing's and switchover's steps); pre-copy's position comes
 * from the passes and bytes.
 */
export interface SourceProgress extends ProgressSample {
  readonly migrationId: string;
  readonly vm: string;
  readonly pass: number;
  readonly bytesSent: number;
  readonly bytesRemaining: number;
  readonly dirtyRateBytesPerSec: number;
  readonly linkRateBytesPerSec: number;
  readonly throttlePercent: number;
  readonly message: string;
}

export interface ProgressTrackerOptions {
  readonly migrationId: string;
  readonly vm: string;
  /** Used for the time-left estimate: pre-copy ends when the rest fits in it. */
  readonly downtimeLimitMs?: number | undefined;
  /**
   * Where the bar already stood for this migration (a controller that restarted picks it up at
   * the task's percent): the tracker starts there, so users never see it drop.
   */
  readonly floorPercent?: number | undefined;
  /** The run this one picks up had passed its commit already (its last stored event said so). */
  readonly committed?: boolean | undefined;
}

export interface ProgressTracker {
  /** Folds in one sample and returns the event to publish. After a terminal phase, returns the last event unchanged. */
  update(sample: ProgressSample): MigrationProgress;
  readonly current: MigrationProgress | undefined;
}

/**
 * The percentage shown for a phase and the fraction of it done, on the seed's scale:
 * preparing 0–10, precopy 10–90, switchover 90–100.
 */
export function percentFor(phase: Phase, fraction: number): number {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  switch (phase) {
    case Phase.queued:
    case Phase.validating:
      return 0;
    case Phase.preparing:
      return 10 * f;
    case Phase.precopy:
      return 10 + 80 * f;
    case Phase.switchover:
      return 90 + 10 * f;
    case Phase.completed:
      return 100;
    case Phase.failed:
    case Phase.cancelled:
    case Phase.needsAttention:
      return 0;
  }
}

/** Share of what is left of pre-copy that one pass may cover: 1 − dirty/link, within these bounds. */
export const PASS_SHARE_MIN = 0.25;
export const PASS_SHARE_MAX = 0.8;
/** Below 100 until the destination confirms. */
const BEFORE_CONFIRMED_MAX = 99;

function finiteOr(x: number | undefined, fallback: number): number {
  return x !== undefined && Number.isFinite(x) ? x : fallback;
}

function clamp01(x: number): number {
  return Math.min(1, Math.max(0, x));
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

function mbps(bytesPerSec: number): string {
  return `${((bytesPerSec * 8) / 1e6).toFixed(0)} Mb/s`;
}

/**
 * Time left in pre-copy and switchover, in ms: `remaining` now, then each pass about
 * dirty/link of the one before (the geometric shrinking pre-copy relies on) until the rest
 * fits the downtime limit, then that rest. Undefined when the guest dirties as fast as the
 * link carries: then only the caps and auto-converge end pre-copy, and no honest figure exists.
 */
export function precopyEtaMs(remainingBytes: number, dirtyRateBytesPerSec: number, linkRateBytesPerSec: number, downtimeLimitMs: number): number | undefined {
  if (!(linkRateBytesPerSec > 0)) return undefined;
  const ratio = Math.max(0, dirtyRateBytesPerSec) / linkRateBytesPerSec;
  const fits = (linkRateBytesPerSec * Math.max(0, downtimeLimitMs)) / 1000;
  let pass = Math.max(0, remainingBytes);
  let bytes = 0;
  for (let i = 0; pass > fits; i++) {
    if (ratio >= 1 || i >= 100) return undefined;
    bytes += pass;
    pass *= ratio;
  }
  return transferMs(bytes + pass, linkRateBytesPerSec);
}

interface TrackerState {
  last: MigrationProgress | undefined;
  /** Pre-copy: the fraction of the range reached, where the current pass began, and its share. */
  precopyFraction: number;
  pass: number;
  passBase: number;
  passShare: number;
  /** bytesSent at the last sample of the previous pass: the current pass sent the rest. */
  passStartBytes: number;
  lastBytesSent: number;
  /** bytesSent when switchover began: the final copy is what came after. */
  switchoverStartBytes: number;
  throttlePercent: number;
  dirtyRate: number;
  linkRate: number;
  committed: boolean;
}

/** What a progress event says when its reporter gave no words of its own. */
function phaseMessage(phase: Phase, remaining: number, s: Pick<TrackerState, "pass" | "throttlePercent" | "linkRate" | "dirtyRate">): string {
  switch (phase) {
    case Phase.queued:
      return "queued";
    case Phase.validating:
      return "validating: checking the VM and both hosts";
    case Phase.preparing:
      return "preparing: connecting to the destination, which reserves memory and creates the VM's shell";
    case Phase.precopy: {
      const throttled = s.throttlePercent > 0 ? `, guest throttled to ${s.throttlePercent}%` : "";
      return `pre-copy pass ${s.pass}: ${mib(remaining)} left at ${mbps(s.linkRate)}, guest dirtying ${mbps(s.dirtyRate)}${throttled}`;
    }
    case Phase.switchover:
      return `switchover: VM paused, sending the last ${mib(remaining)} and the device state`;
    case Phase.completed:
      return "completed: the VM runs on the destination";
    case Phase.failed:
      return "failed: the VM stays on the source";
    case Phase.cancelled:
      return "cancelled: the VM stays on the source";
    case Phase.needsAttention:
      return "needs attention: the VM waits paused on the source until its owner is known";
  }
}

export function createProgressTracker(options: ProgressTrackerOptions): ProgressTracker {
  const downtimeLimitMs = options.downtimeLimitMs ?? DEFAULT_MIGRATE_OPTIONS.downtimeLimitMs;
  const floor = Math.min(BEFORE_CONFIRMED_MAX, Math.max(0, finiteOr(options.floorPercent, 0)));
  const s: TrackerState = { last: undefined, precopyFraction: 0, pass: 0, passBase: 0, passShare: PASS_SHARE_MAX, passStartBytes: 0, lastBytesSent: 0, switchoverStartBytes: 0, throttlePercent: 0, dirtyRate: 0, linkRate: 0, committed: options.committed === true };

  function share(): number {
    const ratio = s.linkRate > 0 ? s.dirtyRate / s.linkRate : 0;
    return Math.min(PASS_SHARE_MAX, Math.max(PASS_SHARE_MIN, 1 - ratio));
  }

  function precopyFraction(sample: ProgressSample, bytesSent: number, remaining: number): number {
    const pass = Math.max(1, Math.floor(finiteOr(sample.pass, s.pass)));
    if (pass > s.pass) {
      // A new pass starts where the bar is, whatever its remaining bytes; skipped pass numbers
      // (the qemu driver may miss some between two polls) cost nothing.
      s.pass = pass;
      s.passBase = s.precopyFraction;
      s.passShare = share();
      s.passStartBytes = s.lastBytesSent;
    }
    const sentInPass = Math.max(0, bytesSent - s.passStartBytes);
    const passFraction = sample.fraction !== undefined ? clamp01(finiteOr(sample.fraction, 0)) : sentInPass + remaining > 0 ? sentInPass / (sentInPass + remaining) : 0;
    s.precopyFraction = Math.max(s.precopyFraction, s.passBase + (1 - s.passBase) * s.passShare * passFraction);
    return s.precopyFraction;
  }

  function update(sample: ProgressSample): MigrationProgress {
    if (s.last !== undefined && TERMINAL_PHASES.has(s.last.phase)) return s.last;
    const bytesSent = Math.max(s.lastBytesSent, finiteOr(sample.bytesSent, s.lastBytesSent));
    const remaining = Math.max(0, finiteOr(sample.bytesRemaining, s.last?.bytesRemaining ?? 0));
    s.dirtyRate = Math.max(0, finiteOr(sample.dirtyRateBytesPerSec, s.dirtyRate));
    s.linkRate = Math.max(0, finiteOr(sample.linkRateBytesPerSec, s.linkRate));
    s.throttlePercent = Math.min(100, Math.max(0, finiteOr(sample.throttlePercent, s.throttlePercent)));
    s.committed ||= sample.committed === true;

    let raw: number;
    let etaMs: number | undefined;
    let expectedDowntimeMs: number | undefined;
    switch (sample.phase) {
      case Phase.queued:
      case Phase.validating:
      case Phase.preparing:
        raw = percentFor(sample.phase, finiteOr(sample.fraction, 0));
        etaMs = undefined;
        expectedDowntimeMs = undefined;
        break;
      case Phase.precopy:
        raw = percentFor(Phase.precopy, precopyFraction(sample, bytesSent, remaining));
        etaMs = precopyEtaMs(remaining, s.dirtyRate, s.linkRate, downtimeLimitMs);
        expectedDowntimeMs = sample.expectedDowntimeMs ?? transferMs(remaining, s.linkRate);
        break;
      case Phase.switchover: {
        if (s.last?.phase !== Phase.switchover) s.switchoverStartBytes = s.lastBytesSent;
        const sentSoFar = Math.max(0, bytesSent - s.switchoverStartBytes);
        const fraction = sample.fraction ?? (remaining > 0 ? sentSoFar / (sentSoFar + remaining) : 0);
        raw = percentFor(Phase.switchover, finiteOr(fraction, 0));
        etaMs = transferMs(remaining, s.linkRate);
        expectedDowntimeMs = sample.expectedDowntimeMs ?? etaMs;
        break;
      }
      case Phase.completed:
        raw = 100;
        etaMs = 0;
        expectedDowntimeMs = undefined;
        break;
      case Phase.failed:
      case Phase.cancelled:
      case Phase.needsAttention:
        // Frozen where it stopped: a failure does not move the bar either way.
        raw = 0;
        etaMs = undefined;
        expectedDowntimeMs = undefined;
        break;
    }
    const ceiling = sample.phase === Phase.completed ? 100 : BEFORE_CONFIRMED_MAX;
    // Floored to a tenth so a display that rounds cannot show 100 early.
    const percent = Math.max(s.last?.percent ?? floor, Math.floor(Math.min(ceiling, raw) * 10) / 10);
    s.lastBytesSent = bytesSent;

    const event: MigrationProgress = {
      migrationId: options.migrationId,
      vm: options.vm,
      phase: sample.phase,
      percent,
      pass: s.pass,
      bytesSent,
      bytesRemaining: sample.phase === Phase.completed ? 0 : remaining,
      dirtyRateBytesPerSec: s.dirtyRate,
      linkRateBytesPerSec: s.linkRate,
      etaMs: etaMs !== undefined && Number.isFinite(etaMs) ? etaMs : undefined,
      expectedDowntimeMs: expectedDowntimeMs !== undefined && Number.isFinite(expectedDowntimeMs) ? expectedDowntimeMs : undefined,
      throttlePercent: s.throttlePercent,
      message: sample.message ?? phaseMessage(sample.phase, remaining, s),
      at: sample.at,
      ...(s.committed ? { committed: true } : {}),
    };
    s.last = event;
    return event;
  }

  return {
    update,
    get current() {
      return s.last;
    },
  };
}
