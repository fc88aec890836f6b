// PUT /api/inventory: an import replaces the whole inventory, or changes nothing. It is
// refused (409) when it would remove running VMs or hosts whose agents joined, or while
// migrations run, unless force=true. A forced import forgets no running migration: whether a
// VM migrates is its open task's claim, not inventory. dryRun=true changes nothing and answers
// the diff and the refusal it would get.
import { createRoute, z } from "@hono/zod-openapi";
import { API_BASE, ImportResultSchema } from "../api/schemas.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { diffInventories, removedRunningVms } from "../core/inventory/diff.ts";
import { formatIssue, parseInventory } from "../core/inventory/parse.ts";
import { Phase, TERMINAL_PHASES } from "../core/migration/types.ts";
import { ObjectKind, type Store } from "../store/store.ts";
import type { ControllerApp } from "./app.ts";
import { requireRole, Role } from "./auth.ts";
import type { InventoryService } from "./inventory-service.ts";
import { errors, json, security } from "./openapi.ts";

function someOf(names: readonly string[]): string {
  return names.length <= 5 ? names.join(", ") : `${names.slice(0, 5).join(", ")} and ${names.length - 5} more`;
}

/** Why an import needs force=true: it removes running VMs or hosts with agents, or migrations run; null when it does not. */
function importRefusal(runningVms: readonly string[], agentHosts: readonly string[], migrations: readonly { readonly id: string; readonly vm: string }[]): string | null {
  const reasons: string[] = [];
  if (runningVms.length > 0) reasons.push(`remove ${runningVms.length} running VM${runningVms.length === 1 ? "" : "s"} (${someOf(runningVms)})`);
  if (agentHosts.length > 0) reasons.push(`remove ${agentHosts.length} host${agentHosts.length === 1 ? "" : "s"} with an agent (${someOf(agentHosts)})`);
  if (migrations.length > 0) reasons.push(`replace the inventory while ${migrations.length} migration${migrations.length === 1 ? " runs" : "s run"} (${someOf(migrations.map((m) => `${m.vm}: ${m.id}`))})`);
  if (reasons.length === 0) return null;
  return `the import would ${reasons.join(" and ")}: check with dryRun=true, then add force=true (\`ferry inventory import --force\`) to do it anyway`;
}

export function registerImportRoute(app: ControllerApp, deps: { readonly store: Store; readonly inventory: InventoryService }): void {
  const { store, inventory } = deps;
  const activeMigrations = () => store.listTasks({ states: Object.values(Phase).filter((p) => !TERMINAL_PHASES.has(p)), limit: 1000 });
  const hostsWithAgents = async (hosts: readonly string[]): Promise<string[]> => {
    if (hosts.length === 0) return [];
    const agents = new Set((await store.listObjects<{ host: string }>(ObjectKind.agent)).map((a) => a.name));
    return hosts.filter((h) => agents.has(h));
  };

  app.openapi(
    createRoute({
      method: "put",
      path: `${API_BASE}/inventory`,
      security,
      summary: "Import an inventory (YAML or JSON text): replaces everything, or changes nothing. Refused (409) when it would remove running VMs or hosts with agents, or while migrations run, unless force=true; dryRun=true only answers the diff",
      request: {
        body: { content: { "application/yaml": { schema: z.string() }, "application/json": { schema: z.unknown() } }, required: true },
        query: z.object({ force: z.enum(["true", "false"]).default("false"), dryRun: z.enum(["true", "false"]).default("false") }),
      },
      responses: { 200: json(ImportResultSchema, "Imported (or, with dryRun, what importing would do)"), ...errors },
    }),
    async (c) => {
      requireRole(c.get("token"), Role.admin);
      const query = c.req.valid("query");
      const text = await c.req.text();
      const result = parseInventory(text, "request body");
      if (!result.ok) {
        const message = result.issues.length === 1 && result.issues[0] !== undefined ? formatIssue(result.issues[0]) : `${result.issues.length} problems: ${result.issues.slice(0, 5).map(formatIssue).join("; ")}`;
        throw new FerryError(ErrorCode.invalidInput, message, { details: { issues: result.issues } });
      }
      const current = inventory.current;
      const running = await activeMigrations();
      const next = result.inventory;
      const diff = diffInventories(current.inventory, next);
      const refusal = importRefusal(removedRunningVms(current.inventory, next), await hostsWithAgents(diff.removed["hosts"] ?? []), running);
      if (query.dryRun === "true") return c.json({ changed: [], generation: current.generation, dryRun: true, diff, refusal }, 200);
      if (refusal !== null && query.force !== "true") throw new FerryError(ErrorCode.conflict, refusal, { details: { diff } });
      const snapshot = await inventory.replace(next);
      return c.json({ changed: [`${snapshot.inventory.hosts.length} hosts`, `${snapshot.inventory.vms.length} VMs`], generation: snapshot.generation, dryRun: false, diff, refusal: null }, 200);
    },
  );
}
