import { openPostgresStore } from "./postgres.ts";
import { storeContract } from "./contract.ts";
import { startThrowawayPostgres } from "./testing/postgres.ts";

// A real PostgreSQL server, started for this file and removed after it.
storeContract("PostgreSQL", async () => {
  const server = await startThrowawayPostgres();
  return { store: openPostgresStore(server.url), cleanup: () => { server.stop(); return Promise.resolve(); } };
});
