// Task events: every progress event is stored (its sequence number is the SSE id) and then
// handed to live subscribers. A client that reconnects with Last-Event-ID replays what it
// missed from the store, then continues live: nothing is lost across a reconnect. A client
// that starts from a list (GET /api/migrations, /hosts, /inventory) watches from the sequence
// the list was read at (`sequence()`), never from 0.
//
// Events are kept for a time and a count (EventRetention) and pruned periodically, never those
// of a task that has not ended. A client resuming from before the highest pruned sequence is
// told to resync (`onResync`, the SSE `resync` event) instead of silently missing events.
//
// On PostgreSQL (several controllers) every controller's appends are announced on the store's
// event feed (LISTEN/NOTIFY): each hub reads new events from the store in sequence order and
// hands them to its subscribers, its own included, so an SSE client on any controller sees
// every controller's events, in one order. Without a feed (SQLite: one controller) events go
// straight from `publish` to this process's subscribers.
import type { Clock } from "../core/clock.ts";
import type { TaskEventBody } from "../core/migration/schema.ts";
import { Phase } from "../core/migration/types.ts";
import { systemClock } from "../drivers/clock.ts";
import type { Store, TaskEvent } from "../store/store.ts";
import type { Log } from "./migrations.ts";

type Listener = (event: TaskEvent) => void;

/** Where this hub is in the store's feed: the last sequence it handed out, and whether it is reading. */
interface FeedState {
  delivered: number;
  pumping: boolean;
  again: boolean;
}

export interface EventRetention {
  /** Events older than this go (ms). */
  readonly maxAgeMs: number;
  /** At most this many are kept (the newest). */
  readonly maxCount: number;
  /** How often the controller prunes (ms). */
  readonly intervalMs: number;
}

export const DEFAULT_EVENT_RETENTION: EventRetention = { maxAgeMs: 7 * 24 * 3_600_000, maxCount: 1_000_000, intervalMs: 10 * 60_000 };

/** Phases after which a task's events may be pruned (needs-attention waits for a decision: kept). */
const ENDED: readonly string[] = [Phase.completed, Phase.failed, Phase.cancelled];

/** Told to a client whose resume point is older than the pruned events: reload, then watch from `latest`. */
export interface ResyncNotice {
  readonly type: "resync";
  /** Where the client asked to resume after. */
  readonly after: number;
  /** The oldest event still kept. */
  readonly oldest: number;
  /** Where the stream goes on from (after a reload of the lists). */
  readonly latest: number;
  readonly reason: string;
}

export interface Subscription {
  /** Events after this sequence (exclusive). */
  readonly after: number;
  /** Only this task's events. */
  readonly taskId?: string | undefined;
  readonly signal: AbortSignal;
  readonly onEvent: (event: TaskEvent) => Promise<void> | void;
  /** Called first, instead of a replay, when events after `after` were pruned. */
  readonly onResync: (notice: ResyncNotice) => Promise<void> | void;
}

export interface EventHubOptions {
  readonly clock?: Clock | undefined;
  readonly retention?: Partial<EventRetention> | undefined;
  readonly log?: Log | undefined;
}

const PAGE = 500;

export class EventHub {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #log: Log | undefined;
  readonly #listeners = new Set<Listener>();
  readonly #retention: EventRetention;
  #chain: Promise<unknown> = Promise.resolve();
  readonly #stop = new AbortController();
  #pruning: Promise<void> | undefined;
  // The store's feed, once started: every delivery goes through #pump, in sequence order.
  #unlisten: (() => Promise<void>) | undefined;
  #feed: FeedState | undefined;

  constructor(store: Store, options: EventHubOptions = {}) {
    this.#store = store;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log;
    this.#retention = { ...DEFAULT_EVENT_RETENTION, ...options.retention };
  }

  get retention(): EventRetention {
    return this.#retention;
  }

  /**
   * Listens to the store's feed (PostgreSQL: other controllers' events) and, with `prune`,
   * prunes now and every `intervalMs`. Without start, events reach this process's subscribers only.
   */
  async start(options: { readonly prune?: boolean } = {}): Promise<void> {
    const feed = this.#store.eventFeed;
    if (feed !== undefined && this.#unlisten === undefined) {
      // Listen first, then read where the log stands: nothing committed in between is missed.
      const pendingSeqs: number[] = [];
      let ready = false;
      this.#unlisten = await feed.listen({
        onAppended: (seq) => {
          if (ready) this.#wake(seq);
          else pendingSeqs.push(seq);
        },
        onResumed: () => {
          this.#wake(undefined);
        },
      });
      const { latest } = await this.#store.eventBounds();
      this.#feed = { delivered: latest, pumping: false, again: false };
      ready = true;
      for (const seq of pendingSeqs) this.#wake(seq);
    }
    if (options.prune === true && this.#pruning === undefined) this.#pruning = this.#pruneLoop(this.#stop.signal);
  }

  /** Stops listening and pruning. */
  async close(): Promise<void> {
    this.#stop.abort();
    await this.#pruning;
    const unlisten = this.#unlisten;
    this.#unlisten = undefined;
    this.#feed = undefined;
    await unlisten?.();
  }

  /** Stores the event, then notifies subscribers, in the order events were published. */
  publish(taskId: string, at: number, body: TaskEventBody): Promise<TaskEvent> {
    const next = this.#chain.then(async () => {
      const event = await this.#store.appendEvent(taskId, at, body);
      if (this.#feed === undefined) this.#dispatch(event);
      else this.#wake(event.seq);
      return event;
    });
    this.#chain = next.catch(() => undefined);
    return next;
  }

  /** The sequence to watch from after reading a list: read it BEFORE the list's rows. */
  async sequence(): Promise<number> {
    return (await this.#store.eventBounds()).latest;
  }

  /** Whether a client resuming after `after` would miss pruned events; then what to tell it. */
  async resyncFor(after: number): Promise<ResyncNotice | undefined> {
    const bounds = await this.#store.eventBounds();
    if (after >= bounds.prunedThrough) return undefined;
    return {
      type: "resync",
      after,
      oldest: bounds.oldest,
      latest: bounds.latest,
      reason: `events after ${String(after)} up to ${String(bounds.prunedThrough)} were pruned (the oldest kept is ${String(bounds.oldest)}): reload the lists, then watch from ${String(bounds.latest)}`,
    };
  }

  /** Prunes by the retention now; returns how many events went. */
  async prune(): Promise<number> {
    return this.#store.pruneEvents({ before: this.#clock.now() - this.#retention.maxAgeMs, keep: this.#retention.maxCount, ended: ENDED });
  }

  /**
   * Calls `onEvent` for every event after `after` (replayed from the store), then for every
   * new one, until `signal` aborts; or, when events after `after` were pruned, `onResync`
   * first and then every new one.
   */
  async subscribe(subscription: Subscription): Promise<void> {
    const { taskId, signal, onEvent } = subscription;
    let last = subscription.after;
    const pending: TaskEvent[] = [];
    let wake: (() => void) | undefined;
    const listener: Listener = (event) => {
      if (taskId !== undefined && event.taskId !== taskId) return;
      pending.push(event);
      wake?.();
    };
    this.#listeners.add(listener);
    const onAbort = (): void => wake?.();
    signal.addEventListener("abort", onAbort);
    try {
      const resync = await this.resyncFor(last);
      if (resync !== undefined) {
        await subscription.onResync(resync);
        last = resync.latest;
      } else {
        // Replay in pages; live events that arrive meanwhile wait in `pending` and are
        // de-duplicated by sequence number.
        for (;;) {
          const page = await this.#store.eventsAfter(last, taskId === undefined ? { limit: PAGE } : { taskId, limit: PAGE });
          for (const event of page) {
            if (signal.aborted) return;
            await onEvent(event);
            last = event.seq;
          }
          if (page.length < PAGE) break;
        }
      }
      while (!signal.aborted) {
        const event = pending.shift();
        if (event === undefined) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
          continue;
        }
        if (event.seq <= last) continue;
        await onEvent(event);
        last = event.seq;
      }
    } finally {
      this.#listeners.delete(listener);
      signal.removeEventListener("abort", onAbort);
    }
  }

  #dispatch(event: TaskEvent): void {
    for (const listener of this.#listeners) listener(event);
  }

  /** An append committed (`seq`), or the feed came back (undefined): deliver what is new. */
  #wake(seq: number | undefined): void {
    const feed = this.#feed;
    if (feed === undefined) return;
    // Nobody listens: nothing to read. A subscriber that comes later replays from the store.
    if (this.#listeners.size === 0 && seq !== undefined && !feed.pumping) {
      feed.delivered = Math.max(feed.delivered, seq);
      return;
    }
    if (feed.pumping) {
      feed.again = true;
      return;
    }
    feed.pumping = true;
    void this.#pump(feed);
  }

  /** Reads the events after the last delivered one from the store, in order, and hands them out. */
  async #pump(feed: FeedState): Promise<void> {
    // Read through a function: #wake sets it while we await, which flow analysis cannot see.
    const again = (): boolean => feed.again;
    try {
      do {
        feed.again = false;
        for (;;) {
          const page = await this.#store.eventsAfter(feed.delivered, { limit: PAGE });
          for (const event of page) {
            feed.delivered = event.seq;
            this.#dispatch(event);
          }
          if (page.length < PAGE) break;
        }
      } while (again() && this.#feed === feed);
      feed.pumping = false;
    } catch (error) {
      // The store did not answer: try again shortly; the events wait in the store.
      this.#log?.("warn", "cannot read new events from the store; retrying", { error: error instanceof Error ? error.message : String(error) });
      await this.#clock.sleep(500, this.#stop.signal).catch(() => undefined);
      feed.pumping = false;
      if (this.#feed === feed && !this.#stop.signal.aborted) this.#wake(undefined);
    }
  }

  async #pruneLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const removed = await this.prune();
        if (removed > 0) this.#log?.("info", "pruned old task events", { removed, maxAgeMs: this.#retention.maxAgeMs, maxCount: this.#retention.maxCount });
      } catch (error) {
        this.#log?.("warn", "cannot prune old task events; trying again later", { error: error instanceof Error ? error.message : String(error) });
      }
      await this.#clock.sleep(this.#retention.intervalMs, signal).catch(() => undefined);
    }
  }
}
