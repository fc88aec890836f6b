// POST /migrations/preview: the migrate wizard's summary. The same body as POST /migrations,
// answered with the checker's findings, the refusal the controller would give, and the
// engine's prediction (time, passes, bytes, downtime) — nothing is queued or reserved.
// Beside them, the convergence policy the move would run with and, when the model predicts
// that pre-copy cannot fit the downtime limit even throttled, a proposal of post-copy with its
// risk (src/core/migration/postcopy.ts). A post-copy asked of a source whose driver cannot do
// it (the sim's) is a refusal here, as it is when the migration starts.
import { createRoute, type z } from "@hono/zod-openapi";
import { API_BASE, MigrationPreviewSchema, MigrationRequestSchema } from "../api/schemas.ts";
import { clusterConvergence } from "../core/inventory/edits-migration.ts";
import { ConvergenceKind, effectivePolicy, proposeConvergence, type ConvergencePolicy } from "../core/migration/postcopy.ts";
import type { ControllerApp } from "./app.ts";
import type { InventorySnapshot } from "./inventory-service.ts";
import type { MigrationService } from "./migrations.ts";
import { errors, json, security } from "./openapi.ts";

type Preview = z.infer<typeof MigrationPreviewSchema>;

export function registerPreviewRoutes(app: ControllerApp, deps: { readonly migrations: MigrationService; readonly inventory: { readonly current: InventorySnapshot } }): void {
  app.openapi(
    createRoute({
      method: "post",
      path: `${API_BASE}/migrations/preview`,
      security,
      summary: "What POST /migrations would do with this request: findings, refusal, predicted time, passes, bytes and downtime, the convergence policy and a post-copy proposal; starts nothing",
      request: { body: json(MigrationRequestSchema, "As for POST /migrations") },
      responses: { 200: json(MigrationPreviewSchema, "Findings and prediction"), ...errors },
    }),
    async (c) => {
      // Any role may ask: a preview changes nothing, like POST /check.
      const request = c.req.valid("json");
      const preview = (await deps.migrations.preview(request)) as Preview;
      const cluster = deps.inventory.current.index.hosts.get(preview.source)?.cluster;
      const convergence = effectivePolicy(request, cluster === undefined ? undefined : clusterConvergence(cluster));
      return c.json(withConvergence(preview, convergence), 200);
    },
  );
}

/** The preview with the policy, its proposal, and the refusal of a post-copy the source cannot do. */
export function withConvergence(preview: Preview, convergence: ConvergencePolicy): Preview {
  const prediction = preview.prediction ?? undefined;
  // The model's costs are the source driver's: "sim" means the sim driver, which has no post-copy.
  const sourceDoesPostcopy = prediction?.basis?.costs !== "sim";
  const proposal = proposeConvergence(prediction, convergence, sourceDoesPostcopy);
  const refusal = preview.refusal ?? (convergence.kind === ConvergenceKind.postCopy && !sourceDoesPostcopy ? `${preview.source} runs the sim driver, which has no post-copy: ask for auto-converge or fail` : null);
  return { ...preview, convergence, ...(proposal === undefined ? {} : { proposal }), refusal };
}
