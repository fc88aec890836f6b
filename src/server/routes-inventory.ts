// Inventory reads: the whole inventory, hosts and VMs (summaries and in full), and the checker's
// answers (check one pair, where can a VM go).
import { createRoute, z } from "@hono/zod-openapi";
import { API_BASE, CheckRequestSchema, CheckResultSchema, HostSummarySchema, InventoryDocumentSchema, PrioritySchema, VmDetailSchema, VmSummarySchema, WhereResultSchema } from "../api/schemas.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { inventoryYaml } from "../core/inventory/serialize.ts";
import type { Store } from "../store/store.ts";
import type { ControllerApp } from "./app.ts";
import type { InventoryService } from "./inventory-service.ts";
import { HostSummaryState, hostSummaryState, type HostLivenessView } from "./liveness.ts";
import { errors, json, NameParam, security } from "./openapi.ts";
import { sequenced } from "./routes-events.ts";

export interface InventoryReadDeps {
  readonly store: Store;
  readonly inventory: InventoryService;
  /** Whether hosts answer the controller's heartbeats (summaries show it); all connected without it. */
  readonly liveness?: HostLivenessView | undefined;
}

export function registerInventoryReadRoutes(app: ControllerApp, deps: InventoryReadDeps): void {
  const { store, inventory } = deps;

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
}

export function registerCheckRoutes(app: ControllerApp, deps: { readonly inventory: InventoryService }): void {
  const { inventory } = deps;

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
}
