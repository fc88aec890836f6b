// One controller per SQLite store. A second controller on the same file would settle the
// first one's live migrations as its own and count admissions apart, so it is refused: the
// first holds an exclusive lock on `<store>.lock` (a small SQLite file in locking_mode
// EXCLUSIVE, so the operating system's lock does the work and goes away with the process,
// even one killed with SIGKILL). The pid beside it only names the holder in the error.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import BetterSqlite3 from "better-sqlite3";
import { ErrorCode, FerryError } from "../core/errors.ts";

export interface StoreLock {
  release(): void;
}

export function lockSqliteStore(storePath: string): StoreLock {
  const path = `${storePath}.lock`;
  const pidFile = `${path}.pid`;
  const db = new BetterSqlite3(path, { timeout: 0 });
  try {
    db.pragma("locking_mode = EXCLUSIVE");
    // The first write takes the exclusive lock, kept until the connection closes.
    db.exec("CREATE TABLE IF NOT EXISTS holder (pid INTEGER); DELETE FROM holder;");
    db.prepare("INSERT INTO holder (pid) VALUES (?)").run(process.pid);
  } catch (cause) {
    db.close();
    const code = (cause as { code?: string }).code ?? "";
    if (!code.startsWith("SQLITE_BUSY") && !code.startsWith("SQLITE_LOCKED")) throw new FerryError(ErrorCode.io, `cannot lock the store ${storePath}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    const pid = (() => {
      try {
        return readFileSync(pidFile, "utf8").trim();
      } catch {
        return "";
      }
    })();
    throw new FerryError(ErrorCode.conflict, `another controller${pid === "" ? "" : ` (pid ${pid})`} uses the SQLite store ${storePath}: SQLite serves one controller; run several on PostgreSQL (--postgres URL)`, { cause });
  }
  writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
  return {
    release() {
      db.close();
      rmSync(pidFile, { force: true });
    },
  };
}
