// The pre-copy model: what a migration will cost, predicted before it starts from what is
// known then (memory, touched memory, dirty rate and working set, link rate, limits).
//
// It replays the protocol pass by pass instead of using a closed form, because the stopping
// rule is not a formula: after every modelled pass it asks decideAfterPass, the same function
// the engine asks after every real pass, so the model and the engine cannot disagree about
// when to switch over, when to throttle and when to give up.
//
//  - Pass 1 sends every touched page in full and every zero page as a small marker (QEMU's
//    ram_save_page sends a zero page as a header and one byte; Ferry's protocol a marker).
//  - Pass k+1 sends what the guest dirtied while pass k was on the wire. Writes land on
//    random pages of the working set W, so the distinct bytes dirtied in t seconds at rate r
//    are W·(1 − e^(−r·t/W)): a page written twice is sent once. For small r·t this is r·t;
//    it never exceeds W.
//  - The link rate sets every pass's duration; switchover sends the last remainder while the
//    VM is paused, which is the downtime.
//  - Auto-converge throttles the guest as QEMU's cpu-throttle does: at p% the vCPUs sleep p%
//    of the time, so the dirty rate falls to r·(1 − p/100).
import { decideAfterPass, transferMs, type ConvergenceDecision, type PassStats } from "./convergence.ts";
import { scheduleQemuPrecopy, type QemuLoopCosts } from "./qemu-stream.ts";
import { DEFAULT_MIGRATE_OPTIONS, type MigrateOptions, type PrecopyInputs, type Prediction } from "./types.ts";

/** What a migration stream costs beyond the pages' bytes: framing on the wire, and fixed times. */
export interface StreamCosts {
  /** Header bytes per page sent in full (a frame's header spread over its pages). */
  readonly pageHeaderBytes: number;
  /** Bytes of a zero page's marker (header included; spread over a run when one marker covers it). */
  readonly zeroPageBytes: number;
  /** Device state (vCPU registers, counters) and the like, sent at switchover. */
  readonly deviceStateBytes: number;
  /** Fixed time outside the passes and the switchover: connect, handshake, page map, teardown. */
  readonly fixedMs: number;
  /**
   * What a switchover costs beyond moving its bytes: a fixed part (pause, frames, resume) and
   * a part per byte of the final copy (Ferry's sim hashes it on both ends for the digest).
   * The stopping rule leaves room for it: decideAfterPass is asked with the downtime limit
   * less this overhead, as the sim's source does, so what it predicts still fits the limit.
   */
  readonly switchoverFixedMs: number;
  readonly switchoverMsPerByte: number;
  /**
   * Switchover time the source does not reserve out of the limit because it cannot see it
   * (the destination's ownership claim and resume): added to the predicted downtime only,
   * never to the stopping rule. Learned per host pair (link-learning.ts); 0 when unknown.
   */
  readonly switchoverUnreservedMs?: number | undefined;
  /**
   * QEMU's own stop-and-copy over the model's (what the threshold replay leaves pending at the
   * stop, over the link): learned per host pair from QEMU's reported downtime (link-learning.ts);
   * 1 when unknown. Only QEMU's loop (`loop`) uses it.
   */
  readonly stopCopyScale?: number | undefined;
  /**
   * Time between passes per byte of the pass just sent, while the guest runs and dirties (the
   * sim hashes what a pass moved on both ends before deciding); 0 when the next pass follows at once.
   */
  readonly passGapMsPerByte?: number | undefined;
  /**
   * QEMU's own loop (qemu-stream.ts): when present the model replays it (passes are its bitmap
   * syncs, switchover its threshold test) instead of Ferry's pass-by-pass protocol.
   */
  readonly loop?: QemuLoopCosts | undefined;
}

/**
 * QEMU's RAM stream (migration/ram.c in 7.2): an 8-byte offset|flags word before every page,
 * and RAM_SAVE_FLAG_ZERO pages as that word plus one fill byte. QEMU decides switchover on
 * bandwidth alone (expected-downtime = remaining / bandwidth), so no overhead is reserved.
 */
export const QEMU_COSTS: StreamCosts = { pageHeaderBytes: 8, zeroPageBytes: 9, deviceStateBytes: 0, fixedMs: 0, switchoverFixedMs: 0, switchoverMsPerByte: 0 };

/**
 * QEMU 7.2's stream as the qemu driver runs it (tuning.ts: one stream on these hosts, uncapped,
 * downtime-limit = the engine's target), what the controller predicts QEMU migrations with:
 *  - its own loop (qemu-stream.ts): ram_save_iterate's 50 ms box (MAX_WAIT) and the 100 ms
 *    bandwidth window (BUFFER_DELAY) that sets its switchover threshold;
 *  - a zero page costs 9 bytes and about 0.5 µs of the migration thread (buffer_is_zero): the
 *    QEMU lab's idle 256 and 512 MiB guests (about 85 MiB touched each) sent 84.7 and 89 MiB
 *    and the larger one took about 30 ms more for its 65,536 more zero pages (bench/qemu-prediction.ts);
 *  - `ram.transferred`, what the report counts, is RAM only: the device state is not in it; it
 *    goes in the stop-and-copy, a few tens of KiB for the lab's pc machine (CPU, APIC, PIT, virtio
 *    net and blk queues), under a millisecond on the link, so only the fixed part counts;
 *  - fixed time outside the loop (TCP connect, the stream's TLS handshake, capability and
 *    parameter setup, the setup sync): 60 ms until the pair's own is learned (link-learning.ts);
 *  - the switchover's fixed part: vm_stop, the device state saved and loaded, the destination's
 *    ownership claim and `cont` (Ferry's downtime runs from the source's STOP to the
 *    destination's RESUME): 40 ms here, QEMU's own `downtime` being 10-60 ms under it; the
 *    pair's learned correction replaces the rest.
 */
export const QEMU_STREAM_COSTS: StreamCosts = { ...QEMU_COSTS, deviceStateBytes: 0, fixedMs: 60, switchoverFixedMs: 40, loop: { iterateMs: 50, counterWindowMs: 100, zeroPageMs: 0.0005 } };

/**
 * Ferry's sim stream (src/drivers/sim/protocol.ts, precopy-source.ts), as the sim really runs it:
 *  - pass 1 sends runs of touched pages in PAGES frames (13 bytes per frame of up to 256 pages);
 *    later passes and the switchover send PAGE_LIST frames (5 + 4 bytes, then a 4-byte index per
 *    page): 4 bytes a page is the larger of the two, and later passes dominate the downtime;
 *  - a zero range is one 13-byte ZERO_PAGES marker and a sim VM's touched pages are one run,
 *    so a zero page costs nothing to speak of;
 *  - about 1 KiB of control frames around the device state (HELLO, page map, device state, digest);
 *  - fixed times outside the passes: the TCP/TLS connect, HELLO/ACCEPTED, the page map and its
 *    acknowledgement, each pass's hash handshake, the stream's close: about 15 ms on loopback
 *    (what a learned pair replaces with its own, see link-learning.ts);
 *  - between passes both ends finish hashing what the pass moved; on a paced link they hash
 *    in the pacing waits, so nearly nothing is left (passGapMsPerByte 0; a pair's learned
 *    fixed time takes what is);
 *  - the switchover's fixed part is SWITCHOVER_FIXED_MS in precopy-source.ts (frames, pause,
 *    resume, jitter: 7 ms); per byte, both ends hash the last pages for the digest in whole
 *    4-page leaves (a scattered dirty page costs up to 4 pages of hashing), SHA-256 at about
 *    600 MB/s per end on these machines (the source reserves the rate it measures itself).
 */
export const SIM_COSTS: StreamCosts = { pageHeaderBytes: 4, zeroPageBytes: 0, deviceStateBytes: 1024, fixedMs: 15, switchoverFixedMs: 7, switchoverMsPerByte: (2 * 4) / 600_000, passGapMsPerByte: 0 };

/** The hypervisor drivers an agent may run, each with its stream's costs. */
export const StreamDriver = { sim: "sim", qemu: "qemu" } as const;
export type StreamDriver = (typeof StreamDriver)[keyof typeof StreamDriver];

const COSTS_BY_DRIVER: Readonly<Record<StreamDriver, StreamCosts>> = { sim: SIM_COSTS, qemu: QEMU_STREAM_COSTS };

/** The stream costs of the source host's driver (the source writes the stream). */
export function costsFor(driver: StreamDriver): StreamCosts {
  return COSTS_BY_DRIVER[driver];
}

/** Distinct bytes dirtied in `ms` by writes at `rateBytesPerSec` falling uniformly on `workingSetBytes`. */
export function distinctDirtyBytes(workingSetBytes: number, rateBytesPerSec: number, ms: number): number {
  if (workingSetBytes <= 0 || rateBytesPerSec <= 0 || ms <= 0) return 0;
  if (!Number.isFinite(ms)) return workingSetBytes;
  // -expm1(-x) = 1 − e^(−x), exact for tiny x where 1 − Math.exp(−x) would round to 0.
  return -workingSetBytes * Math.expm1(-(rateBytesPerSec * ms) / 1000 / workingSetBytes);
}

/** A modelled run stops after this many passes even if the caps would allow more. */
export const MODEL_PASS_LIMIT = 10_000;

function nonNegative(x: number): number {
  return Number.isFinite(x) && x > 0 ? x : 0;
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

function mbps(bytesPerSec: number): string {
  return `${((bytesPerSec * 8) / 1e6).toFixed(0)} Mb/s`;
}

/** The options decideAfterPass sees for these inputs. */
export function optionsFor(inputs: PrecopyInputs): MigrateOptions {
  return { ...DEFAULT_MIGRATE_OPTIONS, downtimeLimitMs: inputs.downtimeLimitMs, maxPasses: inputs.maxPasses, maxTrafficFactor: inputs.maxTrafficFactor, autoConverge: inputs.autoConverge };
}

/** One modelled pre-copy pass, for callers that want the whole schedule. */
export interface ModelledPass {
  readonly pass: number;
  readonly bytes: number;
  readonly ms: number;
  readonly throttlePercent: number;
  /** Page bytes dirtied while this pass was on the wire. */
  readonly dirtiedBytes: number;
  readonly decision: ConvergenceDecision;
}

export interface PrecopySchedule extends Prediction {
  readonly schedule: readonly ModelledPass[];
}

/** predictPrecopy with the pass-by-pass schedule that led to it. */
export function schedulePrecopy(inputs: PrecopyInputs, costs: StreamCosts = QEMU_COSTS): PrecopySchedule {
  if (costs.loop !== undefined) return scheduleQemuPrecopy({ inputs, costs, loop: costs.loop, options: optionsFor(inputs) });
  const pageSize = inputs.pageSize > 0 ? inputs.pageSize : 4096;
  const memory = nonNegative(inputs.memoryBytes);
  const touched = Math.min(memory, nonNegative(inputs.touchedBytes));
  const workingSet = Math.min(memory, nonNegative(inputs.workingSetBytes));
  const dirtyRate = nonNegative(inputs.dirtyRateBytesPerSec);
  const link = nonNegative(inputs.linkRateBytesPerSec);
  const options = optionsFor(inputs);
  const wire = (pageBytes: number): number => pageBytes + (pageBytes / pageSize) * costs.pageHeaderBytes;

  const touchedPages = Math.ceil(touched / pageSize);
  const zeroPages = Math.max(0, Math.floor(memory / pageSize) - touchedPages);
  const schedule: ModelledPass[] = [];
  let passBytes = wire(touchedPages * pageSize) + zeroPages * costs.zeroPageBytes;
  let sent = 0;
  let elapsedMs = costs.fixedMs;
  let throttle = 0;

  for (let pass = 1; pass <= MODEL_PASS_LIMIT; pass++) {
    const ms = transferMs(passBytes, link);
    const gapMs = passBytes * (costs.passGapMsPerByte ?? 0);
    sent += passBytes;
    elapsedMs += ms + gapMs;
    const effectiveRate = dirtyRate * (1 - throttle / 100);
    const dirtied = distinctDirtyBytes(workingSet, effectiveRate, ms + gapMs);
    const stats: PassStats = { pass, memoryBytes: memory, bytesSentTotal: sent, remainingBytes: dirtied, linkRateBytesPerSec: link, dirtyRateBytesPerSec: effectiveRate, throttlePercent: throttle };
    const overheadMs = costs.switchoverFixedMs + dirtied * costs.switchoverMsPerByte;
    const decision = decideAfterPass(stats, { ...options, downtimeLimitMs: Math.max(0, options.downtimeLimitMs - overheadMs) });
    schedule.push({ pass, bytes: passBytes, ms, throttlePercent: throttle, dirtiedBytes: dirtied, decision });
    switch (decision.action) {
      case "switchover": {
        const finalBytes = wire(dirtied) + costs.deviceStateBytes;
        // A learned correction may be negative (the model reserved more than a switchover took), never below the transfer itself.
        const downtimeMs = transferMs(finalBytes, link) + Math.max(0, overheadMs + (costs.switchoverUnreservedMs ?? 0));
        const throttled = throttle > 0 ? `auto-converge throttles the guest to ${throttle}%; ` : "";
        return {
          passes: pass,
          bytes: sent + finalBytes,
          totalMs: elapsedMs + downtimeMs,
          downtimeMs,
          converges: true,
          note: `${throttled}converges after ${pass} pass${pass === 1 ? "" : "es"}: the last ${mib(dirtied)} goes in ${downtimeMs.toFixed(0)} ms of downtime (limit ${inputs.downtimeLimitMs} ms)`,
          throttlePercent: throttle,
          schedule,
        };
      }
      case "continue":
        break;
      case "throttle":
        throttle = decision.throttlePercent;
        break;
      case "fail":
        return { passes: pass, bytes: sent, totalMs: elapsedMs, downtimeMs: decision.expectedDowntimeMs + overheadMs, converges: false, note: whyNot(decision.message, stats, workingSet, inputs), throttlePercent: throttle, schedule };
    }
    passBytes = wire(dirtied);
  }
  const last = schedule[schedule.length - 1];
  return {
    passes: MODEL_PASS_LIMIT,
    bytes: sent,
    totalMs: elapsedMs,
    downtimeMs: last?.decision.expectedDowntimeMs ?? Number.POSITIVE_INFINITY,
    converges: false,
    note: `not converging: still ${mib(last?.dirtiedBytes ?? 0)} dirty after ${MODEL_PASS_LIMIT} modelled passes`,
    throttlePercent: throttle,
    schedule,
  };
}

/**
 * decideAfterPass explains a failure as "dirty rate X > link rate Y", which is the usual cause.
 * When the dirty rate is below the link rate the cause is different (the working set keeps
 * more dirty than the downtime limit allows, or the caps are too tight), and the note says so.
 */
function whyNot(message: string, stats: PassStats, workingSet: number, inputs: PrecopyInputs): string {
  if (stats.linkRateBytesPerSec <= 0) return "not converging: the link carries nothing (link rate 0)";
  if (stats.dirtyRateBytesPerSec > stats.linkRateBytesPerSec) return message;
  const limitBytes = (stats.linkRateBytesPerSec * inputs.downtimeLimitMs) / 1000;
  const throttled = stats.throttlePercent > 0 ? ` (the guest throttled to ${stats.throttlePercent}%)` : "";
  return `not converging: dirty rate ${mbps(stats.dirtyRateBytesPerSec)}${throttled} is under the link rate ${mbps(stats.linkRateBytesPerSec)}, but each pass still leaves ${mib(stats.remainingBytes)} of the ${mib(workingSet)} working set dirty, more than the ${mib(limitBytes)} the ${inputs.downtimeLimitMs} ms downtime limit lets switchover send, when the caps (${inputs.maxPasses} passes, ${inputs.maxTrafficFactor}x memory) run out`;
}

/** The pure pre-copy model: passes, bytes, time, downtime, and whether (and how) it converges. */
export function predictPrecopy(inputs: PrecopyInputs, costs: StreamCosts = QEMU_COSTS): Prediction {
  const s = schedulePrecopy(inputs, costs);
  const hypervisor = s.hypervisorDowntimeMs === undefined ? {} : { hypervisorDowntimeMs: s.hypervisorDowntimeMs };
  return { passes: s.passes, bytes: s.bytes, totalMs: s.totalMs, downtimeMs: s.downtimeMs, converges: s.converges, note: s.note, throttlePercent: s.throttlePercent, ...hypervisor };
}
