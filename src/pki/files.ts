// Secrets at rest: Ferry's data directories (the controller's SQLite directory, `ferry up`'s
// directory, an agent's state directory) are 0700 and every file Ferry writes in them is 0600,
// whatever the umask, so no other local user reads a token, a key or the store.
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Creates `dir` (and parents) if needed and makes it 0700: an existing one is tightened too. */
export function privateDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  return dir;
}

/** Writes a file only its owner may read or write (0600), also when it existed with a looser mode. */
export function writePrivateFile(path: string, content: string | Uint8Array): void {
  writeFileSync(path, content, { mode: 0o600 });
  chmodSync(path, 0o600);
}

/**
 * Runs `open` with the umask 077, so files it creates (SQLite's database, and the -wal/-shm
 * files SQLite later creates with the database file's own mode) are 0600 from their first byte.
 * Synchronous on purpose: the umask is the process's, and nothing else runs meanwhile.
 */
export function withPrivateUmask<T>(open: () => T): T {
  const previous = process.umask(0o077);
  try {
    return open();
  } finally {
    process.umask(previous);
  }
}

/** Makes every file under `dir` 0600 and every directory 0700 (what a previous version wrote looser). */
export function tightenFiles(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isFile()) chmodSync(path, 0o600);
    else if (entry.isDirectory()) {
      chmodSync(path, 0o700);
      tightenFiles(path);
    }
  }
}
