// Task events: every progress event is stored (its sequence number is the SSE id) and then
// handed to live subscribers. A client that reconnects with Last-Event-ID replays what it
// missed from the store, then continues live: nothing is lost across a reconnect.
import type { Store, TaskEvent } from "../store/store.ts";

type Listener = (event: TaskEvent) => void;

export class EventHub {
  readonly #store: Store;
  readonly #listeners = new Set<Listener>();
  #chain: Promise<unknown> = Promise.resolve();

  constructor(store: Store) {
    this.#store = store;
  }

  /** Stores the event, then notifies subscribers, in the order events were published. */
  publish(taskId: string, at: number, body: Readonly<Record<string, unknown>>): Promise<TaskEvent> {
    const next = this.#chain.then(async () => {
      const event = await this.#store.appendEvent(taskId, at, body);
      for (const listener of this.#listeners) listener(event);
      return event;
    });
    this.#chain = next.catch(() => undefined);
    return next;
  }

  /**
   * Calls `onEvent` for every event after `afterSeq` (replayed from the store), then for
   * every new one, until `signal` aborts. Optionally only one task's events.
   */
  async subscribe(afterSeq: number, taskId: string | undefined, onEvent: (event: TaskEvent) => Promise<void> | void, signal: AbortSignal): Promise<void> {
    let last = afterSeq;
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
      // Replay in pages; live events that arrive meanwhile wait in `pending` and are
      // de-duplicated by sequence number.
      for (;;) {
        const page = await this.#store.eventsAfter(last, taskId === undefined ? { limit: 500 } : { taskId, limit: 500 });
        for (const event of page) {
          if (signal.aborted) return;
          await onEvent(event);
          last = event.seq;
        }
        if (page.length < 500) break;
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
}
