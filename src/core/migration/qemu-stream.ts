// QEMU 7.2's pre-copy loop as it runs with Ferry's tuning (max-bandwidth uncapped; multifd's
// per-packet header is negligible, so one framing serves both, docs/qemu-driver.md), replayed in
// time steps. Pure. The generic model (model.ts) replays passes and asks Ferry's
// decideAfterPass when to switch over; QEMU decides that itself, and its "passes" (what
// query-migrate calls dirty-sync-count and the report counts) are bitmap syncs, not walks over
// RAM. From migration/migration.c and migration/ram.c in 7.2:
//  - setup syncs the dirty bitmap once (sync 1) with every page marked dirty; `remaining` is
//    the dirty pages × 4 KiB, zero pages included;
//  - migration_iteration_run asks ram_save_pending first: when remaining < threshold it syncs
//    the bitmap (the guest's new writes join `remaining`); then if what is pending is still
//    < threshold (or nothing) it completes: stops the guest, syncs once more and sends the rest
//    and the device state (the stop-and-copy); else ram_save_iterate sends pages in address
//    order for at most MAX_WAIT = 50 ms (or until no dirty page is left) and the loop repeats;
//  - threshold = bandwidth × downtime-limit, bandwidth being the stream's bytes per ms over
//    the last BUFFER_DELAY = 100 ms window (migration_update_counters); 0 before the first window;
//  - a zero page costs the migration thread a buffer_is_zero scan and 9 bytes on the wire, a
//    touched page its 4 KiB and an 8-byte header; the link rate (learned per host pair) is the
//    rate of touched pages' bytes.
// So an idle guest makes 3 passes (setup, the sync that finds remaining under the threshold,
// completion) and its downtime is about the downtime limit × the touched share of what was
// left: QEMU's threshold counts zero pages at 4 KiB each, the wire does not.
import { decideAfterPass, transferMs, type PassStats } from "./convergence.ts";
import type { ModelledPass, PrecopySchedule, StreamCosts } from "./model.ts";
import type { MigrateOptions, PrecopyInputs } from "./types.ts";

/** What QEMU's loop costs beyond the bytes (see QEMU_STREAM_COSTS in model.ts for the measured values). */
export interface QemuLoopCosts {
  /** ram_save_iterate's time box, ms (MAX_WAIT in migration/ram.c 7.2). */
  readonly iterateMs: number;
  /** migration_update_counters' window, ms (BUFFER_DELAY in migration/migration.c 7.2). */
  readonly counterWindowMs: number;
  /** Migration-thread time per zero page (scan, marker), ms. */
  readonly zeroPageMs: number;
}

/** The first step of QEMU's downtime-limit as a share of the target, and its floor, ms (qemuDowntimeStepMs). */
export const DOWNTIME_FIRST_STEP_SHARE = 1 / 8;
export const DOWNTIME_FIRST_STEP_MIN_MS = 20;

/**
 * The downtime-limit Ferry gives QEMU after `syncs` dirty syncs: an eighth of the target (at
 * least 20 ms) until the walk's first threshold test, doubled at each sync after, never above
 * the target. QEMU switches over as soon as what is pending fits bandwidth × limit, so with the
 * target from the start an idle guest's switchover could carry up to the target's worth of its
 * first walk (the lab measured 4 to 412 ms of downtime for the same idle guest); a small first
 * limit makes it walk on and switch over with little, and a writer that needs more gets it a
 * few syncs later (oVirt's downtime steps do the same from the outside).
 */
export function qemuDowntimeStepMs(targetMs: number, syncs: number): number {
  const first = Math.min(targetMs, Math.max(DOWNTIME_FIRST_STEP_MIN_MS, targetMs * DOWNTIME_FIRST_STEP_SHARE));
  return Math.min(targetMs, first * 2 ** Math.max(0, syncs - 1));
}

/** Longest modelled stream before the model calls it not converging (Ferry's stall and caps end it sooner). */
const MODEL_HORIZON_MS = 600_000;
const PAGE_HEADER = 8;

interface LoopState {
  /** Pages of the first walk not yet sent, with `touchedShare` of them touched. */
  firstPass: number;
  /** Pages dirtied since, found by a sync and not yet sent (all touched). */
  dirtyPool: number;
  /** Distinct pages the guest wrote since the last sync. */
  newDirt: number;
  elapsedMs: number;
  sent: number;
  passes: number;
  throttle: number;
  windowBytes: number;
  windowMs: number;
  thresholdBytes: number;
}

function pendingBytes(s: LoopState, pageSize: number): number {
  return (s.firstPass + s.dirtyPool) * pageSize;
}

/** Time and wire bytes to send `pages` of the pools, taken in proportion (QEMU walks them interleaved). */
function sendCost(s: LoopState, pages: number, touchedShare: number, pageSize: number, linkBytesPerMs: number, zeroPageMs: number, zeroPageBytes: number): { ms: number; bytes: number } {
  const total = s.firstPass + s.dirtyPool;
  if (total <= 0 || pages <= 0) return { ms: 0, bytes: 0 };
  const touched = pages * ((s.firstPass * touchedShare + s.dirtyPool) / total);
  const zero = pages - touched;
  const bytes = touched * (pageSize + PAGE_HEADER) + zero * zeroPageBytes;
  return { ms: (touched * (pageSize + PAGE_HEADER)) / linkBytesPerMs + zero * zeroPageMs, bytes };
}

function takePages(s: LoopState, pages: number): void {
  const total = s.firstPass + s.dirtyPool;
  if (total <= 0) return;
  const fromFirst = pages * (s.firstPass / total);
  s.firstPass = Math.max(0, s.firstPass - fromFirst);
  s.dirtyPool = Math.max(0, s.dirtyPool - (pages - fromFirst));
}

export interface QemuLoopInputs {
  readonly inputs: PrecopyInputs;
  readonly costs: StreamCosts;
  readonly loop: QemuLoopCosts;
  readonly options: MigrateOptions;
}

/**
 * The guest's writes over `ms`: distinct pages at its measured rate (the agent measures distinct
 * pages changed per second), until none of its working set is left clean. Clean means not
 * dirtied since the last sync and not pending: QEMU's dirty log keeps every page written since
 * the last sync, whether or not the walk sent it afterwards, so a page written ahead of the first
 * walk is sent in it and again after the next sync.
 */
function dirty(s: LoopState, ms: number, workingSetPages: number, dirtyPagesPerMs: number): void {
  if (workingSetPages <= 0 || dirtyPagesPerMs <= 0) return;
  const rate = dirtyPagesPerMs * (1 - s.throttle / 100);
  const clean = Math.max(0, workingSetPages - s.newDirt - s.dirtyPool);
  s.newDirt += Math.min(clean, rate * ms);
}

/** QEMU's pre-copy, replayed: passes are its bitmap syncs; switchover is its own threshold test. */
export function scheduleQemuPrecopy(x: QemuLoopInputs): PrecopySchedule {
  const { inputs, costs, loop, options } = x;
  const pageSize = inputs.pageSize > 0 ? inputs.pageSize : 4096;
  const pages = Math.floor(Math.max(0, inputs.memoryBytes) / pageSize);
  const touchedShare = pages > 0 ? Math.min(1, Math.max(0, inputs.touchedBytes) / (pages * pageSize)) : 0;
  const workingSetPages = Math.min(pages, Math.max(0, inputs.workingSetBytes) / pageSize);
  const dirtyPagesPerMs = Math.max(0, inputs.dirtyRateBytesPerSec) / pageSize / 1000;
  const link = Math.max(0, inputs.linkRateBytesPerSec);
  const linkBytesPerMs = link / 1000;
  const schedule: ModelledPass[] = [];
  const s: LoopState = { firstPass: pages, dirtyPool: 0, newDirt: 0, elapsedMs: 0, sent: 0, passes: 1, throttle: 0, windowBytes: 0, windowMs: 0, thresholdBytes: 0 };
  let passStart = { ms: 0, sent: 0 };
  if (linkBytesPerMs <= 0) return stuck(s, costs, link, pageSize, schedule, "not converging: the link carries nothing (link rate 0)");
  while (s.elapsedMs < MODEL_HORIZON_MS) {
    if (s.thresholdBytes <= 0 && pendingBytes(s, pageSize) === 0) {
      // Nothing pending before the first bandwidth window (threshold 0): ram_save_pending syncs
      // only under the threshold, so migration_iteration_run completes without a sync.
      return complete(s, x, touchedShare, pageSize, linkBytesPerMs, schedule);
    }
    if (pendingBytes(s, pageSize) < s.thresholdBytes) {
      // ram_save_pending: a sync; the guest's writes since the last one join what is pending.
      s.dirtyPool += s.newDirt;
      s.newDirt = 0;
      s.passes++;
      const passMs = s.elapsedMs - passStart.ms;
      const stats: PassStats = { pass: s.passes, memoryBytes: inputs.memoryBytes, bytesSentTotal: s.sent, remainingBytes: pendingBytes(s, pageSize), linkRateBytesPerSec: link, dirtyRateBytesPerSec: inputs.dirtyRateBytesPerSec * (1 - s.throttle / 100), throttlePercent: s.throttle };
      // Ferry's caps (passes, traffic) and auto-converge's steps, as the driver applies them at each sync; QEMU alone decides the switchover.
      const rule = decideAfterPass(stats, { ...options, downtimeLimitMs: 0 });
      schedule.push({ pass: s.passes - 1, bytes: s.sent - passStart.sent, ms: passMs, throttlePercent: s.throttle, dirtiedBytes: s.dirtyPool * pageSize, decision: rule });
      passStart = { ms: s.elapsedMs, sent: s.sent };
      if (pendingBytes(s, pageSize) < s.thresholdBytes || pendingBytes(s, pageSize) === 0) return complete(s, x, touchedShare, pageSize, linkBytesPerMs, schedule);
      if (rule.action === "fail") return stuck(s, costs, link, pageSize, schedule, rule.message);
      if (rule.action === "throttle") s.throttle = rule.throttlePercent;
    }
    // ram_save_iterate: up to iterateMs of pages, or until none is dirty.
    const all = sendCost(s, s.firstPass + s.dirtyPool, touchedShare, pageSize, linkBytesPerMs, loop.zeroPageMs, costs.zeroPageBytes);
    const ms = all.ms <= loop.iterateMs ? all.ms : loop.iterateMs;
    const share = all.ms > 0 ? ms / all.ms : 1;
    const bytes = all.bytes * share;
    takePages(s, (s.firstPass + s.dirtyPool) * share);
    dirty(s, ms, workingSetPages, dirtyPagesPerMs);
    s.elapsedMs += ms;
    s.sent += bytes;
    s.windowBytes += bytes;
    s.windowMs += ms;
    if (s.windowMs >= loop.counterWindowMs) {
      // migration_update_counters: threshold = bandwidth (bytes/ms) × downtime-limit, the step the driver set after the last sync.
      s.thresholdBytes = (s.windowBytes / s.windowMs) * qemuDowntimeStepMs(inputs.downtimeLimitMs, s.passes);
      s.windowBytes = 0;
      s.windowMs = 0;
    }
  }
  return stuck(s, costs, link, pageSize, schedule, `not converging: still ${(pendingBytes(s, pageSize) / 1048576).toFixed(1)} MiB pending after ${MODEL_HORIZON_MS / 1000} s of QEMU's loop`);
}

/** migration_completion: the guest stops, a last sync, the rest and the device state go, the destination resumes it. */
function complete(s: LoopState, x: QemuLoopInputs, touchedShare: number, pageSize: number, linkBytesPerMs: number, schedule: ModelledPass[]): PrecopySchedule {
  const { costs, loop, inputs } = x;
  s.dirtyPool += s.newDirt;
  s.passes++;
  const rest = sendCost(s, s.firstPass + s.dirtyPool, touchedShare, pageSize, linkBytesPerMs, loop.zeroPageMs, costs.zeroPageBytes);
  // QEMU's own downtime: the rest and the device state, scaled as the pair's QEMUs showed.
  const hypervisorDowntimeMs = (costs.stopCopyScale ?? 1) * (rest.ms + transferMs(costs.deviceStateBytes, linkBytesPerMs * 1000));
  const stopCopyMs = hypervisorDowntimeMs + costs.switchoverFixedMs;
  // What the source cannot see (the destination's ownership claim and `cont`): learned per pair.
  const downtimeMs = Math.max(hypervisorDowntimeMs, stopCopyMs + (costs.switchoverUnreservedMs ?? 0));
  const bytes = s.sent + rest.bytes;
  const totalMs = costs.fixedMs + s.elapsedMs + Math.max(stopCopyMs, downtimeMs);
  const throttled = s.throttle > 0 ? `auto-converge throttles the guest to ${s.throttle}%; ` : "";
  return {
    passes: s.passes,
    bytes,
    totalMs,
    downtimeMs,
    hypervisorDowntimeMs,
    converges: true,
    note: `${throttled}${switchoverWhen(s.passes - 1)}: the last ${((rest.bytes + costs.deviceStateBytes) / 1048576).toFixed(1)} MiB go in ${downtimeMs.toFixed(0)} ms of downtime (limit ${inputs.downtimeLimitMs} ms)`,
    throttlePercent: s.throttle,
    schedule,
  };
}

function switchoverWhen(syncs: number): string {
  if (syncs <= 1) return "QEMU switches over when its first walk leaves nothing pending, before its first bandwidth window";
  const suffix = syncs % 100 >= 11 && syncs % 100 <= 13 ? "th" : (["th", "st", "nd", "rd"][syncs % 10] ?? "th");
  return `QEMU switches over at its ${syncs}${suffix} dirty sync, when what is pending fits its threshold`;
}

/** Not converging: the downtime is what switching over now would take (finite: it crosses the wire as JSON). */
function stuck(s: LoopState, costs: StreamCosts, link: number, pageSize: number, schedule: ModelledPass[], note: string): PrecopySchedule {
  const downtimeMs = link > 0 ? transferMs(pendingBytes(s, pageSize), link) : 0;
  return { passes: s.passes, bytes: s.sent, totalMs: costs.fixedMs + s.elapsedMs, downtimeMs, converges: false, note, throttlePercent: s.throttle, schedule };
}
