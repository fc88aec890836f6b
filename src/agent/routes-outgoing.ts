// Outgoing migrations (this host is the source). A migration runs in the agent, not in the
// request that started it (src/agent/outgoing.ts): the request streams its events as NDJSON,
// a later one may follow it again, read its outcome, settle an uncertain one, or abort it.
import { Hono } from "hono";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { unmovedReport } from "../core/migration/report.ts";
import { DEFAULT_MIGRATE_OPTIONS, MigrationFailureCode, Phase, type MigrateOptions, type MigrationReport } from "../core/migration/types.ts";
import type { SourceProgress } from "../core/migration/progress.ts";
import { PowerStatus } from "../drivers/driver.ts";
import { OutgoingRequestSchema, SettleRequestSchema, type SettleView } from "./api.ts";
import { jsonBody, LogLevel, parse, type AgentContext } from "./context.ts";
import { ndjsonOf } from "./ndjson.ts";
import type { OutgoingRun } from "./outgoing.ts";
import { fenceOf } from "./routes-ownership.ts";

type OutgoingRequest = ReturnType<typeof OutgoingRequestSchema.parse>;

export function outgoingRoutes(ctx: AgentContext): Hono {
  const { driver, hostName, log, outgoing, clock } = ctx;
  const heartbeatMs = ctx.options.heartbeatMs ?? 1000;
  const routes = new Hono();

  const runOrThrow = (migrationId: string): OutgoingRun => {
    const run = outgoing.get(migrationId);
    if (run === undefined) throw new FerryError(ErrorCode.notFound, `${hostName} has no outgoing migration ${migrationId}`, { details: { migrationId } });
    return run;
  };

  routes.post("/", async (c) => {
    const request = parse(OutgoingRequestSchema, await jsonBody(c), "outgoing migration");
    const run = await ctx.serialize(() => start(ctx, request));
    return ndjsonOf(c, run, clock, heartbeatMs);
  });

  routes.get("/:migrationId", (c) => c.json(runOrThrow(c.req.param("migrationId")).view()));

  /** Subscribes again to a running migration's events (a controller that lost its stream). */
  routes.get("/:migrationId/stream", (c) => ndjsonOf(c, runOrThrow(c.req.param("migrationId")), clock, heartbeatMs));

  /**
   * Settles an uncertain outcome (the report failed with an empty runningOn: COMMIT went out,
   * the confirmation never came back). The caller asked the destination's incoming state and
   * passes it; the driver releases the paused copy or resumes it.
   */
  routes.post("/:migrationId/settle", async (c) => {
    const run = runOrThrow(c.req.param("migrationId"));
    const { destination } = parse(SettleRequestSchema, await jsonBody(c), "settlement");
    const settledOn = await driver.settle(run.vm, run.migrationId, destination);
    run.settled(settledOn);
    if (settledOn === "destination") ctx.specs.delete(run.vm);
    log(LogLevel.warn, `settled: ${run.vm} runs on the ${settledOn}`, { migrationId: run.migrationId, destinationState: destination });
    return c.json({ migrationId: run.migrationId, vm: run.vm, settledOn } satisfies SettleView);
  });

  routes.delete("/:migrationId", (c) => {
    const run = runOrThrow(c.req.param("migrationId"));
    run.abort("aborted by request");
    log(LogLevel.info, "abort requested", { migrationId: run.migrationId });
    // The answer is immediate; the outcome arrives on the stream (or GET) as the report.
    return c.json(run.view(), 202);
  });

  return routes;
}

/** Starts the run of `request`, in the agent's serial turn: the VM must be here, running, and not migrating. */
async function start(ctx: AgentContext, request: OutgoingRequest): Promise<OutgoingRun> {
  const { migrationId, vm } = request;
  // The state token is the agent's, to ask the destination with: the driver never sees it.
  const { stateToken, ...target } = request.target;
  const destination = request.destination ?? target.host;
  const ownership = request.fence === undefined ? undefined : fenceOf(ctx, request.fence, vm, migrationId);
  if (ctx.outgoing.get(migrationId) !== undefined) throw new FerryError(ErrorCode.conflict, `${ctx.hostName} already ran migration ${migrationId}`, { details: { migrationId } });
  const status = await ctx.vmOrThrow(vm);
  ctx.notWhileMigrating(vm, "migrate");
  if (status.power !== PowerStatus.running) {
    throw new FerryError(ErrorCode.refused, `${vm} is ${status.power} on ${ctx.hostName}, not running: only a running VM migrates live`, {
      failureCode: MigrationFailureCode.vmNotRunning, details: { migrationId, vm, power: status.power },
    });
  }
  const migrateOptions = migrateOptionsFrom(request.options);
  const destinations = ctx.options.destinations;
  if (request.destinationAgent !== undefined) destinations?.learn(migrationId, request.destinationAgent, stateToken);
  ctx.log(LogLevel.info, `migrating ${vm} to ${destination}`, { migrationId, target: `${target.host}:${target.port}` });
  const run = ctx.outgoing.start(
    migrationId,
    vm,
    async (hooks) => {
      const report = await ctx.driver.migrateOut(vm, target, migrateOptions, { ...hooks, fence: ownership });
      // Drivers know the target by its VMotion IP; the report speaks of hosts by name.
      // An empty runningOn is the driver saying the outcome is uncertain (see settle): kept as is.
      return { ...report, source: ctx.hostName, destination, runningOn: report.outcome === Phase.completed ? destination : report.runningOn === "" ? "" : ctx.hostName };
    },
    (error, last) => failureReport(ctx, { migrationId, vm, destination }, error, last),
  );
  void run.done.then((report) => {
    destinations?.forget(migrationId);
    if (report.outcome === Phase.completed) ctx.specs.delete(vm);
    ctx.log(report.outcome === Phase.completed ? LogLevel.info : LogLevel.warn, `migration of ${vm} ${report.outcome}${report.failure === undefined ? "" : `: ${report.failure.code} ${report.failure.message}`}`, { migrationId });
  });
  return run;
}

function failureReport(ctx: AgentContext, run: { readonly migrationId: string; readonly vm: string; readonly destination: string }, error: unknown, last: SourceProgress | undefined): MigrationReport {
  return unmovedReport({
    ...run,
    source: ctx.hostName,
    outcome: Phase.failed,
    failure: {
      code: MigrationFailureCode.internal,
      message: `the ${ctx.driver.kind} driver failed instead of reporting: ${error instanceof Error ? error.message : String(error)}`,
      phase: last?.phase ?? Phase.preparing,
    },
    runningOn: ctx.hostName,
    bytesSent: last?.bytesSent,
    passes: last?.pass,
  });
}

/** Options as sent, completed from the defaults. */
export function migrateOptionsFrom(sent: { readonly [K in keyof MigrateOptions]?: MigrateOptions[K] | undefined } | undefined): MigrateOptions {
  const d = DEFAULT_MIGRATE_OPTIONS;
  const bandwidth = sent?.bandwidthLimitBytesPerSec ?? d.bandwidthLimitBytesPerSec;
  return {
    downtimeLimitMs: sent?.downtimeLimitMs ?? d.downtimeLimitMs,
    priority: sent?.priority ?? d.priority,
    autoConverge: sent?.autoConverge ?? d.autoConverge,
    maxPasses: sent?.maxPasses ?? d.maxPasses,
    maxTrafficFactor: sent?.maxTrafficFactor ?? d.maxTrafficFactor,
    stallTimeoutMs: sent?.stallTimeoutMs ?? d.stallTimeoutMs,
    vmotionEncryption: sent?.vmotionEncryption ?? d.vmotionEncryption,
    ...(bandwidth === undefined ? {} : { bandwidthLimitBytesPerSec: bandwidth }),
    ...(sent?.convergence === undefined ? {} : { convergence: sent.convergence }),
  };
}
