import { openPostgresStore } from "./postgres.ts";
import { storeContract } from "./contract.ts";
import { startThrowawayPostgres } from "./testing/postgres.ts";

// A real PostgreSQL server, started for this file and removed after it.
storeContract(
  "PostgreSQL",
  async () => {
    const server = await startThrowawayPostgres();
    return { store: openPostgresStore(server.url), cleanup: () => { server.stop(); return Promise.resolve(); } };
  },
  {
    fullSkipReason:
      "filling PostgreSQL's disk needs a size-capped file system (a root-only mount); its disk_full SQLSTATE 53100 goes through the same mapping, checked in store-errors.test.ts",
  },
);
