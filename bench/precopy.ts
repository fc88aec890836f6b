// Prediction vs. measurement on the product path (`npm run bench -- precopy`): the lab of
// `ferry up` (examples/lab.yaml, started by the same startLab: the controller on SQLite, one
// sim agent process per host with its VMotion NIC's speed, the running VMs and their
// workloads), migrations started through the controller's migration service as the API does,
// and each compared with the prediction the task stored: the source driver's costs, the
// pair's learned link rate, times and margin. Nothing here is a bench-only parameter.
//
// 10 warm-up migrations teach the pairs; 60 more are measured. The same 60 are also predicted
// as the product would before any pair learned anything (the nominal NIC speed, the driver's
// default costs), so the value of learning shows. Downtime is judged against the limit the
// user asked for (the task's warning does the same). The machine is shared: the load is printed.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { startLab, type RunningLab } from "../src/cli/commands/up.ts";
import { predictForPair } from "../src/core/migration/link-learning.ts";
import { DEFAULT_MIGRATE_OPTIONS, type MigrationReport, type Prediction } from "../src/core/migration/types.ts";
import type { VmSpec } from "../src/drivers/driver.ts";
import { vmotionNicMbps } from "../src/server/prediction.ts";

const LAB = new URL("../examples/lab.yaml", import.meta.url).pathname;
const WARM_UP = 10;
const MEASURED = 60;
const MiB = 1048576;
/** The limits users ask for, in turn: the default, and a tighter one. */
const LIMITS = [300, 100] as const;

/** A move the checker allows (warnings accepted, as an operator confirming them would). */
interface Move {
  readonly vm: string;
  readonly to: string;
}

export interface Outcome {
  readonly move: Move;
  readonly source: string;
  readonly limitMs: number;
  readonly prediction: Prediction;
  /** The product's prediction for the same migration before any pair learned anything. */
  readonly nominal: Prediction;
  readonly report: MigrationReport;
}

const ENDED = new Set(["completed", "failed", "cancelled", "needs-attention"]);

function relErr(predicted: number, measured: number): number {
  return measured > 0 ? Math.abs(predicted - measured) / measured : predicted === 0 ? 0 : 1;
}

function mean(xs: readonly number[]): number {
  return xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

function quantile(xs: readonly number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

const r3 = (x: number): number => Number(x.toFixed(3));

/** MAPE of time and bytes, downtime error p90 and within-limit share, for one kind of prediction. */
function figures(done: readonly Outcome[], pick: (o: Outcome) => Prediction, prefix: string): Record<string, number> {
  const downtimeErr = done.map((o) => Math.abs(pick(o).downtimeMs - o.report.downtimeMs));
  return {
    [`${prefix}time_mape`]: r3(mean(done.map((o) => relErr(pick(o).totalMs, o.report.totalMs)))),
    [`${prefix}bytes_mape`]: r3(mean(done.map((o) => relErr(pick(o).bytes, o.report.bytesSent)))),
    [`${prefix}downtime_abs_err_ms_p90`]: r3(quantile(downtimeErr, 0.9)),
    [`${prefix}passes_exact`]: done.filter((o) => pick(o).passes === o.report.passes).length,
  };
}

/** The figures the benchmark prints, from the measured migrations. */
export function summarise(outcomes: readonly Outcome[]): Record<string, number | string | boolean> {
  const done = outcomes.filter((o) => o.report.outcome === "completed");
  const within = done.filter((o) => o.report.downtimeMs <= o.limitMs).length;
  const learned = figures(done, (o) => o.prediction, "");
  const withinShare = done.length === 0 ? 0 : within / done.length;
  return {
    runs: outcomes.length,
    completed: done.length,
    learned_basis: done.filter((o) => o.prediction.basis?.linkSource === "learned").length,
    ...learned,
    downtime_within_limit: r3(withinShare),
    downtime_over_limit_warnings: done.filter((o) => (o.report.warnings ?? []).length > 0).length,
    downtime_measured_ms_p50: r3(quantile(done.map((o) => o.report.downtimeMs), 0.5)),
    downtime_measured_ms_max: r3(Math.max(...done.map((o) => o.report.downtimeMs))),
    ...figures(done, (o) => o.nominal, "before_warmup_"),
    worst_time: [...done]
      .sort((a, b) => relErr(b.prediction.totalMs, b.report.totalMs) - relErr(a.prediction.totalMs, a.report.totalMs))
      .slice(0, 5)
      .map((o) => `${o.move.vm} ${o.source}>${o.move.to}: ${o.prediction.totalMs.toFixed(0)}/${o.report.totalMs.toFixed(0)} ms`)
      .join("; "),
    overshoots: done
      .filter((o) => o.report.downtimeMs > o.limitMs)
      .map((o) => `${o.move.vm} ${o.source}>${o.move.to}: ${o.report.downtimeMs.toFixed(0)}/${o.limitMs} ms (predicted ${o.prediction.downtimeMs.toFixed(0)})`)
      .join("; "),
    goals_met: done.length === outcomes.length && (learned["time_mape"] ?? 1) <= 0.15 && (learned["bytes_mape"] ?? 1) <= 0.05 && (learned["downtime_abs_err_ms_p90"] ?? 1e9) <= 25 && withinShare >= 0.99,
  };
}

/** Every VM on every host the controller's preview lets it move to (errors none, warnings accepted). */
async function movesOf(lab: RunningLab): Promise<Move[]> {
  const { inventory } = lab.controller.inventory.current;
  const moves: Move[] = [];
  for (const vm of inventory.vms.filter((v) => v.power === "on")) {
    for (const host of inventory.hosts.filter((h) => h.name !== vm.host)) {
      const preview = await lab.controller.migrations.preview({ vm: vm.name, to: host.name, priority: "high", acceptWarnings: "all" });
      // The VM must run on its agent (predictedFrom "agent"), not only in the inventory.
      if (preview.refusal === null && preview.predictedFrom === "agent" && preview.prediction?.converges === true) moves.push({ vm: vm.name, to: host.name });
    }
  }
  return moves;
}

/** The product's prediction for this migration with nothing learned: the nominal link and the driver's costs. */
function nominalPrediction(lab: RunningLab, spec: VmSpec, source: string, limitMs: number): Prediction {
  const snapshot = lab.controller.inventory.current;
  const options = { ...DEFAULT_MIGRATE_OPTIONS, downtimeLimitMs: limitMs };
  return predictForPair({
    driver: "sim",
    learned: undefined,
    bandwidthLimitBytesPerSec: undefined,
    inputs: {
      memoryBytes: spec.memoryMB * MiB,
      touchedBytes: spec.touchedBytes ?? spec.memoryMB * MiB,
      pageSize: 4096,
      dirtyRateBytesPerSec: spec.workload?.dirtyRateBytesPerSec ?? 0,
      workingSetBytes: spec.workload?.workingSetBytes ?? 0,
      linkRateBytesPerSec: ((vmotionNicMbps(snapshot, source) ?? 1000) * 1e6) / 8,
      downtimeLimitMs: limitMs,
      maxPasses: options.maxPasses,
      maxTrafficFactor: options.maxTrafficFactor,
      autoConverge: options.autoConverge,
    },
  });
}

/** Starts one migration through the controller and waits for its task to end. */
async function migrateOnce(lab: RunningLab, move: Move, limitMs: number): Promise<Outcome> {
  const { controller } = lab;
  const source = controller.inventory.current.index.vms.get(move.vm)?.host ?? "";
  const spec = (await controller.agents.get(source)?.getVm(move.vm))?.spec;
  if (spec === undefined) throw new Error(`${move.vm} is not on ${source}'s agent`);
  const task = await controller.migrations.start({ vm: move.vm, to: move.to, priority: "high", downtimeMs: limitMs, acceptWarnings: "all" }, "bench");
  for (;;) {
    const now = await controller.store.getTask(task.id);
    const body = now?.body as { prediction?: Prediction; report?: MigrationReport } | undefined;
    if (now !== undefined && ENDED.has(now.state) && body?.report !== undefined) {
      if (body.prediction === undefined) throw new Error(`task ${task.id} has no prediction`);
      return { move, source, limitMs, prediction: body.prediction, nominal: nominalPrediction(lab, spec, source, limitMs), report: body.report };
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * The VMs take turns; a VM at its own host goes to the next host it may go to, and a VM away
 * comes back (the way back is a migration of its own, with its own pair and prediction).
 */
function nextMove(lab: RunningLab, moves: readonly Move[], origin: ReadonlyMap<string, string>, turn: number): Move {
  const vms = [...origin.keys()];
  const vm = vms[turn % vms.length] ?? "";
  const home = origin.get(vm) ?? "";
  const at = lab.controller.inventory.current.index.vms.get(vm)?.host ?? home;
  if (at !== home) return { vm, to: home };
  const away = moves.filter((m) => m.vm === vm);
  return away[Math.floor(turn / vms.length / 2) % away.length] ?? { vm, to: home };
}

export const benchmarks: { name: string; run: () => Promise<Record<string, number | string | boolean>> }[] = [
  {
    name: "precopy: prediction vs. measurement on the product path (ferry up's lab, 10 warm-up + 60 migrations through the controller)",
    async run() {
      const dataDir = mkdtempSync(join(tmpdir(), "ferry-bench-precopy-"));
      const io = { out: () => undefined, err: () => undefined, readText: (path: string) => Promise.resolve(readFileSync(path, "utf8")), isTty: false };
      const lab = await startLab({ inventory: LAB, dataDir, listen: "127.0.0.1:0" }, io, () => undefined);
      try {
        const loadBefore = loadavg()[0] ?? 0;
        const moves = await movesOf(lab);
        if (moves.length === 0) throw new Error("no VM of the lab can move anywhere");
        const { index } = lab.controller.inventory.current;
        const origin = new Map(moves.map((m) => [m.vm, index.vms.get(m.vm)?.host ?? ""]));
        const t0 = performance.now();
        const outcomes: Outcome[] = [];
        const unrecorded: string[] = [];
        for (let turn = 0; turn < WARM_UP + MEASURED; turn++) {
          const outcome = await migrateOnce(lab, nextMove(lab, moves, origin, turn), LIMITS[Math.floor(turn / 2) % LIMITS.length] ?? 300);
          if (turn >= WARM_UP) outcomes.push(outcome);
          // A VM the inventory could not follow (it moved, but the controller refused to record it) leaves the rotation.
          if (lab.controller.inventory.current.index.vms.get(outcome.move.vm)?.host !== outcome.report.runningOn) {
            origin.delete(outcome.move.vm);
            unrecorded.push(outcome.move.vm);
          }
        }
        const pairs = await lab.controller.store.listLinkRates();
        return {
          ...summarise(outcomes),
          vms: new Set(moves.map((m) => m.vm)).size,
          pairs_learned: pairs.length,
          vms_moved_but_not_recorded: unrecorded.join(" ") || "none",
          learned_mbps: pairs.map((p) => `${p.source}>${p.destination} ${((p.rateBytesPerSec * 8) / 1e6).toFixed(0)} (${p.samples}, fixed ${p.fixedMs.toFixed(0)} ms, margin ${p.safetyMarginMs.toFixed(0)} ms)`).join("; "),
          wall_s: Math.round((performance.now() - t0) / 1000),
          load_1m_before: r3(loadBefore),
          load_1m_after: r3(loadavg()[0] ?? 0),
        };
      } finally {
        await lab.stop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  },
];
