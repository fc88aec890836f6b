// GET /api/host-events: what the heartbeats and reconciliations recorded, per host or for all
// (`ferry events`). The same events stream live on GET /api/events?task=host:NAME.
import { createRoute, z } from "@hono/zod-openapi";
import { API_BASE, HostEventSchema, type HostEvent } from "../api/schemas.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import type { Store, TaskEvent } from "../store/store.ts";
import type { ControllerApp } from "./app.ts";
import type { InventoryService } from "./inventory-service.ts";
import { hostEventStream } from "./liveness.ts";
import { errors, json, security } from "./openapi.ts";

function hostEventOf(host: string, event: TaskEvent): HostEvent | undefined {
  const parsed = HostEventSchema.omit({ seq: true, at: true, host: true }).safeParse(event.body);
  return parsed.success ? { ...parsed.data, seq: event.seq, at: event.at, host } : undefined;
}

export function registerLivenessRoutes(app: ControllerApp, deps: { readonly store: Store; readonly inventory: InventoryService }): void {
  app.openapi(
    createRoute({
      method: "get",
      path: `${API_BASE}/host-events`,
      security,
      summary: "Hosts' liveness and reconciliation events, oldest first: state changes (not responding, connected again) and every difference between what an agent runs and the inventory",
      request: { query: z.object({ host: z.string().min(1).optional(), limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({ description: "The newest this many" }) }) },
      responses: { 200: json(z.array(HostEventSchema), "Events"), ...errors },
    }),
    async (c) => {
      const { host, limit } = c.req.valid("query");
      const hosts = host === undefined ? [...deps.inventory.current.index.hosts.keys()] : [host];
      if (host !== undefined && !deps.inventory.current.index.hosts.has(host)) throw new FerryError(ErrorCode.notFound, `no host named "${host}"`);
      const out: HostEvent[] = [];
      for (const name of hosts) {
        // Each host's stream is short (state changes and reconciliations): read it whole, keep the newest.
        let after = 0;
        const stream: HostEvent[] = [];
        for (;;) {
          const page = await deps.store.eventsAfter(after, { taskId: hostEventStream(name), limit: 500 });
          for (const event of page) {
            const parsed = hostEventOf(name, event);
            if (parsed !== undefined) stream.push(parsed);
          }
          const last = page[page.length - 1];
          if (last === undefined || page.length < 500) break;
          after = last.seq;
        }
        out.push(...stream.slice(-limit));
      }
      out.sort((a, b) => a.seq - b.seq);
      return c.json(out.slice(-limit), 200);
    },
  );
}
