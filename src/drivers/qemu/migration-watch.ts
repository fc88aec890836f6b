// The source's view of QEMU during a migration: the QMP events it listens to (STOP marks the
// stop-and-copy, MIGRATION wakes the poll), the wait between `query-migrate` polls, and the poll
// itself, patient with a QEMU that is only slow to answer.
import type { Clock } from "../../core/clock.ts";
import { isFerryError } from "../../core/errors.ts";
import { parseMigrationInfo, type MigrationSample } from "./migration-info.ts";
import { QmpFailure, type QmpClient, type QmpEvent } from "./qmp.ts";

/** How long a slow `query-migrate` is waited for during a migration before it counts as a failure. */
export const QMP_SLOW_LIMIT_MS = 15_000;

/**
 * When QEMU says an event happened (QMP's own timestamp, wall clock), not when Ferry read it:
 * a busy agent reads STOP late, which would shorten Ferry's STOP-to-RESUME downtime below
 * QEMU's. A test QMP without a timestamp falls back to the clock.
 */
export function eventTime(event: QmpEvent, clock: Clock): number {
  const { seconds, microseconds } = event.timestamp;
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 + microseconds / 1000 : clock.now();
}

/** The QMP events of one outgoing migration, from subscribe to close(). */
export class MigrationEvents {
  /** Trap 9: STOP may come before a poll sees `device`; it marks the stop-and-copy. */
  stopped = false;
  /** QEMU's time of the first STOP (eventTime). */
  stoppedAt: number | undefined;
  private wake: (() => void) | undefined;
  /** An event that comes while a query is in flight must not be lost: the next nap is skipped. */
  private woken = false;
  private readonly unsubscribe: (() => void)[];
  private readonly clock: Clock;

  constructor(qmp: QmpClient, clock: Clock) {
    this.clock = clock;
    this.unsubscribe = [
      qmp.onEvent((event) => {
        this.stopped = true;
        this.stoppedAt ??= eventTime(event, clock);
      }, ["STOP"]),
      // A MIGRATION event (status change: completed, failed...) wakes the poll at once, so
      // Ferry learns the end within a QMP round trip rather than a polling period.
      qmp.onEvent(() => {
        this.woken = true;
        this.wake?.();
      }, ["MIGRATION"]),
    ];
  }

  /** Waits `ms`, or less when a MIGRATION event comes (or came since the last nap). */
  nap(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      void this.clock.sleep(ms).then(resolve);
    }).finally(() => {
      this.wake = undefined;
      this.woken = false;
    });
  }

  close(): void {
    for (const off of this.unsubscribe) off();
  }
}

/**
 * `query-migrate`, asked again while QEMU is only slow to answer (a busy host: its main loop
 * waits for the CPU), for up to `limitMs`; past that its silence is the failure.
 */
export async function askMigration(qmp: QmpClient, clock: Clock, limitMs: number): Promise<MigrationSample> {
  const started = clock.monotonic();
  for (;;) {
    try {
      return parseMigrationInfo(await qmp.execute("query-migrate", undefined, { timeoutMs: 5000 }));
    } catch (error) {
      const timedOut = isFerryError(error) && (error.details as { failure?: unknown } | undefined)?.failure === QmpFailure.timeout;
      if (!timedOut || clock.monotonic() - started >= limitMs) throw error;
    }
  }
}
