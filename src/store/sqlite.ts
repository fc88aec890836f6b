// The embedded default store: one SQLite file under the data directory, nothing to start.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, SqliteDialect, type SqliteDatabase } from "kysely";
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
  return kyselyStore(new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) }), "sqlite", now);
}

/** How many prepared statements are kept: Ferry's queries are a few hundred shapes, whatever the data. */
const STATEMENT_CACHE = 512;

/**
 * Kysely prepares every statement anew; preparing costs as much as running a small query, so
 * each SQL text is prepared once and reused (Kysely runs one statement at a time on this
 * connection, so a cached statement is never in use twice). Kept in insertion order and
 * trimmed oldest first past STATEMENT_CACHE (queries whose text holds varying IN-lists).
 */
function withStatementCache(sqlite: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => {
      cache.clear();
      sqlite.close();
    },
    prepare(sql: string) {
      let statement = cache.get(sql);
      if (statement === undefined) {
        statement = sqlite.prepare(sql);
        cache.set(sql, statement);
        if (cache.size > STATEMENT_CACHE) cache.delete(cache.keys().next().value ?? "");
      }
      return statement;
    },
  };
}
