// The host's VMotion link as migrations share it. Each outgoing migration is a flow with a
// weight by priority (high 3 : low 1, the seed's "high priority ... CPU stress" made a
// share of the link) and an optional cap of its own (MigrateOptions.bandwidthLimitBytesPerSec).
// When a capacity is known (the host's configured link rate, or else the largest cap among
// the flows), each flow gets capacity x weight / total weight, never more than its own cap.
// With no capacity and no cap a flow runs as fast as loopback goes.
//
// Pacing is "pay before you send": a flow waits the time its batch costs at its current rate
// before writing it, so a pass of n batches takes n x batch / rate and the rate the source
// measures is the rate it was given. The wait can be put to use (the source hashes pages).
import type { Clock } from "../../core/clock.ts";
import { Priority } from "../../core/migration/types.ts";

/** How far behind its schedule a flow may be and still catch up: about one batch. */
const CATCH_UP_MS = 20;

export const PRIORITY_WEIGHT: Readonly<Record<Priority, number>> = { [Priority.high]: 3, [Priority.low]: 1 };

export interface LinkFlow {
  /** Bytes per second this flow may send now; undefined: unlimited. */
  rate(): number | undefined;
  /**
   * Waits until `bytes` may be sent. `idle(deadline)` is called first with the monotonic time
   * the wait ends, to do useful work until then.
   */
  take(bytes: number, signal: AbortSignal, idle?: (deadline: number) => void): Promise<void>;
  close(): void;
}

interface FlowEntry {
  readonly weight: number;
  readonly cap: number | undefined;
  next: number;
}

export class HostLink {
  private readonly clock: Clock;
  private readonly capacity: number | undefined;
  private readonly flows = new Set<FlowEntry>();

  /** `capacityBytesPerSec`: the host's VMotion link, when the sim host models one. */
  constructor(clock: Clock, capacityBytesPerSec?: number) {
    this.clock = clock;
    this.capacity = capacityBytesPerSec;
  }

  get activeFlows(): number {
    return this.flows.size;
  }

  open(priority: Priority, capBytesPerSec: number | undefined): LinkFlow {
    const entry: FlowEntry = { weight: PRIORITY_WEIGHT[priority], cap: capBytesPerSec, next: 0 };
    this.flows.add(entry);
    const rate = (): number | undefined => this.rateOf(entry);
    return {
      rate,
      take: async (bytes, signal, idle) => {
        const r = rate();
        if (r === undefined || r <= 0) return;
        const now = this.clock.monotonic();
        // A timer that fired late is made up for (up to CATCH_UP_MS), so the rate over a pass
        // is the rate given, not the rate less every wake-up's lateness.
        entry.next = Math.max(entry.next, now - CATCH_UP_MS) + (bytes / r) * 1000;
        const deadline = entry.next;
        if (idle !== undefined && deadline - now > 1) idle(deadline - 0.5);
        const left = deadline - this.clock.monotonic();
        if (left >= 1) await this.clock.sleep(left, signal);
      },
      close: () => {
        this.flows.delete(entry);
      },
    };
  }

  private rateOf(entry: FlowEntry): number | undefined {
    let capacity = this.capacity;
    let totalWeight = 0;
    for (const f of this.flows) {
      totalWeight += f.weight;
      if (this.capacity === undefined && f.cap !== undefined) capacity = Math.max(capacity ?? 0, f.cap);
    }
    if (capacity === undefined) return entry.cap;
    const share = (capacity * entry.weight) / Math.max(entry.weight, totalWeight);
    return Math.min(entry.cap ?? Number.POSITIVE_INFINITY, share);
  }
}
