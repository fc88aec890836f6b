// Maintenance mode (issue 14): a host is evacuated by live migration before it enters — the
// plan (the balancer's planEvacuation: a destination for every powered-on VM, its predicted
// cost, the ETA) is shown first; a powered-on VM with nowhere to go refuses entry, naming it
// and why; powered-off VMs stay registered or move cold, as the operator chooses. The host is
// marked only once no powered-on VM (and with move-cold no VM) is left on it; while it empties
// it is never a destination. Exit clears the mark.
import { planEvacuation } from "../core/drs/evacuate.ts";
import { placeVm } from "../core/drs/placement.ts";
import type { EvacuationPlan } from "../core/drs/types.ts";
import type { Clock } from "../core/clock.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { setHostMaintenance } from "../core/inventory/edits-drs.ts";
import { hostLimit } from "../core/migration/admission.ts";
import { TERMINAL_PHASES, type Phase } from "../core/migration/types.ts";
import type { Store } from "../store/store.ts";
import { buildDrsInput } from "./drs-input.ts";
import type { DrsService } from "./drs.ts";
import type { InventoryService, InventorySnapshot } from "./inventory-service.ts";
import type { Log } from "./migrations.ts";
import { vmotionNicMbps } from "./prediction.ts";

export type PoweredOffChoice = "leave" | "move-cold";

/** A move of the evacuation as it runs. */
export interface EvacuationMove {
  readonly vm: string;
  readonly to: string;
  readonly migration: string;
  readonly cold: boolean;
  state: string;
  percent: number;
}

export interface MaintenanceStatus {
  readonly host: string;
  /** out: eligible as a destination; entering: evacuating; in: in maintenance mode; failed: a move failed, the host stays out. */
  state: "out" | "entering" | "in" | "failed";
  readonly plan?: EvacuationPlan | undefined;
  readonly poweredOff?: PoweredOffChoice | undefined;
  readonly moves: EvacuationMove[];
  /** VMs of the plan whose move was refused when started, with why. */
  readonly refused: { readonly vm: string; readonly reason: string }[];
  message: string;
  readonly startedAt?: number | undefined;
}

export interface MaintenanceDeps {
  readonly store: Store;
  readonly inventory: InventoryService;
  readonly drs: DrsService;
  readonly clock: Clock;
  readonly log?: Log | undefined;
  /** Between two looks at the evacuation's tasks (default 500 ms). */
  readonly pollMs?: number | undefined;
}

/**
 * Concurrency the ETA assumes: what the migration scheduler admits at once from the evacuated
 * host, its per-host limit (core/migration/admission.ts hostLimit, vCenter's: 4 on a VMotion NIC
 * under 10 Gb/s, 8 from 10 Gb/s). Every move leaves that host, so its limit binds; each
 * destination's limit is the same or more. (A fixed 2 here made the ETA twice the measured
 * time: bench/drs-e2e.ts saw three moves run at once, 3.7 s against an ETA of 8.7 s.)
 */
function evacuationConcurrency(snapshot: InventorySnapshot, host: string): number {
  return hostLimit(vmotionNicMbps(snapshot, host)).limit;
}

export class MaintenanceMode {
  readonly #deps: MaintenanceDeps;
  readonly #status = new Map<string, MaintenanceStatus>();
  readonly #watching = new Set<Promise<void>>();

  constructor(deps: MaintenanceDeps) {
    this.#deps = deps;
  }

  #host(name: string): { cluster: string; maintenance: boolean } {
    const view = this.#deps.inventory.current.index.hosts.get(name);
    if (view === undefined) throw new FerryError(ErrorCode.notFound, `no host named "${name}"`);
    if (view.host.cluster === undefined) throw new FerryError(ErrorCode.refused, `${name} is a standalone host: maintenance mode evacuates to the other hosts of its cluster, and it has none`);
    return { cluster: view.host.cluster, maintenance: view.host.maintenance };
  }

  /** The evacuation plan: a destination and predicted cost for every powered-on VM, the blocked ones with why, the powered-off ones, the ETA. */
  async plan(host: string): Promise<EvacuationPlan> {
    const { cluster } = this.#host(host);
    const { input } = await buildDrsInput(this.#deps.inventory.current, cluster, this.#deps.drs.inputDeps(), this.#deps.clock.now());
    return planEvacuation(input, host, evacuationConcurrency(this.#deps.inventory.current, host));
  }

  status(host: string): MaintenanceStatus {
    const { maintenance } = this.#host(host);
    const known = this.#status.get(host);
    if (known !== undefined && (known.state === "entering" || known.state === "failed")) return known;
    return { host, state: maintenance ? "in" : "out", moves: known?.moves ?? [], refused: known?.refused ?? [], message: maintenance ? `${host} is in maintenance mode` : `${host} is not in maintenance mode`, plan: known?.plan, poweredOff: known?.poweredOff, startedAt: known?.startedAt };
  }

  /**
   * Enters maintenance mode: refuses when a powered-on VM has nowhere to go; else starts the
   * plan's moves and answers at once; the host is marked when the moves have emptied it.
   */
  async enter(host: string, poweredOff: PoweredOffChoice, requestedBy: string): Promise<MaintenanceStatus> {
    const { maintenance, cluster } = this.#host(host);
    if (maintenance) return this.status(host);
    if (this.#status.get(host)?.state === "entering") throw new FerryError(ErrorCode.conflict, `${host} is already entering maintenance mode`);
    const plan = await this.plan(host);
    if (plan.blocked.length > 0) {
      throw new FerryError(ErrorCode.refused, `${host} cannot enter maintenance mode: ${plan.blocked.map((b) => `${b.vm} has nowhere to go (${b.reason})`).join("; ")}`, { details: { blocked: plan.blocked } });
    }
    const status: MaintenanceStatus = { host, state: "entering", plan, poweredOff, moves: [], refused: [], message: `evacuating ${plan.moves.length} VM(s) from ${host}`, startedAt: this.#deps.clock.now() };
    this.#status.set(host, status);
    this.#deps.drs.entering.add(host);
    try {
      for (const move of plan.moves) {
        await this.#start(status, { vm: move.vm, to: move.to, reason: { kind: "maintenance", text: move.reason.text } }, false, requestedBy);
      }
      if (poweredOff === "move-cold") await this.#moveCold(status, cluster, plan.powerOff, requestedBy);
    } catch (error) {
      this.#fail(status, error instanceof Error ? error.message : String(error));
      throw error;
    }
    if (status.refused.length > 0) {
      this.#fail(status, `${host} stays out of maintenance mode: ${status.refused.map((r) => `${r.vm}: ${r.reason}`).join("; ")}`);
      return status;
    }
    const watch = this.#watch(status).finally(() => this.#watching.delete(watch));
    this.#watching.add(watch);
    return status;
  }

  async #start(status: MaintenanceStatus, move: { vm: string; to: string; reason: { kind: "maintenance"; text: string } }, cold: boolean, requestedBy: string): Promise<void> {
    try {
      const task = await this.#deps.drs.startMove(move, requestedBy);
      status.moves.push({ vm: move.vm, to: move.to, migration: task.id, cold, state: task.state, percent: task.percent });
    } catch (error) {
      status.refused.push({ vm: move.vm, reason: error instanceof Error ? error.message : String(error) });
    }
  }

  /** Powered-off VMs go cold, each to the host initial placement picks for it. */
  async #moveCold(status: MaintenanceStatus, cluster: string, vms: readonly string[], requestedBy: string): Promise<void> {
    if (vms.length === 0) return;
    const { input } = await buildDrsInput(this.#deps.inventory.current, cluster, this.#deps.drs.inputDeps(), this.#deps.clock.now());
    for (const name of vms) {
      const vm = input.vms.find((v) => v.name === name);
      const placed = vm === undefined ? undefined : placeVm(input, vm);
      if (placed?.ok !== true) {
        status.refused.push({ vm: name, reason: placed === undefined ? "not in the cluster any more" : `no host for a cold move: ${placed.reasons.map((r) => `${r.host}: ${r.reason}`).join("; ")}` });
        continue;
      }
      await this.#start(status, { vm: name, to: placed.host, reason: { kind: "maintenance", text: `cold move off ${status.host}: ${placed.why}` } }, true, requestedBy);
    }
  }

  #fail(status: MaintenanceStatus, message: string): void {
    status.state = "failed";
    status.message = message;
    this.#deps.drs.entering.delete(status.host);
  }

  /** Follows the moves until they end; marks the host when it is empty. */
  async #watch(status: MaintenanceStatus): Promise<void> {
    const pollMs = this.#deps.pollMs ?? 500;
    for (;;) {
      let open = 0;
      for (const move of status.moves) {
        const task = await this.#deps.store.getTask(move.migration);
        move.state = task?.state ?? move.state;
        move.percent = task?.percent ?? move.percent;
        if (!TERMINAL_PHASES.has(move.state as Phase)) open++;
      }
      if (open === 0) break;
      await this.#deps.clock.sleep(pollMs);
    }
    const failed = status.moves.filter((m) => m.state !== "completed");
    if (failed.length > 0) {
      this.#fail(status, `${status.host} stays out of maintenance mode: ${failed.map((m) => `${m.vm}'s move ${m.migration} ended ${m.state}`).join("; ")}`);
      return;
    }
    await this.#markIfEmpty(status);
  }

  async #markIfEmpty(status: MaintenanceStatus): Promise<void> {
    const left = (this.#deps.inventory.current.index.vmsByHost.get(status.host) ?? []).filter((vm) => vm.power === "on" || status.poweredOff === "move-cold");
    if (left.length > 0) {
      this.#fail(status, `${status.host} stays out of maintenance mode: ${left.map((vm) => vm.name).join(", ")} still on it`);
      return;
    }
    await this.#deps.inventory.change((draft) => {
      setHostMaintenance(draft, status.host, true);
    });
    this.#deps.drs.entering.delete(status.host);
    status.state = "in";
    status.message = `${status.host} is in maintenance mode`;
    this.#deps.log?.("info", "host entered maintenance mode", { host: status.host, moves: status.moves.length });
  }

  /** Leaves maintenance mode (or stops an evacuation from marking the host): eligible again. */
  async exit(host: string): Promise<MaintenanceStatus> {
    this.#host(host);
    this.#status.delete(host);
    this.#deps.drs.entering.delete(host);
    await this.#deps.inventory.change((draft) => {
      setHostMaintenance(draft, host, false);
    });
    return this.status(host);
  }

  /** Waits for the evacuations being followed (shutdown, tests). */
  async settled(): Promise<void> {
    await Promise.all([...this.#watching]);
  }
}
