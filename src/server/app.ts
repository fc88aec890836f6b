// The controller's REST API: inventory reads, check and where, host networking, VM settings,
// tokens — and migrations (routes/migrations.ts). Every route is declared with its zod schemas
// (src/api/schemas.ts), which validate requests and make the OpenAPI document served at
// /api/openapi.json. Errors leave as `{ code, message, details }` with a fitting status.
import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import {
  AddNetworkRequestSchema,
  API_BASE,
  ChangedSchema,
  CheckRequestSchema,
  CheckResultSchema,
  DeployRequestSchema,
  EditVmkernelPortSchema,
  HostSummarySchema,
  InventoryDocumentSchema,
  VmDetailSchema,
  MaskRequestSchema,
  PrioritySchema,
  VmSettingsPatchSchema,
  VmSummarySchema,
  WhereResultSchema,
} from "../api/schemas.ts";
import type { Clock } from "../core/clock.ts";
import { ErrorCode, FerryError, isFerryError } from "../core/errors.ts";
import { setDiskLocation } from "../core/inventory/vm-create.ts";
import { addVmkernelNetworking, deployFromTemplate, editVmkernelPort, removeVmkernelPort, setCpuidMask, setDeviceConnected, setNicConnected } from "../core/inventory/edits.ts";
import type { Inventory } from "../core/inventory/schema.ts";
import { inventoryYaml } from "../core/inventory/serialize.ts";
import { statusFor } from "../api/http-status.ts";
import type { ApiToken, Store } from "../store/store.ts";
import { auditTrail, registerAuditRoutes } from "./audit.ts";
import { registerImportRoute } from "./routes-import.ts";
import { registerTokenRoutes } from "./routes-tokens.ts";
import { requireRole, Role, TokenStreams } from "./auth.ts";
import { bodyLimits, honoPath, refuseIfMigrating as refuseMigrating, requestIds, requireDeclaredBody, securityHeaders, tokenAuthentication, type BodyRule } from "./hardening.ts";
import type { Log } from "./migrations.ts";
import type { InventoryService } from "./inventory-service.ts";
import type { EventHub } from "./events.ts";
import type { HostNetworkActuator } from "./host-network.ts";
import { HostSummaryState, hostSummaryState, type HostLivenessView } from "./liveness.ts";
import { errors, json, NameParam, security } from "./openapi.ts";
import { eventSequenceHeader, registerEventRoutes, sequenced } from "./routes-events.ts";
import { registerUiRoutes } from "./routes-ui.ts";
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

export function createControllerApp(deps: ControllerDeps): ControllerApp {
  const { store, inventory, events, clock } = deps;
  const streams = new TokenStreams();
  // The host's agent acts first (inside its namespace, in the qemu lab); its refusal writes nothing.
  const onHost = (host: string) => ({ beforeWrite: deps.hostNetwork === undefined ? undefined : (before: Inventory, after: Inventory) => deps.hostNetwork?.apply(host, before, after) ?? Promise.resolve() });
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
  app.onError((error, c) => errorResponse(c, error, deps.log));
  app.notFound((c) => c.json({ code: ErrorCode.notFound, message: `no such API route: ${c.req.method} ${c.req.path}`, details: null }, 404));
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });

  // The edge, outermost first: a request id on every answer, security headers, the audit log
  // (it sees the final status), body limits, authentication with throttling, a declared body.
  app.use("*", requestIds());
  app.use("*", securityHeaders());
  app.use(`${API_BASE}/*`, auditTrail({ store, clock, log: deps.log, keep: deps.auditKeep }));
  app.use(`${API_BASE}/*`, bodyLimits());
  app.use(`${API_BASE}/*`, tokenAuthentication({ store, clock, log: deps.log, throttle: deps.authThrottle }));
  app.use(`${API_BASE}/*`, requireDeclaredBody(() => bodyRules(app)));
  // Lists the UI keeps live say which event sequence they are current at (routes-events.ts).
  app.use(`${API_BASE}/*`, eventSequenceHeader(events));
  // The web UI at / (outside /api, no token: the login form asks for one).
  serveWebUi(app);
  registerUiRoutes(app, { inventory });
  const need = (c: Context<ControllerEnv>, role: Role): void => {
    requireRole(c.get("token"), role);
  };
  const refuseIfMigrating = (vms: readonly string[], what: string): Promise<void> => refuseMigrating(store, inventory, vms, what);

  app.openapi(
    createRoute({ method: "get", path: `${API_BASE}/inventory`, security, summary: "The whole inventory", request: { query: z.object({ format: z.enum(["json", "yaml"]).default("json") }) }, responses: { 200: { ...json(InventoryDocumentSchema, "The inventory"), ...sequenced }, ...errors } }),
    (c) => {
      const snapshot = inventory.current;
      if (c.req.valid("query").format === "yaml") return c.body(inventoryYaml(snapshot.inventory), 200, { "content-type": "application/yaml; charset=utf-8" }) as never;
      return c.json(snapshot.inventory, 200);
    },
  );

  app.openapi(
    createRoute({ method: "get", path: `${API_BASE}/hosts`, security, summary: "Hosts", responses: { 200: { ...json(z.array(HostSummarySchema), "Hosts"), ...sequenced }, ...errors } }),
    async (c) => {
      const { index } = inventory.current;
      const links = await store.listLinkRates();
      return c.json(
        [...index.hosts.values()].map((view) => ({
          name: view.host.name,
          cluster: view.host.cluster ?? null,
          connected: view.host.connected,
          state: hostSummaryState(view.host, deps.liveness),
          lastSeenAt: deps.liveness?.lastSeenAt(view.host.name) ?? null,
          maintenance: view.host.maintenance,
          cpu: { vendor: view.host.cpu.vendor, family: view.host.cpu.family, model: view.host.cpu.model, modelName: view.host.cpu.modelName ?? null },
          memoryMB: view.host.memoryMB,
          vmotionIp: view.vmotionPorts[0]?.port.ip.split("/")[0] ?? null,
          vms: index.vmsByHost.get(view.host.name)?.length ?? 0,
          links: links.filter((l) => l.source === view.host.name),
        })),
        200,
      );
    },
  );

  app.openapi(
    createRoute({ method: "get", path: `${API_BASE}/hosts/{name}`, security, summary: "One host, in full", request: { params: NameParam }, responses: { 200: json(InventoryDocumentSchema.shape.hosts.unwrap().element, "The host"), ...errors } }),
    (c) => {
      const name = c.req.valid("param").name;
      const view = inventory.current.index.hosts.get(name);
      if (view === undefined) throw new FerryError(ErrorCode.notFound, `no host named "${name}"`);
      return c.json(view.host, 200);
    },
  );

  app.openapi(
    createRoute({ method: "get", path: `${API_BASE}/vms`, security, summary: "VMs", responses: { 200: { ...json(z.array(VmSummarySchema), "VMs"), ...sequenced }, ...errors } }),
    (c) => {
      const { inventory: current, index } = inventory.current;
      return c.json(
        current.vms.map((vm) => {
          // A VM on a host that does not answer: where and how it runs is not known now.
          const hostState = hostSummaryState(index.hosts.get(vm.host)?.host, deps.liveness);
          return { name: vm.name, host: vm.host, hostState, pool: vm.pool ?? null, power: hostState === HostSummaryState.notResponding ? ("unknown" as const) : vm.power, recordedPower: vm.power, migrating: inventory.claims.claimOf(vm.name) !== undefined, memoryMB: vm.memoryMB, template: vm.template ?? null };
        }),
        200,
      );
    },
  );

  app.openapi(
    createRoute({ method: "get", path: `${API_BASE}/vms/{name}`, security, summary: "One VM, in full", request: { params: NameParam }, responses: { 200: json(VmDetailSchema, "The VM"), ...errors } }),
    (c) => {
      const name = c.req.valid("param").name;
      const vm = inventory.current.index.vms.get(name);
      if (vm === undefined) throw new FerryError(ErrorCode.notFound, `no VM named "${name}"`);
      return c.json({ ...vm, migrating: inventory.claims.claimOf(name) !== undefined }, 200);
    },
  );

  app.openapi(
    createRoute({ method: "post", path: `${API_BASE}/check`, security, summary: "Can this VM move to that host? Every reason and fix", request: { body: json(CheckRequestSchema, "What to check") }, responses: { 200: json(CheckResultSchema, "Findings"), ...errors } }),
    (c) => {
      const body = c.req.valid("json");
      return c.json(inventory.current.checker.check(body.vm, body.host, { pool: body.pool, priority: body.priority }) as z.infer<typeof CheckResultSchema>, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${API_BASE}/vms/{name}/where`,
      security,
      summary: "Every host the VM could move to, and why not for the others",
      request: { params: NameParam, query: z.object({ pool: z.string().min(1).optional(), priority: PrioritySchema.default("high") }) },
      responses: { 200: json(WhereResultSchema, "Hosts with findings"), ...errors },
    }),
    (c) => {
      const query = c.req.valid("query");
      return c.json(inventory.current.checker.where(c.req.valid("param").name, { pool: query.pool, priority: query.priority }) as z.infer<typeof WhereResultSchema>, 200);
    },
  );

  const changed = (names: readonly string[], generation: number) => ({ changed: [...names], generation });

  app.openapi(
    createRoute({
      method: "post",
      path: `${API_BASE}/hosts/{name}/network`,
      security,
      summary: "Add networking: a vSwitch with a VMkernel port on a chosen NIC, VMotion, IP, optional gateway (the seed's steps 1–4)",
      request: { params: NameParam, body: json(AddNetworkRequestSchema, "The VMkernel port") },
      responses: { 200: json(ChangedSchema, "Added"), ...errors },
    }),
    async (c) => {
      need(c, Role.operator);
      const host = c.req.valid("param").name;
      const body = c.req.valid("json");
      const { snapshot } = await inventory.change((draft) => {
        addVmkernelNetworking(draft, host, body);
      }, onHost(host));
      await deps.hostNetwork?.refresh(host);
      return c.json(changed([host], Math.max(snapshot.generation, inventory.current.generation)), 200);
    },
  );

  const PortParams = z.object({ name: z.string().min(1).openapi({ param: { name: "name", in: "path" } }), port: z.string().min(1).openapi({ param: { name: "port", in: "path" } }) });

  app.openapi(
    createRoute({ method: "patch", path: `${API_BASE}/hosts/{name}/network/{port}`, security, summary: "Edit a VMkernel port: VMotion on/off, IP, gateway, MTU", request: { params: PortParams, body: json(EditVmkernelPortSchema, "Changes") }, responses: { 200: json(ChangedSchema, "Changed"), ...errors } }),
    async (c) => {
      need(c, Role.operator);
      const { name, port } = c.req.valid("param");
      const body = c.req.valid("json");
      const { snapshot } = await inventory.change((draft) => {
        editVmkernelPort(draft, name, port, body);
      }, onHost(name));
      await deps.hostNetwork?.refresh(name);
      return c.json(changed([name], Math.max(snapshot.generation, inventory.current.generation)), 200);
    },
  );

  app.openapi(
    createRoute({ method: "delete", path: `${API_BASE}/hosts/{name}/network/{port}`, security, summary: "Remove a VMkernel port (and its vSwitch when nothing else is on it)", request: { params: PortParams }, responses: { 200: json(ChangedSchema, "Removed"), ...errors } }),
    async (c) => {
      need(c, Role.operator);
      const { name, port } = c.req.valid("param");
      const { snapshot } = await inventory.change((draft) => {
        removeVmkernelPort(draft, name, port);
      }, onHost(name));
      await deps.hostNetwork?.refresh(name);
      return c.json(changed([name], Math.max(snapshot.generation, inventory.current.generation)), 200);
    },
  );

  app.openapi(
    createRoute({ method: "patch", path: `${API_BASE}/vms/{name}`, security, summary: "Edit settings: device and NIC Connected boxes, the CPUID mask", request: { params: NameParam, body: json(VmSettingsPatchSchema, "Changes") }, responses: { 200: json(ChangedSchema, "Changed"), ...errors } }),
    async (c) => {
      need(c, Role.operator);
      const vm = c.req.valid("param").name;
      const body = c.req.valid("json");
      await refuseIfMigrating([vm], "edit its settings");
      const { snapshot } = await inventory.change((draft) => {
        for (const d of body.devices ?? []) setDeviceConnected(draft, vm, d.name, d.connected);
        for (const n of body.nics ?? []) setNicConnected(draft, vm, n.name, n.connected);
        if (body.cpuidMask !== undefined) setCpuidMask(draft, { vm }, body.cpuidMask);
        for (const d of body.disks ?? []) setDiskLocation(draft, vm, d.name, d.datastore, d.path);
      });
      return c.json(changed([vm], snapshot.generation), 200);
    },
  );

  for (const kind of ["templates", "clusters"] as const) {
    app.openapi(
      createRoute({
        method: "put",
        path: `${API_BASE}/${kind}/{name}/mask`,
        security,
        summary: kind === "clusters" ? "Set the CPUID mask on every VM of a cluster at once" : "Set a template's CPUID mask (VMs deployed from it inherit it)",
        request: { params: NameParam, body: json(MaskRequestSchema, "The mask, or null to clear") },
        responses: { 200: json(ChangedSchema, "The VMs or template changed"), ...errors },
      }),
      async (c) => {
        need(c, Role.operator);
        const name = c.req.valid("param").name;
        const mask = c.req.valid("json").cpuidMask;
        if (kind === "clusters") {
          const { index } = inventory.current;
          await refuseIfMigrating([...index.vms.values()].filter((vm) => index.hosts.get(vm.host)?.host.cluster === name).map((vm) => vm.name), "set the cluster's mask");
        }
        const { result, snapshot } = await inventory.change((draft) => setCpuidMask(draft, kind === "clusters" ? { cluster: name } : { template: name }, mask));
        return c.json(changed(result, snapshot.generation), 200);
      },
    );
  }

  app.openapi(
    createRoute({ method: "post", path: `${API_BASE}/templates/{name}/deploy`, security, summary: "Deploy a VM from a template (it takes the template's CPUID mask)", request: { params: NameParam, body: json(DeployRequestSchema, "The new VM") }, responses: { 200: json(ChangedSchema, "Deployed"), ...errors } }),
    async (c) => {
      need(c, Role.operator);
      const template = c.req.valid("param").name;
      const body = c.req.valid("json");
      const { result, snapshot } = await inventory.change((draft) => deployFromTemplate(draft, { template, ...body }));
      return c.json(changed([result.name], snapshot.generation), 200);
    },
  );

  registerEventRoutes(app, { store, events, clock, streams });
  registerImportRoute(app, { store, inventory });
  registerTokenRoutes(app, { store, clock, streams, generation: () => inventory.current.generation });
  registerAuditRoutes(app, { store });
  return app;
}

/** Adds the OpenAPI document route; call after every route is registered. */
export function serveOpenApi(app: ControllerApp): void {
  app.doc31(`${API_BASE}/openapi.json`, { openapi: "3.1.0", info: { title: "Ferry controller API", version: "1", description: "Live migration of VMs between QEMU/KVM hosts, VMotion-style." } });
}
