// A cluster's migration settings (issue 16): its convergence policy — auto-converge (the
// default), post-copy-after=N or fail — read and set through the API; a migration from one of
// its hosts runs with it unless its request names its own (docs/qemu-driver.md, Post-copy).
import { createRoute, z } from "@hono/zod-openapi";
import { API_BASE } from "../api/schemas.ts";
import { clusterConvergence, setClusterConvergence } from "../core/inventory/edits-migration.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { convergenceWords, parseConvergencePolicy } from "../core/migration/postcopy.ts";
import type { ControllerApp } from "./app.ts";
import { requireRole, Role } from "./auth.ts";
import type { InventoryService } from "./inventory-service.ts";
import { errors, json, NameParam, security } from "./openapi.ts";

export const ClusterMigrationSchema = z
  .object({
    convergence: z.string().nullable().openapi({ description: "auto-converge, post-copy-after=N (N from 1 to 30) or fail; null: none set, the default auto-converge applies", example: "post-copy-after=3" }),
  })
  .openapi("ClusterMigrationSettings");

function settingsOf(inventory: InventoryService, name: string): z.infer<typeof ClusterMigrationSchema> {
  const cluster = inventory.current.inventory.clusters.find((c) => c.name === name);
  if (cluster === undefined) throw new FerryError(ErrorCode.notFound, `no cluster named "${name}" in the inventory`);
  const policy = clusterConvergence(cluster);
  return { convergence: policy === undefined ? null : convergenceWords(policy) };
}

export function registerClusterMigrationRoutes(app: ControllerApp, deps: { readonly inventory: InventoryService }): void {
  const { inventory } = deps;
  app.openapi(
    createRoute({ method: "get", path: `${API_BASE}/clusters/{name}/migration`, security, summary: "A cluster's migration settings: its convergence policy (null: the default, auto-converge)", request: { params: NameParam }, responses: { 200: json(ClusterMigrationSchema, "The settings"), ...errors } }),
    (c) => c.json(settingsOf(inventory, c.req.valid("param").name), 200),
  );
  app.openapi(
    createRoute({ method: "put", path: `${API_BASE}/clusters/{name}/migration`, security, summary: "Set a cluster's convergence policy (null clears it): migrations from its hosts run with it unless their request names one", request: { params: NameParam, body: json(ClusterMigrationSchema, "The policy") }, responses: { 200: json(ClusterMigrationSchema, "The settings now"), ...errors } }),
    async (c) => {
      requireRole(c.get("token"), Role.operator);
      const name = c.req.valid("param").name;
      const words = c.req.valid("json").convergence;
      const policy = words === null ? null : parseConvergencePolicy(words);
      await inventory.change((draft) => setClusterConvergence(draft, name, policy));
      return c.json(settingsOf(inventory, name), 200);
    },
  );
}
