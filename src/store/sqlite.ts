// The embedded default store: one SQLite file under the data directory, nothing to start.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { kyselyStore, type Database } from "./kysely-store.ts";
import type { Store } from "./store.ts";

/**
 * Opens (creating when needed) the SQLite store at `path`; ":memory:" for a throwaway one.
 * `tune` sees the connection before use (tests cap its size with `max_page_count`).
 */
export function openSqliteStore(path: string, now: () => number = Date.now, tune?: (sqlite: BetterSqlite3.Database) => void): Store {
  let sqlite: BetterSqlite3.Database;
  try {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    sqlite = new BetterSqlite3(path);
  } catch (cause) {
    throw new FerryError(ErrorCode.io, `cannot open the SQLite store at ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  // WAL lets readers (API, SSE) proceed while a migration task writes; a busy timeout
  // absorbs the brief write locks instead of failing the request.
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma("foreign_keys = ON");
  tune?.(sqlite);
  return kyselyStore(new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) }), "sqlite", now);
}
