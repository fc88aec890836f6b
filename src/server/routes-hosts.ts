// Host routes for real hosts: refresh a host's record from what its agent observes, and VM
// port groups (create, rename, remove) carried out on the host first when its agent manages
// its network — the inventory changes only when the host did.
import { createRoute, z } from "@hono/zod-openapi";
import { API_BASE, ChangedSchema, HostRefreshSchema, PortGroupRenameSchema, PortGroupRequestSchema } from "../api/schemas.ts";
import { HostNetworkChangeSchema, HostNetworkPreviewSchema, type HostNetworkPreview } from "../api/schemas-hosts.ts";
import { changeImpact } from "../core/check/change-impact.ts";
import { ErrorCode, FerryError, isFerryError } from "../core/errors.ts";
import { removePortGroup, renamePortGroup, setPortGroup } from "../core/inventory/portgroups.ts";
import type { Draft } from "../core/inventory/edits.ts";
import type { NetworkOp } from "../host/network-config.ts";
import type { ControllerApp } from "./app.ts";
import { requireRole, Role } from "./auth.ts";
import { refreshHost } from "./host-facts.ts";
import { applyHostNetworkChange, type HostNetworkActuator } from "./host-network.ts";
import type { InventoryService } from "./inventory-service.ts";
import type { AgentDirectory } from "./migrations.ts";
import { errors, json, NameParam, security } from "./openapi.ts";

export interface HostRouteDeps {
  readonly inventory: InventoryService;
  readonly agents: Pick<AgentDirectory, "get">;
  readonly hostNetwork: HostNetworkActuator;
}

const PortGroupParams = z.object({
  name: z.string().min(1).openapi({ param: { name: "name", in: "path" } }),
  portGroup: z.string().min(1).openapi({ param: { name: "portGroup", in: "path" }, description: "Case-sensitive, as in vSphere" }),
});

export function registerHostRoutes(app: ControllerApp, deps: HostRouteDeps): void {
  const { inventory, agents, hostNetwork } = deps;

  /** One host-network edit: on the host first (these ops), then the inventory, then the host's record refreshed. */
  const onHost = async (host: string, ops: readonly NetworkOp[], edit: (draft: Draft) => void): Promise<number> => {
    await inventory.change(edit, { beforeWrite: (before, after) => hostNetwork.apply(host, before, after, ops) });
    await hostNetwork.refresh(host);
    return inventory.current.generation;
  };

  app.openapi(
    createRoute({
      method: "post",
      path: `${API_BASE}/hosts/{name}/refresh`,
      security,
      summary: "Read the host's facts again from its agent (a real host's NICs, vSwitches, VMkernel ports, datastores, CPU and QEMU, as they are now)",
      request: { params: NameParam },
      responses: { 200: json(HostRefreshSchema, "What the host reported"), ...errors },
    }),
    async (c) => {
      requireRole(c.get("token"), Role.operator);
      const host = c.req.valid("param").name;
      const agent = agents.get(host);
      if (agent === undefined) throw new FerryError(ErrorCode.notFound, inventory.current.index.hosts.has(host) ? `${host} has no agent: its record is the inventory's` : `no host named "${host}"`, { details: { host } });
      const result = await refreshHost(inventory, agent, host, { observeNow: true });
      if (result === undefined) throw new FerryError(ErrorCode.internal, `refreshing ${host} gave no answer`);
      return c.json({ ...result, notes: [...result.notes], datastoreProblems: result.datastoreProblems.map((p) => ({ ...p })), problems: [...result.problems], observedInMs: result.observedInMs ?? null }, 200);
    },
  );

  registerNetworkPreview(app, inventory);

  app.openapi(
    createRoute({
      method: "put",
      path: `${API_BASE}/hosts/{name}/portgroups/{portGroup}`,
      security,
      summary: "Create a VM port group on a vSwitch (or move it, or change its VLAN): the seed's fix for a missing port group",
      request: { params: PortGroupParams, body: json(PortGroupRequestSchema, "The vSwitch and VLAN") },
      responses: { 200: json(ChangedSchema, "Set"), ...errors },
    }),
    async (c) => {
      requireRole(c.get("token"), Role.operator);
      const { name, portGroup } = c.req.valid("param");
      const body = c.req.valid("json");
      const generation = await onHost(name, [{ op: "setPortGroup", name: portGroup, vswitch: body.vswitch, vlan: body.vlan }], (draft) => {
        setPortGroup(draft, name, portGroup, body);
      });
      return c.json({ changed: [name], generation }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: `${API_BASE}/hosts/{name}/portgroups/{portGroup}/rename`,
      security,
      summary: "Rename a port group on one host (names are case-sensitive); its VMkernel ports and the host's VMs follow",
      request: { params: PortGroupParams, body: json(PortGroupRenameSchema, "The new name") },
      responses: { 200: json(ChangedSchema, "Renamed"), ...errors },
    }),
    async (c) => {
      requireRole(c.get("token"), Role.operator);
      const { name, portGroup } = c.req.valid("param");
      const { to } = c.req.valid("json");
      const generation = await onHost(name, [{ op: "renamePortGroup", name: portGroup, to }], (draft) => {
        renamePortGroup(draft, name, portGroup, to);
      });
      return c.json({ changed: [name], generation }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: `${API_BASE}/hosts/{name}/portgroups/{portGroup}`,
      security,
      summary: "Remove a port group nothing on the host uses",
      request: { params: PortGroupParams },
      responses: { 200: json(ChangedSchema, "Removed"), ...errors },
    }),
    async (c) => {
      requireRole(c.get("token"), Role.operator);
      const { name, portGroup } = c.req.valid("param");
      const generation = await onHost(name, [{ op: "removePortGroup", name: portGroup }], (draft) => {
        removePortGroup(draft, name, portGroup);
      });
      return c.json({ changed: [name], generation }, 200);
    },
  );
}

// The edit's own refusals (a taken name, a port group still in use, an invalid result) are the
// preview's answer; anything else is the route's error.
const REFUSALS: ReadonlySet<string> = new Set([ErrorCode.conflict, ErrorCode.invalidInput, ErrorCode.notFound]);

/** POST …/network/preview: a host-network change judged by the checker before it is made. */
function registerNetworkPreview(app: ControllerApp, inventory: InventoryService): void {
  app.openapi(
    createRoute({
      method: "post",
      path: `${API_BASE}/hosts/{name}/network/preview`,
      security,
      summary: "What a host-network change would do to migrations to and from the host: the pairs it breaks or fixes, the warnings it adds or clears, or the controller's refusal; changes nothing",
      request: { params: NameParam, body: json(HostNetworkChangeSchema, "The change, as its write route takes it") },
      responses: { 200: json(HostNetworkPreviewSchema, "The change's impact"), ...errors },
    }),
    (c) => {
      // Any role may ask: a preview changes nothing, like POST /check.
      const host = c.req.valid("param").name;
      const change = c.req.valid("json");
      if (!inventory.current.index.hosts.has(host)) throw new FerryError(ErrorCode.notFound, `no host named "${host}"`, { details: { host } });
      let body: HostNetworkPreview;
      try {
        const { before, after } = inventory.preview((draft) => {
          applyHostNetworkChange(draft, host, change);
        });
        const impact = changeImpact(before, after, host);
        body = { host, refusal: null, pairsChecked: impact.pairsChecked, pairs: impact.pairs.map((p) => ({ ...p, broken: [...p.broken], fixed: [...p.fixed], newWarnings: [...p.newWarnings], clearedWarnings: [...p.clearedWarnings] })) };
      } catch (error) {
        if (!isFerryError(error) || !REFUSALS.has(error.code)) throw error;
        body = { host, refusal: { code: error.code, message: error.message }, pairsChecked: 0, pairs: [] };
      }
      return c.json(body, 200);
    },
  );
}
