// VMs on this host: create, list, power, remove, and the guest's dirty rate for the
// controller's prediction. Capacity-changing calls take the agent's serial turn, so two cannot
// both take the last free megabytes.
import { Hono } from "hono";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { MigrationFailureCode } from "../core/migration/types.ts";
import { PowerStatus, type VmSpec } from "../drivers/driver.ts";
import { VmSpecSchema, type AgentVm, type DirtyRateView } from "./api.ts";
import { jsonBody, LogLevel, parse, type AgentContext } from "./context.ts";
import { mayPowerOn } from "./routes-ownership.ts";

export function vmRoutes(ctx: AgentContext): Hono {
  const { driver, hostName, specs, log } = ctx;
  const routes = new Hono();

  routes.get("/", async (c) => {
    await ctx.settleIncoming();
    const list = await driver.list();
    return c.json(list.map((status): AgentVm => ({ ...status, spec: specs.get(status.name) })));
  });

  routes.get("/:name", async (c) => {
    await ctx.settleIncoming();
    return c.json(await ctx.vmOrThrow(c.req.param("name")));
  });

  routes.post("/", async (c) => {
    const spec: VmSpec = parse(VmSpecSchema, await jsonBody(c), "VM spec");
    // A powered-off VM holds no memory: the check against free memory is at power-on.
    const status = await ctx.serialize(async () => {
      if ((await driver.get(spec.name)) !== undefined) throw new FerryError(ErrorCode.conflict, `${hostName} already has a VM named "${spec.name}"`, { details: { vm: spec.name } });
      return driver.create(spec);
    });
    specs.set(spec.name, spec);
    log(LogLevel.info, `created VM ${spec.name}`, { vm: spec.name, memoryMB: spec.memoryMB });
    return c.json({ ...status, spec } satisfies AgentVm, 201);
  });

  routes.post("/:name/power-on", async (c) => {
    const name = c.req.param("name");
    const status = await ctx.serialize(async () => {
      const vm = await ctx.vmOrThrow(name);
      if (vm.power === PowerStatus.off) await mayStart(ctx, vm);
      return driver.powerOn(name);
    });
    return c.json({ ...status, spec: specs.get(name) } satisfies AgentVm);
  });

  routes.post("/:name/power-off", async (c) => {
    const name = c.req.param("name");
    await ctx.vmOrThrow(name);
    ctx.notWhileMigrating(name, "power off");
    return c.json({ ...(await driver.powerOff(name)), spec: specs.get(name) } satisfies AgentVm);
  });

  // The guest's memory before a migration, for the controller's prediction: its dirty rate,
  // working set and touched memory. `seconds` (query, 1 to 10, default 1) is how long the qemu
  // driver samples; the sim answers its workload's declared rate.
  routes.get("/:name/dirty-rate", async (c) => {
    const name = c.req.param("name");
    const status = await ctx.vmOrThrow(name);
    const seconds = Number(c.req.query("seconds") ?? "1");
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > 10) throw new FerryError(ErrorCode.invalidInput, `seconds must be a whole number from 1 to 10, not "${c.req.query("seconds") ?? ""}"`);
    if (driver.measureGuestMemory !== undefined && status.power === "running") {
      const { dirtyRateBytesPerSec, touchedBytes, workingSetBytes } = await driver.measureGuestMemory(name, seconds);
      const body: DirtyRateView = { vm: name, bytesPerSec: dirtyRateBytesPerSec, measured: true, touchedBytes, ...(workingSetBytes === undefined ? {} : { workingSetBytes }) };
      return c.json(body);
    }
    const body: DirtyRateView = { vm: name, bytesPerSec: specs.get(name)?.workload?.dirtyRateBytesPerSec ?? 0, measured: false };
    return c.json(body);
  });

  routes.delete("/:name", async (c) => {
    const name = c.req.param("name");
    // ?disks=remove deletes its disk files too (never ISOs); by default the disks stay.
    const removeDisks = c.req.query("disks") === "remove";
    // ?power=off: only a powered-off VM (a cold migration's source), decided in power-on's turn.
    const onlyIfOff = c.req.query("power") === "off";
    await ctx.serialize(async () => {
      const vm = await ctx.vmOrThrow(name);
      ctx.notWhileMigrating(name, "destroy");
      if ([...ctx.incoming.values()].some((s) => s.name === name)) {
        throw new FerryError(ErrorCode.conflict, `cannot destroy ${name} on ${hostName}: it is an incoming migration's shell; abort the migration instead`, { details: { vm: name } });
      }
      if (onlyIfOff && vm.power !== PowerStatus.off) {
        throw new FerryError(ErrorCode.conflict, `${name} is ${vm.power} on ${hostName}: it was asked to be removed only while powered off`, { failureCode: MigrationFailureCode.vmPoweredOn, details: { vm: name, power: vm.power } });
      }
      await driver.destroy(name, { removeDisks });
    });
    specs.delete(name);
    log(LogLevel.info, `destroyed VM ${name}${removeDisks ? " and its disks" : ""}`, { vm: name });
    return c.json({ name, destroyed: true, disksRemoved: removeDisks });
  });

  return routes;
}

/** A powered-off VM may start here when this host holds its record and has the memory. */
async function mayStart(ctx: AgentContext, vm: AgentVm): Promise<void> {
  await mayPowerOn(ctx, vm.name);
  // The driver knows its own free memory; reservations of migrations are the agent's to count.
  const { freeMemoryMB } = await ctx.capacity();
  const held = ctx.reservations.held();
  const free = Math.max(0, freeMemoryMB - held.memoryMB);
  if (vm.memoryMB <= freeMemoryMB - held.memoryMB) return;
  throw new FerryError(ErrorCode.refused, `${ctx.hostName} cannot power on ${vm.name}: it needs ${vm.memoryMB} MB, ${free} MB are free${held.memoryMB > 0 ? ` (${held.memoryMB} MB reserved for migrations)` : ""}`, {
    details: { vm: vm.name, memoryMB: vm.memoryMB, freeMemoryMB: free },
  });
}
