// Migration routes of the controller's API (agents: routes-agents.ts).
import { createRoute, z } from "@hono/zod-openapi";
import { API_BASE, MigrationRequestSchema, ResolveRequestSchema, TaskSchema } from "../api/schemas.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import type { Store, TaskRecord } from "../store/store.ts";
import { requireRole, Role } from "./auth.ts";
import type { ControllerApp } from "./app.ts";
import type { InventoryService } from "./inventory-service.ts";
import type { AgentDirectory, MigrationService } from "./migrations.ts";
import { errors, json, security } from "./openapi.ts";
import { sequenced } from "./routes-events.ts";

/** A stored task as the API answers it: checked against its schema, defaults applied (a report's warnings). */
function taskOf(record: TaskRecord): z.output<typeof TaskSchema> {
  return TaskSchema.parse(record);
}

const IdParam = z.object({ id: z.string().min(1).openapi({ param: { name: "id", in: "path" } }) });

export interface MigrationRouteDeps {
  readonly store: Store;
  readonly inventory: InventoryService;
  readonly migrations: MigrationService;
  readonly agents: AgentDirectory;
}

export function registerMigrationRoutes(app: ControllerApp, deps: MigrationRouteDeps): void {
  const { store, migrations } = deps;

  app.openapi(
    createRoute({ method: "post", path: `${API_BASE}/migrations`, security, summary: "Migrate a VM: validated, then queued; follow it with GET /api/events?task=ID&after=SEQ, SEQ from the ferry-event-sequence header", request: { body: json(MigrationRequestSchema, "VM, target host, pool, priority, downtime limit, accepted warnings") }, responses: { 202: { ...json(TaskSchema, "Queued"), ...sequenced }, ...errors } }),
    async (c) => {
      requireRole(c.get("token"), Role.operator);
      const task = await migrations.start(c.req.valid("json"), c.get("token").name);
      return c.json(taskOf(task), 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${API_BASE}/migrations`,
      security,
      summary: "Migration tasks, newest first; the ferry-event-sequence header says where to watch GET /api/events from",
      request: { query: z.object({ vm: z.string().optional(), state: z.string().optional().openapi({ description: "comma-separated phases" }), limit: z.coerce.number().int().min(1).max(1000).default(50), before: z.string().optional() }) },
      responses: { 200: { ...json(z.array(TaskSchema), "Tasks"), ...sequenced }, ...errors },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const tasks = await store.listTasks({ vm: q.vm, states: q.state?.split(",").filter((s) => s.length > 0), limit: q.limit, before: q.before } as Parameters<Store["listTasks"]>[0]);
      return c.json(tasks.map(taskOf), 200);
    },
  );

  app.openapi(
    createRoute({ method: "get", path: `${API_BASE}/migrations/{id}`, security, summary: "One migration task: prediction, timeline, progress, report", request: { params: IdParam }, responses: { 200: { ...json(TaskSchema, "The task"), ...sequenced }, ...errors } }),
    async (c) => {
      const id = c.req.valid("param").id;
      const task = await store.getTask(id);
      if (task === undefined) throw new FerryError(ErrorCode.notFound, `no migration with id ${id}`);
      return c.json(taskOf(task), 200);
    },
  );

  app.openapi(
    createRoute({ method: "delete", path: `${API_BASE}/migrations/{id}`, security, summary: "Abort a migration: the VM keeps running on its source", request: { params: IdParam }, responses: { 202: json(TaskSchema, "Aborting"), ...errors } }),
    async (c) => {
      requireRole(c.get("token"), Role.operator);
      return c.json(taskOf(await migrations.abort(c.req.valid("param").id)), 202);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: `${API_BASE}/migrations/{id}/resolve`,
      security,
      summary: "Decide where a migration that needs attention ends: only the host that holds the VM's ownership record may run it",
      request: { params: IdParam, body: json(ResolveRequestSchema, "The host to run the VM on") },
      responses: { 200: json(TaskSchema, "Settled"), ...errors },
    }),
    async (c) => {
      requireRole(c.get("token"), Role.operator);
      return c.json(taskOf(await migrations.resolve(c.req.valid("param").id, c.req.valid("json").runOn)), 200);
    },
  );
}
