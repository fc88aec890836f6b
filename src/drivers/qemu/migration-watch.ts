// The source's view of QEMU during a migration: the QMP events it reacts to (MIGRATION status
// changes, MIGRATION_PASS, STOP, RESUME), the wait for the next one (or for the progress period,
// when `query-migrate` is read for the display, the watchdog and the convergence rule), and the
// query itself, patient with a QEMU that is only slow to answer.
import type { Clock } from "../../core/clock.ts";
import { isFerryError } from "../../core/errors.ts";
import { parseMigrationInfo, type MigrationSample } from "./migration-info.ts";
import { QmpFailure, type QmpClient, type QmpEvent } from "./qmp.ts";

/** How long a slow `query-migrate` is waited for during a migration before it counts as a failure. */
export const QMP_SLOW_LIMIT_MS = 15_000;

/**
 * How often `query-migrate` is read while nothing happens: 4 times a second is what a progress
 * bar needs, and what the stall watchdog and the convergence rule need too. Events say the rest;
 * this period is also the fallback that finds the end when a QEMU sends no events.
 */
export const PROGRESS_PERIOD_MS = 250;

/**
 * When QEMU says an event happened (QMP's own timestamp, wall clock), not when Ferry read it:
 * a busy agent reads STOP late, which would shorten Ferry's STOP-to-RESUME downtime below
 * QEMU's. A test QMP without a timestamp falls back to the clock.
 */
export function eventTime(event: QmpEvent, clock: Clock): number {
  const { seconds, microseconds } = event.timestamp;
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 + microseconds / 1000 : clock.now();
}

/** MIGRATION statuses after which the stream does not go on (qapi/migration.json, QEMU 7.2). */
const ENDED = new Set(["completed", "failed", "cancelled"]);

/** Why MigrationEvents.next returned. */
export const Wake = {
  /** A MIGRATION status change or STOP: what the display shows changed. */
  event: "event",
  /** QEMU announced the end (MIGRATION completed, failed or cancelled): read the final figures now. */
  ended: "ended",
  /** Ferry itself asked for a look (an abort). */
  poke: "poke",
  /** The wait ran out: the progress period. */
  period: "period",
} as const;
export type Wake = (typeof Wake)[keyof typeof Wake];

/** The QMP events of one outgoing migration, from subscribe to close(). */
export class MigrationEvents {
  /** Trap 9: STOP may come before a query sees `device`; it marks the stop-and-copy. */
  stopped = false;
  /** QEMU's time of the first STOP (eventTime). */
  stoppedAt: number | undefined;
  /** The last status a MIGRATION event announced. */
  status: string | undefined;
  /** The last pass MIGRATION_PASS announced (QEMU's dirty-sync count). */
  pass = 0;
  /** RESUME after STOP on the source: the guest runs here again (a failed or cancelled stream). */
  resumed = false;
  /** QEMU's time of the final MIGRATION event, and Ferry's wall-clock time when it read it. */
  endedAt: number | undefined;
  endSeenAt: number | undefined;
  private wake: ((why: Wake) => void) | undefined;
  /** An event that comes while Ferry is busy (a query in flight) must not be lost: the next wait returns at once. */
  private pending: Wake | undefined;
  private readonly unsubscribe: (() => void)[];
  private readonly clock: Clock;

  constructor(qmp: QmpClient, clock: Clock) {
    this.clock = clock;
    this.unsubscribe = [
      qmp.onEvent((event) => {
        this.stopped = true;
        this.stoppedAt ??= eventTime(event, clock);
        this.notify(Wake.event);
      }, ["STOP"]),
      qmp.onEvent(() => {
        if (this.stopped) this.resumed = true;
      }, ["RESUME"]),
      qmp.onEvent((event) => {
        const pass = event.data["pass"];
        if (typeof pass === "number") this.pass = Math.max(this.pass, pass);
      }, ["MIGRATION_PASS"]),
      // A final status wakes the watcher at once, so Ferry reads the end within one QMP round
      // trip of QEMU's event rather than a progress period later.
      qmp.onEvent((event) => {
        const status = event.data["status"];
        if (typeof status !== "string") return;
        this.status = status;
        if (ENDED.has(status)) {
          this.endedAt ??= eventTime(event, clock);
          this.endSeenAt ??= clock.now();
          this.notify(Wake.ended);
        } else this.notify(Wake.event);
      }, ["MIGRATION"]),
    ];
  }

  /** Wakes the watcher now (an abort), as an event would. */
  poke(): void {
    this.notify(Wake.poke);
  }

  /** Waits for the next event that matters, or `ms`; says which. */
  next(ms: number): Promise<Wake> {
    const pending = this.pending;
    if (pending !== undefined) {
      this.pending = undefined;
      return Promise.resolve(pending);
    }
    return new Promise<Wake>((resolve) => {
      this.wake = resolve;
      void this.clock.sleep(Math.max(0, ms)).then(() => {
        if (this.wake === resolve) this.wake = undefined;
        resolve(Wake.period);
      });
    });
  }

  close(): void {
    for (const off of this.unsubscribe) off();
  }

  private notify(why: Wake): void {
    const wake = this.wake;
    if (wake !== undefined) {
      this.wake = undefined;
      wake(why);
      return;
    }
    // Keep the strongest reason until the next wait: an end outranks a poke, a poke an event.
    if (this.pending === Wake.ended || (this.pending === Wake.poke && why === Wake.event)) return;
    this.pending = why;
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
