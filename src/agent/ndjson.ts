// An outgoing migration's events as a newline-delimited JSON response: its events as they come,
// a heartbeat line while it is quiet (so a reader can tell a quiet agent from a dead one), the
// report last. A reader that fell behind gets only the latest progress.
import type { Context } from "hono";
import { stream } from "hono/streaming";
import type { Clock } from "../core/clock.ts";
import type { OutgoingEvent } from "./api.ts";
import type { OutgoingRun } from "./outgoing.ts";

export function ndjsonOf(c: Context, run: OutgoingRun, clock: Clock, heartbeatMs: number): Response {
  c.header("Content-Type", "application/x-ndjson; charset=utf-8");
  c.header("Cache-Control", "no-store");
  return stream(c, async (s) => {
    const queue: OutgoingEvent[] = [];
    let wake: (() => void) | undefined;
    let closed = false;
    const isClosed = (): boolean => closed;
    s.onAbort(() => {
      closed = true;
      wake?.();
    });
    const unsubscribe = run.subscribe((event) => {
      // Only the latest progress matters to a reader that fell behind.
      const last = queue[queue.length - 1];
      if (event.type === "progress" && last?.type === "progress") queue[queue.length - 1] = event;
      else queue.push(event);
      wake?.();
    });
    /** Waits for an event or `heartbeatMs`; true when an event (or the reader's end) woke it. */
    const nap = async (): Promise<boolean> => {
      const timer = new AbortController();
      const woken = new Promise<boolean>((resolve) => {
        wake = () => {
          resolve(true);
        };
      });
      const slept = clock.sleep(heartbeatMs, timer.signal).then(
        () => false,
        () => true,
      );
      const byEvent = await Promise.race([woken, slept]);
      wake = undefined;
      timer.abort();
      return byEvent;
    };
    try {
      for (;;) {
        for (let event = queue.shift(); event !== undefined; event = queue.shift()) {
          await s.writeln(JSON.stringify(event));
          if (event.type === "report") return;
        }
        if (isClosed()) return;
        const byEvent = await nap();
        if (!byEvent && !isClosed() && queue.length === 0) await s.writeln(JSON.stringify({ type: "heartbeat", at: clock.now() } satisfies OutgoingEvent));
      }
    } finally {
      unsubscribe();
    }
  });
}
