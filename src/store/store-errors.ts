// Database errors mapped by cause, once, for both databases: a full disk is not "already
// exists", and only a real unique violation is a CONFLICT. SQLite (better-sqlite3) names its
// result codes (`SQLITE_FULL`, `SQLITE_CONSTRAINT_UNIQUE`); PostgreSQL gives SQLSTATEs
// (53100 disk_full, 23505 unique_violation); a file system may answer ENOSPC or EDQUOT.
import { ErrorCode, FerryError, isFerryError } from "../core/errors.ts";

export const StoreFailure = { full: "full", unique: "unique", other: "other" } as const;
export type StoreFailure = (typeof StoreFailure)[keyof typeof StoreFailure];

const FULL = new Set(["SQLITE_FULL", "53100", "ENOSPC", "EDQUOT"]);
const UNIQUE = new Set(["SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY", "23505"]);

/** What a database error means, from its code (and its cause's, for wrapped errors). */
export function classifyStoreError(error: unknown): StoreFailure {
  for (let e: unknown = error, depth = 0; typeof e === "object" && e !== null && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && FULL.has(code)) return StoreFailure.full;
    if (typeof code === "string" && UNIQUE.has(code)) return StoreFailure.unique;
  }
  return StoreFailure.other;
}

/** The store is full: retrying helps once space is freed. Never reported as a clash of names. */
export function storeFullError(cause: unknown): FerryError {
  return new FerryError(ErrorCode.unavailable, "the controller's store is full (no space left for the database): free space, then retry", { cause, retryable: true, details: { reason: "store-full" } });
}

/**
 * Runs a write; a full store becomes UNAVAILABLE, a unique violation CONFLICT (with
 * `conflict()`'s words when given), anything else passes through unchanged.
 */
export async function guardWrite<R>(run: () => Promise<R>, conflict?: () => string): Promise<R> {
  try {
    return await run();
  } catch (error) {
    if (isFerryError(error)) throw error;
    switch (classifyStoreError(error)) {
      case StoreFailure.full:
        throw storeFullError(error);
      case StoreFailure.unique:
        throw new FerryError(ErrorCode.conflict, conflict?.() ?? "the store already holds an entry with that key", { cause: error });
      case StoreFailure.other:
        throw error;
    }
  }
}
