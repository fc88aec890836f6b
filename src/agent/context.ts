// What the agent's routes share: the options its composition root chose, and the state one
// agent keeps in memory (VM specs, incoming migrations, reservations, outgoing runs, state
// tokens), with the few checks several routes make. Each resource's routes (routes-*.ts) take
// it as their one parameter; app.ts builds it once.
import type { Context } from "hono";
import type { z } from "zod";
import type { Clock } from "../core/clock.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import type { LedgerRef } from "../core/ownership.ts";
import { MigrationFailureCode } from "../core/migration/types.ts";
import { serialQueue, type SerialQueue } from "../core/serial-queue.ts";
import { IncomingState, type GuestCheck, type HostFacts, type HypervisorDriver, type VmSpec } from "../drivers/driver.ts";
import type { NetworkOp } from "../host/network-config.ts";
import type { OwnershipLedger } from "../host/ownership/ledger.ts";
import type { AgentVm, DestinationAgent, ObservedExtras } from "./api.ts";
import { createMigrationTokens, type MigrationTokens } from "./migration-tokens.ts";
import { createOutgoingRegistry, type OutgoingRegistry } from "./outgoing.ts";
import { createReservationBook, type ReservationBook } from "../drivers/bookkeeping.ts";

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
  /** QEMU's postcopy-blocktime of a post-copy migration that completed here, ms (the qemu driver). */
  readonly postcopyBlocktimeMs?: number | undefined;
}

/** Where test agents take fault rules; the sim driver's `setFaults` fits it. */
export interface FaultControl {
  setFaults(rules: readonly Record<string, unknown>[]): void | Promise<void>;
}

/**
 * Where a source agent keeps the destination the controller named for each outgoing migration
 * (src/agent/destinations.ts), so its driver can ask it; dropped when the migration ends.
 */
export interface DestinationBook {
  learn(migrationId: string, agent: DestinationAgent, stateToken: string | undefined): void;
  forget(migrationId: string): void;
}

export const LogLevel = { info: "info", warn: "warn", error: "error" } as const;
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];
/** A logger small enough to pass anywhere; fields must never hold secrets. */
export type AgentLog = (level: LogLevel, message: string, fields?: Readonly<Record<string, unknown>>) => void;

export interface AgentAppOptions {
  readonly driver: HypervisorDriver;
  /** The bearer token every caller presents (besides a migration's state token, for its state). */
  readonly token: string;
  readonly clock: Clock;
  readonly hostName: string;
  /** The VMotion VMkernel port's IP: incoming migrations listen there and nowhere else. */
  readonly vmotionIp: string | undefined;
  /** Told of each outgoing migration's destination agent, so the driver can ask it (qemu). */
  readonly destinations?: DestinationBook | undefined;
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

export interface AgentContext {
  readonly options: AgentAppOptions;
  readonly driver: HypervisorDriver;
  readonly clock: Clock;
  readonly hostName: string;
  readonly log: AgentLog;
  readonly reservations: ReservationBook;
  readonly outgoing: OutgoingRegistry;
  /** Incoming migrations' state tokens (src/agent/migration-tokens.ts). */
  readonly tokens: MigrationTokens;
  /** Capacity-changing operations one at a time: two requests cannot both take the last free megabytes. */
  readonly serialize: SerialQueue;
  /** Specs of VMs this agent created or received, so a controller can move them again. */
  readonly specs: Map<string, VmSpec>;
  /** Incoming migrations this agent prepared: their VM's spec, until they end. */
  readonly incoming: Map<string, VmSpec>;
  /** Where incoming migrations listen: moves when a network change or a refresh says so. */
  vmotionIp(): string | undefined;
  setVmotionIp(ip: string | undefined): void;
  capacity(): Promise<{ readonly freeMemoryMB: number; readonly cpuCapacityMhz: number; readonly facts: HostFacts }>;
  vmOrThrow(name: string): Promise<AgentVm>;
  /** CONFLICT when `name` is migrating out of this host. */
  notWhileMigrating(name: string, action: string): void;
  /** Forgets incoming migrations that ended, keeping the spec of those whose VM now runs here. */
  settleIncoming(): Promise<void>;
}

export function createAgentContext(options: AgentAppOptions): AgentContext {
  const { driver, clock, hostName } = options;
  let vmotionIp = options.vmotionIp;
  const specs = new Map<string, VmSpec>();
  const incoming = new Map<string, VmSpec>();
  const outgoing = createOutgoingRegistry(clock);
  const tokens = createMigrationTokens({ now: () => clock.monotonic() });
  return {
    options,
    driver,
    clock,
    hostName,
    log: options.log ?? (() => undefined),
    reservations: createReservationBook(),
    outgoing,
    tokens,
    serialize: serialQueue(),
    specs,
    incoming,
    vmotionIp: () => vmotionIp,
    setVmotionIp: (ip) => {
      vmotionIp = ip;
    },
    async capacity() {
      const facts = await driver.facts();
      return { facts, freeMemoryMB: facts.freeMemoryMB, cpuCapacityMhz: facts.cpu.cores * facts.cpu.mhz };
    },
    async vmOrThrow(name) {
      const status = await driver.get(name);
      if (status === undefined) {
        throw new FerryError(ErrorCode.notFound, `no VM named "${name}" on ${hostName}`, { failureCode: MigrationFailureCode.vmNotFound, details: { vm: name, host: hostName } });
      }
      return { ...status, spec: specs.get(name) };
    },
    notWhileMigrating(name, action) {
      const run = outgoing.activeFor(name);
      if (run === undefined) return;
      throw new FerryError(ErrorCode.conflict, `cannot ${action} ${name} on ${hostName}: it is migrating out (migration ${run.migrationId})`, {
        details: { vm: name, migrationId: run.migrationId },
      });
    },
    settleIncoming: () => settleIncoming(driver, incoming, specs, tokens),
  };
}

async function settleIncoming(driver: HypervisorDriver, incoming: Map<string, VmSpec>, specs: Map<string, VmSpec>, tokens: MigrationTokens): Promise<void> {
  for (const [migrationId, spec] of incoming) {
    const state = await driver.incomingState(migrationId);
    switch (state) {
      case IncomingState.running:
        specs.set(spec.name, spec);
        incoming.delete(migrationId);
        tokens.ended(migrationId);
        break;
      case IncomingState.failed:
      case IncomingState.aborted:
      case IncomingState.unknown:
        incoming.delete(migrationId);
        tokens.ended(migrationId);
        break;
      case IncomingState.waiting:
      case IncomingState.receiving:
      case IncomingState.verified:
      case IncomingState.committing:
        break;
    }
  }
}

/** `value` checked against `schema`, or INVALID_INPUT naming the first issue. */
export function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message }));
  const first = issues[0];
  const where = first === undefined ? "" : `${first.path === "" ? "" : `${first.path}: `}${first.message}`;
  throw new FerryError(ErrorCode.invalidInput, `invalid ${what}: ${where}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ""}`, { details: { issues } });
}

export async function jsonBody(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
  } catch (cause) {
    throw new FerryError(ErrorCode.invalidInput, "the request body is not valid JSON", { cause });
  }
}
