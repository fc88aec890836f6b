import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { storeContract } from "./contract.ts";
import { openSqliteStore } from "./sqlite.ts";

storeContract("SQLite file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ferry-sqlite-"));
  return Promise.resolve({ store: openSqliteStore(join(dir, "data", "ferry.db")), cleanup: () => { rmSync(dir, { recursive: true, force: true }); return Promise.resolve(); } });
});
