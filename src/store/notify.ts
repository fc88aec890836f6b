// Events across controllers on one PostgreSQL: every append notifies `ferry_events` with its
// sequence when it commits (event-log.ts); each controller LISTENs on a dedicated connection
// (a pooled one would be handed to other queries and lose the LISTEN) and reads the new events
// from the store. The connection is remade when it drops, with backoff; after it is back the
// listener is told to read the store, since notifications sent meanwhile are lost.
import pg from "pg";
import { EVENT_CHANNEL } from "./event-log.ts";
import type { EventFeed } from "./store.ts";

const BACKOFF_MS = [100, 250, 500, 1000, 2000, 5000] as const;

export interface FeedLog {
  (level: "info" | "warn" | "error", message: string, fields?: Readonly<Record<string, unknown>>): void;
}

/** A feed of the event sequences appended on the PostgreSQL at `url`, by any process. */
export function postgresEventFeed(url: string, log?: FeedLog): EventFeed {
  return {
    async listen(handlers) {
      let stopped = false;
      let client: pg.Client | undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let failures = 0;

      const connect = async (): Promise<void> => {
        const next = new pg.Client({ connectionString: url });
        next.on("notification", (message) => {
          if (message.channel !== EVENT_CHANNEL) return;
          const seq = Number(message.payload);
          if (Number.isSafeInteger(seq)) handlers.onAppended(seq);
        });
        // An error ends this connection; "end" follows and schedules the next one.
        next.on("error", (error) => {
          log?.("warn", "the event feed's PostgreSQL connection failed; reconnecting", { error: error.message });
        });
        next.on("end", () => {
          if (client === next) client = undefined;
          if (!stopped) retry();
        });
        await next.connect();
        await next.query(`LISTEN ${EVENT_CHANNEL}`);
        client = next;
        failures = 0;
      };

      const retry = (): void => {
        if (stopped || timer !== undefined) return;
        const delay = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)] ?? 5000;
        failures++;
        timer = setTimeout(() => {
          timer = undefined;
          connect().then(
            () => {
              handlers.onResumed();
            },
            (error: unknown) => {
              log?.("warn", "cannot reach PostgreSQL for the event feed; retrying", { error: error instanceof Error ? error.message : String(error) });
              retry();
            },
          );
        }, delay);
      };

      // The first connection's failure is the caller's: the controller does not start without it.
      await connect();
      return async () => {
        stopped = true;
        if (timer !== undefined) clearTimeout(timer);
        const current = client;
        client = undefined;
        await current?.end().catch(() => undefined);
      };
    },
  };
}
