// POST /vms/{name}/power: power a VM off, on, or through a cycle, on its host's agent and in
// the inventory. A power-on is when the guest takes its CPU: the agent's VM is created again
// with the CPU features configured now (host or baseline minus the CPUID mask), because QEMU
// fixes a guest's CPU when it starts; the inventory keeps them as the VM's bootFlags, so the
// checker knows what the running guest really uses (a mask set later stays pending).
import { createRoute, type z } from "@hono/zod-openapi";
import { API_BASE, PowerRequestSchema, PowerResultSchema } from "../api/schemas.ts";
import { guestCpu } from "../core/cpu/guest.ts";
import { ErrorCode, FerryError, isFerryError } from "../core/errors.ts";
import { recordPower } from "../core/inventory/edits.ts";
import type { Vm } from "../core/inventory/schema.ts";
import type { VmSpec } from "../drivers/driver.ts";
import type { AgentVm } from "../agent/api.ts";
import type { ControllerApp } from "./app.ts";
import { storageOf, vmSpecOf } from "./vm-spec.ts";
import { requireRole, Role } from "./auth.ts";
import type { InventoryService } from "./inventory-service.ts";
import type { AgentDirectory } from "./migrations.ts";
import { errors, json, NameParam, security } from "./openapi.ts";
import { refuseIfMigrating } from "./hardening.ts";
import type { Store } from "../store/store.ts";
import { ownershipWords } from "../core/ownership.ts";
import type { MigrationService } from "./migrations.ts";

type PowerResult = z.infer<typeof PowerResultSchema>;

type PowerDeps = { readonly inventory: InventoryService; readonly agents: AgentDirectory; readonly store: Store; readonly migrations: Pick<MigrationService, "ledger"> };

/** Powers VMs off and on, on their host's agent first and then in the inventory. */
class VmPower {
  readonly #deps: PowerDeps;

  constructor(deps: PowerDeps) {
    this.#deps = deps;
  }

  /** The VM, unless it does not exist or an open migration holds it. */
  vmOrThrow(name: string): Vm {
    const vm = this.#deps.inventory.current.index.vms.get(name);
    if (vm === undefined) throw new FerryError(ErrorCode.notFound, `no VM named "${name}"`);
    this.#refuseClaimed(name);
    return vm;
  }

  async off(name: string): Promise<void> {
    const vm = this.vmOrThrow(name);
    const agent = this.#deps.agents.get(vm.host);
    if (agent !== undefined && (await this.#onAgent(vm.host, name))?.power !== undefined) await agent.powerOff(name);
    await this.#deps.inventory.change((draft) => {
      this.#refuseClaimed(name);
      recordPower(draft, name, "off", undefined);
    });
  }

  async on(name: string): Promise<readonly string[] | undefined> {
    const vm = this.vmOrThrow(name);
    const { index } = this.#deps.inventory.current;
    const view = index.hosts.get(vm.host);
    // What the guest will see from this power-on: what is configured now, not what it saw last time.
    const guest = guestCpu({ ...vm, bootFlags: undefined }, view?.host, view?.cluster, index.templates);
    const flags = guest.ok ? [...guest.cpu.flags].sort() : undefined;
    await this.#refuseNotOwner(name, vm.host);
    await this.#startOnAgent(vm, flags);
    await this.#deps.inventory.change((draft) => {
      this.#refuseClaimed(name);
      recordPower(draft, name, "on", flags);
    });
    return flags;
  }

  async #startOnAgent(vm: Vm, flags: readonly string[] | undefined): Promise<void> {
    const name = vm.name;
    const agent = this.#deps.agents.get(vm.host);
    if (agent === undefined) return;
    const current = await this.#onAgent(vm.host, name);
    if (current !== undefined && current.power !== "off") {
      throw new FerryError(ErrorCode.conflict, `${name} is ${current.power} on ${vm.host}'s agent while the inventory says ${vm.power}: power it off first`, { details: { vm: name } });
    }
    // The agent's last spec keeps what the inventory does not hold (a sim guest's scaled
    // memory and workload); the inventory says where its disks and CD-ROMs are now (they may
    // have moved while it was off).
    const fromInventory = vmSpecOf(vm, flags);
    const spec: VmSpec = current?.spec === undefined ? fromInventory : { ...current.spec, cpuFlags: flags, ...storageOf(fromInventory) };
    // QEMU fixes the guest's CPU when it starts: a new CPU (a new mask) means a new VM process.
    if (current !== undefined) await agent.destroyVm(name);
    await agent.createVm(spec);
    await agent.powerOn(name);
  }

  /**
   * A VM whose agent knows no disk for it (the sim's, diskless guests) keeps its ownership
   * record in the controller's store (one with disks, on its datastore, which its agent checks
   * at power-on): when the store holds one, the VM is powered on only where it says.
   */
  async #refuseNotOwner(name: string, host: string): Promise<void> {
    const record = await this.#deps.migrations.ledger.read(name);
    if (record !== undefined && record.owner !== host) {
      throw new FerryError(ErrorCode.conflict, `${name} may not be powered on on ${host}: its ownership record says ${ownershipWords(record)}`, { details: { vm: name, ownership: record } });
    }
  }

  /** A VM an open migration task holds (its claim) is the engine's until the task ends. */
  #refuseClaimed(name: string): void {
    const claim = this.#deps.inventory.claims.claimOf(name);
    if (claim !== undefined) throw new FerryError(ErrorCode.conflict, `${name} is migrating (task ${claim.taskId}); power it once the migration ends`, { details: { vm: name, migration: claim.taskId } });
  }

  async #onAgent(host: string, name: string): Promise<AgentVm | undefined> {
    const agent = this.#deps.agents.get(host);
    if (agent === undefined) return undefined;
    try {
      return await agent.getVm(name);
    } catch (error) {
      if (isFerryError(error) && error.code === ErrorCode.notFound) return undefined;
      throw error;
    }
  }
}

export function registerPowerRoutes(app: ControllerApp, deps: PowerDeps): void {
  const { inventory, agents } = deps;
  const power = new VmPower(deps);
  app.openapi(
    createRoute({
      method: "post",
      path: `${API_BASE}/vms/{name}/power`,
      security,
      summary: "Power a VM on, off, or through a cycle (a new CPUID mask reaches the guest only after one)",
      request: { params: NameParam, body: json(PowerRequestSchema, "The action") },
      responses: { 200: json(PowerResultSchema, "The VM's power and the CPU features its guest booted with"), ...errors },
    }),
    async (c) => {
      requireRole(c.get("token"), Role.operator);
      const name = c.req.valid("param").name;
      const { action } = c.req.valid("json");
      await refuseIfMigrating(deps.store, inventory, [name], "power it");
      const host = power.vmOrThrow(name).host;
      if (action === "off" || action === "cycle") await power.off(name);
      if (action === "on" || action === "cycle") {
        if (action === "on" && inventory.current.index.vms.get(name)?.power === "on") {
          throw new FerryError(ErrorCode.conflict, `${name} is already on; use "cycle" to power it off and on`, { details: { vm: name } });
        }
        await power.on(name);
      }
      const vm = power.vmOrThrow(name);
      const result: PowerResult = { vm: name, host, power: vm.power, bootFlags: vm.bootFlags === undefined ? null : [...vm.bootFlags], onAgent: agents.get(host) !== undefined };
      return c.json(result, 200);
    },
  );
}
