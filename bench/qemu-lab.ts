// The production path's benchmark (`npm run bench -- qemu-lab`, root only): `ferry lab up
// --driver qemu` as a user gets it (controller on the management network, agents inside their
// host namespaces, VMotion on vmk1), one 512 MiB VM created through the API with a raw disk on
// the shared datastore, its records service writing and flushing to that disk the whole time,
// moved esx01 <-> esx02 through the controller's API. Measured in the same run, because this
// machine is shared: raw TCP over the same VMotion link (the stream rate is given as a share
// of it), the client-visible gap on one TCP connection during each move against the gap
// between moves, and the cost of a host's observed-facts refresh against its goal. Every
// acknowledged record must be on the disk at the end, or there is no result. Imported by
// bench/run.ts.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { ApiClient } from "../src/api/client.ts";
import type { HostRefresh, Task } from "../src/api/schemas.ts";
import { labDir, waitForGuest, type QemuLabSummary } from "../src/cli/commands/lab-qemu.ts";
import { startQemuLab, type RunningQemuLab } from "../src/cli/commands/lab-up.ts";
import { ErrorCode, FerryError, isFerryError } from "../src/core/errors.ts";
import type { MigrationReport } from "../src/core/migration/types.ts";
import { qemuTestsBlocked } from "../src/drivers/qemu/testing/requirements.ts";
import { SHARED_DATASTORE, VM_PORT_GROUP } from "../src/lab/host-lab.ts";
import { listLab, teardown } from "../src/lab/netns.ts";
import { startRecordClient, verifyRecords, type RecordClient } from "../src/lab/records.ts";
import { rawTcpMs } from "./raw-tcp.ts";

const MiB = 1024 * 1024;
const MOVES = 5;
const RAW_BYTES = 512 * MiB;
const RAW_RUNS = 3;
const REFRESHES = 20;
const REFRESH_GOAL_MS = 200;
const VM_MEMORY_MB = 512;
const VM_DISK_MB = 16;
const ECHO_PORT = 7000;
/** The lab's own guest02 makes way: its MAC has the DHCP server's static lease for its IP. */
const MAKES_WAY = "guest02";
const VM = "bench512";
const FINAL_STATES: ReadonlySet<string> = new Set(["completed", "failed", "cancelled"]);

/** What the echo probe saw since its previous window: the longest wait between two replies. */
interface EchoWindow {
  readonly sent: number;
  readonly replies: number;
  readonly bad: number;
  readonly closed: boolean;
  readonly error: string;
  readonly maxGapMs: number;
}

// One connection, a numbered line every 20 ms (test/lab/qemu-lab.test.ts's client), each reply
// checked against "<n> line <n>". On "mark" from stdin it waits until the replies caught up
// with what was sent (at most 5 s), prints the window's figures and starts a new window; so a
// pause that ends with a reply is counted in the window where the reply arrives.
const ECHO_CLIENT = `
const net = require("net");
const readline = require("readline");
const [ip, port] = process.argv.slice(1);
const s = net.connect({ host: ip, port: Number(port) });
let sent = 0, replies = 0, bad = 0, closed = false, error = "", maxGapMs = 0, last = 0, buf = "";
s.setEncoding("utf8");
s.on("connect", () => { last = Date.now(); console.log(JSON.stringify({ e: "connected" })); setInterval(() => { if (!closed) s.write("line " + String(++sent) + "\\n"); }, 20); });
s.on("data", (d) => {
  buf += d; let i;
  while ((i = buf.indexOf("\\n")) >= 0) {
    const line = buf.slice(0, i); buf = buf.slice(i + 1);
    const want = replies + 1;
    if (line.trim() !== want + " line " + want) bad++;
    replies++; const now = Date.now(); maxGapMs = Math.max(maxGapMs, now - last); last = now;
  }
});
s.on("error", (e) => { closed = true; error = e.message; });
s.on("close", () => { closed = true; });
readline.createInterface({ input: process.stdin }).on("line", () => {
  const target = sent, t0 = Date.now();
  const wait = setInterval(() => {
    if (replies < target && !closed && Date.now() - t0 < 5000) return;
    clearInterval(wait);
    console.log(JSON.stringify({ e: "window", sent, replies, bad, closed, error, maxGapMs }));
    maxGapMs = 0;
  }, 10);
});
process.stdin.on("end", () => process.exit(0));
`;

/** A window line of ECHO_CLIENT, checked field by field. */
function echoWindow(line: unknown): EchoWindow {
  const o = (typeof line === "object" && line !== null ? line : {}) as Partial<Record<keyof EchoWindow, unknown>>;
  const num = (v: unknown): number => (typeof v === "number" ? v : Number.NaN);
  return { sent: num(o.sent), replies: num(o.replies), bad: num(o.bad), closed: o.closed === true, error: typeof o.error === "string" ? o.error : "", maxGapMs: num(o.maxGapMs) };
}

/** The echo client inside the client namespace, read one window at a time. */
class EchoProbe {
  readonly #child: ChildProcessByStdio<Writable, Readable, null>;
  readonly #waiting: ((line: unknown) => void)[] = [];
  readonly #exited: Promise<void>;

  constructor(namespace: string, ip: string) {
    this.#child = spawn("ip", ["netns", "exec", namespace, process.execPath, "-e", ECHO_CLIENT, ip, String(ECHO_PORT)], { stdio: ["pipe", "pipe", "inherit"] });
    this.#exited = new Promise((resolve) => this.#child.once("exit", () => { resolve(); }));
    createInterface({ input: this.#child.stdout }).on("line", (line) => this.#waiting.shift()?.(JSON.parse(line)));
  }

  #next(timeoutMs: number, what: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new FerryError(ErrorCode.unavailable, `the echo client gave no ${what} within ${timeoutMs / 1000} s`)); }, timeoutMs);
      this.#waiting.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  }

  connected(): Promise<unknown> {
    return this.#next(10_000, "connection");
  }

  /** Closes the current window and returns it. */
  async window(): Promise<EchoWindow> {
    const next = this.#next(15_000, "window");
    this.#child.stdin.write("mark\n");
    return echoWindow(await next);
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null && this.#child.pid !== undefined) {
      process.kill(this.#child.pid, "SIGTERM");
      await this.#exited;
    }
  }
}

/** Raw TCP from esx01's namespace to esx02's vmk1 address, over the lab's VMotion bridge: MiB/s. */
async function rawTcpMiBs(summary: QemuLabSummary, port: number): Promise<number> {
  const [a, b] = summary.hosts;
  if (a === undefined || b === undefined) throw new FerryError(ErrorCode.internal, "the lab has fewer than two hosts");
  const ms = await rawTcpMs(a.namespace, b.namespace, b.vmotionIp, port, RAW_BYTES);
  return RAW_BYTES / MiB / (ms / 1000);
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

const median = (values: readonly number[]): number => quantile(values, 0.5);
const round1 = (n: number): number => Math.round(n * 10) / 10;

/** guest02 powered off and deleted; the 512 MiB VM created as lab up creates its guests, with guest02's MAC and IP, booted. */
async function createBenchVm(api: ApiClient, summary: QemuLabSummary): Promise<{ ip: string; bootMs: number }> {
  const old = summary.guests.find((g) => g.name === MAKES_WAY);
  if (old === undefined) throw new FerryError(ErrorCode.internal, `the lab has no ${MAKES_WAY} to make way`);
  await api.post(`/vms/${MAKES_WAY}/power`, { action: "off" });
  await api.delete(`/vms/${MAKES_WAY}`);
  await api.post("/vms", {
    name: VM,
    host: "esx01",
    vcpus: 1,
    memoryMB: VM_MEMORY_MB,
    disks: [{ datastore: SHARED_DATASTORE, path: `${VM}/data.raw`, sizeMB: VM_DISK_MB, format: "raw" }],
    cdroms: [{ datastore: SHARED_DATASTORE, path: "boot.iso" }],
    nics: [{ portGroup: VM_PORT_GROUP, mac: old.mac, ip: old.ip }],
  });
  await api.post(`/vms/${VM}/power`, { action: "on" });
  const bootMs = await waitForGuest(summary.client.namespace, old.ip, 180_000);
  return { ip: old.ip, bootMs };
}

/** The task's life on the controller's clock: queued to its final phase (validation, preparation, stream, switchover, guest check). */
function taskMs(task: Task): number {
  const timeline = task.body["timeline"];
  if (!Array.isArray(timeline)) return Number.NaN;
  const at = (entry: unknown): number => (typeof entry === "object" && entry !== null && "at" in entry && typeof entry.at === "number" ? entry.at : Number.NaN);
  return at(timeline.at(-1)) - at(timeline[0]);
}

/** One move through the controller: POST /migrations, followed until final and the inventory shows the VM there. */
async function move(api: ApiClient, to: string): Promise<{ report: MigrationReport; taskMs: number }> {
  let task = await api.post<Task>("/migrations", { vm: VM, to });
  const deadline = performance.now() + 300_000;
  while (!FINAL_STATES.has(task.state)) {
    if (performance.now() > deadline) throw new FerryError(ErrorCode.unavailable, `migration ${task.id} of ${VM} to ${to} did not end within 300 s (state ${task.state})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    task = await api.get<Task>(`/migrations/${task.id}`);
  }
  const report = task.body["report"] as MigrationReport | undefined;
  if (report?.outcome !== "completed") throw new FerryError(ErrorCode.refused, `migration of ${VM} to ${to} ended ${task.state}: ${report?.failure?.code ?? "?"}: ${report?.failure?.message ?? "no report"}`);
  // The task's end and the VM's new host are written one after the other: wait for the second.
  for (;;) {
    const vm = await api.get<{ host: string; migrating: boolean }>(`/vms/${VM}`);
    if (vm.host === to && !vm.migrating) return { report, taskMs: taskMs(task) };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface MoveFigures {
  readonly report: MigrationReport;
  readonly taskMs: number;
  readonly gap: EchoWindow;
  readonly between: EchoWindow;
}

/** MOVES moves there and back; between two, the guest's writer acks 10 records on its new host. */
async function moves(api: ApiClient, echo: EchoProbe, records: RecordClient): Promise<MoveFigures[]> {
  const figures: MoveFigures[] = [];
  let to = "esx02";
  for (let i = 0; i < MOVES; i++) {
    await records.waitForMoreAcks(10, 60_000);
    const between = await echo.window();
    const { report, taskMs } = await move(api, to);
    const gap = await echo.window();
    if (gap.closed || gap.bad > 0) throw new FerryError(ErrorCode.refused, `the client's connection did not survive move ${i + 1} (${gap.bad} bad replies, ${gap.closed ? `closed: ${gap.error || "by the guest"}` : "open"})`);
    console.error(`qemu-lab: move ${i + 1} to ${to}: task ${taskMs} ms, total ${report.totalMs} ms, downtime ${report.downtimeMs} ms (QEMU ${String(report.hypervisorDowntimeMs)} ms), ${(report.bytesSent / MiB).toFixed(1)} MiB, ${report.passes} passes, client gap ${gap.maxGapMs} ms`);
    figures.push({ report, taskMs, gap, between });
    to = to === "esx02" ? "esx01" : "esx02";
  }
  return figures;
}

/** REFRESHES observed-facts refreshes of `host` through the controller: wall ms and the agent's own observedInMs. */
async function refreshCost(api: ApiClient, host: string): Promise<{ wall: number[]; observed: number[] }> {
  const wall: number[] = [];
  const observed: number[] = [];
  for (let i = 0; i < REFRESHES; i++) {
    const t0 = performance.now();
    const result = await api.post<HostRefresh>(`/hosts/${host}/refresh`, undefined);
    wall.push(performance.now() - t0);
    if (result.source !== "observed") throw new FerryError(ErrorCode.internal, `${host} answered a refresh with ${result.source} facts, not observed ones`);
    if (result.observedInMs !== null) observed.push(result.observedInMs);
  }
  return { wall, observed };
}

/** The VM powered off (its QEMU gone), then every acknowledged record checked on the raw image. */
async function verifyDisk(api: ApiClient, summary: QemuLabSummary, records: RecordClient): Promise<{ acked: number; breaks: number }> {
  await api.post(`/vms/${VM}/power`, { action: "off" });
  await records.stop();
  const verdict = await verifyRecords(join(summary.dir, "datastores", SHARED_DATASTORE, VM, "data.raw"), records.acked);
  if (!verdict.ok || records.conflicts.length > 0 || records.skips.length > 0) {
    throw new FerryError(ErrorCode.refused, `the disk lost acknowledged writes, so there is no result: ${records.acked.size} acked, missing ${verdict.missing.length}, corrupt ${verdict.corrupt.length}, out of order ${String(verdict.outOfOrder)}, rewritten ${records.conflicts.length}, skipped ${records.skips.length}`, { details: { verdict } });
  }
  return { acked: records.acked.size, breaks: records.breaks.length };
}

type Figures = Record<string, number | string | boolean>;

function moveFigures(list: readonly MoveFigures[], rawMiBs: number): Figures {
  const out: Figures = {};
  list.forEach(({ report, taskMs, gap }, i) => {
    const rate = report.bytesSent / MiB / (report.totalMs / 1000);
    out[`move${i + 1}`] = `${report.source}->${report.destination} task ${taskMs} ms, total ${report.totalMs} ms, downtime ${report.downtimeMs} ms (QEMU ${String(report.hypervisorDowntimeMs ?? "-")}), ${(report.bytesSent / MiB).toFixed(1)} MiB, ${report.passes} passes, ${rate.toFixed(0)} MiB/s (${(rate / rawMiBs).toFixed(3)} of raw), gap ${gap.maxGapMs} ms`;
  });
  const rates = list.map(({ report }) => report.bytesSent / MiB / (report.totalMs / 1000));
  return {
    ...out,
    task_ms_median: median(list.map((m) => m.taskMs)),
    total_ms_median: median(list.map((m) => m.report.totalMs)),
    downtime_ms_median: median(list.map((m) => m.report.downtimeMs)),
    downtime_ms_max: Math.max(...list.map((m) => m.report.downtimeMs)),
    qemu_downtime_ms_median: median(list.map((m) => m.report.hypervisorDowntimeMs ?? Number.NaN)),
    mib_sent_median: round1(median(list.map((m) => m.report.bytesSent / MiB))),
    passes_median: median(list.map((m) => m.report.passes)),
    client_gap_ms_median: median(list.map((m) => m.gap.maxGapMs)),
    client_gap_ms_max: Math.max(...list.map((m) => m.gap.maxGapMs)),
    client_gap_between_moves_ms_max: Math.max(...list.map((m) => m.between.maxGapMs)),
    raw_tcp_vmotion_mib_s: Math.round(rawMiBs),
    qemu_stream_mib_s_median: Math.round(median(rates)),
    stream_to_raw_ratio_median: Number((median(rates) / rawMiBs).toFixed(3)),
  };
}

function refreshFigures(byHost: ReadonlyMap<string, { wall: number[]; observed: number[] }>): Figures {
  const out: Figures = { refresh_goal_ms: REFRESH_GOAL_MS };
  for (const [host, { wall, observed }] of byHost) {
    out[`refresh_${host}_ms_median`] = round1(median(wall));
    out[`refresh_${host}_ms_p90`] = round1(quantile(wall, 0.9));
    out[`refresh_${host}_observed_in_ms_median`] = round1(median(observed));
    out[`refresh_${host}_within_goal`] = median(wall) <= REFRESH_GOAL_MS;
  }
  return out;
}

/** Everything measured on a running lab; the caller stops it. */
async function measure(lab: RunningQemuLab, probes: Probes): Promise<Figures> {
  const { summary } = lab;
  const api = new ApiClient({ url: lab.controller.url, token: lab.controller.adminToken }, 120_000);
  const { ip, bootMs } = await createBenchVm(api, summary);
  console.error(`qemu-lab: ${VM} (${VM_MEMORY_MB} MiB) answers at ${ip} after ${(bootMs / 1000).toFixed(1)} s; starting the record writer and the echo client`);
  const records = startRecordClient(summary.client.namespace, ip);
  probes.records = records;
  await records.waitForMoreAcks(20, 120_000);
  const echo = new EchoProbe(summary.client.namespace, ip);
  probes.echo = echo;
  await echo.connected();
  const raw: number[] = [];
  for (let r = 0; r < RAW_RUNS; r++) raw.push(await rawTcpMiBs(summary, 9100 + r));
  const rawMiBs = median(raw);
  console.error(`qemu-lab: raw TCP over vmk1 ${raw.map((x) => x.toFixed(0)).join(", ")} MiB/s; moving ${VM} ${MOVES} times`);
  const moved = await moves(api, echo, records);
  const refresh = new Map<string, { wall: number[]; observed: number[] }>();
  for (const host of summary.hosts) refresh.set(host.name, await refreshCost(api, host.name));
  await echo.stop();
  const disk = await verifyDisk(api, summary, records);
  return {
    accelerator: summary.accelerator,
    vm_memory_mb: VM_MEMORY_MB,
    lab_up_ms: summary.startedInMs,
    vm_boot_to_echo_ms: Math.round(bootMs),
    moves: MOVES,
    ...moveFigures(moved, rawMiBs),
    ...refreshFigures(refresh),
    records_acked: disk.acked,
    records_all_on_disk: true,
    records_connection_breaks: disk.breaks,
  };
}

/** Stops the lab and what the benchmark started in it; returns what the lab left behind. Its logs stay after a failure. */
async function shutDown(labId: string, lab: RunningQemuLab | undefined, probes: Probes, keepLogs: boolean): Promise<string[]> {
  await probes.echo?.stop();
  await probes.records?.stop();
  // A stop that fails half-way still removes the namespaces by prefix.
  await lab?.stop().catch(() => teardown(labId));
  const left = await listLab(labId);
  if (!keepLogs) rmSync(labDir(labId), { recursive: true, force: true });
  return [...left.namespaces, ...left.links];
}

interface Probes {
  echo?: EchoProbe;
  records?: RecordClient;
}

async function qemuLabBenchmark(): Promise<Figures> {
  const blocked = process.getuid?.() !== 0 ? "needs root (network namespaces)" : qemuTestsBlocked();
  if (blocked !== undefined) return { skipped: true, reason: blocked };
  const labId = `bq${(process.pid % 46656).toString(36)}`;
  const aborter = new AbortController();
  let lab: RunningQemuLab | undefined;
  const probes: Probes = {};
  // Ctrl-C: the lab goes as it would at the end (its namespaces, agents, QEMUs).
  const onSignal = (): void => {
    aborter.abort();
    void shutDown(labId, lab, probes, false).finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let outcome: { readonly figures: Figures } | { readonly error: unknown };
  try {
    console.error(`qemu-lab: lab ${labId} (after a crash: ferry lab down --id ${labId})`);
    lab = await startQemuLab({ labId, hosts: 2, guests: 2, listen: "127.0.0.1:0", signal: aborter.signal }, (line) => {
      console.error(`qemu-lab: ${line}`);
    });
    outcome = { figures: await measure(lab, probes) };
  } catch (error) {
    if (!isFerryError(error)) console.error(error);
    outcome = { error };
  }
  const left = await shutDown(labId, lab, probes, "error" in outcome);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  return labBenchResult(outcome, left, labId);
}

/** A lab bench's answer: its figures, or why it failed (the exit code set) with where its logs are and what stopping it left. */
export function labBenchResult(outcome: { readonly figures: Record<string, number | string | boolean> } | { readonly error: unknown }, left: readonly string[], labId: string): Record<string, number | string | boolean> {
  if ("error" in outcome || left.length > 0) {
    process.exitCode = 1;
    const reason = "error" in outcome ? (outcome.error instanceof Error ? outcome.error.message : String(outcome.error)) : `stopping the lab left ${left.join(", ")}`;
    return { failed: true, reason, lab_logs: "error" in outcome ? labDir(labId) : "removed", lab_left: left.join(", ") || "nothing" };
  }
  return { ...outcome.figures, lab_left_namespaces: 0 };
}

export const benchmarks = [{ name: "qemu-lab: a 512 MiB disk-writing VM moved 5 times through the controller on the production path, vs raw TCP on vmk1; host refresh cost", run: qemuLabBenchmark }] as const;
