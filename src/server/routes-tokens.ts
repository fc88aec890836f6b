// API tokens (admin): list with state and expiry, create (optionally with a TTL; the secret is
// shown once), revoke (which ends the token's open event streams at once).
import { createRoute, z } from "@hono/zod-openapi";
import { API_BASE, ChangedSchema, TokenCreatedSchema, TokenRequestSchema, TokenSchema } from "../api/schemas.ts";
import type { Clock } from "../core/clock.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import type { Store } from "../store/store.ts";
import type { ControllerApp } from "./app.ts";
import { createToken, requireRole, Role, type TokenStreams } from "./auth.ts";
import { errors, json, NameParam, security } from "./openapi.ts";

export interface TokenRouteDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly streams: TokenStreams;
  /** The inventory's generation, for the Changed answer. */
  readonly generation: () => number;
}

export function registerTokenRoutes(app: ControllerApp, deps: TokenRouteDeps): void {
  const { store, clock, streams } = deps;

  app.openapi(
    createRoute({ method: "get", path: `${API_BASE}/tokens`, security, summary: "API tokens (names and roles; never secrets)", responses: { 200: json(z.array(TokenSchema), "Tokens"), ...errors } }),
    async (c) => {
      requireRole(c.get("token"), Role.admin);
      const tokens = await store.listTokens();
      return c.json(tokens.map((t) => ({ name: t.name, role: t.role, createdAt: t.createdAt, revokedAt: t.revokedAt ?? null, expiresAt: t.expiresAt ?? null })), 200);
    },
  );

  app.openapi(
    createRoute({ method: "post", path: `${API_BASE}/tokens`, security, summary: "Create a token; its secret is shown once", request: { body: json(TokenRequestSchema, "Name and role") }, responses: { 201: json(TokenCreatedSchema, "Created"), ...errors } }),
    async (c) => {
      requireRole(c.get("token"), Role.admin);
      const body = c.req.valid("json");
      const { token, secret } = await createToken(store, body.name, body.role, clock.now(), body.ttlSeconds);
      return c.json({ name: token.name, role: token.role, token: secret, expiresAt: token.expiresAt ?? null }, 201);
    },
  );

  app.openapi(
    createRoute({ method: "delete", path: `${API_BASE}/tokens/{name}`, security, summary: "Revoke a token", request: { params: NameParam }, responses: { 200: json(ChangedSchema, "Revoked"), ...errors } }),
    async (c) => {
      requireRole(c.get("token"), Role.admin);
      const name = c.req.valid("param").name;
      const token = (await store.listTokens()).find((t) => t.name === name && t.revokedAt === undefined);
      if (token === undefined || !(await store.revokeToken(name, clock.now()))) throw new FerryError(ErrorCode.notFound, `no active token named "${name}"`);
      streams.revoked(token.id);
      return c.json({ changed: [name], generation: deps.generation() }, 200);
    },
  );
}
