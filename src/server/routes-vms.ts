// VMs defined by Ferry: create one on a host (its disks made or imported on datastores, its
// machine type fixed now) and delete one (keeping or removing its disks). The host's agent
// acts first; its refusal (a datastore it does not have, a disk that is missing and has no
// size) leaves the inventory as it was.
import { createRoute, z } from "@hono/zod-openapi";
import { API_BASE, ChangedSchema, VmCreatedSchema, VmCreateSchema } from "../api/schemas.ts";
import { ErrorCode, FerryError, isFerryError } from "../core/errors.ts";
import { createVm } from "../core/inventory/vm-create.ts";
import type { Vm } from "../core/inventory/schema.ts";
import type { ControllerApp } from "./app.ts";
import { requireRole, Role } from "./auth.ts";
import type { InventoryService } from "./inventory-service.ts";
import type { AgentDirectory } from "./migrations.ts";
import type { DrsService } from "./drs.ts";
import { placeNewVm, type PlacedVm } from "./drs-placement.ts";
import { errors, json, NameParam, security } from "./openapi.ts";
import { refuseIfMigrating } from "./hardening.ts";
import type { Store } from "../store/store.ts";
import { vmSpecOf } from "./vm-spec.ts";

export function registerVmRoutes(app: ControllerApp, deps: { readonly inventory: InventoryService; readonly agents: AgentDirectory; readonly store: Store; readonly drs?: DrsService | undefined }): void {
  const { inventory, agents } = deps;

  app.openapi(
    createRoute({
      method: "post",
      path: `${API_BASE}/vms`,
      security,
      summary: "Create a VM on a host: disks on datastores (new or imported), CD-ROMs, NICs on port groups; powered off",
      request: { body: json(VmCreateSchema, "The new VM") },
      responses: { 200: json(VmCreatedSchema, "Created"), ...errors },
    }),
    async (c) => {
      requireRole(c.get("token"), Role.operator);
      const { cluster, ...body } = c.req.valid("json");
      // No host: DRS initial placement chooses one and says why.
      let placed: PlacedVm | undefined;
      if (body.host === undefined) {
        if (deps.drs === undefined) throw new FerryError(ErrorCode.invalidInput, "give the VM a host");
        placed = await placeNewVm(inventory.current, deps.drs, { ...body, disks: body.disks, cdroms: body.cdroms, nics: body.nics }, cluster);
      }
      const host = placed?.host ?? body.host ?? "";
      const agent = agents.get(host);
      let created: Vm | undefined;
      const { snapshot } = await inventory.change(
        (draft) => {
          created = createVm(draft, { ...body, host, disks: body.disks, cdroms: body.cdroms, nics: body.nics });
        },
        {
          // The host makes the disks (or finds the imported ones) before the record exists.
          beforeWrite: async () => {
            if (agent === undefined || created === undefined) return;
            await agent.createVm(vmSpecOf(created, undefined));
          },
        },
      );
      if (created === undefined) throw new FerryError(ErrorCode.internal, `creating ${body.name} gave no VM`);
      return c.json({ name: created.name, host: created.host, machine: created.machine ?? "", macs: created.nics.map((n) => n.mac), generation: snapshot.generation, ...(placed === undefined ? {} : { placement: { cluster: placed.cluster, why: placed.why } }) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: `${API_BASE}/vms/{name}`,
      security,
      summary: "Delete a powered-off VM; its disks stay unless disks=remove",
      request: { params: NameParam, query: z.object({ disks: z.enum(["keep", "remove"]).default("keep") }) },
      responses: { 200: json(ChangedSchema, "Deleted"), ...errors },
    }),
    async (c) => {
      requireRole(c.get("token"), Role.operator);
      const name = c.req.valid("param").name;
      const removeDisks = c.req.valid("query").disks === "remove";
      const vm = inventory.current.index.vms.get(name);
      if (vm === undefined) throw new FerryError(ErrorCode.notFound, `no VM named "${name}"`);
      await refuseIfMigrating(deps.store, inventory, [name], "delete it");
      const migrating = inventory.claims.claimOf(name) !== undefined;
      if (migrating || vm.power !== "off") throw new FerryError(ErrorCode.conflict, `${name} is ${migrating ? "migrating" : vm.power}: power it off first (\`ferry vm power ${name} off\`)`, { details: { vm: name } });
      const agent = agents.get(vm.host);
      const { snapshot } = await inventory.change(
        (draft) => {
          draft.vms = draft.vms.filter((v) => v.name !== name);
        },
        {
          beforeWrite: async () => {
            if (agent === undefined) return;
            try {
              await agent.destroyVm(name, { removeDisks });
            } catch (error) {
              // An agent that never had it (created before it joined) has nothing to remove.
              if (!(isFerryError(error) && error.code === ErrorCode.notFound)) throw error;
            }
          },
        },
      );
      return c.json({ changed: [name], generation: snapshot.generation }, 200);
    },
  );
}
