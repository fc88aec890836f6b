// The host agent's HTTP API, as a Hono app over one hypervisor driver. The composition root
// (`ferry agent`) serves it; tests call `app.request()` with no socket. Every route needs the
// bearer token; errors leave as `{ code, message, details }` with the status chosen in
// http-errors.ts and nowhere else.
import { serialQueue } from "../core/serial-queue.ts";
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { stream } from "hono/streaming";
import type { z } from "zod";
import type { Clock } from "../core/clock.ts";
import { ErrorCode, FerryError, isFerryError } from "../core/errors.ts";
import { unmovedReport } from "../core/migration/report.ts";
import { MigrationFailureCode, Phase, DEFAULT_MIGRATE_OPTIONS, type MigrateOptions, type MigrationProgress, type MigrationReport } from "../core/migration/types.ts";
import { IncomingState, PowerStatus, type HypervisorDriver, type OwnershipFence, type VmSpec } from "../drivers/driver.ts";
import { ownershipWords, type Fence, type LedgerRef, type Ownership } from "../core/ownership.ts";
import type { OwnershipLedger } from "../host/ownership/ledger.ts";
import {
  API_PREFIX,
  FaultsRequestSchema,
  IncomingRequestSchema,
  MigrationIdSchema,
  NetworkApplyRequestSchema,
  OutgoingRequestSchema,
  OwnershipRequestSchema,
  ReservationRequestSchema,
  SettleRequestSchema,
  VmSpecSchema,
  type AgentFacts,
  type AgentVm,
  type DirtyRateView,
  type HealthView,
  type IncomingStateView,
  type NetworkApplyView,
  type ObservedExtras,
  type OutgoingEvent,
  type SettleView,
} from "./api.ts";
import type { GuestCheck } from "../drivers/qemu/host-network.ts";
import type { NetworkOp } from "../host/network-config.ts";
import { bearerTokenCheck } from "./auth.ts";
import { errorBody, statusFor } from "./http-errors.ts";
import { createOutgoingRegistry, type OutgoingRun } from "./outgoing.ts";
import { createReservationBook } from "./reservations.ts";

/**
 * A real host's observed facts and its network (src/agent/real-host.ts). Agents without it
 * report what their driver declares.
 */
export interface HostControl {
  /** Observes the host again, at most once per `maxAgeMs` unless forced. */
  refresh(force: boolean): Promise<void>;
  extras(): ObservedExtras;
  /** Applies network changes on the host as one transaction. */
  apply(ops: readonly NetworkOp[]): Promise<readonly string[]>;
  /** The VMotion VMkernel port's address and name, as observed now. */
  vmotion(): { readonly ip: string | undefined; readonly port: string | undefined };
}

/** What the driver knows of an incoming migration beyond its state (the qemu driver's reason and guest check). */
export interface IncomingDetails {
  readonly reason?: string | undefined;
  readonly guest?: GuestCheck | undefined;
}

/** Where test agents take fault rules; the sim driver's `setFaults` fits it. */
export interface FaultControl {
  setFaults(rules: readonly Record<string, unknown>[]): void | Promise<void>;
}

export const LogLevel = { info: "info", warn: "warn", error: "error" } as const;
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];
/** A logger small enough to pass anywhere; fields must never hold secrets. */
export type AgentLog = (level: LogLevel, message: string, fields?: Readonly<Record<string, unknown>>) => void;

export interface AgentAppOptions {
  readonly driver: HypervisorDriver;
  /** The bearer token every caller presents. */
  readonly token: string;
  readonly clock: Clock;
  readonly hostName: string;
  /** The VMotion VMkernel port's IP: incoming migrations listen there and nowhere else. */
  readonly vmotionIp: string | undefined;
  /** Told of each outgoing migration's destination agent, so the driver can ask it (qemu). */
  readonly learnPeer?: ((peer: { readonly host: string; readonly api: string; readonly token: string; readonly vmotionIp: string }) => void) | undefined;
  /** Present on agents of real hosts: observed facts and the Linux network backend. */
  readonly host?: HostControl | undefined;
  /** The driver's details of an incoming migration, served with its state. */
  readonly incomingDetails?: ((migrationId: string) => Promise<IncomingDetails>) | undefined;
  /** Present only on agents started with faults enabled (tests, labs): serves POST /v1/faults. */
  readonly faults?: FaultControl | undefined;
  readonly log?: AgentLog | undefined;
  /** How often a quiet outgoing stream sends a heartbeat line. Default 1000 ms. */
  readonly heartbeatMs?: number | undefined;
  /**
   * Opens the ownership ledger a migration names (a datastore this host mounts, or the
   * controller's store). Without it this agent refuses fenced migrations.
   */
  readonly ledgerFor?: ((ref: LedgerRef) => OwnershipLedger) | undefined;
}

/** The app and the handles its composition root needs to stop it. */
export interface AgentApp {
  readonly app: Hono;
  /** Aborts outgoing migrations and waits for their reports (before the driver closes). */
  shutdown(): Promise<void>;
}

function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message }));
  const first = issues[0];
  const where = first === undefined ? "" : `${first.path === "" ? "" : `${first.path}: `}${first.message}`;
  throw new FerryError(ErrorCode.invalidInput, `invalid ${what}: ${where}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ""}`, { details: { issues } });
}

async function jsonBody(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
  } catch (cause) {
    throw new FerryError(ErrorCode.invalidInput, "the request body is not valid JSON", { cause });
  }
}

export function createAgent(options: AgentAppOptions): AgentApp {
  const { driver, clock, hostName, faults } = options;
  // Where incoming migrations listen: moves when a network change or a refresh says so.
  let vmotionIp = options.vmotionIp;
  const log: AgentLog = options.log ?? (() => undefined);
  const heartbeatMs = options.heartbeatMs ?? 1000;
  const authorized = bearerTokenCheck(options.token);
  const reservations = createReservationBook();
  const outgoing = createOutgoingRegistry(clock);
  // Capacity-changing operations one at a time: two requests cannot both take the last free megabytes.
  const serialize = serialQueue();
  /** Specs of VMs this agent created or received, so a controller can move them again. */
  const specs = new Map<string, VmSpec>();
  /** Incoming migrations this agent prepared: their VM's spec, until they end. */
  const incoming = new Map<string, VmSpec>();

  const capacity = async (): Promise<{ freeMemoryMB: number; cpuCapacityMhz: number; facts: Awaited<ReturnType<HypervisorDriver["facts"]>> }> => {
    const facts = await driver.facts();
    return { facts, freeMemoryMB: facts.freeMemoryMB, cpuCapacityMhz: facts.cpu.cores * facts.cpu.mhz };
  };

  const vmOrThrow = async (name: string): Promise<AgentVm> => {
    const status = await driver.get(name);
    if (status === undefined) {
      throw new FerryError(ErrorCode.notFound, `no VM named "${name}" on ${hostName}`, { details: { failureCode: MigrationFailureCode.vmNotFound, vm: name, host: hostName } });
    }
    return { ...status, spec: specs.get(name) };
  };

  const notWhileMigrating = (name: string, action: string): void => {
    const run = outgoing.activeFor(name);
    if (run !== undefined) {
      throw new FerryError(ErrorCode.conflict, `cannot ${action} ${name} on ${hostName}: it is migrating out (migration ${run.migrationId})`, {
        details: { vm: name, migrationId: run.migrationId },
      });
    }
  };

  /** Forgets incoming migrations that ended, keeping the spec of those whose VM now runs here. */
  const settleIncoming = async (): Promise<void> => {
    for (const [migrationId, spec] of incoming) {
      const state = await driver.incomingState(migrationId);
      switch (state) {
        case IncomingState.running:
          specs.set(spec.name, spec);
          incoming.delete(migrationId);
          break;
        case IncomingState.failed:
        case IncomingState.aborted:
        case IncomingState.unknown:
          incoming.delete(migrationId);
          break;
        case IncomingState.waiting:
        case IncomingState.receiving:
        case IncomingState.verified:
        case IncomingState.committing:
          break;
      }
    }
  };

  const failureReport = (migrationId: string, vm: string, destination: string, error: unknown, last: MigrationProgress | undefined): MigrationReport =>
    unmovedReport({
      migrationId,
      vm,
      source: hostName,
      destination,
      outcome: Phase.failed,
      failure: {
        code: MigrationFailureCode.internal,
        message: `the ${driver.kind} driver failed instead of reporting: ${error instanceof Error ? error.message : String(error)}`,
        phase: last?.phase ?? Phase.preparing,
      },
      runningOn: hostName,
      bytesSent: last?.bytesSent,
      passes: last?.pass,
    });

  /** The NDJSON response of a run: its events as they come, heartbeats while quiet, the report last. */
  const ndjson = (c: Context, run: OutgoingRun): Response => {
    c.header("Content-Type", "application/x-ndjson; charset=utf-8");
    c.header("Cache-Control", "no-store");
    return stream(c, async (s) => {
      const queue: OutgoingEvent[] = [];
      let wake: (() => void) | undefined;
      let closed = false;
      const isClosed = (): boolean => closed;
      s.onAbort(() => {
        closed = true;
        wake?.();
      });
      const unsubscribe = run.subscribe((event) => {
        // Only the latest progress matters to a reader that fell behind.
        const last = queue[queue.length - 1];
        if (event.type === "progress" && last?.type === "progress") queue[queue.length - 1] = event;
        else queue.push(event);
        wake?.();
      });
      try {
        for (;;) {
          for (let event = queue.shift(); event !== undefined; event = queue.shift()) {
            await s.writeln(JSON.stringify(event));
            if (event.type === "report") return;
          }
          if (isClosed()) return;
          const nap = new AbortController();
          const woken = new Promise<boolean>((resolve) => {
            wake = () => {
              resolve(true);
            };
          });
          const slept = clock.sleep(heartbeatMs, nap.signal).then(
            () => false,
            () => true,
          );
          const byEvent = await Promise.race([woken, slept]);
          wake = undefined;
          nap.abort();
          if (!byEvent && !isClosed() && queue.length === 0) await s.writeln(JSON.stringify({ type: "heartbeat", at: clock.now() } satisfies OutgoingEvent));
        }
      } finally {
        unsubscribe();
      }
    });
  };

  const app = new Hono();

  app.onError((error, c) => {
    if (isFerryError(error)) {
      if (error.code === ErrorCode.internal) log(LogLevel.error, error.message, { path: c.req.path });
      return c.json(errorBody(error), statusFor(error.code));
    }
    log(LogLevel.error, `unexpected error: ${error.message}`, { path: c.req.path, method: c.req.method });
    return c.json({ code: ErrorCode.internal, message: `internal error on ${hostName}: ${error.message}`, details: null }, 500);
  });
  app.notFound((c) => c.json({ code: ErrorCode.notFound, message: `no such route: ${c.req.method} ${c.req.path}`, details: null }, 404));
  // Bodies above 1 MB are refused (413) before they are buffered (issue 11; the controller's edge does the same).
  app.use("*", bodyLimit({ maxSize: 1024 * 1024, onError: (c) => c.json({ code: ErrorCode.invalidInput, message: "the request body is larger than 1 MB, the agent's limit", details: { limitBytes: 1024 * 1024 } }, 413) }));

  // Authentication first, for every path (unknown ones too): a wrong token learns nothing.
  app.use("*", async (c, next) => {
    if (!authorized(c.req.header("Authorization"))) {
      c.header("WWW-Authenticate", 'Bearer realm="ferry-agent"');
      return c.json({ code: ErrorCode.unauthorized, message: "missing or wrong bearer token", details: null }, 401);
    }
    await next();
    return undefined;
  });

  const api = new Hono();

  // The controller's heartbeat: answered from memory and the driver's list, never waiting on
  // facts or on an incoming migration to settle, so a busy agent still answers in time.
  const startedAt = clock.now();
  api.get("/health", async (c) => {
    const list = await driver.list();
    const body: HealthView = {
      host: hostName,
      driver: driver.kind,
      at: clock.now(),
      startedAt,
      vms: list.map((vm) => ({ name: vm.name, power: vm.power, ...(vm.migratingOut === undefined ? {} : { migratingOut: vm.migratingOut }) })),
      incoming: [...incoming.values()].map((spec) => spec.name),
    };
    return c.json(body);
  });

  api.get("/facts", async (c) => {
    await settleIncoming();
    if (options.host !== undefined) {
      await options.host.refresh(c.req.query("refresh") === "true");
      vmotionIp = options.host.vmotion().ip;
    }
    const { facts, freeMemoryMB, cpuCapacityMhz } = await capacity();
    const held = reservations.held();
    const body: AgentFacts = {
      ...facts,
      name: hostName,
      vmotionIp,
      freeMemoryMB: Math.max(0, freeMemoryMB - held.memoryMB),
      reservedMemoryMB: held.memoryMB,
      reservedCpuMhz: held.cpuMhz,
      cpuCapacityMhz,
      migrations: { incoming: incoming.size, outgoing: outgoing.activeCount() },
      faultsEnabled: faults !== undefined,
      networkControl: options.host !== undefined,
      ...(options.host === undefined ? {} : { observed: options.host.extras() }),
    };
    return c.json(body);
  });

  // ---- VMs ----

  api.get("/vms", async (c) => {
    await settleIncoming();
    const list = await driver.list();
    return c.json(list.map((status): AgentVm => ({ ...status, spec: specs.get(status.name) })));
  });

  api.get("/vms/:name", async (c) => {
    await settleIncoming();
    return c.json(await vmOrThrow(c.req.param("name")));
  });

  api.post("/vms", async (c) => {
    const spec: VmSpec = parse(VmSpecSchema, await jsonBody(c), "VM spec");
    // A powered-off VM holds no memory: the check against free memory is at power-on.
    const status = await serialize(async () => {
      if ((await driver.get(spec.name)) !== undefined) throw new FerryError(ErrorCode.conflict, `${hostName} already has a VM named "${spec.name}"`, { details: { vm: spec.name } });
      return driver.create(spec);
    });
    specs.set(spec.name, spec);
    log(LogLevel.info, `created VM ${spec.name}`, { vm: spec.name, memoryMB: spec.memoryMB });
    return c.json({ ...status, spec } satisfies AgentVm, 201);
  });

  api.post("/vms/:name/power-on", async (c) => {
    const name = c.req.param("name");
    const status = await serialize(async () => {
      const vm = await vmOrThrow(name);
      if (vm.power === PowerStatus.off) {
        await mayPowerOn(name);
        // The driver knows its own free memory; reservations of migrations are the agent's to count.
        const { freeMemoryMB } = await capacity();
        const held = reservations.held();
        if (vm.memoryMB > freeMemoryMB - held.memoryMB) {
          throw new FerryError(
            ErrorCode.refused,
            `${hostName} cannot power on ${name}: it needs ${vm.memoryMB} MB, ${Math.max(0, freeMemoryMB - held.memoryMB)} MB are free${held.memoryMB > 0 ? ` (${held.memoryMB} MB reserved for migrations)` : ""}`,
            { details: { vm: name, memoryMB: vm.memoryMB, freeMemoryMB: Math.max(0, freeMemoryMB - held.memoryMB) } },
          );
        }
      }
      return driver.powerOn(name);
    });
    return c.json({ ...status, spec: specs.get(name) } satisfies AgentVm);
  });

  api.post("/vms/:name/power-off", async (c) => {
    const name = c.req.param("name");
    await vmOrThrow(name);
    notWhileMigrating(name, "power off");
    return c.json({ ...(await driver.powerOff(name)), spec: specs.get(name) } satisfies AgentVm);
  });

  // The guest's dirty rate before a migration, for the controller's prediction. `seconds`
  // (query, 1 to 10, default 1) is how long QEMU samples; the sim answers its workload's rate.
  api.get("/vms/:name/dirty-rate", async (c) => {
    const name = c.req.param("name");
    const status = await vmOrThrow(name);
    const seconds = Number(c.req.query("seconds") ?? "1");
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > 10) throw new FerryError(ErrorCode.invalidInput, `seconds must be a whole number from 1 to 10, not "${c.req.query("seconds") ?? ""}"`);
    if (driver.measureDirtyRate !== undefined && status.power === "running") {
      const body: DirtyRateView = { vm: name, bytesPerSec: await driver.measureDirtyRate(name, seconds), measured: true };
      return c.json(body);
    }
    const body: DirtyRateView = { vm: name, bytesPerSec: specs.get(name)?.workload?.dirtyRateBytesPerSec ?? 0, measured: false };
    return c.json(body);
  });

  api.delete("/vms/:name", async (c) => {
    const name = c.req.param("name");
    // ?disks=remove deletes its disk files too (never ISOs); by default the disks stay.
    const removeDisks = c.req.query("disks") === "remove";
    // ?power=off: only a powered-off VM (a cold migration's source), decided in power-on's turn.
    const onlyIfOff = c.req.query("power") === "off";
    await serialize(async () => {
      const vm = await vmOrThrow(name);
      notWhileMigrating(name, "destroy");
      if ([...incoming.values()].some((s) => s.name === name)) {
        throw new FerryError(ErrorCode.conflict, `cannot destroy ${name} on ${hostName}: it is an incoming migration's shell; abort the migration instead`, { details: { vm: name } });
      }
      if (onlyIfOff && vm.power !== PowerStatus.off) {
        throw new FerryError(ErrorCode.conflict, `${name} is ${vm.power} on ${hostName}: it was asked to be removed only while powered off`, { details: { failureCode: MigrationFailureCode.vmPoweredOn, vm: name, power: vm.power } });
      }
      await driver.destroy(name, { removeDisks });
    });
    specs.delete(name);
    log(LogLevel.info, `destroyed VM ${name}${removeDisks ? " and its disks" : ""}`, { vm: name });
    return c.json({ name, destroyed: true, disksRemoved: removeDisks });
  });

  // ---- reservations (high-priority migrations) ----

  api.get("/reservations", (c) => c.json(reservations.list()));

  api.post("/reservations/:migrationId", async (c) => {
    const migrationId = parse(MigrationIdSchema, c.req.param("migrationId"), "migration id");
    const request = parse(ReservationRequestSchema, await jsonBody(c), "reservation");
    const view = await serialize(async () => {
      const { freeMemoryMB, cpuCapacityMhz } = await capacity();
      return reservations.hold(migrationId, request, { hostName, freeMemoryMB, cpuCapacityMhz }, clock.now());
    });
    log(LogLevel.info, `reserved ${request.cpuMhz} MHz and ${request.memoryMB} MB`, { migrationId });
    return c.json(view, 201);
  });

  api.delete("/reservations/:migrationId", (c) => {
    const migrationId = c.req.param("migrationId");
    const released = reservations.release(migrationId);
    // Releasing twice is fine: the engine releases in every ending, and an ending may repeat.
    return c.json({ migrationId, released: released !== undefined });
  });

  // ---- ownership records (src/core/ownership.ts) ----

  const ledgerOf = (ref: LedgerRef): OwnershipLedger => {
    if (options.ledgerFor === undefined) throw new FerryError(ErrorCode.refused, `${hostName} cannot open ownership records: its agent was started without a ledger`);
    return options.ledgerFor(ref);
  };
  /** A migration's fence as this host holds it: claims the next generation for this host. */
  const fenceOf = (fence: Fence, vm: string, migrationId: string): OwnershipFence => {
    const ledger = ledgerOf(fence.ledger);
    return { where: ledger.where, generation: fence.generation, claim: () => ledger.claim(vm, fence.generation, hostName, migrationId) };
  };

  /**
   * Power-on's fence: a VM with a disk on a datastore this host mounts has its ownership record
   * there, beside its first disk (where the controller places it). When another host holds it
   * (the VM moved, cold or live, and this registration is stale), it must not run here; a record
   * that cannot be read proves nothing and refuses too (UNAVAILABLE). A VM without disks keeps
   * its record in the controller's store, which this agent cannot read unasked.
   */
  const mayPowerOn = async (name: string): Promise<void> => {
    const disk = specs.get(name)?.disks?.[0];
    if (disk === undefined || options.ledgerFor === undefined) return;
    let ledger: OwnershipLedger;
    try {
      ledger = options.ledgerFor({ kind: "datastore", datastore: disk.datastore, datastoreName: disk.datastore });
    } catch {
      // The datastore is not mounted here: the driver refuses the disk itself.
      return;
    }
    const record = await ledger.read(name);
    if (record === undefined || record.owner === hostName) return;
    throw new FerryError(ErrorCode.conflict, `cannot power on ${name} on ${hostName}: ${ownershipWords(record)} on ${ledger.where}, so this registration is stale; power it on at ${record.owner}, or take the record over here first (POST /v1/ownership with supersede ${record.generation}) once ${record.owner} does not run it`, {
      details: { failureCode: MigrationFailureCode.notOwned, vm: name, ownership: record },
    });
  };

  api.post("/ownership", async (c) => {
    const { vm, ledger: ref, supersede, migrationId } = parse(OwnershipRequestSchema, await jsonBody(c), "ownership request");
    const ledger = ledgerOf(ref);
    const notOwned = (held: Ownership): FerryError => new FerryError(ErrorCode.conflict, `${ownershipWords(held)} on ${ledger.where}, not ${hostName}`, { details: { failureCode: MigrationFailureCode.notOwned, ownership: held } });
    const now = await ledger.read(vm);
    if (now?.owner === hostName && supersede === undefined) return c.json(now);
    // A repeated request whose answer was lost: this migration already took the record here.
    if (now?.owner === hostName && migrationId !== undefined && now.migrationId === migrationId) return c.json(now);
    if (now !== undefined && supersede !== now.generation) throw notOwned(now);
    // Taking over a record this host cannot see: its view of the storage is not the other host's.
    if (now === undefined && supersede !== undefined) {
      throw new FerryError(ErrorCode.conflict, `${hostName} finds no ownership record of ${vm} on ${ledger.where}, so it cannot take over generation ${supersede}: it does not see the storage the record's holder sees (is ${ledger.where} the same storage on both hosts?)`, { details: { vm, supersede } });
    }
    const result = await ledger.claim(vm, now?.generation ?? 0, hostName, migrationId);
    if (!result.won) throw notOwned(result.ownership);
    log(LogLevel.info, `holds ${vm}'s ownership record (generation ${result.ownership.generation}) on ${ledger.where}`, {});
    return c.json(result.ownership);
  });

  api.post("/ownership/read", async (c) => {
    const { vm, ledger: ref } = parse(OwnershipRequestSchema, await jsonBody(c), "ownership request");
    const record = await ledgerOf(ref).read(vm);
    if (record === undefined) throw new FerryError(ErrorCode.notFound, `${vm} has no ownership record`, { details: { vm } });
    return c.json(record);
  });

  // ---- incoming migrations (this host is the destination) ----

  api.post("/migrations/incoming", async (c) => {
    const { migrationId, spec, encryption, fence } = parse(IncomingRequestSchema, await jsonBody(c), "incoming migration");
    const ownership = fence === undefined ? undefined : fenceOf(fence, spec.name, migrationId);
    const listenHost = vmotionIp;
    if (listenHost === undefined) {
      throw new FerryError(ErrorCode.refused, `${hostName} has no VMkernel port enabled for VMotion, so it cannot receive ${spec.name}`, {
        details: { failureCode: MigrationFailureCode.destinationUnreachable, migrationId },
      });
    }
    const target = await serialize(async () => {
      if (incoming.has(migrationId)) throw new FerryError(ErrorCode.conflict, `${hostName} already prepared migration ${migrationId}`, { details: { migrationId } });
      if ((await driver.get(spec.name)) !== undefined) {
        throw new FerryError(ErrorCode.conflict, `${hostName} already has a VM named "${spec.name}"`, { details: { failureCode: MigrationFailureCode.rejectedByDestination, migrationId, vm: spec.name } });
      }
      // This migration's own reservation (if any) is exactly what it may use now.
      const { freeMemoryMB } = await capacity();
      const available = freeMemoryMB - reservations.held(migrationId).memoryMB;
      if (spec.memoryMB > available) {
        throw new FerryError(ErrorCode.refused, `${hostName} cannot hold ${spec.name}'s ${spec.memoryMB} MB of memory: ${Math.max(0, available)} MB free`, {
          details: { failureCode: MigrationFailureCode.destinationOutOfMemory, migrationId, memoryMB: spec.memoryMB, freeMemoryMB: Math.max(0, available) },
        });
      }
      const prepared = await driver.prepareIncoming(spec, { migrationId, listenHost, encryption, fence: ownership });
      incoming.set(migrationId, spec);
      reservations.markMemoryInUse(migrationId);
      return prepared;
    });
    log(LogLevel.info, `prepared incoming migration of ${spec.name}`, { migrationId, listen: `${target.host}:${target.port}`, tls: target.tls !== undefined });
    return c.json(target, 201);
  });

  api.get("/migrations/incoming/:migrationId", async (c) => {
    const migrationId = c.req.param("migrationId");
    const state = await driver.incomingState(migrationId);
    await settleIncoming();
    const details = options.incomingDetails === undefined || state === IncomingState.unknown ? {} : await options.incomingDetails(migrationId);
    return c.json({ migrationId, state, ...details } satisfies IncomingStateView);
  });

  api.delete("/migrations/incoming/:migrationId", async (c) => {
    const migrationId = c.req.param("migrationId");
    await driver.abortIncoming(migrationId);
    const state = await driver.incomingState(migrationId);
    await settleIncoming();
    log(LogLevel.info, "aborted incoming migration", { migrationId, state });
    return c.json({ migrationId, state } satisfies IncomingStateView);
  });

  // ---- outgoing migrations (this host is the source) ----

  api.post("/migrations/outgoing", async (c) => {
    const request = parse(OutgoingRequestSchema, await jsonBody(c), "outgoing migration");
    const { migrationId, vm, target } = request;
    const destination = request.destination ?? target.host;
    const ownership = request.fence === undefined ? undefined : fenceOf(request.fence, vm, migrationId);
    if (request.destinationAgent !== undefined) options.learnPeer?.({ ...request.destinationAgent, vmotionIp: target.host });
    const run = await serialize(async () => {
      if (outgoing.get(migrationId) !== undefined) throw new FerryError(ErrorCode.conflict, `${hostName} already ran migration ${migrationId}`, { details: { migrationId } });
      const status = await vmOrThrow(vm);
      notWhileMigrating(vm, "migrate");
      if (status.power !== PowerStatus.running) {
        throw new FerryError(ErrorCode.refused, `${vm} is ${status.power} on ${hostName}, not running: only a running VM migrates live`, {
          details: { failureCode: MigrationFailureCode.vmNotRunning, migrationId, vm, power: status.power },
        });
      }
      const migrateOptions = migrateOptionsFrom(request.options);
      log(LogLevel.info, `migrating ${vm} to ${destination}`, { migrationId, target: `${target.host}:${target.port}` });
      return outgoing.start(
        migrationId,
        vm,
        async (hooks) => {
          const report = await driver.migrateOut(vm, target, migrateOptions, { ...hooks, fence: ownership });
          // Drivers know the target by its VMotion IP; the report speaks of hosts by name.
          // An empty runningOn is the driver saying the outcome is uncertain (see settle): kept as is.
          return { ...report, source: hostName, destination, runningOn: report.outcome === Phase.completed ? destination : report.runningOn === "" ? "" : hostName };
        },
        (error, last) => failureReport(migrationId, vm, destination, error, last),
      );
    });
    void run.done.then((report) => {
      if (report.outcome === Phase.completed) specs.delete(vm);
      log(report.outcome === Phase.completed ? LogLevel.info : LogLevel.warn, `migration of ${vm} ${report.outcome}${report.failure === undefined ? "" : `: ${report.failure.code} ${report.failure.message}`}`, { migrationId });
    });
    return ndjson(c, run);
  });

  const runOrThrow = (migrationId: string): OutgoingRun => {
    const run = outgoing.get(migrationId);
    if (run === undefined) throw new FerryError(ErrorCode.notFound, `${hostName} has no outgoing migration ${migrationId}`, { details: { migrationId } });
    return run;
  };

  api.get("/migrations/outgoing/:migrationId", (c) => c.json(runOrThrow(c.req.param("migrationId")).view()));

  /** Subscribes again to a running migration's events (a controller that lost its stream). */
  api.get("/migrations/outgoing/:migrationId/stream", (c) => ndjson(c, runOrThrow(c.req.param("migrationId"))));

  /**
   * Settles an uncertain outcome (the report failed with an empty runningOn: COMMIT went out,
   * the confirmation never came back). The caller asked the destination's incoming state and
   * passes it; the driver releases the paused copy or resumes it.
   */
  api.post("/migrations/outgoing/:migrationId/settle", async (c) => {
    const run = runOrThrow(c.req.param("migrationId"));
    const { destination } = parse(SettleRequestSchema, await jsonBody(c), "settlement");
    const settledOn = await driver.settle(run.vm, run.migrationId, destination);
    run.settled(settledOn);
    if (settledOn === "destination") specs.delete(run.vm);
    log(LogLevel.warn, `settled: ${run.vm} runs on the ${settledOn}`, { migrationId: run.migrationId, destinationState: destination });
    return c.json({ migrationId: run.migrationId, vm: run.vm, settledOn } satisfies SettleView);
  });

  api.delete("/migrations/outgoing/:migrationId", (c) => {
    const run = runOrThrow(c.req.param("migrationId"));
    run.abort("aborted by request");
    log(LogLevel.info, "abort requested", { migrationId: run.migrationId });
    // The answer is immediate; the outcome arrives on the stream (or GET) as the report.
    return c.json(run.view(), 202);
  });

  // ---- a real host's network: the seed's Add Networking steps and port groups, all or nothing ----

  api.post("/network/apply", async (c) => {
    const control = options.host;
    if (control === undefined) throw new FerryError(ErrorCode.notFound, `the agent of ${hostName} does not manage its host's network (its facts are declared)`, { details: { host: hostName } });
    const { ops } = parse(NetworkApplyRequestSchema, await jsonBody(c), "network change");
    const applied = await serialize(async () => {
      const done = await control.apply(ops);
      vmotionIp = control.vmotion().ip;
      return done;
    });
    log(LogLevel.info, `network changed: ${applied.join("; ")}`, { ops: ops.length });
    return c.json({ applied, vmotionIp } satisfies NetworkApplyView);
  });

  // ---- faults (test agents only) ----

  api.post("/faults", async (c) => {
    if (faults === undefined) throw new FerryError(ErrorCode.notFound, `${hostName} was not started with faults enabled`, { details: null });
    const { rules } = parse(FaultsRequestSchema, await jsonBody(c), "fault rules");
    await faults.setFaults(rules);
    log(LogLevel.warn, `fault rules set: ${rules.length}`);
    return c.json({ rules: rules.length });
  });

  app.route(API_PREFIX, api);

  return {
    app,
    shutdown: () => outgoing.abortAll(`${hostName} is shutting down`),
  };
}

/** The agent's Hono app (see createAgent for the shutdown handle). */
export function createAgentApp(options: AgentAppOptions): Hono {
  return createAgent(options).app;
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
  };
}
