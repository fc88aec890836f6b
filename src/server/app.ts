// The controller's REST API: the app, its edge (middleware) and its routes by resource —
// inventory reads, check and where (routes-inventory.ts), host networking and VM settings
// (routes-edits.ts), events, import, tokens, audit — and migrations (routes-migrations.ts).
// Every route is declared with its zod schemas (src/api/schemas.ts), which validate requests
// and make the OpenAPI document served at /api/openapi.json. Errors leave as
// `{ code, message, details }` with a fitting status.
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { API_BASE } from "../api/schemas.ts";
import type { Clock } from "../core/clock.ts";
import { ErrorCode, isFerryError } from "../core/errors.ts";
import { statusFor } from "../api/http-status.ts";
import type { ApiToken, Store } from "../store/store.ts";
import { auditTrail, registerAuditRoutes } from "./audit.ts";
import { registerImportRoute } from "./routes-import.ts";
import { registerTokenRoutes } from "./routes-tokens.ts";
import { TokenStreams } from "./auth.ts";
import { bodyLimits, honoPath, requestIds, requireDeclaredBody, securityHeaders, tokenAuthentication, type BodyRule } from "./hardening.ts";
import type { Log } from "./migrations.ts";
import type { InventoryService } from "./inventory-service.ts";
import type { EventHub } from "./events.ts";
import type { HostNetworkActuator } from "./host-network.ts";
import type { HostLivenessView } from "./liveness.ts";
import { eventSequenceHeader, registerEventRoutes } from "./routes-events.ts";
import { registerClusterMigrationRoutes } from "./routes-cluster-migration.ts";
import { registerHostNetworkRoutes, registerSettingsRoutes } from "./routes-edits.ts";
import { registerCheckRoutes, registerInventoryReadRoutes } from "./routes-inventory.ts";
import { registerUiRoutes } from "./routes-ui.ts";
import { operationRecorder, type MaintenanceView } from "./operations.ts";
import { registerOperationRoutes } from "./operations-routes.ts";
import { serveWebUi } from "./ui.ts";

export interface ControllerDeps {
  readonly store: Store;
  readonly inventory: InventoryService;
  readonly events: EventHub;
  readonly clock: Clock;
  /** Applies host-networking edits on the hosts whose agents manage their network, before they are written. */
  readonly hostNetwork?: HostNetworkActuator | undefined;
  /** Where 5xx errors and refused authentications are logged (one JSON line each in `ferry controller`). */
  readonly log?: Log | undefined;
  /** Failed authentications allowed per client address per window before 429 (default 10 a minute). */
  readonly authThrottle?: { readonly limit?: number; readonly windowMs?: number } | undefined;
  /** Audit entries kept (default DEFAULT_AUDIT_KEEP). */
  readonly auditKeep?: number | undefined;
  /** Whether hosts answer the controller's heartbeats (summaries show it); all connected without it. */
  readonly liveness?: HostLivenessView | undefined;
  /** Maintenance mode's state: an Enter operation runs until the host is in (operations.ts). */
  readonly maintenance?: MaintenanceView | undefined;
  /** This controller's lease id, recorded with its operations (operations.ts). */
  readonly controllerId?: string | undefined;
}

export type ControllerEnv = { Variables: { token: ApiToken; requestId: string } };
export type ControllerApp = OpenAPIHono<ControllerEnv>;


/**
 * The error as the API answers it. A 5xx is logged (one line: request id, method, path, the
 * error and its stack, which never reach the client) and its body carries the request id.
 */
export function errorResponse(c: Context, error: unknown, log?: Log): Response {
  const requestId = (c.get("requestId") as string | undefined) ?? "none";
  const logged = (status: number): void => {
    log?.("error", `${c.req.method} ${c.req.path} answered ${status}`, { requestId, method: c.req.method, path: c.req.path, status, error: error instanceof Error ? error.message : String(error), stack: error instanceof Error ? error.stack : undefined });
  };
  if (isFerryError(error)) {
    const status = statusFor(error.code);
    if (status < 500) return c.json({ code: error.code, message: error.message, details: error.details ?? null }, status);
    logged(status);
    const details = typeof error.details === "object" && error.details !== null ? { ...error.details, requestId } : { requestId };
    return c.json({ code: error.code, message: error.message, details }, status);
  }
  if (error instanceof HTTPException && error.status < 500) {
    return c.json({ code: ErrorCode.invalidInput, message: error.message || "malformed request", details: null }, 400);
  }
  logged(500);
  return c.json({ code: ErrorCode.internal, message: `internal error: the controller hit a bug; see its log (request ${requestId})`, details: { requestId } }, 500);
}

/** What every declared route says of its request body, by method and Hono path. */
function bodyRules(app: ControllerApp): Map<string, BodyRule> {
  const rules = new Map<string, BodyRule>();
  for (const definition of app.openAPIRegistry.definitions) {
    if (definition.type !== "route") continue;
    const body = definition.route.request?.body;
    if (body === undefined) continue;
    rules.set(`${definition.route.method.toUpperCase()} ${honoPath(definition.route.path)}`, { required: body.required ?? true, types: Object.keys(body.content) });
  }
  return rules;
}

/** An app that answers validation failures, errors and unknown routes in the API's error shape. */
function newControllerApp(log: Log | undefined): ControllerApp {
  const app = new OpenAPIHono<ControllerEnv>({
    // Validation failures leave in the API's error shape, naming the field.
    defaultHook: (result, c) => {
      if (!result.success) {
        const issue = result.error.issues[0];
        const where = issue === undefined || issue.path.length === 0 ? "" : `${issue.path.join(".")}: `;
        return c.json({ code: ErrorCode.invalidInput, message: `${where}${issue?.message ?? "invalid request"}`, details: { issues: result.error.issues } }, 400);
      }
      return undefined;
    },
  });
  app.onError((error, c) => errorResponse(c, error, log));
  app.notFound((c) => c.json({ code: ErrorCode.notFound, message: `no such API route: ${c.req.method} ${c.req.path}`, details: null }, 404));
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  return app;
}

/**
 * The edge, outermost first: a request id on every answer, security headers, the audit log
 * (it sees the final status), body limits, authentication with throttling, a declared body.
 */
function mountEdge(app: ControllerApp, deps: ControllerDeps): void {
  const { store, clock, log } = deps;
  app.use("*", requestIds());
  app.use("*", securityHeaders());
  app.use(`${API_BASE}/*`, auditTrail({ store, clock, log, keep: deps.auditKeep }));
  app.use(`${API_BASE}/*`, bodyLimits());
  app.use(`${API_BASE}/*`, tokenAuthentication({ store, clock, log, throttle: deps.authThrottle }));
  app.use(`${API_BASE}/*`, requireDeclaredBody(() => bodyRules(app)));
  // Every write the catalogue names is a task: who, when, state, result (operations.ts).
  app.use(`${API_BASE}/*`, operationRecorder({ store, events: deps.events, clock, log, maintenance: deps.maintenance, controller: deps.controllerId }));
  // Lists the UI keeps live say which event sequence they are current at (routes-events.ts).
  app.use(`${API_BASE}/*`, eventSequenceHeader(deps.events));
}

export function createControllerApp(deps: ControllerDeps): ControllerApp {
  const { store, inventory, events, clock } = deps;
  const streams = new TokenStreams();
  const app = newControllerApp(deps.log);
  mountEdge(app, deps);
  // The web UI at / (outside /api, no token: the login form asks for one).
  serveWebUi(app);
  registerUiRoutes(app, { inventory });
  registerInventoryReadRoutes(app, { store, inventory, liveness: deps.liveness });
  registerCheckRoutes(app, { inventory });
  registerHostNetworkRoutes(app, { inventory, hostNetwork: deps.hostNetwork });
  registerSettingsRoutes(app, { store, inventory });
  registerClusterMigrationRoutes(app, { inventory });
  registerEventRoutes(app, { store, events, clock, streams });
  registerImportRoute(app, { store, inventory });
  registerTokenRoutes(app, { store, clock, streams, generation: () => inventory.current.generation });
  registerAuditRoutes(app, { store });
  registerOperationRoutes(app, { store });
  return app;
}

/** Adds the OpenAPI document route; call after every route is registered. */
export function serveOpenApi(app: ControllerApp): void {
  app.doc31(`${API_BASE}/openapi.json`, { openapi: "3.1.0", info: { title: "Ferry controller API", version: "1", description: "Live migration of VMs between QEMU/KVM hosts, VMotion-style." } });
}
