// The prediction against real QEMU guests (`npm run bench -- qemu-lab`, root only; issue 16
// part 4): `ferry lab up --driver qemu` as a user gets it, then one guest per writer (idle at
// two sizes, steady writers at a few rates, a bursty one: bench/qemu-writers.ts) created through
// the controller's API, booted (the echo service answering: trap 14, a TCG guest moved in its
// first second of boot oopses), and moved esx01 <-> esx02 through POST /migrations. Each task's
// prediction (made by the controller before the start, from the source agent's measured dirty
// rate and touched memory and the pair's learned link) is compared with its report: total-time
// and bytes MAPE, passes exact, downtime p90 absolute error, with the issue's goals beside them
// and the load average, since this machine is shared.
import { loadavg } from "node:os";
import { join } from "node:path";
import { rmSync, writeFileSync } from "node:fs";
import { ApiClient } from "../src/api/client.ts";
import type { Task } from "../src/api/schemas.ts";
import { labDir, waitForGuest, type QemuLabSummary } from "../src/cli/commands/lab-qemu.ts";
import { startQemuLab, type RunningQemuLab } from "../src/cli/commands/lab-up.ts";
import { ErrorCode, FerryError, isFerryError } from "../src/core/errors.ts";
import type { MigrationReport, PassSample, Prediction } from "../src/core/migration/types.ts";
import { qemuTestsBlocked } from "../src/drivers/qemu/testing/requirements.ts";
import { SHARED_DATASTORE, VM_PORT_GROUP } from "../src/lab/host-lab.ts";
import { listLab, teardown } from "../src/lab/netns.ts";
import { labBenchResult } from "./qemu-lab.ts";
import { writerIso, type Writer } from "./qemu-writers.ts";

const MiB = 1024 * 1024;
const MOVES_PER_WRITER = 4;
/** After the guest answers, its writer fills its working set first: this long. */
const WRITER_SETTLE_MS = 4000;
/** Between two moves: the guest re-translates its code after a resume (TCG) and the writer gets going again. */
const BETWEEN_MOVES_MS = 2000;
const FINAL_STATES: ReadonlySet<string> = new Set(["completed", "failed", "cancelled"]);

export const WRITERS: readonly Writer[] = [
  { name: "idle-256", memoryMB: 256, mibPerSec: 0, workingSetMiB: 0, burstSec: 0 },
  { name: "idle-512", memoryMB: 512, mibPerSec: 0, workingSetMiB: 0, burstSec: 0 },
  { name: "steady-8", memoryMB: 512, mibPerSec: 8, workingSetMiB: 64, burstSec: 0 },
  { name: "steady-24", memoryMB: 512, mibPerSec: 24, workingSetMiB: 96, burstSec: 0 },
  { name: "steady-48", memoryMB: 512, mibPerSec: 48, workingSetMiB: 64, burstSec: 0 },
  { name: "bursty-32", memoryMB: 512, mibPerSec: 32, workingSetMiB: 64, burstSec: 2 },
];

/** The issue's goals. */
export const GOALS = { totalMape: 0.2, bytesMape: 0.1, passesExact: 0.8, downtimeP90Ms: 40 } as const;

export interface Compared {
  readonly writer: string;
  readonly predicted: Prediction;
  readonly report: MigrationReport;
  /** The task's pass samples (each dirty sync QEMU reported), for the dump. */
  readonly passes?: readonly PassSample[] | undefined;
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

const mean = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);

/** The issue's four figures over the compared moves. */
export function predictionErrors(moves: readonly Compared[]): { totalMape: number; bytesMape: number; passesExact: number; downtimeP90Ms: number } {
  return {
    totalMape: mean(moves.map((m) => Math.abs(m.predicted.totalMs - m.report.totalMs) / Math.max(1, m.report.totalMs))),
    bytesMape: mean(moves.map((m) => Math.abs(m.predicted.bytes - m.report.bytesSent) / Math.max(1, m.report.bytesSent))),
    passesExact: mean(moves.map((m) => (m.predicted.passes === m.report.passes ? 1 : 0))),
    downtimeP90Ms: quantile(moves.map((m) => Math.abs(m.predicted.downtimeMs - m.report.downtimeMs)), 0.9),
  };
}

const median = (values: readonly number[]): number => quantile(values, 0.5);

/**
 * The same four figures for a predictor that knew each writer's own median result in advance
 * (total, bytes, downtime; its most common pass count): how far repeated moves of one guest
 * spread on this machine, the floor under any model's errors here.
 */
export function noiseFloor(moves: readonly Compared[]): ReturnType<typeof predictionErrors> {
  const oracle = moves.map((m): Compared => {
    const same = moves.filter((x) => x.writer === m.writer);
    const passes = same.map((x) => x.report.passes);
    const commonest = passes.reduce((best, p) => (passes.filter((q) => q === p).length > passes.filter((q) => q === best).length ? p : best), passes[0] ?? 0);
    const predicted = { ...m.predicted, totalMs: median(same.map((x) => x.report.totalMs)), bytes: median(same.map((x) => x.report.bytesSent)), downtimeMs: median(same.map((x) => x.report.downtimeMs)), passes: commonest };
    return { ...m, predicted };
  });
  return predictionErrors(oracle);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One move through the controller; the task's prediction and report. */
async function move(api: ApiClient, vm: string, to: string): Promise<{ predicted: Prediction; report: MigrationReport; passes: readonly PassSample[] }> {
  let task = await api.post<Task>("/migrations", { vm, to });
  const deadline = performance.now() + 300_000;
  while (!FINAL_STATES.has(task.state)) {
    if (performance.now() > deadline) throw new FerryError(ErrorCode.unavailable, `migration ${task.id} of ${vm} to ${to} did not end within 300 s (state ${task.state})`);
    await sleep(100);
    task = await api.get<Task>(`/migrations/${task.id}`);
  }
  const report = task.body["report"] as MigrationReport | undefined;
  const predicted = task.body["prediction"];
  if (report?.outcome !== "completed") throw new FerryError(ErrorCode.refused, `migration of ${vm} to ${to} ended ${task.state}: ${report?.failure?.code ?? "?"}: ${report?.failure?.message ?? "no report"}`);
  if (predicted === undefined) throw new FerryError(ErrorCode.internal, `migration ${task.id} of ${vm} has no prediction`);
  for (;;) {
    const now = await api.get<{ host: string; migrating: boolean }>(`/vms/${vm}`);
    if (now.host === to && !now.migrating) return { predicted, report, passes: task.body["passes"] ?? [] };
    await sleep(50);
  }
}

function line(c: Compared, i: number): string {
  const { predicted: p, report: r } = c;
  return `${String(i + 1).padStart(2)} ${c.writer.padEnd(10)} ${r.source}->${r.destination}  total ${p.totalMs.toFixed(0).padStart(5)}/${String(r.totalMs).padStart(5)} ms  down ${p.downtimeMs.toFixed(0).padStart(4)}/${String(r.downtimeMs).padStart(4)} ms (QEMU ${String(r.hypervisorDowntimeMs ?? "-")})  ${(p.bytes / MiB).toFixed(1).padStart(6)}/${(r.bytesSent / MiB).toFixed(1).padStart(6)} MiB  passes ${p.passes}/${r.passes}`;
}

/** One writer's guest: created with the lab guest's MAC (its DHCP lease), booted, moved, deleted. */
async function writerRuns(api: ApiClient, summary: QemuLabSummary, writer: Writer, nic: { mac: string; ip: string }): Promise<Compared[]> {
  const iso = await writerIso(join(summary.dir, "datastores", SHARED_DATASTORE), writer);
  const vm = `pw-${writer.name}`;
  await api.post("/vms", { name: vm, host: "esx01", vcpus: 1, memoryMB: writer.memoryMB, disks: [{ datastore: SHARED_DATASTORE, path: `${vm}/data.raw`, sizeMB: 16, format: "raw" }], cdroms: [{ datastore: SHARED_DATASTORE, path: iso }], nics: [{ portGroup: VM_PORT_GROUP, mac: nic.mac, ip: nic.ip }] });
  await api.post(`/vms/${vm}/power`, { action: "on" });
  const bootMs = await waitForGuest(summary.client.namespace, nic.ip, 180_000);
  await sleep(WRITER_SETTLE_MS);
  console.error(`qemu-prediction: ${vm} (${writer.memoryMB} MiB, ${writer.mibPerSec} MiB/s over ${writer.workingSetMiB} MiB${writer.burstSec > 0 ? `, bursts of ${writer.burstSec} s` : ""}) answers after ${(bootMs / 1000).toFixed(1)} s`);
  const out: Compared[] = [];
  let to = "esx02";
  for (let i = 0; i < MOVES_PER_WRITER; i++) {
    const { predicted, report, passes } = await move(api, vm, to);
    const compared = { writer: writer.name, predicted, report, passes };
    console.error(`qemu-prediction: ${line(compared, i)}`);
    out.push(compared);
    to = to === "esx02" ? "esx01" : "esx02";
    await sleep(BETWEEN_MOVES_MS);
  }
  await api.post(`/vms/${vm}/power`, { action: "off" });
  await api.delete(`/vms/${vm}?disks=remove`);
  return out;
}

type Figures = Record<string, number | string | boolean>;

async function measure(lab: RunningQemuLab): Promise<Figures> {
  const { summary } = lab;
  const api = new ApiClient({ url: lab.controller.url, token: lab.controller.adminToken }, 120_000);
  // The lab's guests make way (the CPUs are few); their MACs keep the DHCP server's leases.
  const nic = summary.guests[0];
  if (nic === undefined) throw new FerryError(ErrorCode.internal, "the lab has no guest whose address to reuse");
  for (const g of summary.guests) {
    await api.post(`/vms/${g.name}/power`, { action: "off" });
    await api.delete(`/vms/${g.name}`);
  }
  const loads: number[][] = [loadavg()];
  const moves: Compared[] = [];
  for (const writer of WRITERS) {
    moves.push(...(await writerRuns(api, summary, writer, nic)));
    loads.push(loadavg());
  }
  const errors = predictionErrors(moves);
  const floor = noiseFloor(moves);
  // FERRY_BENCH_DUMP=FILE: every move's prediction (with its basis) and report, for a closer look.
  const dump = process.env["FERRY_BENCH_DUMP"];
  if (dump !== undefined && dump !== "") writeFileSync(dump, JSON.stringify(moves, undefined, 1), { mode: 0o600 });
  const perMove: Figures = {};
  moves.forEach((m, i) => {
    perMove[`move${String(i + 1).padStart(2, "0")}`] = line(m, i).slice(3);
  });
  const load1 = loads.map((l) => l[0] ?? Number.NaN);
  return {
    accelerator: summary.accelerator,
    migrations: moves.length,
    ...perMove,
    total_time_mape_pct: Number((errors.totalMape * 100).toFixed(1)),
    total_time_mape_goal_pct: GOALS.totalMape * 100,
    bytes_mape_pct: Number((errors.bytesMape * 100).toFixed(1)),
    bytes_mape_goal_pct: GOALS.bytesMape * 100,
    passes_exact_pct: Number((errors.passesExact * 100).toFixed(1)),
    passes_exact_goal_pct: GOALS.passesExact * 100,
    downtime_abs_error_p90_ms: Math.round(errors.downtimeP90Ms),
    downtime_abs_error_p90_goal_ms: GOALS.downtimeP90Ms,
    noise_floor_total_time_mape_pct: Number((floor.totalMape * 100).toFixed(1)),
    noise_floor_bytes_mape_pct: Number((floor.bytesMape * 100).toFixed(1)),
    noise_floor_passes_exact_pct: Number((floor.passesExact * 100).toFixed(1)),
    noise_floor_downtime_abs_error_p90_ms: Math.round(floor.downtimeP90Ms),
    load_1min_min: Number(Math.min(...load1).toFixed(2)),
    load_1min_max: Number(Math.max(...load1).toFixed(2)),
    load_at_end: loadavg().map((x) => x.toFixed(2)).join(" "),
  };
}

async function qemuPredictionBenchmark(): Promise<Figures> {
  const blocked = process.getuid?.() !== 0 ? "needs root (network namespaces)" : qemuTestsBlocked();
  if (blocked !== undefined) return { skipped: true, reason: blocked };
  const labId = `bp${(process.pid % 46656).toString(36)}`;
  const aborter = new AbortController();
  let lab: RunningQemuLab | undefined;
  const stop = async (keepLogs: boolean): Promise<string[]> => {
    await lab?.stop().catch(() => teardown(labId));
    const left = await listLab(labId);
    if (!keepLogs) rmSync(labDir(labId), { recursive: true, force: true });
    return [...left.namespaces, ...left.links];
  };
  const onSignal = (): void => {
    aborter.abort();
    void stop(false).finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let outcome: { readonly figures: Figures } | { readonly error: unknown };
  try {
    console.error(`qemu-prediction: lab ${labId} (after a crash: ferry lab down --id ${labId}); load ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
    lab = await startQemuLab({ labId, hosts: 2, guests: 1, listen: "127.0.0.1:0", signal: aborter.signal }, (l) => {
      console.error(`qemu-prediction: ${l}`);
    });
    outcome = { figures: await measure(lab) };
  } catch (error) {
    if (!isFerryError(error)) console.error(error);
    outcome = { error };
  }
  const left = await stop("error" in outcome);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  return labBenchResult(outcome, left, labId);
}

export const benchmarks = [{ name: "qemu-lab-prediction: predicted vs measured over 24 moves of guests with different writers through the controller (issue 16 part 4)", run: qemuPredictionBenchmark }] as const;
