// DRS routes (issue 14): a cluster's DRS view and settings, runs on demand, applying
// recommendations, rules, and maintenance mode. Anyone with a token reads; changing settings,
// applying and entering maintenance need the operator role, like every other write.
import { createRoute, z } from "@hono/zod-openapi";
import {
  API_BASE,
  ChangedSchema,
  DrsApplyRequestSchema,
  DrsApplyResultSchema,
  DrsConfigPatchSchema,
  DrsConfigSchema,
  DrsRuleListSchema,
  DrsRuleSchema,
  DrsRunSchema,
  DrsViewSchema,
  MaintenanceAnswerSchema,
  MaintenanceRequestSchema,
  MaintenanceStatusSchema,
} from "../api/schemas.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { putDrsRule, removeDrsRule, setClusterDrs } from "../core/inventory/edits-drs.ts";
import type { ControllerApp } from "./app.ts";
import { requireRole, Role } from "./auth.ts";
import { drsConfigOf } from "./drs-input.ts";
import type { MaintenanceMode } from "./drs-maintenance.ts";
import type { DrsService } from "./drs.ts";
import type { InventoryService } from "./inventory-service.ts";
import { errors, json, NameParam, security } from "./openapi.ts";

const ClusterParam = z.object({ cluster: z.string().min(1).openapi({ param: { name: "cluster", in: "path" } }) });

export interface DrsRouteDeps {
  readonly inventory: InventoryService;
  readonly drs: DrsService;
  readonly maintenance: MaintenanceMode;
}

export function registerDrsRoutes(app: ControllerApp, deps: DrsRouteDeps): void {
  registerClusterDrsRoutes(app, deps);
  registerDrsRuleRoutes(app, deps);
  registerMaintenanceRoutes(app, deps);
}

function registerClusterDrsRoutes(app: ControllerApp, deps: DrsRouteDeps): void {
  const { inventory, drs } = deps;
  app.openapi(
    createRoute({ method: "get", path: `${API_BASE}/clusters/{cluster}/drs`, security, summary: "A cluster's DRS: settings, imbalance (σ), recommendations with reason, gain and cost, and the VMs that cannot move with why", request: { params: ClusterParam }, responses: { 200: json(DrsViewSchema, "The DRS view"), ...errors } }),
    async (c) => c.json(DrsViewSchema.parse(await drs.recommendations(c.req.valid("param").cluster)), 200),
  );

  app.openapi(
    createRoute({ method: "put", path: `${API_BASE}/clusters/{cluster}/drs`, security, summary: "Set a cluster's DRS settings: automation level, migration threshold, move caps (only the fields given change)", request: { params: ClusterParam, body: json(DrsConfigPatchSchema, "Settings") }, responses: { 200: json(DrsConfigSchema, "The settings now"), ...errors } }),
    async (c) => {
      requireRole(c.get("token"), Role.operator);
      const cluster = c.req.valid("param").cluster;
      const { snapshot } = await inventory.change((draft) => setClusterDrs(draft, cluster, c.req.valid("json")));
      return c.json(drsConfigOf(snapshot, cluster), 200);
    },
  );

  app.openapi(
    createRoute({ method: "post", path: `${API_BASE}/clusters/{cluster}/drs/run`, security, summary: "Run DRS now: fresh recommendations; on a fully automated cluster their moves start", request: { params: ClusterParam }, responses: { 200: json(DrsRunSchema, "The run"), ...errors } }),
    async (c) => {
      requireRole(c.get("token"), Role.operator);
      return c.json(DrsRunSchema.parse(await drs.run(c.req.valid("param").cluster, c.get("token").name)), 200);
    },
  );

  app.openapi(
    createRoute({ method: "post", path: `${API_BASE}/drs/apply`, security, summary: "Apply recommendations by id: each starts a migration (checked again, within the concurrency limits); unknown or stale ids are skipped with why", request: { body: json(DrsApplyRequestSchema, "Recommendation ids") }, responses: { 200: json(DrsApplyResultSchema, "Started and skipped"), ...errors } }),
    async (c) => {
      requireRole(c.get("token"), Role.operator);
      return c.json(DrsApplyResultSchema.parse(await drs.apply(c.req.valid("json").ids, c.get("token").name)), 200);
    },
  );
}

function registerDrsRuleRoutes(app: ControllerApp, deps: DrsRouteDeps): void {
  const { inventory } = deps;
  app.openapi(
    createRoute({ method: "get", path: `${API_BASE}/drs/rules`, security, summary: "DRS rules: VM-VM affinity and anti-affinity, VM-host must/should", responses: { 200: json(DrsRuleListSchema, "Rules"), ...errors } }),
    (c) => c.json(z.array(DrsRuleSchema).parse(inventory.current.inventory.drsRules), 200),
  );

  app.openapi(
    createRoute({ method: "get", path: `${API_BASE}/drs/rules/{name}`, security, summary: "One DRS rule", request: { params: NameParam }, responses: { 200: json(DrsRuleSchema, "The rule"), ...errors } }),
    (c) => {
      const name = c.req.valid("param").name;
      const rule = inventory.current.index.drsRules.get(name);
      if (rule === undefined) throw new FerryError(ErrorCode.notFound, `no DRS rule named "${name}"`);
      return c.json(DrsRuleSchema.parse(rule), 200);
    },
  );

  app.openapi(
    createRoute({ method: "put", path: `${API_BASE}/drs/rules/{name}`, security, summary: "Add or replace a DRS rule; its VMs and hosts must exist", request: { params: NameParam, body: json(DrsRuleSchema, "The rule") }, responses: { 200: json(ChangedSchema, "Stored"), ...errors } }),
    async (c) => {
      requireRole(c.get("token"), Role.operator);
      const name = c.req.valid("param").name;
      const rule = c.req.valid("json");
      if (rule.name !== name) throw new FerryError(ErrorCode.invalidInput, `the rule's name "${rule.name}" differs from the path's "${name}"`);
      const { snapshot } = await inventory.change((draft) => putDrsRule(draft, rule));
      return c.json({ changed: [name], generation: snapshot.generation }, 200);
    },
  );

  app.openapi(
    createRoute({ method: "delete", path: `${API_BASE}/drs/rules/{name}`, security, summary: "Remove a DRS rule", request: { params: NameParam }, responses: { 200: json(ChangedSchema, "Removed"), ...errors } }),
    async (c) => {
      requireRole(c.get("token"), Role.operator);
      const name = c.req.valid("param").name;
      const { snapshot } = await inventory.change((draft) => {
        removeDrsRule(draft, name);
      });
      return c.json({ changed: [name], generation: snapshot.generation }, 200);
    },
  );
}

function registerMaintenanceRoutes(app: ControllerApp, deps: DrsRouteDeps): void {
  const { maintenance } = deps;
  app.openapi(
    createRoute({
      method: "post",
      path: `${API_BASE}/hosts/{name}/maintenance`,
      security,
      summary: "Enter (evacuating every powered-on VM by live migration first) or exit maintenance mode; dryRun answers with the plan and its ETA. A powered-on VM with nowhere to go refuses entry (422, naming it and why)",
      request: { params: NameParam, body: json(MaintenanceRequestSchema, "enter or exit") },
      responses: { 200: json(MaintenanceAnswerSchema, "The plan, and the evacuation as it started"), ...errors },
    }),
    async (c) => {
      const host = c.req.valid("param").name;
      const body = c.req.valid("json");
      if (body.action === "enter" && body.dryRun) {
        // A dry run changes nothing: any role may ask, like a migration preview.
        const plan = await maintenance.plan(host);
        return c.json(MaintenanceAnswerSchema.parse({ host, dryRun: true, plan, status: maintenance.status(host) }), 200);
      }
      requireRole(c.get("token"), Role.operator);
      if (body.action === "exit") return c.json(MaintenanceAnswerSchema.parse({ host, dryRun: false, status: await maintenance.exit(host) }), 200);
      const status = await maintenance.enter(host, body.poweredOff, c.get("token").name);
      return c.json(MaintenanceAnswerSchema.parse({ host, dryRun: false, plan: status.plan, status }), 200);
    },
  );

  app.openapi(
    createRoute({ method: "get", path: `${API_BASE}/hosts/{name}/maintenance`, security, summary: "A host's maintenance mode: out, entering (its evacuation's moves and their progress), in, or failed with why", request: { params: NameParam }, responses: { 200: json(MaintenanceStatusSchema, "The state"), ...errors } }),
    (c) => c.json(MaintenanceStatusSchema.parse(maintenance.status(c.req.valid("param").name)), 200),
  );
}
