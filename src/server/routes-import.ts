// PUT /api/inventory: an import replaces the whole inventory, or changes nothing. It is
// refused (409) when it would remove running VMs or hosts whose agents joined, or while
// migrations run, unless force=true. A forced import forgets no running migration: whether a
// VM migrates is its open task's claim, not inventory. dryRun=true changes nothing and answers
// the diff and the refusal it would get.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { stream } from "hono/streaming";
import { API_BASE, ErrorBodySchema, IMPORT_PROGRESS_TYPE, ImportProgressSchema, ImportResultSchema, type ImportProgress } from "../api/schemas.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { diffInventories, removedRunningVms, type InventoryDiff } from "../core/inventory/diff.ts";
import type { Inventory } from "../core/inventory/schema.ts";
import { formatIssue, parseInventory } from "../core/inventory/parse.ts";
import { Phase, TERMINAL_PHASES } from "../core/migration/types.ts";
import { ObjectKind, type Store } from "../store/store.ts";
import { errorResponse, type ControllerApp, type ControllerEnv } from "./app.ts";
import { requireRole, Role } from "./auth.ts";
import type { InventoryService } from "./inventory-service.ts";
import type { Log } from "./migrations.ts";
import { errors, security } from "./openapi.ts";

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

const ImportQuerySchema = z.object({ force: z.enum(["true", "false"]).default("false"), dryRun: z.enum(["true", "false"]).default("false") });
type ImportResult = z.infer<typeof ImportResultSchema>;
type ImportQuery = z.infer<typeof ImportQuerySchema>;

interface ImportDeps {
  readonly store: Store;
  readonly inventory: InventoryService;
  readonly log?: Log | undefined;
}

/** An import checked and ready to write, or a dry run's answer. */
type Prepared = { readonly answer: ImportResult } | { readonly next: Inventory; readonly diff: InventoryDiff; readonly generation: number };

/** Parses and validates the file, and refuses what it would remove without force: every refusal comes from here. */
async function prepareImport(deps: ImportDeps, text: string, query: ImportQuery): Promise<Prepared> {
  const { store, inventory } = deps;
  const result = parseInventory(text, "request body");
  if (!result.ok) {
    const message = result.issues.length === 1 && result.issues[0] !== undefined ? formatIssue(result.issues[0]) : `${result.issues.length} problems: ${result.issues.slice(0, 5).map(formatIssue).join("; ")}`;
    throw new FerryError(ErrorCode.invalidInput, message, { details: { issues: result.issues } });
  }
  const current = inventory.current;
  // Running migrations are their tasks' (claims), not inventory: the import cannot forget them.
  const running = await store.listTasks({ states: Object.values(Phase).filter((p) => !TERMINAL_PHASES.has(p)), limit: 1000 });
  const next = result.inventory;
  const diff = diffInventories(current.inventory, next);
  const refusal = importRefusal(removedRunningVms(current.inventory, next), await hostsWithAgents(store, diff.removed["hosts"] ?? []), running);
  if (query.dryRun === "true") return { answer: { changed: [], generation: current.generation, dryRun: true, diff, refusal } };
  if (refusal !== null && query.force !== "true") throw new FerryError(ErrorCode.conflict, refusal, { details: { diff } });
  return { next, diff, generation: current.generation };
}

/** Writes a prepared import; `onWrite` hears how many objects go to the store. */
async function writeImport(deps: ImportDeps, prepared: { readonly next: Inventory; readonly diff: InventoryDiff; readonly generation: number }, onWrite?: (objects: number) => void): Promise<ImportResult> {
  const { next, diff, generation } = prepared;
  const snapshot = await deps.inventory.replace(next, { validated: true, diff: { generation, diff }, onWrite });
  return { changed: [`${snapshot.inventory.hosts.length} hosts`, `${snapshot.inventory.vms.length} VMs`], generation: snapshot.generation, dryRun: false, diff, refusal: null };
}

async function hostsWithAgents(store: Store, hosts: readonly string[]): Promise<string[]> {
  if (hosts.length === 0) return [];
  const agents = new Set((await store.listObjects<{ host: string }>(ObjectKind.agent)).map((a) => a.name));
  return hosts.filter((h) => agents.has(h));
}

/** Whether the client asked for the import's progress as it goes (IMPORT_PROGRESS_TYPE lines). */
function wantsProgress(accept: string | undefined): boolean {
  return accept?.split(",").some((type) => type.trim().split(";")[0] === IMPORT_PROGRESS_TYPE) === true;
}

/**
 * The writing of a checked import as progress lines: how many objects, then the result. Every
 * refusal has been answered before (with its status, which the audit records); a failure of
 * the write itself is the last line, with the status and body the plain request would answer.
 */
function streamedWrite(c: Context<ControllerEnv>, deps: ImportDeps, prepared: { readonly next: Inventory; readonly diff: InventoryDiff; readonly generation: number }): Response {
  c.header("content-type", IMPORT_PROGRESS_TYPE);
  return stream(c, async (out) => {
    const line = async (progress: ImportProgress): Promise<void> => {
      await out.write(`${JSON.stringify(progress)}\n`);
    };
    try {
      let writing: Promise<void> = Promise.resolve();
      const result = await writeImport(deps, prepared, (objects) => {
        writing = line({ phase: "writing", objects });
      });
      await writing;
      await line({ phase: "done", result });
    } catch (error) {
      const answer = errorResponse(c, error, deps.log);
      await line({ phase: "failed", status: answer.status, error: ErrorBodySchema.parse(await answer.json()) });
    }
  });
}

export function registerImportRoute(app: ControllerApp, deps: ImportDeps): void {
  // The streamed answer is a plain Response, which the typed route below cannot return: it is
  // served here first, with the same role, query and body rules (the body ones are global).
  app.use(`${API_BASE}/inventory`, createMiddleware<ControllerEnv>(async (c, next) => {
    if (c.req.method !== "PUT" || !wantsProgress(c.req.header("accept"))) {
      await next();
      return;
    }
    requireRole(c.get("token"), Role.admin);
    const query = ImportQuerySchema.safeParse(c.req.query());
    if (!query.success) throw new FerryError(ErrorCode.invalidInput, `bad query: ${query.error.issues[0]?.message ?? "invalid"}`);
    const prepared = await prepareImport(deps, await c.req.text(), query.data);
    return "answer" in prepared ? c.json(prepared.answer, 200) : streamedWrite(c, deps, prepared);
  }));
  app.openapi(
    createRoute({
      method: "put",
      path: `${API_BASE}/inventory`,
      security,
      summary: "Import an inventory (YAML or JSON text): replaces everything, or changes nothing. Refused (409) when it would remove running VMs or hosts with agents, or while migrations run, unless force=true; dryRun=true only answers the diff. With `Accept: application/x-ndjson` an import that passed its checks answers its writing as it goes, one ImportProgress per line, the last one its result or its error (refusals keep their status)",
      request: {
        body: { content: { "application/yaml": { schema: z.string() }, "application/json": { schema: z.unknown() } }, required: true },
        query: ImportQuerySchema,
      },
      responses: {
        200: {
          description: "Imported (or, with dryRun, what importing would do); with Accept: application/x-ndjson, the progress lines",
          content: { "application/json": { schema: ImportResultSchema }, [IMPORT_PROGRESS_TYPE]: { schema: ImportProgressSchema } },
        },
        ...errors,
      },
    }),
    async (c) => {
      requireRole(c.get("token"), Role.admin);
      const query = c.req.valid("query");
      const prepared = await prepareImport(deps, await c.req.text(), query);
      return c.json("answer" in prepared ? prepared.answer : await writeImport(deps, prepared), 200);
    },
  );
}
