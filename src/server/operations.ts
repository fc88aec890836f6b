// Every operation is a task: one middleware records each authenticated write the core's
// catalogue names (src/core/operations/catalogue.ts) — power, settings, host networking,
// tokens, imports, DRS, maintenance — as an operation: running when the request arrives, then
// succeeded or failed with what the answer said (its summary, or the error's code and message),
// who asked, when it started and ended. Each start and end is also a task event (`operation`,
// task id op:ID) so Recent tasks and `ferry tasks` see it at once. Two answers end later than
// they leave: an import that streams its progress ends with its last line, and maintenance
// mode's entry ends when the host is in (or the evacuation failed). Routes never record
// anything themselves, as with the audit log (audit.ts), which sits beside this.
import { randomUUID } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { Clock } from "../core/clock.ts";
import { describeOperation, operationOnlyRefusals, operationReadsBody, summariseAnswer, type OperationName } from "../core/operations/catalogue.ts";
import { OperationState, type Operation } from "../core/operations/schema.ts";
import type { OperationRecord, Store } from "../store/store.ts";
import type { ControllerEnv } from "./app.ts";
import type { EventHub } from "./events.ts";
import type { Log } from "./migrations.ts";

/** Operations kept: the newest this many (running ones always). */
export const DEFAULT_OPERATIONS_KEEP = 100_000;
const PRUNE_EVERY = 500;

/** Where a host's maintenance mode stands (MaintenanceMode.status): what an Enter operation waits for. */
export interface MaintenanceView {
  status(host: string): { readonly state: "out" | "entering" | "in" | "failed"; readonly message: string };
}

export interface OperationDeps {
  readonly store: Store;
  readonly events: EventHub;
  readonly clock: Clock;
  readonly log?: Log | undefined;
  readonly keep?: number | undefined;
  /** Maintenance mode: an Enter operation runs until the host is in. Without it, it ends with the answer. */
  readonly maintenance?: MaintenanceView | undefined;
  /** Between two looks at an evacuation (default 500 ms). */
  readonly pollMs?: number | undefined;
  /** This controller's lease id, recorded with each operation: another controller ends its running ones if that lease expires. */
  readonly controller?: string | undefined;
}

/** The stream's task id of an operation's events. */
export const operationStream = (id: string): string => `op:${id}`;

/** Announces an operation as it now is (the Tasks page follows the event). */
async function publishOperation(deps: Pick<OperationDeps, "events" | "clock" | "log">, record: OperationRecord): Promise<void> {
  try {
    await deps.events.publish(operationStream(record.id), deps.clock.now(), { type: "operation", operation: operationView(record) });
  } catch (error) {
    deps.log?.("warn", "could not publish an operation's event", { operation: record.id, error: String(error) });
  }
}

/**
 * Ends the operations a controller left running when its lease expired (PostgreSQL, where
 * several share the store): the lease every controller renews in the store is what both sides
 * see, never silence. Whether the request took effect is not known, and the result says so;
 * a controller that comes back cannot end them again. Returns how many ended.
 */
export async function failOrphanedOperations(deps: Pick<OperationDeps, "store" | "events" | "clock" | "log">, self: string): Promise<number> {
  const now = deps.clock.now();
  let ended = 0;
  for (const controller of await deps.store.listControllers()) {
    if (controller.id === self || controller.leaseUntil >= now) continue;
    const result = `the controller ${controller.id} that ran it stopped renewing its lease (it ran out at ${new Date(controller.leaseUntil).toISOString()}) before it answered: whether it took effect is not known; look at its object`;
    for (const record of await deps.store.failOperationsOf(controller.id, now, result)) {
      ended += 1;
      deps.log?.("warn", "ended an operation whose controller's lease expired", { operation: record.id, controller: controller.id });
      await publishOperation(deps, record);
    }
  }
  return ended;
}

/** The wire shape of a stored operation (GET /api/operations, the `operation` event). */
export function operationView(record: OperationRecord): Operation {
  return {
    id: record.id,
    kind: record.kind,
    title: record.title,
    object: record.object === undefined ? null : (record.object as Operation["object"]),
    initiator: record.initiator ?? null,
    state: record.state as Operation["state"],
    startedAt: record.startedAt,
    endedAt: record.endedAt ?? null,
    result: record.result ?? null,
    errorCode: record.errorCode ?? null,
    requestId: record.requestId ?? null,
    migration: null,
  };
}

/** `/api/vms/{name}/power` matched against the request path: its parameters, decoded. */
export function routeParams(route: string, path: string): Record<string, string> {
  const names: string[] = [];
  const pattern = route.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{([A-Za-z0-9_]+)\}/g, (_, name: string) => {
    names.push(name);
    return "([^/]+)";
  });
  const match = new RegExp(`^${pattern}$`).exec(path);
  const params: Record<string, string> = {};
  if (match === null) return params;
  names.forEach((name, i) => {
    const raw = match[i + 1];
    if (raw === undefined) return;
    try {
      params[name] = decodeURIComponent(raw);
    } catch {
      params[name] = raw;
    }
  });
  return params;
}

type Ending = Pick<OperationRecord, "state" | "result" | "errorCode">;

async function jsonOf(response: Response): Promise<unknown> {
  if (response.headers.get("content-type")?.includes("json") !== true) return undefined;
  try {
    return await response.clone().json();
  } catch {
    return undefined;
  }
}

/** How a refused or failed answer ends the operation: the error's code and message. */
async function failureOf(response: Response): Promise<Ending> {
  const body = await jsonOf(response);
  const field = (name: string): string | undefined => {
    const value = typeof body === "object" && body !== null ? (body as Record<string, unknown>)[name] : undefined;
    return typeof value === "string" ? value : undefined;
  };
  return { state: OperationState.failed, result: field("message") ?? `the controller answered ${String(response.status)}`, errorCode: field("code") };
}

/**
 * The recorder. Put it inside authentication (it names the token that asked) and outside the
 * routes; the API's errors reach it as answers (the app's onError), so a refusal is a failed
 * operation with its code.
 */
export function operationRecorder(deps: OperationDeps): MiddlewareHandler<ControllerEnv> {
  const keep = deps.keep ?? DEFAULT_OPERATIONS_KEEP;
  const every = Math.max(1, Math.min(PRUNE_EVERY, keep));
  let started = 0;

  const publish = (record: OperationRecord): Promise<void> => publishOperation(deps, record);

  const finish = async (id: string, ending: Ending): Promise<void> => {
    try {
      const ended = await deps.store.finishOperation(id, { state: ending.state, endedAt: deps.clock.now(), result: ending.result, errorCode: ending.errorCode });
      if (ended !== undefined) await publish(ended);
    } catch (error) {
      deps.log?.("error", "could not record an operation's end", { operation: id, error: String(error) });
    }
  };

  const start = async (name: OperationName, initiator: string | undefined, requestId: string): Promise<string | undefined> => {
    const record: OperationRecord = { id: `op-${randomUUID()}`, ...name, object: name.object ?? undefined, initiator, state: OperationState.running, startedAt: deps.clock.now(), endedAt: undefined, result: undefined, errorCode: undefined, requestId, ...(deps.controller === undefined ? {} : { controller: deps.controller }) };
    try {
      await deps.store.startOperation(record);
    } catch (error) {
      // The operation itself goes on: the task list missing a line is better than refusing it.
      deps.log?.("error", "could not record an operation", { kind: name.kind, requestId, error: String(error) });
      return undefined;
    }
    await publish(record);
    if (++started % every === 0) {
      deps.store.pruneOperations(keep).catch((error: unknown) => {
        deps.log?.("warn", "could not prune the operations", { error: String(error) });
      });
    }
    return record.id;
  };

  /** Maintenance mode's entry: running until the host is in, or its evacuation failed. */
  const followMaintenance = async (id: string, host: string): Promise<void> => {
    const view = deps.maintenance;
    if (view === undefined) return;
    for (;;) {
      let status: ReturnType<MaintenanceView["status"]>;
      try {
        status = view.status(host);
      } catch (error) {
        await finish(id, { state: OperationState.failed, result: error instanceof Error ? error.message : String(error), errorCode: undefined });
        return;
      }
      if (status.state !== "entering") {
        await finish(id, status.state === "in" ? { state: OperationState.succeeded, result: status.message, errorCode: undefined } : { state: OperationState.failed, result: status.message, errorCode: undefined });
        return;
      }
      await deps.clock.sleep(deps.pollMs ?? 500);
    }
  };

  /** An import that streams its progress: the operation ends with the stream's last line. */
  const followStream = (id: string, body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> => {
    const decoder = new TextDecoder();
    let text = "";
    return body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          // Only the tail matters: the last complete line is the result.
          text = (text + decoder.decode(chunk, { stream: true })).slice(-65_536);
          controller.enqueue(chunk);
        },
        async flush() {
          const last = text.trim().split("\n").pop() ?? "";
          let line: { phase?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown } } = {};
          try {
            line = JSON.parse(last) as typeof line;
          } catch {
            // not a progress line: the client went away, or the stream broke
          }
          if (line.phase === "done") await finish(id, { state: OperationState.succeeded, result: summariseAnswer("inventory.import", line.result) ?? undefined, errorCode: undefined });
          else await finish(id, { state: OperationState.failed, result: typeof line.error?.message === "string" ? line.error.message : "the import's progress stream ended without a result", errorCode: typeof line.error?.code === "string" ? line.error.code : undefined });
        },
      }),
    );
  };

  return async (c, next) => {
    const method = c.req.method;
    const route = routePath(c, -1).replace(/:([A-Za-z0-9_]+)/g, "{$1}");
    const params = routeParams(route, c.req.path);
    let body: unknown;
    if (operationReadsBody(method, route)) body = await c.req.json<unknown>().catch(() => undefined);
    const name = describeOperation({ method, route, params, query: c.req.query(), body });
    if (name === undefined || name === "skip") {
      await next();
      return;
    }
    if (operationOnlyRefusals(method, route)) {
      // Accepted, it is a task of its own (a migration); refused, it is a failed operation.
      await next();
      if (c.res.ok) return;
      const refused = await start(name, c.get("token").name, c.get("requestId"));
      if (refused !== undefined) await finish(refused, await failureOf(c.res));
      return;
    }
    const id = await start(name, c.get("token").name, c.get("requestId"));
    await next();
    if (id === undefined) return;
    const response = c.res;
    if (!response.ok) {
      await finish(id, await failureOf(response));
      return;
    }
    if (response.headers.get("content-type")?.startsWith("application/x-ndjson") === true && response.body !== null) {
      c.res = new Response(followStream(id, response.body), response);
      return;
    }
    const answer = await jsonOf(response);
    const host = params["name"];
    if (name.kind === "host.maintenance.enter" && host !== undefined && deps.maintenance !== undefined) {
      // Entry answers at once and evacuates by live migration: the task runs until the host is in.
      void followMaintenance(id, host);
      return;
    }
    await finish(id, { state: OperationState.succeeded, result: summariseAnswer(name.kind, answer) ?? undefined, errorCode: undefined });
  };
}
