// The scale-out store: PostgreSQL through pg, for large sites and several controllers.
import pg from "pg";
import { Kysely, PostgresDialect } from "kysely";
import { kyselyStore, type Database } from "./kysely-store.ts";
import { postgresEventFeed, type FeedLog } from "./notify.ts";
import type { Store } from "./store.ts";

/**
 * Connects to PostgreSQL at `url` (postgres://user@host:port/db). The pool connects lazily;
 * the event feed (LISTEN ferry_events) connects when the controller's EventHub starts it.
 */
export function openPostgresStore(url: string, now: () => number = Date.now, log?: FeedLog): Store {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  return { ...kyselyStore(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), "postgres", now), eventFeed: postgresEventFeed(url, log) };
}
