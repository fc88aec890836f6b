// Which controller runs which task, decided in the store that every controller sees, never
// from silence: each controller holds a lease (renewed every third of its length) on itself
// and on every open task it owns. A task whose lease expired — its controller died, or lost
// the store — is taken over by another controller in one conditional UPDATE (of two takers,
// one wins) and settled with the agents, as a restarted controller settles its own. On
// SQLite only one controller can open the store (its lock), so a starting controller takes
// every open task at once.
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { Clock } from "../core/clock.ts";
import { Phase, TERMINAL_PHASES } from "../core/migration/types.ts";
import type { Store, TaskRecord } from "../store/store.ts";
import type { ClaimsCache } from "./claims.ts";
import type { Log } from "./migrations.ts";

/** The states in which a task is held by a controller: running, queued, or waiting for an owner decision. */
export const HELD_STATES: readonly string[] = [...Object.values(Phase).filter((p) => !TERMINAL_PHASES.has(p)), Phase.needsAttention];

export const DEFAULT_LEASE_MS = 30_000;

export interface LeaseOptions {
  /** How long a controller's hold on its tasks lasts without renewal. Default 30 s. */
  readonly leaseMs?: number | undefined;
  /** Only this controller may use the store (SQLite): open tasks are taken at once, whatever their lease. */
  readonly exclusive: boolean;
}

/**
 * A controller whose lease ran out this long ago leaves the store's list (forgetDeadControllers).
 * By then another controller ended its running operations (PostgreSQL; a starting SQLite
 * controller ends them at once), its tasks go by their own leases, and its claims count as a
 * dead controller's with or without its row: the list holds live controllers and recent deaths,
 * not every crash since the store was made. One that was only paused renews its row.
 */
export const FORGET_CONTROLLER_AFTER_MS = 3_600_000;

/** Removes the rows of controllers whose lease ran out over FORGET_CONTROLLER_AFTER_MS ago; returns their ids. */
export async function forgetDeadControllers(store: Pick<Store, "listControllers" | "removeController">, now: number, log?: Log): Promise<string[]> {
  const dead = (await store.listControllers()).filter((c) => now - c.leaseUntil > FORGET_CONTROLLER_AFTER_MS);
  for (const controller of dead) {
    await store.removeController(controller.id);
    log?.("info", "forgot a controller whose lease ran out over an hour ago", { controller: controller.id, leaseUntil: controller.leaseUntil });
  }
  return dead.map((c) => c.id);
}

export function newControllerId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

export class TaskLeases {
  readonly id: string;
  readonly leaseMs: number;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #claims: ClaimsCache;
  readonly #exclusive: boolean;
  readonly #log: Log;
  readonly #startedAt: number;
  #address = "";
  #stop = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(deps: { readonly store: Store; readonly clock: Clock; readonly claims: ClaimsCache; readonly log?: Log | undefined; readonly id?: string | undefined }, options: LeaseOptions) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#claims = deps.claims;
    this.#log = deps.log ?? (() => undefined);
    this.#exclusive = options.exclusive;
    this.id = deps.id ?? newControllerId();
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.#startedAt = deps.clock.now();
  }

  /** Until when a task this controller takes or creates now is held. */
  until(): number {
    return this.#clock.now() + this.leaseMs;
  }

  /**
   * Renews this controller's lease, then takes the tasks whose holder's lease expired (all open
   * tasks on an exclusive store, the first time) and hands each to `settle`; every third of the
   * lease after that, until stop(), with `tick` (what else the controller refreshes from the store).
   */
  async start(address: string, settle: (task: TaskRecord) => void, tick?: () => Promise<void>): Promise<number> {
    this.#address = address;
    await this.#renew();
    const taken = await this.#takeExpired(settle, this.#exclusive);
    const signal = this.#stop.signal;
    const stopped = (): boolean => signal.aborted;
    this.#loop = (async () => {
      while (!stopped()) {
        await this.#clock.sleep(Math.max(100, Math.floor(this.leaseMs / 3)), signal).catch(() => undefined);
        if (stopped()) return;
        try {
          await this.#renew();
          await tick?.();
          await this.#takeExpired(settle, false);
        } catch (error) {
          // The store is out of reach: the lease runs out and another controller takes over.
          this.#log("warn", "could not renew this controller's lease", { controller: this.id, error: String(error) });
        }
      }
    })();
    return taken;
  }

  async #renew(): Promise<void> {
    await this.#store.renewLease({ id: this.id, address: this.#address, startedAt: this.#startedAt }, this.until(), HELD_STATES);
    await this.#claims.refresh();
  }

  async #takeExpired(settle: (task: TaskRecord) => void, all: boolean): Promise<number> {
    const now = this.#clock.now();
    const open = await this.#store.listTasks({ states: HELD_STATES, limit: 10_000 });
    let taken = 0;
    for (const task of open) {
      if (task.owner === this.id) continue;
      if (!all && task.owner !== undefined && task.leaseUntil !== undefined && task.leaseUntil >= now) continue;
      const mine = await this.#store.takeTask(task.id, this.id, all ? Number.MAX_SAFE_INTEGER : now, this.until(), HELD_STATES);
      if (mine === undefined) continue;
      taken += 1;
      this.#log("info", all ? "took over an open task left by a previous run" : "took over a task whose controller's lease expired", { migrationId: task.id, from: task.owner, leaseUntil: task.leaseUntil, controller: this.id });
      settle(mine);
    }
    await this.#dropOrphanClaims(open, now);
    return taken;
  }

  /** Claims whose task ended, or was never stored by a controller that is gone, are released. */
  async #dropOrphanClaims(open: readonly TaskRecord[], now: number): Promise<void> {
    const held = new Set(open.map((t) => t.id));
    const alive = new Set((await this.#store.listControllers()).filter((c) => c.leaseUntil >= now).map((c) => c.id));
    for (const claim of await this.#store.listClaims()) {
      if (held.has(claim.taskId) || (alive.has(claim.controller) && claim.controller !== this.id)) continue;
      // This controller's own claim of a task still being stored is younger than a lease.
      if (claim.controller === this.id && now - claim.at < this.leaseMs) continue;
      const task = await this.#store.getTask(claim.taskId);
      if (task !== undefined && HELD_STATES.includes(task.state)) continue;
      await this.#claims.release(claim.vm, claim.taskId);
      this.#log("info", "released the claim of a migration that ended or was never stored", { vm: claim.vm, migrationId: claim.taskId });
    }
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    this.#stop = new AbortController();
  }

  /** Leaves the store's list of controllers (a clean shutdown, once its tasks ended). */
  async leave(): Promise<void> {
    await this.#store.removeController(this.id).catch(() => undefined);
  }
}
