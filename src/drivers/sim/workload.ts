// A simulated guest's workload: it writes pages at a set rate over a set working set, from a
// seeded generator, so a run can be replayed write for write. Its whole position (generator
// state, guest time, the fraction of a write owed, a running checksum of what it wrote) is
// part of the VM's device state: a VM resumed on the destination continues exactly where the
// source paused it.
//
// Kinds: idle writes nothing; steady writes uniformly at random over the working set; bursty
// alternates between 1.75x and 0.25x the rate every 500 ms of guest time (same average);
// hot sweeps the working set sequentially, so every write dirties a page not yet dirty in
// this pass, the worst case for pre-copy (meant for rates above the link's).
import type { Clock } from "../../core/clock.ts";
import type { WorkloadSpec } from "../driver.ts";
import type { GuestMemory } from "./memory.ts";

export interface WorkloadState {
  /** The generator's state (mulberry32). */
  readonly rng: number;
  readonly writes: number;
  /** FNV-1a over every (page, offset, value) written, in order. */
  readonly checksum: number;
  /** Guest time run, ms: where a bursty workload is in its cycle. */
  readonly guestMs: number;
  /** The fraction of a write owed from the last step. */
  readonly carry: number;
  /** The next page of a hot workload's sweep. */
  readonly cursor: number;
}

export const BURST_PERIOD_MS = 500;
const BURST_HIGH = 1.75;
const BURST_LOW = 0.25;
/** How often the workload's timer runs the guest. Writes between ticks are made up on the next. */
export const WORKLOAD_TICK_MS = 5;
/** A tick never makes up more than this: a host that froze for seconds does not flood the guest. */
const MAX_CATCH_UP_MS = 1000;

export function initialWorkloadState(seed: number): WorkloadState {
  return { rng: seed >>> 0, writes: 0, checksum: 0x811c9dc5, guestMs: 0, carry: 0, cursor: 0 };
}

/** mulberry32: a tiny, fast, well-mixed 32-bit generator; returns [value, next state]. */
export function mulberry32(state: number): readonly [number, number] {
  const next = (state + 0x6d2b79f5) >>> 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return [(t ^ (t >>> 14)) >>> 0, next];
}

function fnv1a(hash: number, value: number): number {
  let h = hash;
  for (let i = 0; i < 4; i++) {
    h ^= (value >>> (i * 8)) & 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export class Workload {
  readonly spec: WorkloadSpec | undefined;
  private readonly memory: GuestMemory;
  private readonly workingSetPages: number;
  private rng: number;
  private writes: number;
  private checksum: number;
  private guestMs: number;
  private carry: number;
  private cursor: number;
  private throttle = 0;
  private timer: AbortController | undefined;

  constructor(spec: WorkloadSpec | undefined, memory: GuestMemory, state?: WorkloadState) {
    this.spec = spec;
    this.memory = memory;
    const ws = spec === undefined ? 0 : Math.floor(spec.workingSetBytes / memory.pageSize);
    this.workingSetPages = Math.max(0, Math.min(memory.pageCount, ws));
    const s = state ?? initialWorkloadState(spec?.seed ?? 0);
    this.rng = s.rng;
    this.writes = s.writes;
    this.checksum = s.checksum;
    this.guestMs = s.guestMs;
    this.carry = s.carry;
    this.cursor = s.cursor;
  }

  get throttlePercent(): number {
    return this.throttle;
  }

  /** Auto-converge: the guest runs at (100 - percent)% of its rate. */
  setThrottle(percent: number): void {
    this.throttle = Math.min(100, Math.max(0, percent));
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  state(): WorkloadState {
    return { rng: this.rng, writes: this.writes, checksum: this.checksum, guestMs: this.guestMs, carry: this.carry, cursor: this.cursor };
  }

  /** Bytes per second the guest writes at guest time `guestMs`, before any throttle. */
  rateAt(guestMs: number): number {
    const spec = this.spec;
    if (spec === undefined || this.workingSetPages === 0) return 0;
    switch (spec.kind) {
      case "idle":
        return 0;
      case "steady":
      case "hot":
        return spec.dirtyRateBytesPerSec;
      case "bursty":
        return spec.dirtyRateBytesPerSec * (Math.floor(guestMs / BURST_PERIOD_MS) % 2 === 0 ? BURST_HIGH : BURST_LOW);
    }
  }

  /** Runs `ms` of guest time: makes the writes due in it. Returns the pages written. */
  advance(ms: number): number {
    let left = ms;
    let written = 0;
    while (left > 0) {
      // A bursty workload changes rate at period boundaries: step to the next one at most.
      const boundary = (Math.floor(this.guestMs / BURST_PERIOD_MS) + 1) * BURST_PERIOD_MS;
      const step = Math.min(left, Math.max(boundary - this.guestMs, 1e-6));
      const due = ((this.rateAt(this.guestMs) * (1 - this.throttle / 100) * step) / 1000 / this.memory.pageSize) + this.carry;
      const n = Math.floor(due);
      this.carry = due - n;
      for (let i = 0; i < n; i++) this.writeOne();
      written += n;
      this.guestMs += step;
      left -= step;
    }
    return written;
  }

  /** Starts the guest on the clock's timers; a VM that writes nothing needs none. */
  start(clock: Clock): void {
    if (this.timer !== undefined || this.rateAt(0) === 0) return;
    const controller = new AbortController();
    this.timer = controller;
    void this.run(clock, controller.signal);
  }

  /** Pauses the guest: no write happens after this returns. */
  stop(): void {
    this.timer?.abort();
    this.timer = undefined;
  }

  private async run(clock: Clock, signal: AbortSignal): Promise<void> {
    let last = clock.monotonic();
    while (!signal.aborted) {
      try {
        await clock.sleep(WORKLOAD_TICK_MS, signal);
      } catch {
        return;
      }
      // The timer may have fired just before stop(): a paused guest writes nothing more.
      if (this.timer?.signal !== signal) return;
      const now = clock.monotonic();
      this.advance(Math.min(MAX_CATCH_UP_MS, now - last));
      last = now;
    }
  }

  private next(): number {
    const [value, state] = mulberry32(this.rng);
    this.rng = state;
    return value;
  }

  private writeOne(): void {
    const spec = this.spec;
    if (spec === undefined) return;
    let page: number;
    if (spec.kind === "hot") {
      page = this.cursor;
      this.cursor = (this.cursor + 1) % this.workingSetPages;
    } else {
      page = this.next() % this.workingSetPages;
    }
    const offset = (this.next() % (this.memory.pageSize / 4)) * 4;
    // Never zero: a written page must stop being a zero page.
    const value = (this.next() | 1) >>> 0;
    this.memory.writeUInt32(page * this.memory.pageSize + offset, value);
    this.checksum = fnv1a(fnv1a(fnv1a(this.checksum, page), offset), value);
    this.writes++;
  }
}
