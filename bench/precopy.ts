// Prediction vs. measurement: seeded sim migrations between two in-process sim drivers (on
// the VMotion IPs 127.0.1.1 and 127.0.1.2, over real loopback TCP), each compared with what
// predictPrecopy said before it started. Imported by bench/run.ts (`npm run bench -- precopy`).
//
// The link rate is set with bandwidthLimitBytesPerSec so runs are short and the rate is known;
// the model is given what is known before the migration: memory, touched memory, the
// workload's dirty rate and working set, the link rate, the limits. Two things about this
// machine are measured first, in the same run, as every Ferry benchmark does with its
// baselines: the fixed cost of a migration, and the share of a capped link the sim's pacing
// really delivers. The figures are printed with the model given that delivered rate, again
// (nominal_link_*) with the bare cap, and (measured_link_*) with the rate each run measured,
// which is not a prediction but tells the model's own error from a busy machine's.
import { hash } from "node:crypto";
import { loadavg } from "node:os";
import { mulberry32 } from "../src/core/lab/generate.ts";
import { predictPrecopy, type StreamCosts } from "../src/core/migration/model.ts";
import { DEFAULT_MIGRATE_OPTIONS, type MigrateOptions, type MigrationReport, type PrecopyInputs, type Prediction } from "../src/core/migration/types.ts";
import type { SourceProgress } from "../src/core/migration/progress.ts";
import { systemClock } from "../src/drivers/clock.ts";
import type { VmSpec, WorkloadSpec } from "../src/drivers/driver.ts";
import { createSimDriver, type SimDriver, type SimHostDescription } from "../src/drivers/sim/driver.ts";
import { PAGE_SIZE } from "../src/drivers/sim/memory.ts";

const MiB = 1024 * 1024;

/** One seeded migration to run and predict. */
export interface PlannedRun {
  readonly seed: number;
  readonly spec: VmSpec;
  readonly options: MigrateOptions;
  readonly inputs: PrecopyInputs;
}

export interface RunOutcome {
  readonly run: PlannedRun;
  /** The model, given the link rate the link delivers (the cap times the efficiency measured in this run). */
  readonly prediction: Prediction;
  /** The model, given the nominal cap: what an operator knows before any migration ran. */
  readonly nominal: Prediction;
  /**
   * The model, given the link rate this very run measured (afterwards, so not a prediction):
   * it separates the model's own error from a busy machine's slower link.
   */
  readonly replay: Prediction;
  readonly report: MigrationReport;
}

export interface RunResult {
  readonly report: MigrationReport;
  /** The source's last measured link rate (its final progress event). */
  readonly linkRateBytesPerSec: number;
}

/** Runs one planned migration and returns the source's report and measured link rate. */
export type MigrationRunner = (run: PlannedRun) => Promise<RunResult>;

/**
 * Seeded plan: small VMs (8–32 MiB, a share touched), link rates 16–64 MiB/s, dirty/link
 * ratios spread evenly over [0, 0.9], steady (constant-rate) and bursty writers.
 */
export function planRuns(count: number, seed: number, pageSize: number): PlannedRun[] {
  const random = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] ?? (xs[0] as T);
  const runs: PlannedRun[] = [];
  for (let i = 0; i < count; i++) {
    const memoryMB = pick([8, 16, 24, 32]);
    const memoryBytes = memoryMB * MiB;
    const touchedBytes = Math.round(((0.25 + 0.75 * random()) * memoryBytes) / pageSize) * pageSize;
    // The working set lies in touched memory, so the pages pass 1 finds non-zero are the touched ones.
    const workingSetBytes = Math.min(touchedBytes, Math.max(pageSize, Math.round(((0.05 + 0.45 * random()) * memoryBytes) / pageSize) * pageSize));
    const link = pick([16, 24, 32, 48, 64]) * MiB;
    // Stratified over [0, 0.9] so every part of the range is covered at any count.
    const ratio = (0.9 * (i + random())) / count;
    const dirtyRateBytesPerSec = Math.round(ratio * link);
    const kind: WorkloadSpec["kind"] = dirtyRateBytesPerSec === 0 ? "idle" : random() < 0.75 ? "steady" : "bursty";
    const workload: WorkloadSpec = { kind, dirtyRateBytesPerSec, workingSetBytes, seed: seed * 1000 + i };
    const options: MigrateOptions = { ...DEFAULT_MIGRATE_OPTIONS, downtimeLimitMs: pick([100, 300]), bandwidthLimitBytesPerSec: link };
    const spec: VmSpec = {
      name: `bench-${seed}-${i}`,
      memoryMB,
      vcpus: 1,
      nics: [{ name: "eth0", mac: `52:54:00:be:${((i >> 8) & 0xff).toString(16).padStart(2, "0")}:${(i & 0xff).toString(16).padStart(2, "0")}`, portGroup: "VM Network" }],
      workload,
      touchedBytes,
    };
    const inputs: PrecopyInputs = {
      memoryBytes,
      touchedBytes,
      pageSize,
      dirtyRateBytesPerSec,
      workingSetBytes,
      linkRateBytesPerSec: link,
      downtimeLimitMs: options.downtimeLimitMs,
      maxPasses: options.maxPasses,
      maxTrafficFactor: options.maxTrafficFactor,
      autoConverge: options.autoConverge,
    };
    runs.push({ seed: seed * 1000 + i, spec, options, inputs });
  }
  return runs;
}

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

interface Accuracy {
  readonly timeErr: number[];
  readonly bytesErr: number[];
  readonly traffic: number[];
}

function accuracy(done: readonly RunOutcome[], pick: (o: RunOutcome) => Prediction): Accuracy {
  return {
    timeErr: done.map((o) => relErr(pick(o).totalMs, o.report.totalMs)),
    bytesErr: done.map((o) => relErr(pick(o).bytes, o.report.bytesSent)),
    traffic: done.filter((o) => o.run.spec.workload?.kind === "steady").map((o) => o.report.bytesSent / pick(o).bytes),
  };
}

function max(xs: readonly number[]): number {
  return xs.length === 0 ? Number.NaN : Math.max(...xs);
}

/** The figures the benchmark prints, from finished runs. */
export function summarise(outcomes: readonly RunOutcome[]): Record<string, number | string | boolean> {
  const done = outcomes.filter((o) => o.report.outcome === "completed");
  const a = accuracy(done, (o) => o.prediction);
  const n = accuracy(done, (o) => o.nominal);
  const m = accuracy(done, (o) => o.replay);
  const passesEqual = done.filter((o) => o.report.passes === o.prediction.passes).length;
  const downtimeOver = done.filter((o) => o.report.downtimeMs > o.run.options.downtimeLimitMs).length;
  const downtimeErrMs = done.map((o) => Math.abs(o.prediction.downtimeMs - o.report.downtimeMs));
  const ratios = outcomes.map((o) => (o.run.spec.workload?.dirtyRateBytesPerSec ?? 0) / o.run.inputs.linkRateBytesPerSec);
  return {
    runs: outcomes.length,
    completed: done.length,
    dirty_over_link_min: r3(Math.min(...ratios)),
    dirty_over_link_max: r3(max(ratios)),
    time_mae: r3(mean(a.timeErr)),
    time_err_p90: r3(quantile(a.timeErr, 0.9)),
    time_goal_mae: 0.1,
    bytes_mae: r3(mean(a.bytesErr)),
    bytes_err_p90: r3(quantile(a.bytesErr, 0.9)),
    bytes_goal_mae: 0.1,
    passes_predicted_exactly: passesEqual,
    steady_runs: a.traffic.length,
    steady_traffic_over_model_mean: r3(mean(a.traffic)),
    steady_traffic_over_model_max: r3(max(a.traffic)),
    steady_runs_over_1_05: a.traffic.filter((t) => t > 1.05).length,
    steady_traffic_goal: 1.05,
    downtime_abs_err_ms_mean: r3(mean(downtimeErrMs)),
    downtime_abs_err_ms_p90: r3(quantile(downtimeErrMs, 0.9)),
    downtime_over_limit: downtimeOver,
    nominal_link_time_mae: r3(mean(n.timeErr)),
    nominal_link_bytes_mae: r3(mean(n.bytesErr)),
    nominal_link_steady_traffic_max: r3(max(n.traffic)),
    measured_link_time_mae: r3(mean(m.timeErr)),
    measured_link_bytes_mae: r3(mean(m.bytesErr)),
    measured_link_steady_traffic_max: r3(max(m.traffic)),
    goals_met: done.length === outcomes.length && mean(a.timeErr) <= 0.1 && mean(a.bytesErr) <= 0.1 && max(a.traffic) <= 1.05,
  };
}

/** Predicts, runs and compares every planned run, one after another (they share the loopback link). */
export async function measure(runs: readonly PlannedRun[], runner: MigrationRunner, costs: StreamCosts, linkEfficiency: number): Promise<RunOutcome[]> {
  const outcomes: RunOutcome[] = [];
  for (const run of runs) {
    const nominal = predictPrecopy(run.inputs, costs);
    const prediction = predictPrecopy({ ...run.inputs, linkRateBytesPerSec: run.inputs.linkRateBytesPerSec * linkEfficiency }, costs);
    const { report, linkRateBytesPerSec } = await runner(run);
    const replay = linkRateBytesPerSec > 0 ? predictPrecopy({ ...run.inputs, linkRateBytesPerSec }, costs) : prediction;
    outcomes.push({ run, prediction, nominal, replay, report });
  }
  return outcomes;
}

// ---------------------------------------------------------------- the sim, in this process

function simHost(name: string, vmotionIp: string): SimHostDescription {
  return {
    name,
    cpu: { vendor: "GenuineIntel", family: 6, model: 63, flags: ["sse2", "pni", "ssse3", "sse4_1", "sse4_2", "nx", "lm", "vmx"], virtualization: true, cores: 8, mhz: 2400 },
    memoryMB: 4096,
    nics: [],
    vswitches: [],
    datastores: [],
    vmotionIp,
  };
}

/** Two sim hosts on the lab's VMotion IPs (esx01 = 127.0.1.1, esx02 = 127.0.1.2). */
export function simPair(): { readonly source: SimDriver; readonly destination: SimDriver; readonly runner: MigrationRunner; close(): Promise<void> } {
  const source = createSimDriver({ host: simHost("esx01", "127.0.1.1"), clock: systemClock });
  const destination = createSimDriver({ host: simHost("esx02", "127.0.1.2"), clock: systemClock });
  let n = 0;
  const runner: MigrationRunner = async (run) => {
    const name = run.spec.name;
    await source.create(run.spec);
    await source.powerOn(name);
    const target = await destination.prepareIncoming(run.spec, { migrationId: `bench-${++n}`, listenHost: "127.0.1.2" });
    let linkRateBytesPerSec = 0;
    const onProgress = (p: SourceProgress): void => {
      if (p.linkRateBytesPerSec > 0) linkRateBytesPerSec = p.linkRateBytesPerSec;
    };
    const report = await source.migrateOut(name, target, run.options, { signal: new AbortController().signal, onProgress, clock: systemClock });
    for (const driver of [source, destination]) {
      if ((await driver.get(name)) !== undefined) {
        await driver.powerOff(name).catch(() => undefined);
        await driver.destroy(name).catch(() => undefined);
      }
    }
    return { report, linkRateBytesPerSec };
  };
  return {
    source,
    destination,
    runner,
    async close() {
      await source.close();
      await destination.close();
    },
  };
}

/** SHA-256 over 4 KiB pages, bytes per ms: what the sim hashes for its digest, measured here. */
function hashBytesPerMs(): number {
  const page = Buffer.alloc(PAGE_SIZE, 7);
  const pages = 4096;
  const t0 = performance.now();
  for (let i = 0; i < pages; i++) {
    page.writeUInt32LE(i, 0);
    hash("sha256", page, "buffer");
  }
  return (pages * PAGE_SIZE) / Math.max(0.001, performance.now() - t0);
}

/**
 * The sim protocol's costs (src/drivers/sim/protocol.ts and precopy-source.ts): later passes
 * carry a 4-byte page index per page in PAGE_LIST frames (pass 1's PAGES frames cost less);
 * a zero range is one 13-byte ZERO_PAGES marker, and a sim VM's touched pages are one run,
 * so zero pages cost next to nothing each; about 1 KiB of control frames (HELLO, page map,
 * device state, digest). The source reserves 2 ms plus hashing the last pages on both ends
 * out of the downtime limit. `fixedMs` is measured: the time an idle, nearly empty VM takes.
 */
export function simCosts(fixedMs: number, hashRate: number): StreamCosts {
  return { pageHeaderBytes: 4, zeroPageBytes: 0, deviceStateBytes: 1024, fixedMs, switchoverFixedMs: 2, switchoverMsPerByte: 2 / hashRate };
}

function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

/**
 * What this machine adds to every migration, measured in this run: the fixed cost (an idle VM
 * with one touched page, no cap: connect, handshake, digest, commit, teardown), and the share
 * of a capped link the sim's pacing delivers (an idle 8 MiB VM at 32 MiB/s).
 */
async function calibrate(runner: MigrationRunner, hashRate: number): Promise<{ readonly fixedMs: number; readonly linkEfficiency: number }> {
  const [template] = planRuns(1, 900, PAGE_SIZE);
  if (template === undefined) throw new Error("no calibration run planned");
  const idle = (name: string, touchedBytes: number, cap: number | undefined): PlannedRun => ({
    ...template,
    spec: { ...template.spec, name, memoryMB: 8, touchedBytes, workload: undefined },
    options: { ...template.options, bandwidthLimitBytesPerSec: cap },
  });
  const fixed: number[] = [];
  for (let i = 0; i < 5; i++) fixed.push((await runner(idle(`calibrate-fixed-${i}`, PAGE_SIZE, undefined))).report.totalMs);
  const fixedMs = median(fixed);
  const cap = 32 * MiB;
  const efficiency: number[] = [];
  for (let i = 0; i < 3; i++) {
    const { report } = await runner(idle(`calibrate-link-${i}`, 8 * MiB, cap));
    const ideal = predictPrecopy({ ...template.inputs, memoryBytes: 8 * MiB, touchedBytes: 8 * MiB, dirtyRateBytesPerSec: 0, linkRateBytesPerSec: cap }, simCosts(fixedMs, hashRate));
    efficiency.push(Math.min(1, (ideal.totalMs - fixedMs) / Math.max(1, report.totalMs - fixedMs)));
  }
  return { fixedMs, linkEfficiency: median(efficiency) };
}

export const benchmarks: { name: string; run: () => Promise<Record<string, number | string | boolean>> }[] = [
  {
    name: "precopy: prediction vs. measurement, 120 seeded sim migrations, dirty/link 0..0.9 (seed 1)",
    async run() {
      const pair = simPair();
      try {
        // The sim's timing is real time: on a busy machine passes stretch and the guest dirties
        // more. The load is printed so a reader can tell a noisy run from a model error.
        const loadBefore = loadavg()[0] ?? 0;
        const hashRate = hashBytesPerMs();
        const { fixedMs, linkEfficiency } = await calibrate(pair.runner, hashRate);
        const t0 = performance.now();
        const outcomes = await measure(planRuns(120, 1, PAGE_SIZE), pair.runner, simCosts(fixedMs, hashRate), linkEfficiency);
        return {
          ...summarise(outcomes),
          fixed_ms_measured: r3(fixedMs),
          link_efficiency_measured: r3(linkEfficiency),
          hash_mb_per_s: Math.round(hashRate / 1000),
          wall_s: Math.round((performance.now() - t0) / 1000),
          load_1m_before: r3(loadBefore),
          load_1m_after: r3(loadavg()[0] ?? 0),
        };
      } finally {
        await pair.close();
      }
    },
  },
];
