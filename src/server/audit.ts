// The audit log: one middleware records every write (token create/revoke, imports, power,
// edits, host networking, agent joins) and every refusal of identity or role (401, 403, 429)
// and every 5xx — who (the token's name), what (method, declared route, path with query),
// when, the status, the request id and the error's message — in the controller's store,
// pruned to a bounded size. Routes never record anything themselves.
import { createRoute, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { API_BASE, AuditEntrySchema } from "../api/schemas.ts";
import type { Clock } from "../core/clock.ts";
import type { ApiToken, Store } from "../store/store.ts";
import type { ControllerApp } from "./app.ts";
import { requireRole, Role } from "./auth.ts";
import { clientAddress, declaredRoute } from "./hardening.ts";
import type { Log } from "./migrations.ts";
import { errors, json, security } from "./openapi.ts";

/** Entries kept: about a year of a busy site's writes, a few tens of MB. */
export const DEFAULT_AUDIT_KEEP = 100_000;
/** Pruning runs once per this many entries written (or per `keep`, when that is smaller): the log holds at most keep + this. */
const PRUNE_EVERY = 500;

const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export interface AuditDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly log?: Log | undefined;
  readonly keep?: number | undefined;
}

/** Whether a finished request goes into the log. */
export function audited(method: string, status: number): boolean {
  return WRITES.has(method) || status === 401 || status === 403 || status === 429 || status >= 500;
}

async function errorMessage(response: Response): Promise<string | undefined> {
  if (response.status < 400 || response.headers.get("content-type")?.includes("json") !== true) return undefined;
  try {
    const body = (await response.clone().json()) as { message?: unknown };
    return typeof body.message === "string" ? body.message.slice(0, 1000) : undefined;
  } catch {
    return undefined;
  }
}

type AuditEnv = { Variables: { token?: ApiToken; requestId: string } };

/** Put it outside everything else on /api: it sees the final status, errors included. */
export function auditTrail(deps: AuditDeps): MiddlewareHandler<AuditEnv> {
  const keep = deps.keep ?? DEFAULT_AUDIT_KEEP;
  const every = Math.max(1, Math.min(PRUNE_EVERY, keep));
  let written = 0;
  return async (c, next) => {
    await next();
    const status = c.res.status;
    if (!audited(c.req.method, status)) return;
    const url = new URL(c.req.url);
    const entry = {
      at: deps.clock.now(),
      actor: c.get("token")?.name,
      address: clientAddress(c),
      method: c.req.method,
      route: declaredRoute(c),
      path: `${url.pathname}${url.search}`.slice(0, 2000),
      status,
      requestId: c.get("requestId"),
      message: await errorMessage(c.res),
    };
    try {
      // Written before the answer leaves: what a client was told happened is in the log.
      await deps.store.appendAudit(entry);
    } catch (error) {
      deps.log?.("error", "could not write the audit log", { requestId: entry.requestId, method: entry.method, path: entry.path, status, error: String(error) });
      return;
    }
    if (++written % every === 0) {
      deps.store.pruneAudit(keep).catch((error: unknown) => {
        deps.log?.("warn", "could not prune the audit log", { error: String(error) });
      });
    }
  };
}

/** "2026-12-06T12:00:00Z" or milliseconds since the epoch → milliseconds. */
const SinceSchema = z
  .string()
  .transform((text, ctx) => {
    const at = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
    if (!Number.isFinite(at)) {
      ctx.addIssue({ code: "custom", message: "must be an ISO 8601 time or milliseconds since the epoch" });
      return z.NEVER;
    }
    return at;
  })
  .openapi({ description: "Entries at or after this time: ISO 8601 or milliseconds since the epoch", example: "2026-12-06T12:00:00Z" });

export function registerAuditRoutes(app: ControllerApp, deps: { readonly store: Store }): void {
  app.openapi(
    createRoute({
      method: "get",
      path: `${API_BASE}/audit`,
      security,
      summary: "The audit log, newest first: every write and every 401/403/429/5xx (admin)",
      request: { query: z.object({ since: SinceSchema.optional(), actor: z.string().min(1).max(200).optional().openapi({ description: "A token's name" }), limit: z.coerce.number().int().min(1).max(1000).default(100) }) },
      responses: { 200: json(z.array(AuditEntrySchema), "Entries"), ...errors },
    }),
    async (c) => {
      requireRole(c.get("token"), Role.admin);
      const q = c.req.valid("query");
      const entries = await deps.store.listAudit({ since: q.since, actor: q.actor, limit: q.limit });
      return c.json(entries.map((e) => ({ ...e, actor: e.actor ?? null, address: e.address ?? null, message: e.message ?? null })), 200);
    },
  );
}
