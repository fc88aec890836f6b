// POST /migrations/preview: the migrate wizard's summary. The same body as POST /migrations,
// answered with the checker's findings, the refusal the controller would give, and the
// engine's prediction (time, passes, bytes, downtime) — nothing is queued or reserved.
import { createRoute, type z } from "@hono/zod-openapi";
import { API_BASE, MigrationPreviewSchema, MigrationRequestSchema } from "../api/schemas.ts";
import type { ControllerApp } from "./app.ts";
import type { MigrationService } from "./migrations.ts";
import { errors, json, security } from "./openapi.ts";

export function registerPreviewRoutes(app: ControllerApp, deps: { readonly migrations: MigrationService }): void {
  app.openapi(
    createRoute({
      method: "post",
      path: `${API_BASE}/migrations/preview`,
      security,
      summary: "What POST /migrations would do with this request: findings, refusal, predicted time, passes, bytes and downtime; starts nothing",
      request: { body: json(MigrationRequestSchema, "As for POST /migrations") },
      responses: { 200: json(MigrationPreviewSchema, "Findings and prediction"), ...errors },
    }),
    async (c) => {
      // Any role may ask: a preview changes nothing, like POST /check.
      const preview = await deps.migrations.preview(c.req.valid("json"));
      return c.json(preview as z.infer<typeof MigrationPreviewSchema>, 200);
    },
  );
}
