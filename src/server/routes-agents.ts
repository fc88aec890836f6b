// Agent routes of the controller's API: hosts join through their agents (agent-identity.ts
// says how an agent proves which host it is), and admins approve a reinstalled host's agent.
import { createRoute, z } from "@hono/zod-openapi";
import { AgentJoinedSchema, AgentRegisterSchema, AgentSchema, API_BASE } from "../api/schemas.ts";
import { ObjectKind } from "../store/store.ts";
import { approveAgent, registerAgent, type AgentIdentityDeps } from "./agent-identity.ts";
import { requireRole, Role } from "./auth.ts";
import type { ControllerApp } from "./app.ts";
import type { AgentRecord } from "./migrations.ts";
import { errors, json, NameParam, security } from "./openapi.ts";

export function registerAgentRoutes(app: ControllerApp, deps: AgentIdentityDeps): void {
  app.openapi(
    createRoute({ method: "get", path: `${API_BASE}/agents`, security, summary: "Hosts with an agent (URLs only; never credentials)", responses: { 200: json(z.array(AgentSchema), "Agents"), ...errors } }),
    async (c) => {
      const rows = await deps.store.listObjects<AgentRecord>(ObjectKind.agent);
      return c.json(rows.flatMap((r) => (r.body.url === undefined ? [] : [{ host: r.body.host, url: r.body.url }])), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: `${API_BASE}/agents`,
      security,
      summary: "A host joins through its agent: with a single-use join token and a CSR it gets its certificate and credential; with that credential it announces its URL, and the host's facts come from the agent",
      request: { body: json(AgentRegisterSchema, "csr (join) or url (announce)") },
      responses: { 200: json(AgentJoinedSchema, "Joined, or announced"), ...errors },
    }),
    async (c) => {
      const token = c.get("token");
      // An admin announces an agent, or the agent joins/announces with an agent token of its own.
      if (token.role !== Role.agent) requireRole(token, Role.admin);
      return c.json(await registerAgent(deps, token, c.req.valid("json")), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: `${API_BASE}/agents/{name}/approval`,
      security,
      summary: "Lets the next join token enroll this host once more (a reinstalled host's new agent); the old agent's certificate stops being accepted when the new one joins",
      request: { params: NameParam },
      responses: { 200: json(z.object({ host: z.string(), approved: z.boolean() }), "Approved"), ...errors },
    }),
    async (c) => {
      requireRole(c.get("token"), Role.admin);
      const host = c.req.valid("param").name;
      await approveAgent(deps, host, c.get("token").name);
      return c.json({ host, approved: true }, 200);
    },
  );
}
