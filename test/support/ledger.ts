// The controller's ownership ledger alone, for tests of the engine with real agent processes:
// the same store (SQLite in a temp directory), the same routes (src/server/ownership.ts) on a
// loopback port, and the capability a migration gets. Its address can be given, so it can sit
// where a test's network partition cannot reach.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getRequestListener } from "@hono/node-server";
import { Hono } from "hono";
import type { OwnershipPlan } from "../../src/engine/fence.ts";
import { agentRuns } from "../../src/engine/fence.ts";
import type { AgentClient } from "../../src/agent/client.ts";
import { LEDGER_BASE, ledgerRoutes, storeLedger, type StoreLedger } from "../../src/server/ownership.ts";
import { openSqliteStore } from "../../src/store/sqlite.ts";

export interface LedgerServer {
  readonly url: string;
  readonly ledger: StoreLedger;
  /** The fence plan of one migration of `vm`: a fresh capability, and the agents to ask about stale records. */
  plan(vm: string, migrationId: string, agents: readonly AgentClient[]): Promise<OwnershipPlan>;
  /** While cut, every request is answered 503 UNAVAILABLE (the store is down or partitioned away). */
  cut(down: boolean): void;
  close(): Promise<void>;
}

export async function startLedgerServer(host = "127.0.0.1"): Promise<LedgerServer> {
  const dir = await mkdtemp(join(tmpdir(), "ferry-ledger-"));
  const store = openSqliteStore(join(dir, "ferry.db"));
  await store.migrateToLatest();
  const ledger = storeLedger(store, Date.now);
  const app = new Hono();
  let down = false;
  app.use("*", async (c, next) => {
    if (down) return c.json({ code: "UNAVAILABLE", message: "the ledger is cut off (test)", details: null }, 503);
    return next();
  });
  app.route(LEDGER_BASE, ledgerRoutes(ledger));
  const listener = getRequestListener(app.fetch);
  const server: Server = createServer((req, res) => {
    void listener(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const url = `http://${host}:${(server.address() as AddressInfo).port}`;
  return {
    url,
    ledger,
    async plan(vm, migrationId, agents) {
      const capability = await ledger.grant(vm, migrationId);
      return {
        ledger: { kind: "controller", url, capability },
        runsOn: async (host, name) => {
          const agent = agents.find((a) => a.name === host);
          return agent === undefined ? undefined : agentRuns(agent, name);
        },
      };
    },
    cut(value) {
      down = value;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
