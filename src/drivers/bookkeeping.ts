// What every hypervisor driver keeps besides its VMs, kept once here for sim, qemu and the
// agent's test fake: the memory its VMs hold, the rules a VM's life and a migration's start
// follow, its incoming migrations (finished ones remembered, a bounded number, because a
// settlement asks after them), the migrations waiting for a settlement and the answers given,
// the outgoing migrations under way with the driver's closing signal, and the reservations of
// high-priority migrations (held by the agent for the host).
import { ErrorCode, FerryError } from "../core/errors.ts";
import { unmovedReport } from "../core/migration/report.ts";
import { MigrationFailureCode, Phase, type MigrationReport } from "../core/migration/types.ts";
import { IncomingState, PowerStatus, type IncomingMigration, type OwnershipFence, type SettledOn, type VmSpec } from "./driver.ts";
import { settleByFence } from "./settle.ts";

/** How many finished incoming migrations (and settled answers) a driver remembers; the oldest go first. */
export const KEEP_FINISHED = 1024;

// ---- memory ----

/** Memory held by a host's VMs: a powered-off VM holds none; running, paused and shells their size. */
export function memoryHeldMB(vms: Iterable<{ readonly power: PowerStatus; readonly spec: Pick<VmSpec, "memoryMB"> }>): number {
  let held = 0;
  for (const vm of vms) if (vm.power !== PowerStatus.off) held += vm.spec.memoryMB;
  return held;
}

/** A destination without the memory for an incoming VM: REFUSED with failureCode DESTINATION_OUT_OF_MEMORY. */
export function outOfMemory(hostName: string, spec: Pick<VmSpec, "name" | "memoryMB">, freeMB: number): FerryError {
  return new FerryError(ErrorCode.refused, `${hostName} has ${freeMB} MB of memory free; ${spec.name} needs ${spec.memoryMB} MB`, {
    failureCode: MigrationFailureCode.destinationOutOfMemory, details: { vm: spec.name, requiredMB: spec.memoryMB, freeMB },
  });
}

/** A VM that does not fit at power-on: REFUSED, saying what is free. */
export function cannotPowerOn(hostName: string, spec: Pick<VmSpec, "name" | "memoryMB">, freeMB: number): FerryError {
  return new FerryError(ErrorCode.refused, `${hostName} has ${freeMB} MB free; ${spec.name} needs ${spec.memoryMB} MB to power on`, {
    details: { vm: spec.name, requiredMB: spec.memoryMB, freeMB },
  });
}

// ---- a VM's life ----

/** What the rules below read of a driver's VM. */
export interface VmActivity {
  readonly power: PowerStatus;
  /** The migration it is migrating out by, if any. */
  readonly migratingOut: string | undefined;
  /** The incoming migration it is the shell of, if any. */
  readonly incoming: string | undefined;
}

/** A new VM's spec as every driver checks it: a name, a positive whole memory size, a name not taken. */
export function checkNewVm(hostName: string, spec: Pick<VmSpec, "name" | "memoryMB">, taken: boolean): void {
  if (spec.name === "") throw new FerryError(ErrorCode.invalidInput, "a VM needs a name");
  if (!Number.isInteger(spec.memoryMB) || spec.memoryMB <= 0) throw new FerryError(ErrorCode.invalidInput, `${spec.name}: memoryMB must be a positive integer, not ${spec.memoryMB}`);
  if (taken) throw new FerryError(ErrorCode.conflict, `${hostName} already has a VM named "${spec.name}"`, { details: { vm: spec.name } });
}

/** Power operations wait for a VM's migration: CONFLICT while it migrates out or is an incoming shell. */
export function mustBeIdle(name: string, vm: VmActivity, action: string): void {
  if (vm.migratingOut !== undefined) throw new FerryError(ErrorCode.conflict, `cannot ${action} ${name}: it is migrating out (${vm.migratingOut})`, { details: { vm: name, migrationId: vm.migratingOut } });
  if (vm.incoming !== undefined) throw new FerryError(ErrorCode.conflict, `cannot ${action} ${name}: it is the shell of incoming migration ${vm.incoming}; abort that instead`, { details: { vm: name, migrationId: vm.incoming } });
}

/**
 * The VM migrateOut of `name` starts with, when it runs here, idle, on an open driver; else the
 * report that refuses it. Refused before anything moved, that report names this host as where
 * the VM is: nothing is uncertain ("" would ask for a settlement), and a VM that was off stays
 * off here. `closedDriver` is the driver's kind once it is closed.
 */
export function vmToMigrate<V extends VmActivity>(hostName: string, name: string, vm: V | undefined, target: IncomingMigration, closedDriver: string | undefined): { readonly vm: V; readonly refused?: undefined } | { readonly refused: MigrationReport; readonly vm?: undefined } {
  const refused = (code: MigrationFailureCode, message: string): { refused: MigrationReport } => ({
    refused: unmovedReport({ migrationId: target.migrationId, vm: name, source: hostName, destination: target.host, outcome: Phase.failed, failure: { code, message, phase: Phase.preparing }, runningOn: hostName }),
  });
  if (closedDriver !== undefined) return refused(MigrationFailureCode.internal, `the ${closedDriver} driver of ${hostName} is closed`);
  if (vm === undefined) return refused(MigrationFailureCode.vmNotFound, `${hostName} has no VM named "${name}"`);
  if (vm.incoming !== undefined) return refused(MigrationFailureCode.vmNotRunning, `${name} on ${hostName} is the shell of incoming migration ${vm.incoming}`);
  if (vm.migratingOut !== undefined) return refused(MigrationFailureCode.vmNotRunning, `${name} is already migrating out of ${hostName} (${vm.migratingOut})`);
  if (vm.power !== PowerStatus.running) return refused(MigrationFailureCode.vmNotRunning, `${name} is ${vm.power} on ${hostName}; only a running VM migrates live`);
  return { vm };
}

// ---- incoming migrations ----

/** Whether an incoming migration is still under way (neither running here nor ended). */
export function incomingUnderWay(state: IncomingState): boolean {
  return state === IncomingState.waiting || state === IncomingState.receiving || state === IncomingState.verified || state === IncomingState.committing;
}

/**
 * A host's incoming migrations by id. Finished ones stay queryable (the source's settlement and
 * the engine's reconciliation ask after them) up to `keep`; past that the oldest finished go.
 */
export class IncomingRegister<S extends { readonly state: IncomingState }> {
  private readonly sessions = new Map<string, S>();
  private readonly keep: number;

  constructor(keep = KEEP_FINISHED) {
    this.keep = keep;
  }

  get(migrationId: string): S | undefined {
    return this.sessions.get(migrationId);
  }

  /** The state of `migrationId` here; `unknown` for one this host never had (or forgot). */
  state(migrationId: string): IncomingState {
    return this.sessions.get(migrationId)?.state ?? IncomingState.unknown;
  }

  /** Throws CONFLICT when `migrationId` was prepared here before. */
  mustBeNew(migrationId: string, hostName: string): void {
    const existing = this.sessions.get(migrationId);
    if (existing !== undefined) throw new FerryError(ErrorCode.conflict, `${hostName} already has incoming migration ${migrationId} (${existing.state})`, { details: { migrationId } });
  }

  add(migrationId: string, session: S): void {
    this.sessions.set(migrationId, session);
    if (this.sessions.size <= this.keep) return;
    for (const [key, s] of this.sessions) {
      if (this.sessions.size <= this.keep) break;
      if (!incomingUnderWay(s.state)) this.sessions.delete(key);
    }
  }

  values(): IterableIterator<S> {
    return this.sessions.values();
  }

  get size(): number {
    return this.sessions.size;
  }

  clear(): void {
    this.sessions.clear();
  }
}

// ---- settlements ----

/** What a driver does once a settlement decided: run its paused copy again, or release it. */
export type ApplySettlement = (where: SettledOn) => Promise<void> | void;

/**
 * Source side: migrations whose switchover was uncertain (the VM waits paused here, with the
 * migration's fence), and the answers `settle` gave, so that a repeated call gets the same one.
 */
export class Settlements {
  private readonly awaiting = new Map<string, { readonly vm: string; readonly fence: OwnershipFence | undefined }>();
  private readonly settled = new Map<string, SettledOn>();
  private readonly hostName: string;

  constructor(hostName: string) {
    this.hostName = hostName;
  }

  /** The VM `vm` waits paused here for the outcome of `migrationId`. */
  await(migrationId: string, vm: string, fence: OwnershipFence | undefined): void {
    this.awaiting.set(migrationId, { vm, fence });
  }

  /**
   * HypervisorDriver.settle: the ownership record decides (settle.ts); `apply` runs the paused
   * copy here again or releases it. A claim that cannot reach the record throws: the VM stays paused.
   */
  async settle(name: string, migrationId: string, destination: IncomingState, apply: ApplySettlement): Promise<SettledOn> {
    const done = this.settled.get(migrationId);
    if (done !== undefined) return done;
    const waiting = this.awaiting.get(migrationId);
    if (waiting?.vm !== name) {
      throw new FerryError(ErrorCode.conflict, `${this.hostName} holds no paused copy of ${name} awaiting the outcome of migration ${migrationId}`, { details: { vm: name, migrationId } });
    }
    const where = await settleByFence(waiting.fence, destination, name, migrationId);
    // A concurrent call settled it while this one claimed: its answer stands.
    const meanwhile = this.settled.get(migrationId);
    if (meanwhile !== undefined) return meanwhile;
    await apply(where);
    this.awaiting.delete(migrationId);
    this.settled.set(migrationId, where);
    if (this.settled.size > KEEP_FINISHED) {
      const oldest = this.settled.keys().next();
      if (oldest.done !== true) this.settled.delete(oldest.value);
    }
    return where;
  }
}

// ---- outgoing migrations ----

/** The outgoing migrations under way, and the driver's closing signal that aborts them. */
export class OutgoingRuns {
  private readonly runs = new Set<Promise<unknown>>();
  private readonly closing = new AbortController();

  get closed(): boolean {
    return this.closing.signal.aborted;
  }

  /** A migration's signal: its own, or the driver's closing (each resumes its VM on the source). */
  signal(own: AbortSignal): AbortSignal {
    return AbortSignal.any([own, this.closing.signal]);
  }

  /** Awaits `run`, counting it as under way until it settles. */
  async track<R>(run: Promise<R>): Promise<R> {
    this.runs.add(run);
    try {
      return await run;
    } finally {
      this.runs.delete(run);
    }
  }

  /** Aborts every migration under way and waits for each to end. */
  async close(reason: string): Promise<void> {
    this.closing.abort(new Error(reason));
    await Promise.all([...this.runs]);
  }
}

// ---- reservations ----

/** What a high-priority migration asks a host to hold for it. */
export interface ReservationRequest {
  readonly cpuMhz: number;
  readonly memoryMB: number;
}

export interface Reservation extends ReservationRequest {
  readonly migrationId: string;
  /** When it was taken, from the agent's clock (ms since the epoch). */
  readonly at: number;
  /** Its memory now belongs to the incoming VM's shell, so it no longer counts twice. */
  readonly memoryInUse: boolean;
}

/** What the host can give, as its driver reports it (before reservations). */
export interface HostCapacity {
  readonly hostName: string;
  readonly freeMemoryMB: number;
  readonly cpuCapacityMhz: number;
}

/**
 * Reservations of high-priority migrations (the seed's priority step: "high priority ...
 * reserves resources on both hosts"). A reservation holds CPU MHz and memory MB on this host
 * for one migration id until released. Its memory counts against the host's free memory, so
 * nothing else (a new VM, another migration) can take it; once the migration's shell VM exists
 * on this host, the shell holds that memory itself and the reservation's share stops counting,
 * or it would count twice.
 */
export interface ReservationBook {
  /** Holds `request` for `migrationId`, or throws REFUSED (failureCode RESERVATION_REFUSED) saying what is short. */
  hold(migrationId: string, request: ReservationRequest, capacity: HostCapacity, at: number): Reservation;
  release(migrationId: string): Reservation | undefined;
  get(migrationId: string): Reservation | undefined;
  list(): Reservation[];
  /** Memory and CPU held now, optionally leaving one migration's own reservation out. */
  held(except?: string): { readonly memoryMB: number; readonly cpuMhz: number };
  /** The migration's shell now holds the memory (prepareIncoming succeeded). */
  markMemoryInUse(migrationId: string): void;
}

export function createReservationBook(): ReservationBook {
  const book = new Map<string, Reservation>();

  const held = (except?: string): { memoryMB: number; cpuMhz: number } => {
    let memoryMB = 0;
    let cpuMhz = 0;
    for (const r of book.values()) {
      if (r.migrationId === except) continue;
      if (!r.memoryInUse) memoryMB += r.memoryMB;
      cpuMhz += r.cpuMhz;
    }
    return { memoryMB, cpuMhz };
  };

  return {
    hold(migrationId, request, capacity, at) {
      const existing = book.get(migrationId);
      if (existing !== undefined) {
        // Idempotent for a retried request; a different amount under the same id is a clash.
        if (existing.cpuMhz === request.cpuMhz && existing.memoryMB === request.memoryMB) return existing;
        throw new FerryError(ErrorCode.conflict, `${capacity.hostName} already holds a different reservation for migration ${migrationId}`, { details: { migrationId, held: existing } });
      }
      const short = shortfall(request, capacity, held());
      if (short !== undefined) {
        throw new FerryError(ErrorCode.refused, `${capacity.hostName} cannot reserve resources for migration ${migrationId}: ${short.reasons.join("; ")}`, {
          failureCode: MigrationFailureCode.reservationRefused, details: { migrationId, request, freeMemoryMB: short.freeMemoryMB, freeCpuMhz: short.freeCpuMhz },
        });
      }
      const view: Reservation = { migrationId, cpuMhz: request.cpuMhz, memoryMB: request.memoryMB, at, memoryInUse: false };
      book.set(migrationId, view);
      return view;
    },
    release(migrationId) {
      const view = book.get(migrationId);
      book.delete(migrationId);
      return view;
    },
    get: (migrationId) => book.get(migrationId),
    list: () => [...book.values()],
    held,
    markMemoryInUse(migrationId) {
      const view = book.get(migrationId);
      if (view !== undefined) book.set(migrationId, { ...view, memoryInUse: true });
    },
  };
}

/** What `request` lacks on a host with `capacity` while `others` are held; undefined when it fits. */
function shortfall(request: ReservationRequest, capacity: HostCapacity, others: { memoryMB: number; cpuMhz: number }): { reasons: string[]; freeMemoryMB: number; freeCpuMhz: number } | undefined {
  const freeMemoryMB = capacity.freeMemoryMB - others.memoryMB;
  const freeCpuMhz = capacity.cpuCapacityMhz - others.cpuMhz;
  const reasons: string[] = [];
  if (request.memoryMB > freeMemoryMB) {
    reasons.push(`${request.memoryMB} MB of memory asked, ${Math.max(0, freeMemoryMB)} MB free${others.memoryMB > 0 ? ` (${others.memoryMB} MB already reserved)` : ""}`);
  }
  if (request.cpuMhz > freeCpuMhz) {
    reasons.push(`${request.cpuMhz} MHz of CPU asked, ${Math.max(0, freeCpuMhz)} MHz unreserved of ${capacity.cpuCapacityMhz} MHz`);
  }
  return reasons.length === 0 ? undefined : { reasons, freeMemoryMB: Math.max(0, freeMemoryMB), freeCpuMhz: Math.max(0, freeCpuMhz) };
}
