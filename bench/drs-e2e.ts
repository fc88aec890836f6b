// DRS end to end on the product path (issue 14, "Benchmarks": an imbalanced 4-host cluster
// balanced by real live migrations, σ before and after measured from the agents' reported
// usage, and a host evacuated by maintenance mode with the plan's ETA against the measured
// time). The lab of `ferry up` (startLab: the controller on SQLite, one real sim agent process
// per host), four hosts of 4 cores × 2.5 GHz in cluster Prod, and VMs whose workloads make the
// imbalance real: the busy ones (databases dirtying 6 MiB/s in bursts, web and app servers
// 2 MiB/s steadily: the sim's CPU model is the guest's writes, 16 MiB/s per core) all start
// on esx01, the idle ones elsewhere. Everything else goes through the controller's REST API
// (the routes in-process, as the CLI calls them): GET /api/usage for σ, GET
// /api/clusters/Prod/drs for the recommendations, POST /api/drs/apply to start them, the
// migration tasks until they end, then POST /api/hosts/H/maintenance (dry run for the plan,
// then enter) and its status until the host is in maintenance mode.
//
// Usage is sampled when the cluster has settled (the sampler's own round, started here instead
// of waiting for its 20 s tick), twice RATE_WINDOW_MS apart: an agent measures a VM's CPU as a
// rate between two calls, so the second sample is the rate of that window.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { DrsView, EvacuationPlanView, MaintenanceAnswer, MaintenanceStatusView, UsageReport } from "../src/api/schemas.ts";
import { startLab, type RunningLab } from "../src/cli/commands/up.ts";
import { combinedLoad, sigmaFromSums } from "../src/core/drs/imbalance.ts";
import type { InventoryInput } from "../src/core/inventory/schema.ts";
import type { MigrationReport } from "../src/core/migration/types.ts";
import { drsLabInventory } from "../src/server/testing/drs-lab.ts";

const CLUSTER = "Prod";
/** The VMs and where they start: every busy one on esx01 (the names choose the workload: labVmSpec). */
const START: readonly { readonly vm: string; readonly host: string }[] = [
  ...["db01", "db02", "db03", "app01", "app02", "web01"].map((vm) => ({ vm, host: "esx01" })),
  { vm: "web02", host: "esx02" },
  { vm: "file01", host: "esx03" },
  { vm: "file02", host: "esx04" },
];
/** Threshold 5 (target σ 0.003): the aggressive setting, so the measured σ can fall far. */
const DRS_SETTINGS = { automation: "manual", threshold: 5 } as const;
const MAX_RUNS = 4;
const RATE_WINDOW_MS = 3000;
const ENDED = new Set(["completed", "failed", "cancelled", "needs-attention"]);

type Figures = Record<string, number | string | boolean>;

/** The DRS lab's four hosts with 4 cores each (so a few busy guests weigh), and the VMs of START. */
function imbalancedCluster(): InventoryInput {
  const base = drsLabInventory();
  const template = base.vms?.[0];
  if (template === undefined) throw new Error("the DRS lab inventory has no VM");
  const hosts = (base.hosts ?? []).map((h) => ({ ...h, cpu: { ...h.cpu, cores: 4, mhz: 2500 } }));
  const vms = START.map(({ vm, host }, i) => ({
    ...structuredClone(template),
    name: vm,
    host,
    memoryMB: 2048,
    disks: [{ name: `${vm}.vmdk`, datastore: "shared-ds1", sizeGB: 4 }],
    nics: [{ name: "nic0", portGroup: "Production", mac: `00:50:56:00:0e:${(i + 1).toString(16).padStart(2, "0")}`, ip: `198.18.0.${140 + i}` }],
  }));
  return { ...base, hosts, vms };
}

/** The controller's REST API, in-process (the routes and their auth, without a socket). */
function apiOf(lab: RunningLab): <T>(method: string, path: string, body?: unknown) => Promise<T> {
  const { app, adminToken } = lab.controller;
  return async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const headers: Record<string, string> = { authorization: `Bearer ${adminToken}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await app.request(`/api${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const answer: unknown = await response.json();
    if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(answer)}`);
    return answer as T;
  };
}

type Api = ReturnType<typeof apiOf>;

interface MeasuredSigma {
  readonly sigma: number;
  /** Per host: combined load (mean of CPU and memory share), CPU %, memory %, VMs. */
  readonly hosts: string;
}

/** σ of normalised host load from the agents' reported usage, over the hosts not in maintenance. */
async function measuredSigma(lab: RunningLab, api: Api, excluded: ReadonlySet<string> = new Set()): Promise<MeasuredSigma> {
  await lab.controller.usage.sample();
  await new Promise((resolve) => setTimeout(resolve, RATE_WINDOW_MS));
  await lab.controller.usage.sample();
  const report = await api<UsageReport>("GET", "/usage?history=false");
  let sum = 0;
  let sumSquares = 0;
  let n = 0;
  const words: string[] = [];
  for (const h of report.hosts) {
    if (excluded.has(h.host)) continue;
    if (h.capacity === null || h.latest === null) throw new Error(`${h.host} reported no usage`);
    const cpu = h.latest.cpuMhz / h.capacity.cpuMhz;
    const memory = h.latest.memoryMB / h.capacity.memoryMB;
    const load = combinedLoad(cpu, memory);
    sum += load;
    sumSquares += load * load;
    n++;
    words.push(`${h.host} ${(load * 100).toFixed(1)}% (CPU ${(cpu * 100).toFixed(1)}%, mem ${(memory * 100).toFixed(1)}%, ${h.vms} VMs)`);
  }
  return { sigma: sigmaFromSums(sum, sumSquares, n), hosts: words.join("; ") };
}

interface Task {
  readonly state: string;
  readonly body: { readonly report?: MigrationReport };
}

/** Waits for migration `id`'s task to end; its final state and report. */
async function ended(api: Api, id: string): Promise<Task> {
  for (;;) {
    const task = await api<Task>("GET", `/migrations/${id}`);
    if (ENDED.has(task.state)) return task;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface Balanced {
  readonly runs: number;
  readonly moves: number;
  readonly completed: number;
  readonly bytes: number;
  readonly wallMs: number;
  readonly serviceSigmaBefore: number;
  readonly basis: string;
  readonly movesText: string;
}

/** DRS runs until one recommends nothing: each run's recommendations applied, their migrations waited for, usage sampled again. */
async function balance(lab: RunningLab, api: Api): Promise<Balanced> {
  const t0 = performance.now();
  let runs = 0;
  let moves = 0;
  let completed = 0;
  let bytes = 0;
  let serviceSigma = Number.NaN;
  let basis = "";
  const movesText: string[] = [];
  while (runs < MAX_RUNS) {
    const view = await api<DrsView>("GET", `/clusters/${CLUSTER}/drs`);
    if (runs === 0) {
      serviceSigma = view.imbalance;
      basis = view.basis.demand;
    }
    if (view.recommendations.length === 0) break;
    runs++;
    const applied = await api<{ started: { vm: string; from: string; to: string; migration: string }[]; skipped: { id: string; reason: string }[] }>("POST", "/drs/apply", { ids: view.recommendations.map((r) => r.id) });
    for (const s of applied.skipped) movesText.push(`skipped ${s.id}: ${s.reason}`);
    for (const started of applied.started) {
      const task = await ended(api, started.migration);
      moves++;
      if (task.state === "completed") completed++;
      bytes += task.body.report?.bytesSent ?? 0;
      movesText.push(`run ${runs}: ${started.vm} ${started.from}>${started.to} ${task.state}`);
    }
    // The next run plans from fresh measurements of where the VMs now are.
    await measuredSigma(lab, api);
  }
  return { runs, moves, completed, bytes, wallMs: performance.now() - t0, serviceSigmaBefore: serviceSigma, basis, movesText: movesText.join("; ") };
}

interface Evacuated {
  readonly host: string;
  readonly plan: EvacuationPlanView;
  readonly status: MaintenanceStatusView;
  readonly measuredMs: number;
  readonly movesText: string;
}

/** The host running the most VMs (by the agents' last report) is evacuated by maintenance mode; the plan's ETA against the time to "in". */
async function evacuate(api: Api): Promise<Evacuated> {
  const usage = await api<UsageReport>("GET", "/usage?history=false");
  const host = [...usage.hosts].sort((a, b) => b.vms - a.vms || a.host.localeCompare(b.host))[0]?.host;
  if (host === undefined) throw new Error("no host reported usage");
  const path = `/hosts/${host}/maintenance`;
  const dry = await api<MaintenanceAnswer>("POST", path, { action: "enter", dryRun: true });
  if (dry.plan === undefined || dry.plan.blocked.length > 0) throw new Error(`${host} cannot be evacuated: ${JSON.stringify(dry.plan?.blocked ?? dry.status)}`);
  const plan = dry.plan;
  const t0 = performance.now();
  let status = (await api<MaintenanceAnswer>("POST", path, { action: "enter" })).status;
  while (status.state === "entering") {
    await new Promise((resolve) => setTimeout(resolve, 50));
    status = await api<MaintenanceStatusView>("GET", path);
  }
  const measuredMs = performance.now() - t0;
  const movesText: string[] = [];
  for (const m of status.moves) {
    const task = await api<Task>("GET", `/migrations/${m.migration}`);
    const predicted = plan.moves.find((p) => p.vm === m.vm)?.cost.totalMs ?? Number.NaN;
    movesText.push(`${m.vm}>${m.to} ${m.state}: predicted ${Math.round(predicted)} ms, measured ${Math.round(task.body.report?.totalMs ?? Number.NaN)} ms`);
  }
  await api<MaintenanceAnswer>("POST", path, { action: "exit" });
  return { host, plan, status, measuredMs, movesText: movesText.join("; ") };
}

const r4 = (x: number): number => Number(x.toFixed(4));

async function endToEnd(): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), "ferry-bench-drs-"));
  // JSON is YAML: the controller reads it as `ferry up --inventory` would.
  const inventoryFile = join(dir, "drs-e2e.yaml");
  writeFileSync(inventoryFile, JSON.stringify(imbalancedCluster(), null, 2));
  const io = { out: () => undefined, err: () => undefined, readText: (path: string) => Promise.resolve(readFileSync(path, "utf8")), isTty: false };
  const lab = await startLab({ inventory: inventoryFile, dataDir: join(dir, "data"), listen: "127.0.0.1:0" }, io, () => undefined);
  try {
    const api = apiOf(lab);
    const loadBefore = loadavg()[0] ?? 0;
    await api("PUT", `/clusters/${CLUSTER}/drs`, DRS_SETTINGS);
    const before = await measuredSigma(lab, api);
    const balanced = await balance(lab, api);
    const after = await measuredSigma(lab, api);
    const view = await api<DrsView>("GET", `/clusters/${CLUSTER}/drs`);
    const evacuated = await evacuate(api);
    const eta = evacuated.plan.etaMs;
    return {
      hosts: lab.agents.length,
      vms: START.length,
      sigma_before_measured: r4(before.sigma),
      sigma_after_measured: r4(after.sigma),
      sigma_removed: r4(before.sigma > 0 ? 1 - after.sigma / before.sigma : 0),
      sigma_target: view.targetImbalance,
      sigma_service_before: r4(balanced.serviceSigmaBefore),
      sigma_service_after: r4(view.imbalance),
      demand_basis: balanced.basis,
      drs_runs: balanced.runs,
      migrations: balanced.moves,
      migrations_completed: balanced.completed,
      migrations_per_host: r4(balanced.moves / lab.agents.length),
      mib_moved: Math.round(balanced.bytes / 1048576),
      balance_wall_ms: Math.round(balanced.wallMs),
      load_before: before.hosts,
      load_after: after.hosts,
      balance_moves: balanced.movesText,
      maintenance_host: evacuated.host,
      maintenance_state: evacuated.status.state,
      maintenance_moves: evacuated.status.moves.length,
      maintenance_eta_ms: Math.round(eta),
      maintenance_measured_ms: Math.round(evacuated.measuredMs),
      maintenance_measured_over_eta: r4(evacuated.measuredMs / eta),
      maintenance_detail: evacuated.movesText,
      load_1m_before: r4(loadBefore),
      load_1m_after: r4(loadavg()[0] ?? 0),
    };
  } finally {
    await lab.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const benchmarks: { name: string; run: () => Promise<Figures> }[] = [
  {
    name: "drs end to end: 4 real sim agents, an imbalanced cluster balanced by live migrations (σ from GET /api/usage), then a host evacuated by maintenance mode (ETA vs measured)",
    run: endToEnd,
  },
];
