// The task list: GET /api/operations (every recorded operation and every migration, newest
// first, by object, user and state) and GET /api/operations/{id}. The list carries the event
// sequence it is current at, so a client watches GET /api/events after it (list-then-watch):
// `operation` events for operations, `task`/`progress`/`report` for migrations.
import { createRoute, z } from "@hono/zod-openapi";
import { API_BASE, OperationListQuerySchema, OperationSchema, TaskSchema, type Operation, type OperationListQuery } from "../api/schemas.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { migrationAsOperation, phasesOf } from "../core/operations/migrations.ts";
import type { Store, TaskRecord } from "../store/store.ts";
import type { ControllerApp } from "./app.ts";
import { operationView } from "./operations.ts";
import { errors, json, security } from "./openapi.ts";
import { sequenced } from "./routes-events.ts";

export function migrationOperation(record: TaskRecord): Operation {
  const task = TaskSchema.parse(record);
  return migrationAsOperation({ ...task, cold: task.body.cold, report: task.body.report });
}

const newestFirst = (a: Operation, b: Operation): number => b.startedAt - a.startedAt || b.id.localeCompare(a.id);

/** Both lists read with the same filters, merged by start time, cut to the limit. */
export async function listOperations(store: Store, q: OperationListQuery): Promise<Operation[]> {
  const operations =
    q.kind === "migration"
      ? []
      : (await store.listOperations({ object: q.object, initiator: q.user, states: q.state, startedBefore: q.before, limit: q.limit })).map(operationView);
  const phases = q.state === undefined ? undefined : phasesOf(q.state);
  const migrations =
    q.kind === "operation" || phases?.length === 0
      ? []
      : (
          await store.listTasks({
            ...(q.object === undefined ? {} : { vm: q.object }),
            ...(q.user === undefined ? {} : { createdBy: q.user }),
            ...(phases === undefined ? {} : { states: phases }),
            ...(q.before === undefined ? {} : { createdBefore: q.before }),
            limit: q.limit,
          })
        ).map(migrationOperation);
  return [...operations, ...migrations].sort(newestFirst).slice(0, q.limit);
}

export function registerOperationRoutes(app: ControllerApp, deps: { readonly store: Store }): void {
  const { store } = deps;
  app.openapi(
    createRoute({
      method: "get",
      path: `${API_BASE}/operations`,
      security,
      summary: "Tasks, newest first: every operation (power, settings, host networking, tokens, imports, DRS, maintenance) with who, when, state and result, and every migration; filter by object, user and state",
      description: "The ferry-event-sequence header says where to watch GET /api/events from: `operation` events (task id op:ID) start and end operations; migrations have their own events.",
      request: { query: OperationListQuerySchema },
      responses: { 200: { ...json(z.array(OperationSchema), "Tasks"), ...sequenced }, ...errors },
    }),
    async (c) => c.json(await listOperations(store, c.req.valid("query")), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${API_BASE}/operations/{id}`,
      security,
      summary: "One task: an operation (op-…) or a migration (its task id)",
      request: { params: z.object({ id: z.string().min(1).max(200).openapi({ param: { name: "id", in: "path" } }) }) },
      responses: { 200: json(OperationSchema, "The task"), ...errors },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const operation = await store.getOperation(id);
      if (operation !== undefined) return c.json(operationView(operation), 200);
      const task = await store.getTask(id);
      if (task === undefined) throw new FerryError(ErrorCode.notFound, `no task with id ${id}`);
      return c.json(migrationOperation(task), 200);
    },
  );
}
