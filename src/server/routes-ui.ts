// Reads the web UI needs beyond the inventory routes: who the caller is (the UI hides
// migrate and edit actions from read-only tokens) and a cluster's compatibility grid.
import { createRoute } from "@hono/zod-openapi";
import { API_BASE, CompatibilitySchema, SessionSchema, type Compatibility } from "../api/schemas.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import type { ControllerApp } from "./app.ts";
import type { InventoryService } from "./inventory-service.ts";
import { errors, json, NameParam, security } from "./openapi.ts";

/** Above this many VM × host pairs the grid is no longer something to read in a browser. */
export const COMPATIBILITY_MAX_CELLS = 50_000;

export function registerUiRoutes(app: ControllerApp, deps: { readonly inventory: InventoryService }): void {
  const { inventory } = deps;

  app.openapi(
    createRoute({ method: "get", path: `${API_BASE}/session`, security, summary: "The caller's token: name and role", responses: { 200: json(SessionSchema, "The token"), ...errors } }),
    (c) => {
      const token = c.get("token");
      return c.json({ name: token.name, role: token.role }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${API_BASE}/clusters/{name}/compatibility`,
      security,
      summary: "Every VM of a cluster against every host of it: compatible, warnings or errors, with the findings",
      request: { params: NameParam },
      responses: { 200: json(CompatibilitySchema, "VMs × hosts"), ...errors },
    }),
    (c) => {
      const cluster = c.req.valid("param").name;
      const { index, checker } = inventory.current;
      if (!index.clusters.has(cluster)) throw new FerryError(ErrorCode.notFound, `no cluster named "${cluster}"`);
      const hosts = [...index.hosts.values()].filter((view) => view.host.cluster === cluster).map((view) => view.host.name);
      const vms = hosts.flatMap((host) => index.vmsByHost.get(host) ?? []);
      if (vms.length * hosts.length > COMPATIBILITY_MAX_CELLS) {
        throw new FerryError(ErrorCode.invalidInput, `cluster "${cluster}" has ${vms.length} VMs × ${hosts.length} hosts, more than ${COMPATIBILITY_MAX_CELLS} cells: ask GET /api/vms/{name}/where per VM instead`);
      }
      type Cell = Compatibility["vms"][number]["cells"][number];
      const grid: Compatibility = {
        cluster,
        hosts,
        vms: vms.map((vm) => ({
          name: vm.name,
          host: vm.host,
          cells: hosts.map((host): Cell => {
            if (host === vm.host) return { host, status: "current", errors: [], warnings: [] };
            // The same defaults as `ferry where`: the VM's pool when it fits, high priority.
            const result = checker.check(vm.name, host);
            const status = result.errors.length > 0 ? "errors" : result.warnings.length > 0 ? "warnings" : "compatible";
            return { host, status, errors: [...result.errors], warnings: [...result.warnings] };
          }),
        })),
      };
      return c.json(grid, 200);
    },
  );
}
