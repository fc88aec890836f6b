// The host agent's HTTP API, as a Hono app over one hypervisor driver. The composition root
// (`ferry agent`) serves it; tests call `app.request()` with no socket. Each resource's routes
// are a sub-app of their own (routes-*.ts) over one shared context (context.ts); this module
// only builds that context and puts the edge in front: body limit, authentication, and errors
// leaving as `{ code, message, details }` with the status chosen in http-errors.ts.
//
// Every route needs the agent's bearer token, with one exception: a migration's state token
// (minted when this host prepared it, src/agent/migration-tokens.ts) opens that migration's
// incoming state and nothing else, so a source never holds this agent's own token.
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { ErrorCode, isFerryError } from "../core/errors.ts";
import { API_PREFIX } from "./api.ts";
import { bearerTokenCheck } from "./auth.ts";
import { createAgentContext, LogLevel, type AgentAppOptions, type AgentContext } from "./context.ts";
import { errorBody, statusFor } from "./http-errors.ts";
import { hostRoutes } from "./routes-host.ts";
import { incomingRoutes } from "./routes-incoming.ts";
import { outgoingRoutes } from "./routes-outgoing.ts";
import { ownershipRoutes } from "./routes-ownership.ts";
import { reservationRoutes } from "./routes-reservations.ts";
import { usageRoutes } from "./routes-usage.ts";
import { vmRoutes } from "./routes-vms.ts";

export { LogLevel, type AgentAppOptions, type AgentLog, type DestinationBook, type FaultControl, type HostControl, type IncomingDetails } from "./context.ts";
export { migrateOptionsFrom } from "./routes-outgoing.ts";

/** The app and the handles its composition root needs to stop it. */
export interface AgentApp {
  readonly app: Hono;
  /** Aborts outgoing migrations and waits for their reports (before the driver closes). */
  shutdown(): Promise<void>;
  /** Incoming migrations with a live state token (tests: none outlives its migration). */
  stateTokens(): number;
}

const BODY_LIMIT_BYTES = 1024 * 1024;

export function createAgent(options: AgentAppOptions): AgentApp {
  const ctx = createAgentContext(options);
  const app = new Hono();
  guard(app, ctx);

  const api = new Hono();
  api.route("/", hostRoutes(ctx));
  api.route("/vms", vmRoutes(ctx));
  api.route("/reservations", reservationRoutes(ctx));
  api.route("/usage", usageRoutes(ctx));
  api.route("/ownership", ownershipRoutes(ctx));
  api.route("/migrations/incoming", incomingRoutes(ctx));
  api.route("/migrations/outgoing", outgoingRoutes(ctx));
  app.route(API_PREFIX, api);

  return {
    app,
    shutdown: () => ctx.outgoing.abortAll(`${options.hostName} is shutting down`),
    stateTokens: () => ctx.tokens.size(),
  };
}

/** The agent's Hono app (see createAgent for the shutdown handle). */
export function createAgentApp(options: AgentAppOptions): Hono {
  return createAgent(options).app;
}

/** The edge: errors as bodies, the body limit, and authentication before any route. */
function guard(app: Hono, ctx: AgentContext): void {
  const { hostName, log, tokens } = ctx;
  const authorized = bearerTokenCheck(ctx.options.token);

  app.onError((error, c) => {
    if (isFerryError(error)) {
      if (error.code === ErrorCode.internal) log(LogLevel.error, error.message, { path: c.req.path });
      return c.json(errorBody(error), statusFor(error.code));
    }
    log(LogLevel.error, `unexpected error: ${error.message}`, { path: c.req.path, method: c.req.method });
    return c.json({ code: ErrorCode.internal, message: `internal error on ${hostName}: ${error.message}`, details: null }, 500);
  });
  app.notFound((c) => c.json({ code: ErrorCode.notFound, message: `no such route: ${c.req.method} ${c.req.path}`, details: null }, 404));
  // Bodies above 1 MB are refused (413) before they are buffered (issue 11; the controller's edge does the same).
  app.use("*", bodyLimit({ maxSize: BODY_LIMIT_BYTES, onError: (c) => c.json({ code: ErrorCode.invalidInput, message: "the request body is larger than 1 MB, the agent's limit", details: { limitBytes: BODY_LIMIT_BYTES } }, 413) }));

  // Authentication first, for every path (unknown ones too): a wrong token learns nothing.
  app.use("*", async (c, next) => {
    const authorization = c.req.header("Authorization");
    if (!authorized(authorization) && tokens.grants(c.req.method, c.req.path, authorization) === undefined) {
      c.header("WWW-Authenticate", 'Bearer realm="ferry-agent"');
      return c.json({ code: ErrorCode.unauthorized, message: "missing or wrong bearer token", details: null }, 401);
    }
    await next();
    return undefined;
  });
}
