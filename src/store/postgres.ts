// The scale-out store: PostgreSQL through pg, for large sites and several controllers.
import pg from "pg";
import { Kysely, PostgresDialect } from "kysely";
import { kyselyStore, type Database } from "./kysely-store.ts";
import type { Store } from "./store.ts";

/** Connects to PostgreSQL at `url` (postgres://user@host:port/db). The pool connects lazily. */
export function openPostgresStore(url: string, now: () => number = Date.now): Store {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  return kyselyStore(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), "postgres", now);
}
