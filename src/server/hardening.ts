// The controller's HTTP edge, hardened (issue 11): a request id on every response, body size
// limits answered 413 before the body is buffered, a JSON (or YAML) body required on every
// write that takes one, security headers fitting the built web UI, and the client address
// the throttle and the audit log see. Each is a Hono middleware; app.ts puts them in order.
import { randomUUID } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { routePath } from "hono/route";
import { secureHeaders } from "hono/secure-headers";
import { API_BASE } from "../api/schemas.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import type { Clock } from "../core/clock.ts";
import type { ApiToken, Store } from "../store/store.ts";
import { agentMayCall, authenticate, AuthThrottle, Role } from "./auth.ts";
import type { InventoryService } from "./inventory-service.ts";
import type { Log } from "./migrations.ts";

export const MB = 1024 * 1024;
/** Every controller write: far above any edit, far below what would hurt the controller. */
export const DEFAULT_BODY_LIMIT = 1 * MB;
/** `PUT /api/inventory`: vCenter's maximum (2,500 hosts, 40,000 VMs, generateInventory) is 30 MB as JSON, 26 MB as YAML. */
export const IMPORT_BODY_LIMIT = 64 * MB;

export type RequestIdEnv = { Variables: { requestId: string } };

/** An incoming id is kept when it is short and plain (a proxy's or a client's); else Ferry makes one. */
const SANE_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export function requestIds(): MiddlewareHandler<RequestIdEnv> {
  return async (c, next) => {
    const incoming = c.req.header("x-request-id");
    const id = incoming !== undefined && SANE_ID.test(incoming) ? incoming : randomUUID();
    c.set("requestId", id);
    c.header("x-request-id", id);
    await next();
    // Error handlers build fresh responses: the header goes on whatever leaves.
    c.res.headers.set("x-request-id", id);
  };
}

function sizeWords(bytes: number): string {
  return `${Math.round(bytes / MB)} MB`;
}

/** 413 in the API's error shape; with a Content-Length the body is never read. */
export function bodyLimits(): MiddlewareHandler {
  const limited = (maxSize: number, what: string): MiddlewareHandler =>
    bodyLimit({
      maxSize,
      onError: (c) => c.json({ code: ErrorCode.invalidInput, message: `the request body is larger than ${sizeWords(maxSize)}, the limit for ${what}`, details: { limitBytes: maxSize } }, 413),
    });
  const importLimit = limited(IMPORT_BODY_LIMIT, "an inventory import");
  const defaultLimit = limited(DEFAULT_BODY_LIMIT, "a request to the controller");
  return (c, next) => (c.req.method === "PUT" && c.req.path === `${API_BASE}/inventory` ? importLimit(c, next) : defaultLimit(c, next));
}

/** What a declared route says of its request body: whether it takes one, and in which media types. */
export interface BodyRule {
  readonly required: boolean;
  readonly types: readonly string[];
}

/** `/api/vms/{name}` (OpenAPI) → `/api/vms/:name` (Hono's routing path). */
export function honoPath(openApiPath: string): string {
  return openApiPath.replace(/\{([^}]+)\}/g, ":$1");
}

/** The route a request matched, as declared (`/api/vms/{name}`); its own path when none did. */
export function declaredRoute(c: Context): string {
  const path = routePath(c, -1);
  return path === "" || path.endsWith("*") ? c.req.path : path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

function mediaType(header: string | undefined): string | undefined {
  return header?.split(";")[0]?.trim().toLowerCase();
}

/**
 * A write to a route that declares a body must send one, of a declared type: without this,
 * the validator skips a body with no Content-Type and the route sees `{}` (`no VM named
 * "undefined"`). Missing or other Content-Type → 415; an empty body → 400.
 * `rules` is read on first use, when every route is registered.
 */
export function requireDeclaredBody(rules: () => ReadonlyMap<string, BodyRule>): MiddlewareHandler {
  let table: ReadonlyMap<string, BodyRule> | undefined;
  return async (c, next) => {
    if (!WRITES.has(c.req.method)) return next();
    table ??= rules();
    const rule = table.get(`${c.req.method} ${routePath(c, -1)}`);
    if (rule === undefined) return next();
    const type = mediaType(c.req.header("content-type"));
    if (type === undefined || !rule.types.includes(type)) {
      const wanted = rule.types.join(" or ");
      return c.json({ code: ErrorCode.invalidInput, message: type === undefined ? `this request needs a body with Content-Type: ${wanted}` : `Content-Type ${type} is not accepted here: send ${wanted}`, details: { accepted: rule.types } }, 415);
    }
    // Read once (Hono caches it for the validator); the body limit has already bounded it.
    const text = await c.req.text();
    if (rule.required && text.trim().length === 0) return c.json({ code: ErrorCode.invalidInput, message: `the request body is empty: send ${rule.types[0] ?? "a body"}`, details: null }, 400);
    return next();
  };
}

/**
 * Content-Security-Policy for the built UI (web/dist): its own scripts, styles, fonts and
 * images only, plus inline style attributes (PatternFly and uPlot set them) and data: images;
 * never framed (clickjacking); no referrer leaves. HSTS is left to whoever terminates TLS
 * for good: a private CA reached by IP should not be pinned in browsers for months.
 */
export function securityHeaders(): MiddlewareHandler {
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", "data:"],
      fontSrc: ["'self'"],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
    xFrameOptions: "DENY",
    referrerPolicy: "no-referrer",
    strictTransportSecurity: false,
  });
}

type NodeBindings = { incoming?: { socket?: { remoteAddress?: string } }; server?: NodeBindings } | undefined;

/**
 * The peer's address as the socket says (never a forwarded header a client could forge, as
 * @hono/node-server's getConnInfo reads it); "local" on the unix socket and for in-process
 * callers (app.request() in tests) that have no socket.
 */
export function clientAddress(c: { readonly env: unknown }): string {
  const env = c.env as NodeBindings;
  const bindings = env?.server ?? env;
  return bindings?.incoming?.socket?.remoteAddress ?? "local";
}

/**
 * A VM with a migration under way is not edited, powered or deleted: its task moves it, and a
 * change would race the move. The refusal names the migration. What counts is the VM's claim
 * (held by a task that has not ended, in the store every controller shares; read from the
 * claims cache, whatever the number of VMs asked).
 */
export async function refuseIfMigrating(store: Store, inventory: InventoryService, vms: readonly string[], what: string): Promise<void> {
  const claimed = vms.map((vm) => inventory.claims.claimOf(vm)).filter((c) => c !== undefined);
  const first = claimed[0];
  if (first === undefined) return;
  const task = await store.getTask(first.taskId);
  throw new FerryError(ErrorCode.conflict, `${first.vm} is migrating (migration ${first.taskId}${task === undefined ? "" : `, ${task.state}`}): ${what} once the migration ends`, { details: { vm: first.vm, migration: first.taskId, vms: claimed.map((c) => c.vm), onHost: inventory.current.index.vms.get(first.vm)?.host ?? null } });
}

export interface TokenAuthenticationDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly log?: Log | undefined;
  /** Failed authentications allowed per address per window before 429 (default 10 a minute). */
  readonly throttle?: { readonly limit?: number; readonly windowMs?: number } | undefined;
}

type TokenEnv = { Variables: { token: ApiToken; requestId: string } };

/**
 * Every /api route but the OpenAPI document needs a valid, unexpired token. Failures are
 * logged and counted per client address; an address over the limit gets 429 with
 * Retry-After for every request, a good token included, so a guesser learns nothing.
 */
export function tokenAuthentication(deps: TokenAuthenticationDeps): MiddlewareHandler<TokenEnv> {
  const throttle = new AuthThrottle(() => deps.clock.now(), deps.throttle);
  return async (c, next) => {
    if (c.req.path === `${API_BASE}/openapi.json`) return next();
    const address = clientAddress(c);
    const wait = throttle.retryAfterSeconds(address);
    if (wait > 0) {
      c.header("Retry-After", String(wait));
      return c.json({ code: ErrorCode.unauthorized, message: `too many failed authentications from ${address}: try again in ${wait} s`, details: { retryAfterSeconds: wait } }, 429);
    }
    let token: ApiToken;
    try {
      token = await authenticate(deps.store, c.req.header("authorization"), deps.clock.now());
    } catch (error) {
      const failures = throttle.fail(address);
      deps.log?.("warn", "authentication refused", { requestId: c.get("requestId"), address, method: c.req.method, path: c.req.path, failures, reason: error instanceof Error ? error.message : String(error) });
      throw error;
    }
    if (token.role === Role.agent && !agentMayCall(c.req.method, c.req.path)) {
      throw new FerryError(ErrorCode.forbidden, `token "${token.name}" is an agent's: it may only join (POST ${API_BASE}/agents)`);
    }
    c.set("token", token);
    return next();
  };
}
