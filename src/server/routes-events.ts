// Task-event routes: the live stream (SSE) with resume and resync, a JSON page of events, and
// the sequence header on the lists the UI loads and then keeps live (list-then-watch).
import { createRoute, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { streamSSE } from "hono/streaming";
import { API_BASE, EVENT_SEQUENCE_HEADER, EventPageSchema, EventSequenceHeadersSchema, ResyncEventSchema } from "../api/schemas.ts";
import type { Clock } from "../core/clock.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import type { Store, TaskEvent } from "../store/store.ts";
import { tokenExpired, type TokenStreams } from "./auth.ts";
import type { ControllerApp, ControllerEnv } from "./app.ts";
import type { EventHub } from "./events.ts";
import { errors, json, security } from "./openapi.ts";

export interface EventRouteDeps {
  readonly store: Store;
  readonly events: EventHub;
  readonly clock: Clock;
  readonly streams: TokenStreams;
}

/** The sequence header, declared on a route's 200 answer: `{ ...json(schema, "..."), ...sequenced }`. */
export const sequenced = { headers: EventSequenceHeadersSchema };

// One event goes to every subscriber: serialise it once, not once per client.
const serialised = new WeakMap<TaskEvent, string>();
function sseData(event: TaskEvent): string {
  let data = serialised.get(event);
  if (data === undefined) {
    data = JSON.stringify({ seq: event.seq, taskId: event.taskId, at: event.at, ...event.body });
    serialised.set(event, data);
  }
  return data;
}

/** GETs of lists the UI keeps live by events, and POST /migrations (the CLI watches the task it started). */
const SEQUENCED = [/^\/api\/migrations(\/[^/]+)?$/, /^\/api\/hosts$/, /^\/api\/vms$/, /^\/api\/inventory$/, /^\/api\/operations$/];

/**
 * Reads the event sequence BEFORE the route reads its rows, and answers it in the
 * `ferry-event-sequence` header: a client that watches after it misses nothing that happened
 * after the rows were read (it may see again a change the rows already show, which applies
 * as a no-op).
 */
export function eventSequenceHeader(events: EventHub): MiddlewareHandler<ControllerEnv> {
  return async (c, next) => {
    const method = c.req.method;
    const path = c.req.path;
    if (!((method === "GET" || (method === "POST" && path === `${API_BASE}/migrations`)) && SEQUENCED.some((p) => p.test(path)))) {
      await next();
      return;
    }
    const sequence = await events.sequence();
    await next();
    if (c.res.ok) c.res.headers.set(EVENT_SEQUENCE_HEADER, String(sequence));
  };
}

/** The resume point: Last-Event-ID (a reconnecting EventSource) over `?after=`; 0 without either. */
function resumePoint(header: string | undefined, after: number | undefined): number {
  return header !== undefined && /^\d+$/.test(header) ? Number(header) : (after ?? 0);
}

export function registerEventRoutes(app: ControllerApp, deps: EventRouteDeps): void {
  const { store, events, clock, streams } = deps;

  app.openapi(
    createRoute({
      method: "get",
      path: `${API_BASE}/events`,
      security,
      summary: "Live task events as server-sent events, after ?after=SEQ (or Last-Event-ID): the sequence a list answered in its ferry-event-sequence header",
      description:
        "`event: task`, `id:` the event's sequence, `data:` the event as JSON. When events after the asked sequence were pruned, `event: resync` (data: ResyncEvent, id: its `latest`) comes first instead of a replay: reload the lists, the stream goes on from there.",
      request: { query: z.object({ task: z.string().min(1).optional(), after: z.coerce.number().int().nonnegative().optional() }) },
      responses: { 200: { content: { "text/event-stream": { schema: z.string() } }, description: "task and resync events" }, ...errors },
    }),
    (c) => {
      const query = c.req.valid("query");
      const after = resumePoint(c.req.header("last-event-id"), query.after);
      const token = c.get("token");
      return streamSSE(c, async (stream) => {
        const done = new AbortController();
        stream.onAbort(() => {
          done.abort();
        });
        // Revoking the token (here, or in the store by another controller) or its expiry ends the stream.
        const forget = streams.watch(token.id, () => {
          done.abort();
        });
        // A comment every 15 s keeps proxies from closing an idle stream.
        const keepAlive = setInterval(() => {
          if (tokenExpired(token, clock.now())) done.abort();
          else void stream.write(": keep-alive\n\n");
          void streams.sweep(store, clock.now()).catch(() => undefined);
        }, 15_000);
        try {
          await events.subscribe({
            after,
            taskId: query.task,
            signal: done.signal,
            onResync: async (notice) => {
              await stream.writeSSE({ id: String(notice.latest), event: "resync", data: JSON.stringify(ResyncEventSchema.parse(notice)) });
            },
            onEvent: async (event) => {
              if (tokenExpired(token, clock.now())) {
                done.abort();
                return;
              }
              await stream.writeSSE({ id: String(event.seq), event: "task", data: sseData(event) });
            },
          });
        } finally {
          clearInterval(keepAlive);
          forget();
        }
      });
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${API_BASE}/events/page`,
      security,
      summary: "Task events after a sequence, as one JSON page (for scripts that poll); 410 GONE when some were pruned: reload, then ask after `details.latest`",
      request: {
        query: z.object({ after: z.coerce.number().int().nonnegative(), task: z.string().min(1).optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) }),
      },
      responses: { 200: json(EventPageSchema, "Events, oldest first"), 410: json(z.object({ code: z.literal("GONE"), message: z.string(), details: ResyncEventSchema }), "Events after `after` were pruned"), ...errors },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const resync = await events.resyncFor(query.after);
      if (resync !== undefined) throw new FerryError(ErrorCode.gone, `cannot page events after ${String(query.after)}: ${resync.reason}`, { details: resync });
      const latest = await events.sequence();
      const page = await store.eventsAfter(query.after, query.task === undefined ? { limit: query.limit } : { taskId: query.task, limit: query.limit });
      const last = page[page.length - 1];
      // An empty page: nothing (of the task) was newer than `latest` when it was read.
      const next = last === undefined ? Math.max(query.after, latest) : last.seq;
      return c.json({ events: page.map((e) => JSON.parse(sseData(e)) as z.infer<typeof EventPageSchema>["events"][number]), next, latest }, 200);
    },
  );
}
