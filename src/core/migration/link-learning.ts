// What Ferry learns about a VMotion host pair (source → destination) from the migrations it
// carried, so that the next prediction uses the link as it really is rather than the
// inventory's nominal NIC speed:
//  - the pre-copy rate the stream really achieved and the fixed time outside the passes and
//    the switchover (connect, handshake, page map, hash handshakes between passes, close),
//    fitted together over the pair's migrations (fitTime): recent migrations count most, one
//    odd run moves the fit only part of the way; for a driver whose costs charge zero pages
//    time of their own (qemu: its migration thread scans each and sends a marker), the time per
//    zero page is fitted beside them, since guests of one touched size and different memory
//    sizes otherwise look alike to the fit and are not;
//  - where the driver reports the hypervisor's own downtime (qemu), how it compares with the
//    stop-and-copy the model replayed (stopCopyScale): QEMU's threshold test fires anywhere
//    under its threshold and the stopped guest's CPU goes to the stream, so on the lab's 2-CPU
//    TCG hosts its own downtime was 0.4-0.7 of what the replay leaves pending in most moves;
//  - the switchover time the model does not see (the destination's ownership claim, resume):
//    the measured downtime less what the model said the switchover would take, a moving
//    average (EWMA);
//  - a safety margin: the engine asks the source for a downtime this much below the user's
//    limit. It follows the unseen switchover time up at once (an overshoot is what the user
//    notices) and decays slowly, so one quiet run does not bring the overshoot back.
// Pure: the controller stores the record (Store.learnLinkRate) and folds each report through here.
import { costsFor, predictPrecopy, type StreamCosts, type StreamDriver } from "./model.ts";
import type { PrecopyInputs, Prediction, PredictionBasis } from "./types.ts";

/** What is known about one host pair; the store keeps one per (source, destination). */
export interface LinkRecord {
  readonly source: string;
  readonly destination: string;
  /** Pre-copy rate the pair's migrations achieved, fitted with the fixed time (see fitTime), bytes per second. */
  readonly rateBytesPerSec: number;
  /** Migrations folded in. */
  readonly samples: number;
  /** Fitted time outside the passes and the switchover beyond what the driver's costs say between passes, ms, never negative. */
  readonly fixedMs: number;
  /** Smoothed switchover time the model does not reserve (measured less modelled downtime), ms; negative when the model reserves more than switchovers take. */
  readonly switchoverExtraMs: number;
  /** Fitted time per zero page, ms (drivers whose costs charge zero pages: qemu); undefined: the driver's own figure. */
  readonly zeroPageMs?: number | undefined;
  /** QEMU's own stop-and-copy over the model's, smoothed (drivers that report their own downtime: qemu); undefined: 1. */
  readonly stopCopyScale?: number | undefined;
  /** How far below the user's downtime limit the engine aims, ms. */
  readonly safetyMarginMs: number;
  /** When the last migration was folded in (ms since the epoch). */
  readonly updatedAt: number;
}

/** What one completed migration measured, as the controller sees it at its end. */
export interface LinkObservation {
  readonly bytesSent: number;
  /** Pages found zero and sent as markers (MigrationReport.zeroPages); undefined or 0 when the driver does not say. */
  readonly zeroPages?: number | undefined;
  /** The source's measured pre-copy rate over all passes (bytes / pass time); undefined: not reported. */
  readonly precopyRateBytesPerSec: number | undefined;
  readonly totalMs: number;
  readonly downtimeMs: number;
  /** Time the driver's costs put between passes for these bytes (StreamCosts.passGapMsPerByte): not fixed time. */
  readonly betweenPassesMs?: number | undefined;
  /** The model's downtime for this migration without the unseen part (undefined: no prediction). */
  readonly modelledDowntimeMs: number | undefined;
  /** The hypervisor's own downtime as it reported it (MigrationReport.hypervisorDowntimeMs); undefined: it gives none. */
  readonly hypervisorDowntimeMs?: number | undefined;
  /** The model's stop-and-copy for this migration before the pair's scale (Prediction.hypervisorDowntimeMs / its basis' scale). */
  readonly modelledStopCopyMs?: number | undefined;
  readonly at: number;
}

/** Weight of the newest migration in the moving averages. */
export const LINK_EWMA_WEIGHT = 0.3;
/** Per migration, the safety margin keeps this share of itself when the overshoot it follows shrinks. */
export const MARGIN_DECAY = 0.9;
/** Jitter of a switchover on a shared machine that no average sees: kept in the margin always. */
export const MARGIN_FLOOR_MS = 3;

function ewma(previous: number | undefined, sample: number): number {
  return previous === undefined ? sample : previous + LINK_EWMA_WEIGHT * (sample - previous);
}

/**
 * A time sample moved at most `max(floorMs, |previous|)` from the average before it is folded
 * in: a migration stalled by a busy machine (seconds, once) must not double the next
 * predictions, while a real change still gets there in a few migrations.
 */
function bounded(previous: number | undefined, sample: number, floorMs: number): number {
  if (previous === undefined) return sample;
  const k = Math.max(floorMs, Math.abs(previous));
  return Math.min(previous + k, Math.max(previous - k, sample));
}

/**
 * A switchover correction bounded like every time sample (bounded, 10 ms floor); the pair's first
 * one, with no average yet, is bounded around 0 by the modelled downtime: one slow first
 * switchover on a shared machine (QEMU: 189 ms where 45 was usual) is not taken whole, while
 * a model that is simply short gets there in a few migrations.
 */
function firstBounded(previous: number | undefined, sample: number, modelledMs: number | undefined): number {
  if (previous !== undefined) return bounded(previous, sample, 10);
  const k = Math.max(10, finite(modelledMs) ? modelledMs : 0);
  return Math.min(k, Math.max(-k, sample));
}

function finite(x: number | undefined): x is number {
  return x !== undefined && Number.isFinite(x);
}

/**
 * A stop-and-copy the model put under this tells nothing of the scale: QEMU's 1 ms clock, its
 * device state and vm_stop are much of it (one of 11 ms paused 48 set a pair's scale to 4, and
 * its writers' downtime was then over-predicted by 120-530 ms for the rest of the run).
 */
export const STOP_COPY_MIN_MS = 30;
/** A sample of the scale counts within these: beyond is a stall or a switchover at once, not the pair. */
const STOP_COPY_SCALE_MIN = 0.1;
const STOP_COPY_SCALE_MAX = 4;

/**
 * The pair's stop-and-copy scale with this migration folded in: the first sample taken whole,
 * as the fits do; later ones counted at most half or twice the scale so far, so one stalled
 * stop-and-copy (QEMU's own 209 ms where 10 was usual) moves it only part of the way.
 */
function stopCopyScale(previous: number | undefined, o: LinkObservation): number | undefined {
  const measured = o.hypervisorDowntimeMs;
  const modelled = o.modelledStopCopyMs;
  if (!finite(measured) || !finite(modelled) || modelled < STOP_COPY_MIN_MS) return previous;
  const sample = Math.min(STOP_COPY_SCALE_MAX, Math.max(STOP_COPY_SCALE_MIN, measured / modelled));
  return ewma(previous, previous === undefined ? sample : Math.min(2 * previous, Math.max(previous / 2, sample)));
}

/** Whether a migration tells anything about its link: it moved bytes over a measurable time. */
export function observable(o: LinkObservation): boolean {
  return o.bytesSent > 0 && o.totalMs > o.downtimeMs && o.totalMs > 0;
}

/** Bytes that weigh as much as the fixed time in the time fit (a lab VM's pass): scales the per-byte term. */
const FIT_SCALE_BYTES = 64 * 1048576;
/** Zero pages that weigh as much as the fixed time in the time fit (256 MiB never touched): scales the per-zero-page term. */
const FIT_SCALE_ZERO_PAGES = 65_536;
/** How far the time per zero page may grow at once beyond doubling, ms (from a small starting figure it gets there in a few migrations). */
const ZERO_PAGE_STEP_MS = 0.001;

interface TimeFit {
  readonly rate: number;
  readonly fixed: number;
  /** undefined: the driver does not charge zero pages. */
  readonly zeroPageMs: number | undefined;
}

/**
 * A pair's first migration: the source's measured pass rate, and the rest of the time fixed,
 * where the driver charges no zero pages. Where it does, the rest beyond the driver's fixed time
 * is put on the zero pages: their cost is what differs most between hosts (QEMU 7.2 over TLS:
 * 0.5 µs a page on one 2-CPU host, 8 µs on another), and the fit only slowly moves time between
 * terms that most migrations grow together.
 */
function firstFit(o: LinkObservation, y: number, measuredRate: number, zeroPages: number, costs: StreamCosts | undefined): TimeFit {
  const zeroPageMs = costs?.loop?.zeroPageMs;
  const rest = y - (o.bytesSent / measuredRate) * 1000;
  if (rest < 0) return { rate: (o.bytesSent / y) * 1000, fixed: 0, zeroPageMs };
  if (costs === undefined || zeroPageMs === undefined || zeroPages <= 0) return { rate: measuredRate, fixed: rest, zeroPageMs };
  const fixed = Math.min(rest, costs.fixedMs);
  return { rate: measuredRate, fixed, zeroPageMs: Math.max(zeroPageMs, (rest - fixed) / zeroPages) };
}

/**
 * The time a migration spends outside its switchover is fixed + bytes / rate. One pair carries
 * VMs of every size, so both terms are fitted together, a step per migration (normalised least
 * mean squares, step LINK_EWMA_WEIGHT): the error of the current fit for this migration is shared
 * between the fixed time and the time per byte by how much each weighs for its size. A pair that
 * only carried one size predicts that size right; sizes that differ separate the two. The first
 * migration is split by firstFit. Where the driver's costs charge zero pages (`costs.loop`), the
 * time per zero page is the third term fitted with the others.
 */
function fitTime(previous: LinkRecord | undefined, o: LinkObservation, measuredRate: number, costs: StreamCosts | undefined): TimeFit {
  const zeroPageMs = costs?.loop?.zeroPageMs;
  const zeroPages = zeroPageMs === undefined ? 0 : (o.zeroPages ?? 0);
  const y = o.totalMs - o.downtimeMs - (o.betweenPassesMs ?? 0);
  if (previous === undefined) return firstFit(o, y, measuredRate, zeroPages, costs);
  const msPerByte = 1000 / previous.rateBytesPerSec;
  const msPerZero = zeroPageMs === undefined ? undefined : (previous.zeroPageMs ?? zeroPageMs);
  const x = o.bytesSent / FIT_SCALE_BYTES;
  const z = zeroPages / FIT_SCALE_ZERO_PAGES;
  const expected = previous.fixedMs + msPerByte * o.bytesSent + zeroPages * (msPerZero ?? 0);
  // A migration stalled by a busy machine counts as at most twice what the fit expects, and a
  // slower one moves the fit half as far as a faster one: a shared machine only ever slows a
  // migration down, so the typical time is nearer the quick runs than the mean of all.
  const error = bounded(expected, y, 50) - expected;
  const step = ((error > 0 ? LINK_EWMA_WEIGHT / 2 : LINK_EWMA_WEIGHT) * error) / (1 + x * x + z * z);
  const perByte = msPerByte + (step * x) / FIT_SCALE_BYTES;
  // The time per byte moves at most by half or double at once, and stays positive.
  const slope = Math.min(2 * msPerByte, Math.max(msPerByte / 2, perByte));
  // So does the time per zero page, with a little more room to grow from a small figure.
  const perZero = msPerZero === undefined ? undefined : Math.min(2 * msPerZero + ZERO_PAGE_STEP_MS, Math.max(msPerZero / 2, msPerZero + (step * z) / FIT_SCALE_ZERO_PAGES));
  const fixed = previous.fixedMs + step;
  if (fixed >= 0) return { rate: 1000 / slope, fixed, zeroPageMs: perZero };
  // No fixed time is negative: the fit keeps its time for this size with none, all per byte.
  const perByteOnly = Math.min(2 * msPerByte, Math.max(msPerByte / 2, (fixed + slope * o.bytesSent) / o.bytesSent));
  return { rate: 1000 / perByteOnly, fixed: 0, zeroPageMs: perZero };
}

/**
 * Folds one migration's measurement into the pair's record (a new record when there was none).
 * `costs`: the source driver's; where they charge zero pages time of their own (qemu's loop),
 * the pair's time per zero page is fitted from their figure.
 */
export function learnLink(previous: LinkRecord | undefined, source: string, destination: string, o: LinkObservation, costs?: StreamCosts): LinkRecord | undefined {
  if (!observable(o)) return previous;
  const measured = finite(o.precopyRateBytesPerSec) && o.precopyRateBytesPerSec > 0 ? o.precopyRateBytesPerSec : (o.bytesSent / (o.totalMs - o.downtimeMs)) * 1000;
  const { rate, fixed, zeroPageMs: perZero } = fitTime(previous, o, measured, costs);
  // Corrections, not durations: a negative sample (the model reserved more than it took) counts too, or the average would only grow.
  const extra = finite(o.modelledDowntimeMs) ? o.downtimeMs - o.modelledDowntimeMs : (previous?.switchoverExtraMs ?? 0);
  const margin = Math.max(MARGIN_FLOOR_MS, extra, (previous?.safetyMarginMs ?? 0) * MARGIN_DECAY);
  const scale = stopCopyScale(previous?.stopCopyScale, o);
  return {
    source,
    destination,
    rateBytesPerSec: rate,
    samples: (previous?.samples ?? 0) + 1,
    fixedMs: fixed,
    switchoverExtraMs: ewma(previous?.switchoverExtraMs, firstBounded(previous?.switchoverExtraMs, extra, o.modelledDowntimeMs)),
    safetyMarginMs: margin,
    ...(perZero === undefined ? {} : { zeroPageMs: perZero }),
    ...(scale === undefined ? {} : { stopCopyScale: scale }),
    updatedAt: o.at,
  };
}

/**
 * The downtime the engine asks the source for: the user's limit less the pair's margin, never
 * less than half the limit (a margin that big means the model is wrong, not the link).
 */
export function downtimeTargetMs(limitMs: number, record: LinkRecord | undefined): number {
  const margin = record?.safetyMarginMs ?? 0;
  return Math.max(limitMs / 2, limitMs - margin);
}

function mbps(bytesPerSec: number): string {
  return `${((bytesPerSec * 8) / 1e6).toFixed(0)} Mb/s`;
}

export type LinkSource = PredictionBasis["linkSource"];

/** Where a pair with no record of its own borrows one from. */
export type Borrowed = "reverse" | "nearby";

/**
 * What predicts source → destination among the pairs' records: its own; else the reverse
 * direction's (the same two hosts, link, TLS and CPUs); else a pair that shares a host with it in
 * the same role, the same source first (its hypervisor's one migration thread bounds a stream),
 * then the same destination, the one with the most migrations; else none (the nominal NIC).
 */
export function pairBasis(source: string, destination: string, records: readonly LinkRecord[]): { readonly record: LinkRecord; readonly borrowed?: Borrowed } | undefined {
  const usable = records.filter((r) => r.samples > 0);
  const own = usable.find((r) => r.source === source && r.destination === destination);
  if (own !== undefined) return { record: own };
  const reverse = usable.find((r) => r.source === destination && r.destination === source);
  if (reverse !== undefined) return { record: reverse, borrowed: "reverse" };
  const rank = (r: LinkRecord): number => (r.source === source ? 2 : r.destination === destination ? 1 : 0);
  const byName = (a: LinkRecord, b: LinkRecord): number => `${a.source}\0${a.destination}`.localeCompare(`${b.source}\0${b.destination}`);
  const nearby = usable.filter((r) => rank(r) > 0).sort((a, b) => rank(b) - rank(a) || b.samples - a.samples || byName(a, b))[0];
  return nearby === undefined ? undefined : { record: nearby, borrowed: "nearby" };
}

/** "link rate learned from 12 migrations: 780 Mb/s" and the other kinds of basis, in words; `pair`: the record's own hosts, for a borrowed one. */
export function linkBasisText(source: LinkSource, rateBytesPerSec: number, samples: number, pair?: { readonly source: string; readonly destination: string }): string {
  const migrations = `${samples} migration${samples === 1 ? "" : "s"}`;
  switch (source) {
    case "learned":
      return `link rate learned from ${migrations}: ${mbps(rateBytesPerSec)}`;
    case "reverse":
      return `nothing learned this way yet: the link rate learned the other way between these hosts, from ${migrations}: ${mbps(rateBytesPerSec)}`;
    case "nearby":
      return `nothing learned between these hosts yet: the link rate learned from ${pair?.source ?? "?"} to ${pair?.destination ?? "?"}, from ${migrations}: ${mbps(rateBytesPerSec)}`;
    case "nominal":
      return `nominal VMotion NIC speed (nothing learned for this host pair yet): ${mbps(rateBytesPerSec)}`;
    case "bandwidth-limit":
      return `the migration's bandwidth limit: ${mbps(rateBytesPerSec)}`;
  }
}

export interface PairPredictionInputs {
  /** The model's inputs with the user's limit and the nominal link rate. */
  readonly inputs: PrecopyInputs;
  readonly driver: StreamDriver;
  /** The pair's record, undefined when nothing was learned. */
  readonly learned: LinkRecord | undefined;
  /** `learned` is another pair's record, this one having none yet (pairBasis). */
  readonly borrowed?: Borrowed | undefined;
  readonly bandwidthLimitBytesPerSec: number | undefined;
  /** The dirty rate and touched memory were measured on the source just before (not declared). */
  readonly measured?: boolean | undefined;
}

/** The driver's costs with what the pair learned: fixed and unseen switchover time, and where the driver replays QEMU's loop, the time per zero page and the stop-and-copy scale. */
function learnedCosts(base: StreamCosts, learned: LinkRecord): StreamCosts {
  const loop = base.loop === undefined || learned.zeroPageMs === undefined ? base.loop : { ...base.loop, zeroPageMs: learned.zeroPageMs };
  const scale = learned.stopCopyScale === undefined ? {} : { stopCopyScale: learned.stopCopyScale };
  return { ...base, fixedMs: Math.max(0, learned.fixedMs), switchoverUnreservedMs: learned.switchoverExtraMs, ...scale, ...(loop === undefined ? {} : { loop }) };
}

/**
 * The prediction a user sees: the source driver's costs; the learned rate of the pair once
 * known, else the nominal one; a bandwidth limit caps either; the learned fixed and unseen
 * switchover times; and the engine's target (the limit less the margin) as the stopping rule.
 */
export function predictForPair(p: PairPredictionInputs): Prediction & { readonly basis: PredictionBasis } {
  const base = costsFor(p.driver);
  const learned = p.learned !== undefined && p.learned.samples > 0 ? p.learned : undefined;
  const linkRate = learned?.rateBytesPerSec ?? p.inputs.linkRateBytesPerSec;
  const capped = p.bandwidthLimitBytesPerSec !== undefined && p.bandwidthLimitBytesPerSec > 0 && p.bandwidthLimitBytesPerSec < linkRate;
  const rate = capped ? Math.min(linkRate, p.bandwidthLimitBytesPerSec) : linkRate;
  const costs: StreamCosts = learned === undefined ? base : learnedCosts(base, learned);
  const target = downtimeTargetMs(p.inputs.downtimeLimitMs, learned);
  const prediction = predictPrecopy({ ...p.inputs, linkRateBytesPerSec: rate, downtimeLimitMs: target }, costs);
  const linkSource: LinkSource = capped ? "bandwidth-limit" : learned === undefined ? "nominal" : (p.borrowed ?? "learned");
  const samples = learned?.samples ?? 0;
  const { memoryBytes, touchedBytes, dirtyRateBytesPerSec, workingSetBytes } = p.inputs;
  const guest = { memoryBytes, touchedBytes, dirtyRateBytesPerSec, workingSetBytes, measured: p.measured === true };
  const loop = costs.loop === undefined ? {} : { zeroPageMs: costs.loop.zeroPageMs, stopCopyScale: costs.stopCopyScale ?? 1 };
  return {
    ...prediction,
    basis: { linkRateBytesPerSec: rate, linkSource, samples, costs: p.driver, safetyMarginMs: p.inputs.downtimeLimitMs - target, text: linkBasisText(linkSource, rate, samples, learned), guest, ...loop },
  };
}
