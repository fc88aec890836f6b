// Inventory edits: host networking (VMkernel ports, carried out on the host first when its
// agent manages its network), VM settings, CPUID masks, deploying from a template. Every edit
// needs the operator role; a VM an open migration holds refuses edits.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { AddNetworkRequestSchema, API_BASE, ChangedSchema, DeployRequestSchema, EditVmkernelPortSchema, MaskRequestSchema, VmSettingsPatchSchema } from "../api/schemas.ts";
import { setDiskLocation } from "../core/inventory/vm-create.ts";
import { addVmkernelNetworking, deployFromTemplate, editVmkernelPort, removeVmkernelPort, setCpuidMask, setDeviceConnected, setNicConnected } from "../core/inventory/edits.ts";
import type { Inventory } from "../core/inventory/schema.ts";
import { checkMaskFlags } from "../core/cpu/mask-flags.ts";
import { keepRunningGuestCpu, setCpuAffinity, vmsInheritingMask } from "../core/inventory/vm-settings.ts";
import type { Store } from "../store/store.ts";
import type { ControllerApp, ControllerEnv } from "./app.ts";
import { requireRole, Role } from "./auth.ts";
import { refuseIfMigrating as refuseMigrating } from "./hardening.ts";
import type { HostNetworkActuator } from "./host-network.ts";
import type { InventoryService } from "./inventory-service.ts";
import { errors, json, NameParam, security } from "./openapi.ts";

const need = (c: Context<ControllerEnv>, role: Role): void => {
  requireRole(c.get("token"), role);
};

const changed = (names: readonly string[], generation: number) => ({ changed: [...names], generation });

const PortParams = z.object({ name: z.string().min(1).openapi({ param: { name: "name", in: "path" } }), port: z.string().min(1).openapi({ param: { name: "port", in: "path" } }) });

export function registerHostNetworkRoutes(app: ControllerApp, deps: { readonly inventory: InventoryService; readonly hostNetwork?: HostNetworkActuator | undefined }): void {
  const { inventory } = deps;
  // The host's agent acts first (inside its namespace, in the qemu lab); its refusal writes nothing.
  const onHost = (host: string) => ({ beforeWrite: deps.hostNetwork === undefined ? undefined : (before: Inventory, after: Inventory) => deps.hostNetwork?.apply(host, before, after) ?? Promise.resolve() });

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
}

export function registerSettingsRoutes(app: ControllerApp, deps: { readonly store: Store; readonly inventory: InventoryService }): void {
  const { store, inventory } = deps;
  const refuseIfMigrating = (vms: readonly string[], what: string): Promise<void> => refuseMigrating(store, inventory, vms, what);

  app.openapi(
    createRoute({ method: "patch", path: `${API_BASE}/vms/{name}`, security, summary: "Edit settings: device and NIC Connected boxes, CPU scheduling affinity, the CPUID mask (refused while the VM migrates)", request: { params: NameParam, body: json(VmSettingsPatchSchema, "Changes") }, responses: { 200: json(ChangedSchema, "Changed"), ...errors } }),
    async (c) => {
      need(c, Role.operator);
      const vm = c.req.valid("param").name;
      const body = c.req.valid("json");
      checkMaskFlags(body.cpuidMask);
      await refuseIfMigrating([vm], "edit its settings");
      const { snapshot } = await inventory.change((draft) => {
        for (const d of body.devices ?? []) setDeviceConnected(draft, vm, d.name, d.connected);
        for (const n of body.nics ?? []) setNicConnected(draft, vm, n.name, n.connected);
        if (body.cpuAffinity !== undefined) setCpuAffinity(draft, vm, body.cpuAffinity);
        if (body.cpuidMask !== undefined) {
          keepRunningGuestCpu(draft, [vm]);
          setCpuidMask(draft, { vm }, body.cpuidMask);
        }
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
        checkMaskFlags(mask);
        const { index } = inventory.current;
        // The VMs whose mask in force changes: a migrating one refuses, a running one keeps its boot CPU.
        const affected = kind === "clusters" ? [...index.vms.values()].filter((vm) => index.hosts.get(vm.host)?.host.cluster === name).map((vm) => vm.name) : vmsInheritingMask(inventory.current.inventory, name);
        await refuseIfMigrating(affected, kind === "clusters" ? "set the cluster's mask" : `set the mask of template ${name}, which it takes,`);
        const { result, snapshot } = await inventory.change((draft) => {
          keepRunningGuestCpu(draft, kind === "clusters" ? affected : vmsInheritingMask(draft, name));
          return setCpuidMask(draft, kind === "clusters" ? { cluster: name } : { template: name }, mask);
        });
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
}
