// Files a crash must not lose or leave half-written: created whole and synced to stable storage
// before the caller renames or links them into place, and the directory that names them synced
// after. Used by the datastore identity, the ownership ledger and the network state file.
import { open } from "node:fs/promises";

/** Creates `file` (it must not exist) holding `text` with exactly `mode` (whatever the umask), its bytes on stable storage before it returns. */
export async function writeNewFileSynced(file: string, text: string, mode: number): Promise<void> {
  const handle = await open(file, "wx", mode);
  try {
    await handle.writeFile(text, "utf8");
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync(2) of a directory: the names made or removed in it are on stable storage once it returns. */
export async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
