// The host itself: the controller's heartbeat, the host's facts (less what migrations hold),
// a real host's network changes (the seed's Add Networking steps and port groups, all or
// nothing) and, on test agents only, fault rules.
import { Hono } from "hono";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { FaultsRequestSchema, NetworkApplyRequestSchema, type AgentFacts, type HealthView, type NetworkApplyView } from "./api.ts";
import { jsonBody, LogLevel, parse, type AgentContext } from "./context.ts";

export function hostRoutes(ctx: AgentContext): Hono {
  const { driver, clock, hostName, options, log } = ctx;
  const routes = new Hono();

  // The controller's heartbeat: answered from memory and the driver's list, never waiting on
  // facts or on an incoming migration to settle, so a busy agent still answers in time.
  const startedAt = clock.now();
  routes.get("/health", async (c) => {
    const list = await driver.list();
    const body: HealthView = {
      host: hostName,
      driver: driver.kind,
      at: clock.now(),
      startedAt,
      vms: list.map((vm) => ({ name: vm.name, power: vm.power, ...(vm.migratingOut === undefined ? {} : { migratingOut: vm.migratingOut }) })),
      incoming: [...ctx.incoming.values()].map((spec) => spec.name),
    };
    return c.json(body);
  });

  routes.get("/facts", async (c) => {
    await ctx.settleIncoming();
    if (options.host !== undefined) {
      await options.host.refresh(c.req.query("refresh") === "true");
      ctx.setVmotionIp(options.host.vmotion().ip);
    }
    const { facts, freeMemoryMB, cpuCapacityMhz } = await ctx.capacity();
    const held = ctx.reservations.held();
    const body: AgentFacts = {
      ...facts,
      name: hostName,
      vmotionIp: ctx.vmotionIp(),
      freeMemoryMB: Math.max(0, freeMemoryMB - held.memoryMB),
      reservedMemoryMB: held.memoryMB,
      reservedCpuMhz: held.cpuMhz,
      cpuCapacityMhz,
      migrations: { incoming: ctx.incoming.size, outgoing: ctx.outgoing.activeCount() },
      faultsEnabled: options.faults !== undefined,
      networkControl: options.host !== undefined,
      ...(options.host === undefined ? {} : { observed: options.host.extras() }),
    };
    return c.json(body);
  });

  routes.post("/network/apply", async (c) => {
    const control = options.host;
    if (control === undefined) throw new FerryError(ErrorCode.notFound, `the agent of ${hostName} does not manage its host's network (its facts are declared)`, { details: { host: hostName } });
    const { ops } = parse(NetworkApplyRequestSchema, await jsonBody(c), "network change");
    const applied = await ctx.serialize(async () => {
      const done = await control.apply(ops);
      ctx.setVmotionIp(control.vmotion().ip);
      return done;
    });
    log(LogLevel.info, `network changed: ${applied.join("; ")}`, { ops: ops.length });
    return c.json({ applied, vmotionIp: ctx.vmotionIp() } satisfies NetworkApplyView);
  });

  routes.post("/faults", async (c) => {
    const faults = options.faults;
    if (faults === undefined) throw new FerryError(ErrorCode.notFound, `${hostName} was not started with faults enabled`, { details: null });
    const { rules } = parse(FaultsRequestSchema, await jsonBody(c), "fault rules");
    await faults.setFaults(rules);
    log(LogLevel.warn, `fault rules set: ${rules.length}`);
    return c.json({ rules: rules.length });
  });

  return routes;
}
