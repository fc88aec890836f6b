// Incoming migrations (this host is the destination): prepare one (the driver listens on the
// VMotion IP; the answer carries the target and the migration's state token), read its state
// (the one route a state token opens), abort it.
import { Hono } from "hono";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { MigrationFailureCode } from "../core/migration/types.ts";
import { IncomingState, type IncomingMigration, type VmSpec } from "../drivers/driver.ts";
import { IncomingRequestSchema, type IncomingRequest, type IncomingStateView, type PreparedIncoming } from "./api.ts";
import { jsonBody, LogLevel, parse, type AgentContext } from "./context.ts";
import { fenceOf } from "./routes-ownership.ts";

export function incomingRoutes(ctx: AgentContext): Hono {
  const { driver, log, tokens } = ctx;
  const routes = new Hono();

  routes.post("/", async (c) => {
    const request = parse(IncomingRequestSchema, await jsonBody(c), "incoming migration");
    const { migrationId, spec } = request;
    const target = await ctx.serialize(() => prepare(ctx, request));
    log(LogLevel.info, `prepared incoming migration of ${spec.name}`, { migrationId, listen: `${target.host}:${target.port}`, tls: target.tls !== undefined });
    return c.json({ ...target, stateToken: tokens.issue(migrationId) } satisfies PreparedIncoming, 201);
  });

  routes.get("/:migrationId", async (c) => {
    const migrationId = c.req.param("migrationId");
    const state = await driver.incomingState(migrationId);
    await ctx.settleIncoming();
    // The driver forgot it: the migration ended here, and so does its state token.
    if (state === IncomingState.unknown) tokens.revoke(migrationId);
    const details = ctx.options.incomingDetails === undefined || state === IncomingState.unknown ? {} : await ctx.options.incomingDetails(migrationId);
    return c.json({ migrationId, state, ...details } satisfies IncomingStateView);
  });

  routes.delete("/:migrationId", async (c) => {
    const migrationId = c.req.param("migrationId");
    await driver.abortIncoming(migrationId);
    tokens.revoke(migrationId);
    const state = await driver.incomingState(migrationId);
    await ctx.settleIncoming();
    log(LogLevel.info, "aborted incoming migration", { migrationId, state });
    return c.json({ migrationId, state } satisfies IncomingStateView);
  });

  return routes;
}

/** Prepares the driver for `request`, in the agent's serial turn: the VM's memory must fit now. */
async function prepare(ctx: AgentContext, request: IncomingRequest): Promise<IncomingMigration> {
  const { migrationId, spec, encryption, fence, postcopy, sourceHypervisorVersion } = request;
  const { driver, hostName } = ctx;
  const ownership = fence === undefined ? undefined : fenceOf(ctx, fence, spec.name, migrationId);
  const listenHost = ctx.vmotionIp();
  if (listenHost === undefined) {
    throw new FerryError(ErrorCode.refused, `${hostName} has no VMkernel port enabled for VMotion, so it cannot receive ${spec.name}`, {
      failureCode: MigrationFailureCode.destinationUnreachable, details: { migrationId },
    });
  }
  if (ctx.incoming.has(migrationId)) throw new FerryError(ErrorCode.conflict, `${hostName} already prepared migration ${migrationId}`, { details: { migrationId } });
  if ((await driver.get(spec.name)) !== undefined) {
    throw new FerryError(ErrorCode.conflict, `${hostName} already has a VM named "${spec.name}"`, { failureCode: MigrationFailureCode.rejectedByDestination, details: { migrationId, vm: spec.name } });
  }
  await refuseUnlessFits(ctx, migrationId, spec);
  const prepared = await driver.prepareIncoming(spec, { migrationId, listenHost, encryption, fence: ownership, ...(postcopy === true ? { postcopy } : {}), sourceHypervisorVersion });
  ctx.incoming.set(migrationId, spec);
  ctx.reservations.markMemoryInUse(migrationId);
  return prepared;
}

/** This migration's own reservation (if any) is exactly what it may use now. */
async function refuseUnlessFits(ctx: AgentContext, migrationId: string, spec: VmSpec): Promise<void> {
  const { freeMemoryMB } = await ctx.capacity();
  const available = freeMemoryMB - ctx.reservations.held(migrationId).memoryMB;
  if (spec.memoryMB <= available) return;
  throw new FerryError(ErrorCode.refused, `${ctx.hostName} cannot hold ${spec.name}'s ${spec.memoryMB} MB of memory: ${Math.max(0, available)} MB free`, {
    failureCode: MigrationFailureCode.destinationOutOfMemory, details: { migrationId, memoryMB: spec.memoryMB, freeMemoryMB: Math.max(0, available) },
  });
}
