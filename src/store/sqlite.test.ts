import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { storeContract } from "./contract.ts";
import { openSqliteStore } from "./sqlite.ts";

storeContract(
  "SQLite file",
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-sqlite-"));
    return Promise.resolve({ store: openSqliteStore(join(dir, "data", "ferry.db")), cleanup: () => { rmSync(dir, { recursive: true, force: true }); return Promise.resolve(); } });
  },
  {
    // A real SQLITE_FULL: the file may not grow past the pages it has once migrated.
    openFull: async () => {
      const dir = mkdtempSync(join(tmpdir(), "ferry-sqlite-full-"));
      const file = join(dir, "ferry.db");
      const fresh = openSqliteStore(file);
      await fresh.migrateToLatest();
      await fresh.close();
      const store = openSqliteStore(file, Date.now, (sqlite) => {
        sqlite.pragma(`max_page_count = ${String(sqlite.pragma("page_count", { simple: true }))}`);
      });
      return { store, cleanup: () => { rmSync(dir, { recursive: true, force: true }); return Promise.resolve(); } };
    },
  },
);
