// GET /api/usage: what hosts and VMs use, latest and an hour of history, as the usage sampler
// keeps it (src/server/usage.ts); `ferry hosts --usage` and the web UI's charts read it.
import { createRoute } from "@hono/zod-openapi";
import { API_BASE, UsageQuerySchema, UsageReportSchema, type HostUsageHistoryView, type UsageReport, type VmUsageHistoryView } from "../api/schemas.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import type { ControllerApp } from "./app.ts";
import type { InventoryService } from "./inventory-service.ts";
import { errors, json, security } from "./openapi.ts";
import type { UsageSampler } from "./usage.ts";

export function registerUsageRoutes(app: ControllerApp, deps: { readonly inventory: InventoryService; readonly usage: UsageSampler }): void {
  const { inventory, usage } = deps;
  app.openapi(
    createRoute({
      method: "get",
      path: `${API_BASE}/usage`,
      security,
      summary: "Measured usage of hosts and VMs (CPU in MHz-equivalent, memory in MB), sampled from the agents every 20 s: latest and up to an hour of history, oldest first",
      request: { query: UsageQuerySchema },
      responses: { 200: json(UsageReportSchema, "Usage"), ...errors },
    }),
    (c) => {
      const query = c.req.valid("query");
      const index = inventory.current.index;
      if (query.host !== undefined && !index.hosts.has(query.host)) throw new FerryError(ErrorCode.notFound, `no host named "${query.host}"`, { details: { host: query.host } });
      if (query.vm !== undefined && !index.vms.has(query.vm) && usage.vmHistory(query.vm) === undefined) throw new FerryError(ErrorCode.notFound, `no VM named "${query.vm}"`, { details: { vm: query.vm } });
      const withHistory = query.history === "true";
      const vmNames = query.vm !== undefined ? [query.vm] : query.host !== undefined ? usage.vmsOn(query.host) : usage.vms();
      const vms: VmUsageHistoryView[] = vmNames.flatMap((name) => {
        const kept = usage.vmHistory(name);
        if (kept === undefined || (query.host !== undefined && kept.host !== query.host)) return [];
        return [{ vm: name, host: kept.host, latest: kept.latest ?? null, history: withHistory ? [...kept.history] : [] }];
      });
      const hostNames = query.host !== undefined ? [query.host] : query.vm !== undefined ? vms.map((v) => v.host) : [...index.hosts.keys()].sort();
      const hosts: HostUsageHistoryView[] = hostNames.map((name) => {
        const kept = usage.hostHistory(name);
        return { host: name, capacity: kept.capacity ?? null, latest: kept.latest ?? null, vms: usage.runningOn(name).length, history: withHistory ? [...kept.history] : [] };
      });
      const body: UsageReport = { intervalMs: usage.intervalMs, historySamples: usage.historySamples, hosts, vms };
      return c.json(body, 200);
    },
  );
}
