// The controller's DRS (issue 14): recommendations for a cluster from the pure balancer
// (src/core/drs), kept by id until applied or stale; applying starts each move through the
// migration service (the path of POST /api/migrations: checked again, admitted within the
// concurrency limits, the reason kept in the task); the automation loop applies fully
// automated clusters' recommendations every intervalMs and on demand. A second loop records
// every cluster's σ each usage sampling interval: the last hour's imbalance history, in memory
// only (a restarted controller starts with none). Maintenance mode is drs-maintenance.ts;
// initial placement drs-placement.ts.
import { imbalance, targetImbalance } from "../core/drs/imbalance.ts";
import { recommend } from "../core/drs/recommend.ts";
import { USAGE_HISTORY_SAMPLES, USAGE_SAMPLE_INTERVAL_MS } from "../core/drs/usage.ts";
import type { DrsConfig, DrsResult, Recommendation } from "../core/drs/types.ts";
import type { Clock } from "../core/clock.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import type { MigrationClaims } from "../core/inventory/claims.ts";
import type { Store, TaskRecord } from "../store/store.ts";
import { buildDrsInput, drsConfigOf, drsLoadOf, type DemandSource, type DrsBasis, type DrsInputDeps } from "./drs-input.ts";
import type { InventoryService } from "./inventory-service.ts";
import type { AgentDirectory, Log, MigrationService } from "./migrations.ts";
import { Periodic } from "./periodic.ts";

/** How often fully automated clusters are balanced (vSphere's DRS runs every 5 minutes). */
export const DRS_INTERVAL_MS = 5 * 60 * 1000;
/** A recommendation older than this is stale: the cluster has moved on; run again. */
export const RECOMMENDATION_TTL_MS = 15 * 60 * 1000;

export interface DrsServiceDeps {
  readonly store: Store;
  readonly inventory: InventoryService;
  readonly agents: AgentDirectory;
  readonly migrations: Pick<MigrationService, "start">;
  readonly claims: MigrationClaims;
  readonly clock: Clock;
  /** Measured demand (the usage sampler); absent: every VM's demand is the fallback, and the answer says so. */
  readonly demand?: DemandSource | undefined;
  readonly log?: Log | undefined;
  /** Between two automatic runs (default DRS_INTERVAL_MS). */
  readonly intervalMs?: number | undefined;
  /** Between two points of the σ history: the usage sampler's interval (default 20 s), so each point sees fresh demand. */
  readonly historyIntervalMs?: number | undefined;
  /** Points kept per cluster (default 180: an hour at 20 s). */
  readonly historyPoints?: number | undefined;
}

/** One point of a cluster's imbalance history: σ at `at`, and the target its threshold set then. */
export interface ImbalancePoint {
  readonly at: number;
  readonly imbalance: number;
  readonly target: number;
}

/** A cluster's DRS view: settings, σ, recommendations with reason, gain and cost, unmovable VMs. */
export interface DrsView extends DrsResult {
  readonly cluster: string;
  readonly config: DrsConfig;
  readonly basis: DrsBasis;
  readonly at: number;
  /** The cluster's σ over the last hour, oldest first; the last point is this view's. */
  readonly history: readonly ImbalancePoint[];
}

export interface AppliedMove {
  readonly id: string;
  readonly vm: string;
  readonly from: string;
  readonly to: string;
  readonly migration: string;
}

export interface ApplyResult {
  readonly started: readonly AppliedMove[];
  readonly skipped: readonly { readonly id: string; readonly reason: string }[];
}

interface Kept {
  readonly cluster: string;
  readonly recommendation: Recommendation;
  readonly at: number;
}

const reasonWords = (r: Recommendation): string => `DRS ${r.reason.kind}: ${r.reason.text}`;

export class DrsService {
  readonly #deps: DrsServiceDeps;
  readonly #kept = new Map<string, Kept>();
  /** Hosts entering maintenance mode: no destination for any move while they empty. */
  readonly entering = new Set<string>();
  readonly #periodic: Periodic;
  readonly #historyPeriodic: Periodic;
  readonly #history = new Map<string, ImbalancePoint[]>();
  readonly #historyPoints: number;

  constructor(deps: DrsServiceDeps) {
    this.#deps = deps;
    this.#historyPoints = deps.historyPoints ?? USAGE_HISTORY_SAMPLES;
    if (!Number.isInteger(this.#historyPoints) || this.#historyPoints < 1) throw new FerryError(ErrorCode.invalidInput, `the DRS imbalance history keeps at least one point, not ${String(deps.historyPoints)}`);
    this.#historyPeriodic = new Periodic({
      clock: deps.clock,
      intervalMs: deps.historyIntervalMs ?? USAGE_SAMPLE_INTERVAL_MS,
      round: () => {
        this.#historyRound();
        return Promise.resolve();
      },
      onError: (error) => deps.log?.("warn", "DRS imbalance history round failed", { error: error instanceof Error ? error.message : String(error) }),
      cadence: "now",
    });
    this.#periodic = new Periodic({
      clock: deps.clock,
      intervalMs: deps.intervalMs ?? DRS_INTERVAL_MS,
      round: () => this.#automaticRound(),
      onError: (error) => deps.log?.("warn", "DRS round failed", { error: error instanceof Error ? error.message : String(error) }),
      cadence: "after-interval",
    });
  }

  /** The controller's clock, for callers that build the balancer's input themselves. */
  now(): number {
    return this.#deps.clock.now();
  }

  /** What buildDrsInput needs from the controller. */
  inputDeps(): DrsInputDeps {
    return { store: this.#deps.store, agents: this.#deps.agents, demand: this.#deps.demand, entering: this.entering, migrating: (vm) => this.#deps.claims.claimOf(vm)?.taskId };
  }

  /** The balancer's run for `cluster` now; its recommendations replace the cluster's kept ones. */
  async recommendations(cluster: string): Promise<DrsView> {
    const snapshot = this.#deps.inventory.current;
    const config = drsConfigOf(snapshot, cluster);
    const now = this.#deps.clock.now();
    const { input, basis } = await buildDrsInput(snapshot, cluster, this.inputDeps(), now, config);
    const result = recommend(input);
    for (const [id, kept] of this.#kept) if (kept.cluster === cluster) this.#kept.delete(id);
    for (const r of result.recommendations) this.#kept.set(r.id, { cluster, recommendation: r, at: now });
    this.#record(cluster, { at: now, imbalance: result.imbalance, target: result.targetImbalance });
    return { ...result, cluster, config, basis, at: now, history: this.history(cluster) };
  }

  /** `cluster`'s σ over the last hour, oldest first (a copy; empty for a cluster never measured). */
  history(cluster: string): ImbalancePoint[] {
    return [...(this.#history.get(cluster) ?? [])];
  }

  #record(cluster: string, point: ImbalancePoint): void {
    const ring = this.#history.get(cluster) ?? [];
    // Two measures at the same instant (a view asked as the loop ran): the later one stands.
    if (ring.at(-1)?.at === point.at) ring.pop();
    ring.push(point);
    if (ring.length > this.#historyPoints) ring.splice(0, ring.length - this.#historyPoints);
    this.#history.set(cluster, ring);
  }

  /** σ of every cluster now, from the demand the usage sampler last measured: no agent is asked, no plan made. */
  #historyRound(): void {
    const snapshot = this.#deps.inventory.current;
    const now = this.#deps.clock.now();
    const deps = this.inputDeps();
    const names = new Set(snapshot.inventory.clusters.map((c) => c.name));
    for (const cluster of names) {
      const { hosts, vms } = drsLoadOf(snapshot, cluster, deps);
      this.#record(cluster, { at: now, imbalance: imbalance({ hosts, vms }), target: targetImbalance(drsConfigOf(snapshot, cluster).threshold) });
    }
    // A cluster removed from the inventory takes its history with it.
    for (const cluster of this.#history.keys()) if (!names.has(cluster)) this.#history.delete(cluster);
  }

  /** A kept recommendation, or why it cannot be applied. */
  #fresh(id: string): { kept: Kept } | { reason: string } {
    const kept = this.#kept.get(id);
    if (kept === undefined) return { reason: `no recommendation with id ${id} (applied already, or replaced by a newer run: run \`ferry drs recommend\` again)` };
    const r = kept.recommendation;
    const vm = this.#deps.inventory.current.index.vms.get(r.vm);
    if (this.#deps.clock.now() - kept.at > RECOMMENDATION_TTL_MS) return { reason: `recommendation ${id} is stale (made over ${RECOMMENDATION_TTL_MS / 60000} minutes ago): run \`ferry drs recommend\` again` };
    if (vm?.host !== r.from) return { reason: `recommendation ${id} is stale: ${r.vm} is no longer on ${r.from}` };
    return { kept };
  }

  /**
   * Starts the recommended moves through the migration service; each is checked again there
   * and admitted within the concurrency limits. Unknown or stale ids are skipped with why.
   */
  async apply(ids: readonly string[], requestedBy: string): Promise<ApplyResult> {
    const started: AppliedMove[] = [];
    const skipped: { id: string; reason: string }[] = [];
    for (const id of ids) {
      const fresh = this.#fresh(id);
      if ("reason" in fresh) {
        skipped.push({ id, reason: fresh.reason });
        continue;
      }
      const r = fresh.kept.recommendation;
      try {
        const task = await this.startMove(r, requestedBy);
        this.#kept.delete(id);
        started.push({ id, vm: r.vm, from: r.from, to: r.to, migration: task.id });
      } catch (error) {
        skipped.push({ id, reason: error instanceof Error ? error.message : String(error) });
      }
    }
    if (started.length === 0 && skipped.length > 0 && ids.length === 1) {
      throw new FerryError(ErrorCode.conflict, skipped[0]?.reason ?? "nothing applied", { details: { skipped } });
    }
    return { started, skipped };
  }

  /** One move, as POST /api/migrations would start it, with the recommendation's reason in the task. */
  startMove(r: Pick<Recommendation, "vm" | "to" | "reason">, requestedBy: string): Promise<TaskRecord> {
    return this.#deps.migrations.start({ vm: r.vm, to: r.to, priority: "high", reason: reasonWords(r as Recommendation) }, requestedBy);
  }

  /** Ids of `cluster`'s kept recommendations (for `ferry drs apply --all CLUSTER`). */
  keptIds(cluster: string): string[] {
    return [...this.#kept.values()].filter((k) => k.cluster === cluster).map((k) => k.recommendation.id);
  }

  /**
   * A run on demand (or the loop's): recommendations now and, on a fully automated cluster,
   * the moves of VMs whose own level is not manual or partial started at once.
   */
  async run(cluster: string, requestedBy: string): Promise<DrsView & ApplyResult> {
    const view = await this.recommendations(cluster);
    if (view.config.automation !== "full") return { ...view, started: [], skipped: [] };
    const { index } = this.#deps.inventory.current;
    const automatic = view.recommendations.filter((r) => (index.vms.get(r.vm)?.drsAutomation ?? "full") === "full");
    const applied = await this.apply(
      automatic.map((r) => r.id),
      requestedBy,
    ).catch((error: unknown) => ({ started: [], skipped: automatic.map((r) => ({ id: r.id, reason: error instanceof Error ? error.message : String(error) })) }));
    return { ...view, ...applied };
  }

  /** The automation loop (every fully automated cluster, every intervalMs) and the σ history's, until stop(). */
  start(): void {
    this.#periodic.start();
    this.#historyPeriodic.start();
  }

  async #automaticRound(): Promise<void> {
    for (const cluster of this.#deps.inventory.current.inventory.clusters) {
      if (cluster.drs?.automation !== "full") continue;
      try {
        const ran = await this.run(cluster.name, "drs");
        if (ran.started.length > 0) this.#deps.log?.("info", "DRS started moves", { cluster: cluster.name, moves: ran.started, imbalance: ran.imbalance, imbalanceAfter: ran.imbalanceAfter });
      } catch (error) {
        this.#deps.log?.("warn", "DRS run failed", { cluster: cluster.name, error: error instanceof Error ? error.message : String(error) });
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all([this.#periodic.stop(), this.#historyPeriodic.stop()]);
  }
}
