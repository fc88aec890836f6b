// Reservations of high-priority migrations (the seed's priority step): CPU and memory held on
// this host for one migration id until released (src/agent/reservations.ts keeps the book).
import { Hono } from "hono";
import { MigrationIdSchema, ReservationRequestSchema } from "./api.ts";
import { jsonBody, LogLevel, parse, type AgentContext } from "./context.ts";

export function reservationRoutes(ctx: AgentContext): Hono {
  const { reservations, hostName, clock, log } = ctx;
  const routes = new Hono();

  routes.get("/", (c) => c.json(reservations.list()));

  routes.post("/:migrationId", async (c) => {
    const migrationId = parse(MigrationIdSchema, c.req.param("migrationId"), "migration id");
    const request = parse(ReservationRequestSchema, await jsonBody(c), "reservation");
    const view = await ctx.serialize(async () => {
      const { freeMemoryMB, cpuCapacityMhz } = await ctx.capacity();
      return reservations.hold(migrationId, request, { hostName, freeMemoryMB, cpuCapacityMhz }, clock.now());
    });
    log(LogLevel.info, `reserved ${request.cpuMhz} MHz and ${request.memoryMB} MB`, { migrationId });
    return c.json(view, 201);
  });

  routes.delete("/:migrationId", (c) => {
    const migrationId = c.req.param("migrationId");
    const released = reservations.release(migrationId);
    // Releasing twice is fine: the engine releases in every ending, and an ending may repeat.
    return c.json({ migrationId, released: released !== undefined });
  });

  return routes;
}
