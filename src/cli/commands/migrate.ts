// `ferry migrate`, `ferry tasks`, `ferry abort`: the seed's Migrate wizard on the command
// line — VM, target host, resource pool, priority, the review of warnings, Finish — and a
// live view of the progress dialog, pausing where the seed says it pauses (~10%, ~90%).
import type { Command, CommandUnknownOpts } from "@commander-js/extra-typings";
import { Option } from "@commander-js/extra-typings";
import { createInterface } from "node:readline/promises";
import { styleText } from "node:util";
import Table from "cli-table3";
import type { ApiClient } from "../../api/client.ts";
import { ResyncEventSchema, TaskEventSchema, TaskSchema, type MigrationRequestBody, type Task } from "../../api/schemas.ts";
import { z } from "zod";
import { FindingSchema } from "../../core/check/finding-schema.ts";
import { ErrorCode, FerryError, isFerryError } from "../../core/errors.ts";
import { ConvergenceKind, convergenceWords, parseConvergencePolicy } from "../../core/migration/postcopy.ts";
import { TERMINAL_PHASES, type MigrationProgress, type MigrationReport, type Phase, type Prediction } from "../../core/migration/types.ts";
import { controllerClient } from "../controller.ts";
import { ExitStatus, printJson, type CliIo } from "../io.ts";
import type { SetStatus } from "./index.ts";
import { listTasks, tasksListTable } from "./tasks.ts";

/** A refusal's details: the check's errors and the warnings that need accepting. */
const RefusalDetailsSchema = z.object({ errors: z.array(FindingSchema).optional(), warnings: z.array(FindingSchema).optional() });

const MiB = 1048576;

function mb(bytes: number): string {
  return bytes >= 1024 * MiB ? `${(bytes / 1024 / MiB).toFixed(2)} GiB` : `${(bytes / MiB).toFixed(1)} MiB`;
}

function rate(bytesPerSec: number): string {
  return `${((bytesPerSec * 8) / 1e6).toFixed(0)} Mb/s`;
}

function ms(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "?";
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

/** One line of the progress dialog: bar, phase, %, rate, ETA, expected downtime. */
export function progressLine(p: MigrationProgress, width = 30, observedRate?: number): string {
  const filled = Math.round((Math.min(100, Math.max(0, p.percent)) / 100) * width);
  const bar = `${"█".repeat(filled)}${"░".repeat(width - filled)}`;
  const parts = [`${bar} ${p.percent.toFixed(0).padStart(3)}%`, p.phase.padEnd(10)];
  if (p.pass > 0) parts.push(`pass ${p.pass}`);
  // Drivers measure the link at the end of a pass; until then show the rate seen between events.
  const linkRate = p.linkRateBytesPerSec > 0 ? p.linkRateBytesPerSec : (observedRate ?? 0);
  if (linkRate > 0) parts.push(rate(linkRate));
  if (p.bytesRemaining > 0) parts.push(`${mb(p.bytesRemaining)} left`);
  if (p.dirtyRateBytesPerSec > 0) parts.push(`dirtying ${rate(p.dirtyRateBytesPerSec)}`);
  if (p.etaMs !== undefined) parts.push(`ETA ${ms(p.etaMs)}`);
  if (p.expectedDowntimeMs !== undefined) parts.push(`downtime ~${ms(p.expectedDowntimeMs)}`);
  if (p.throttlePercent > 0) parts.push(`guest throttled ${p.throttlePercent}%`);
  return parts.join("  ");
}

/**
 * Exit 0 only for a migration that completed without a failure. A completed one that carries
 * a failure moved, but is not fine — UNREACHABLE_AFTER_MIGRATION above all: exit 1. (A
 * SOURCE_LOST/DESTINATION_LOST settled on the destination is fine: the VM runs there whole.)
 */
export function migratedFine(report: MigrationReport): boolean {
  return report.outcome === "completed" && report.failure?.code !== "UNREACHABLE_AFTER_MIGRATION";
}

/** The closing report: downtime, time, bytes, passes, predicted beside measured. */
export function reportText(report: MigrationReport): string {
  const lines: string[] = [];
  if (report.outcome === "completed") {
    lines.push(`${report.vm} now runs on ${report.runningOn}: migrated from ${report.source} in ${ms(report.totalMs)} with ${ms(report.downtimeMs)} of downtime${report.verified ? ", state verified" : ""}.`);
    // Completed with a failure: it moved, but something is not fine (e.g. unreachable after it).
    if (report.failure !== undefined) lines.push(`but ${report.failure.code}: ${report.failure.message}`);
    for (const warning of report.warnings ?? []) lines.push(`WARNING ${warning.code}: ${warning.message}`);
  }
  else if (report.outcome === "needs-attention") {
    lines.push(
      `${report.vm} NEEDS ATTENTION: ${report.failure?.message ?? "nobody could prove which host holds it"}`,
      `${report.vm} waits paused on ${report.source}; Ferry asks again every 10 s. To decide: ferry migrate resolve ${report.migrationId} --run-on HOST (only the host that holds its ownership record is accepted).`,
    );
  } else lines.push(`${report.vm} was not migrated (${report.outcome}): ${report.failure?.code ?? "?"}: ${report.failure?.message ?? ""}`, `${report.vm} runs on ${report.runningOn}.`);
  const p: Prediction | undefined = report.prediction;
  const table = new Table({ head: ["", "measured", "predicted"], style: { head: [], border: [] } });
  table.push(["total time", ms(report.totalMs), p === undefined ? "-" : ms(p.totalMs)]);
  table.push(["downtime", ms(report.downtimeMs), p === undefined ? "-" : ms(p.downtimeMs)]);
  if (report.hypervisorDowntimeMs !== undefined) table.push(["downtime (QEMU's own)", ms(report.hypervisorDowntimeMs), p?.hypervisorDowntimeMs === undefined ? "-" : ms(p.hypervisorDowntimeMs)]);
  table.push(["bytes sent", mb(report.bytesSent), p === undefined ? "-" : mb(p.bytes)]);
  table.push(["passes", String(report.passes), p === undefined ? "-" : String(p.passes)]);
  const pc = report.postcopy;
  // Post-copy: when it switched, how long pages were pulled, what the faults cost.
  if (pc !== undefined) table.push(["post-copy", `after pass ${pc.afterPass}, ${ms(pc.durationMs)}${pc.requestedPages === undefined ? "" : `, ${pc.requestedPages} pages requested`}${pc.blocktimeMs === undefined ? "" : `, vCPUs blocked ${ms(pc.blocktimeMs)}`}`, "-"]);
  if (report.throttlePercentMax > 0 || (p?.throttlePercent ?? 0) > 0) table.push(["guest throttle", `${report.throttlePercentMax}%`, `${p?.throttlePercent ?? 0}%`]);
  // Encrypted VMotion: whether guest memory crossed the VMotion network inside TLS.
  if (report.encrypted !== undefined) table.push(["stream", report.encrypted ? "encrypted (TLS)" : report.bytesSent > 0 ? "in clear" : "not opened", "-"]);
  lines.push(table.toString());
  return lines.join("\n");
}

export function predictionText(prediction: Prediction): string {
  const basis = prediction.basis === undefined ? "" : ` (${prediction.basis.text})`;
  return `predicted: ${ms(prediction.totalMs)}, ${prediction.passes} pass${prediction.passes === 1 ? "" : "es"}, ${mb(prediction.bytes)}, downtime ~${ms(prediction.downtimeMs)}${prediction.converges ? "" : ` — ${prediction.note}`}${basis}`;
}

/** One task in words: who asked, where it is, its timeline and, once it ended, its report. */
export function taskText(task: Task): string {
  const { body } = task;
  const lines = [`${task.id}: ${task.vm} ${task.source} → ${task.destination}, ${task.state} ${task.percent.toFixed(0)}%, asked by ${body.requestedBy}${body.acceptedWarnings.length > 0 ? `, accepted ${body.acceptedWarnings.join(", ")}` : ""}`];
  if (body.waitingReason !== undefined && task.state === "queued") lines.push(`  ${body.waitingReason}`);
  const convergence = body.convergence ?? body.request.convergence;
  // Said when it is not the default, so a usual move reads as before.
  if (convergence !== undefined && convergence.kind !== ConvergenceKind.autoConverge) lines.push(`  convergence: ${convergenceWords(convergence)}`);
  if (body.timeline.length > 0) lines.push(`  timeline: ${body.timeline.map((t) => `${t.phase} ${new Date(t.at).toISOString().slice(11, 23)}`).join(" → ")}`);
  if (body.report !== undefined) lines.push(reportText(body.report));
  else if (body.prediction !== undefined) lines.push(predictionText(body.prediction));
  return lines.join("\n");
}

/** What the list says beside a task: its failure code, its warnings, its downtime, or why it waits. */
function taskNote(task: Task): string {
  const { report, failureCode, waitingReason } = task.body;
  const code = failureCode ?? report?.failure?.code;
  if (code !== undefined) return code;
  if (report === undefined) return waitingReason ?? "";
  const warned = report.warnings.map((w) => w.code);
  return [`downtime ${ms(report.downtimeMs)}`, ...warned].join(", ");
}

export function tasksTable(tasks: readonly Task[], tty: boolean): string {
  const table = new Table({ head: ["id", "VM", "from → to", "state", "%", "by", "note"], style: { head: [], border: [] } });
  for (const t of tasks) {
    const warned = t.body.report !== undefined && t.body.report.warnings.length > 0;
    const state = !tty ? t.state : t.state === "failed" ? styleText("red", t.state) : warned ? styleText("yellow", t.state) : t.state;
    const note = taskNote(t);
    table.push([t.id, t.vm, `${t.source} → ${t.destination}`, state, t.percent.toFixed(0), t.createdBy, tty && warned ? styleText("yellow", note) : note]);
  }
  return table.toString();
}

async function confirm(io: CliIo, question: string): Promise<boolean> {
  if (!io.isTty || !process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/** The live progress line: redrawn on a terminal; on a pipe a line per phase and per 10%, not a flood. */
function showProgress(io: CliIo, p: MigrationProgress, observedRate: number | undefined, lastPhase: Phase | undefined, printed: { line: string }): void {
  if (io.isTty) {
    process.stdout.write(`\r\x1b[2K${progressLine(p, 30, observedRate)}`);
    return;
  }
  const line = `${p.phase} ${Math.floor(p.percent / 10) * 10}%`;
  if (line !== printed.line) io.out(`${progressLine(p, 30, observedRate)}${p.phase !== lastPhase && p.message.length > 0 ? `  (${p.message})` : ""}`);
  printed.line = line;
}

/** A task as the controller answered it, checked against its schema (one clear error otherwise). */
export function taskOf(value: unknown): Task {
  const parsed = TaskSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new FerryError(ErrorCode.unavailable, `the controller answered a task this ferry cannot read (${issue === undefined ? "invalid" : `${issue.path.join(".")}: ${issue.message}`}); is it another version?`);
}

/**
 * Follows a task's events after `after` (the sequence its task was read at: list-then-watch)
 * until it ends; returns its report. When the controller pruned events the watch needed, it
 * says so, reads the task again and goes on (or returns the report the task already has).
 */
export async function watchTask(client: ApiClient, io: CliIo, taskId: string, json: boolean, after: number): Promise<MigrationReport | undefined> {
  const signal = new AbortController();
  let report: MigrationReport | undefined;
  const printed = { line: "" };
  let lastPhase: Phase | undefined;
  let lastSample: { bytes: number; at: number } | undefined;
  let observedRate: number | undefined;
  // Set by the event callback, which flow analysis does not follow.
  const resync = { seen: false };
  const onInterrupt = (): void => {
    signal.abort();
  };
  process.once("SIGINT", onInterrupt);
  try {
    await client.follow(
      `/events?task=${encodeURIComponent(taskId)}`,
      (event) => {
        const data: unknown = JSON.parse(event.data);
        if (json) io.out(JSON.stringify(data));
        if (event.event === "resync") {
          if (!json) io.err(`ferry: the controller no longer keeps some events of this watch (${ResyncEventSchema.safeParse(data).data?.reason ?? "pruned"}); reading migration ${taskId} again`);
          resync.seen = true;
          return "stop";
        }
        const parsed = TaskEventSchema.safeParse(data);
        // An event this client cannot read (a newer controller's kind) is passed over.
        if (!parsed.success) return undefined;
        const e = parsed.data;
        if (e.type === "progress") {
          const p: MigrationProgress = e;
          if (lastSample !== undefined && p.at > lastSample.at && p.bytesSent >= lastSample.bytes) {
            observedRate = ((p.bytesSent - lastSample.bytes) * 1000) / (p.at - lastSample.at);
          }
          lastSample = { bytes: p.bytesSent, at: p.at };
          if (!json) showProgress(io, p, observedRate, lastPhase, printed);
          lastPhase = p.phase;
        }
        if (e.type === "report") {
          report = e.report;
          return "stop";
        }
        return undefined;
      },
      signal.signal,
      after,
    );
  } finally {
    process.off("SIGINT", onInterrupt);
    if (io.isTty && !json) process.stdout.write("\n");
  }
  if (!resync.seen) return report;
  // The task as it is now, and a watch from the sequence it was read at.
  const { body, sequence } = await client.sequenced<unknown>("GET", `/migrations/${encodeURIComponent(taskId)}`);
  const task = taskOf(body);
  const stored = task.body.report;
  if (stored !== undefined || TERMINAL_PHASES.has(task.state)) return stored;
  return watchTask(client, io, taskId, json, sequence);
}
/**
 * Posts the migration. When the check refuses it on warnings only, asks (on a terminal) and
 * posts again accepting exactly those; returns undefined when they were not accepted.
 */
async function createMigration(client: ApiClient, io: CliIo, request: MigrationRequestBody): Promise<{ task: Task; watchFrom: number } | undefined> {
  try {
    // The event sequence read before the task was made: its events all come after it.
    const answer = await client.sequenced<unknown>("POST", "/migrations", request);
    return { task: taskOf(answer.body), watchFrom: answer.sequence };
  } catch (error) {
    const warnings = isFerryError(error) && error.code === ErrorCode.refused ? RefusalDetailsSchema.safeParse(error.details).data : undefined;
    if (warnings?.warnings === undefined || (warnings.errors ?? []).length > 0 || warnings.warnings.length === 0) throw error;
    const list = warnings.warnings.map((w) => `  WARNING ${w.code}: ${w.message}`).join("\n");
    if (!(await confirm(io, `${request.vm} → ${request.to} has warnings:\n${list}\nMigrate anyway?`))) {
      io.err(`ferry: ${request.vm} → ${request.to} stopped on ${warnings.warnings.length} warning(s); review them and rerun with --yes to accept:\n${list}`);
      return undefined;
    }
    const answer = await client.sequenced<unknown>("POST", "/migrations", { ...request, acceptWarnings: warnings.warnings.map((w) => w.code) });
    return { task: taskOf(answer.body), watchFrom: answer.sequence };
  }
}

/** After a migration was created: print it, and with --watch follow it to its report. */
async function followMigration(client: ApiClient, io: CliIo, setStatus: SetStatus, created: { task: Task; watchFrom: number }, opts: { json?: true; watch?: true }): Promise<void> {
  const { task, watchFrom } = created;
  if (opts.json === true && opts.watch !== true) printJson(io, task);
  else if (opts.json !== true) {
    io.out(`migration ${task.id}: ${task.vm} ${task.source} → ${task.destination} queued${opts.watch === true ? "" : ` (follow it: ferry tasks ${task.id} --watch)`}`);
    const prediction = task.body.prediction;
    if (prediction !== undefined) io.out(predictionText(prediction));
  }
  if (opts.watch !== true) {
    setStatus(ExitStatus.ok);
    return;
  }
  const report = await watchTask(client, io, task.id, opts.json === true, watchFrom);
  if (report === undefined) {
    io.err(`ferry: stopped watching; migration ${task.id} goes on (ferry tasks ${task.id} --watch)`);
    setStatus(ExitStatus.ok);
    return;
  }
  if (opts.json !== true) io.out(reportText(report));
  setStatus(migratedFine(report) ? ExitStatus.ok : ExitStatus.refused);
}

export function registerMigrateCommands(program: Command, io: CliIo, setStatus: SetStatus): void {
  const migrate = program
    .command("migrate")
    .description("migrate a running VM to another host, live (the seed's Migrate wizard); `migrate resolve` decides one that needs attention")
    .argument("<vm>", "the VM")
    .option("--to <host>", "the target host (required)")
    .option("--pool <pool>", "target resource pool (default: the VM's own when it belongs to the target)")
    .addOption(new Option("--priority <priority>", "high reserves CPU and memory on both hosts or refuses; low always proceeds, maybe slower").choices(["high", "low"] as const).default("high" as const))
    .option("--downtime-ms <n>", "the longest pause the VM may see at switchover (default 300)", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 600_000) throw new FerryError(ErrorCode.usage, `--downtime-ms takes a whole number of milliseconds from 1 to 600000, got "${v}"`);
      return n;
    })
    .option("--bandwidth-mbps <n>", "cap the migration stream, 1 to 400000 Mb/s (default: the VMotion NIC's speed)", (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 1 || n > 400_000) throw new FerryError(ErrorCode.usage, `--bandwidth-mbps takes a number of Mb/s from 1 to 400000, got "${v}"`);
      return n;
    })
    .option("--no-auto-converge", "fail instead of throttling a guest that dirties memory faster than the link (as --convergence fail)")
    .option("--convergence <policy>", "when pre-copy does not fit the downtime limit: auto-converge (throttle the guest; default: the cluster's), post-copy-after=N (run on the destination after N passes: the VM is lost if the destination fails during post-copy) or fail", (v) => parseConvergencePolicy(v))
    .addOption(new Option("--encryption <setting>", "encrypted VMotion for this move; only the clusters' setting or stronger (default: the clusters')").choices(["required", "opportunistic", "disabled"] as const))
    .option("-y, --yes", "accept the warnings the check finds (otherwise they stop the migration, or are asked about)")
    .option("-w, --watch", "follow the migration to its end with a live progress line and a closing report")
    .option("--json", "print the task (and, with --watch, each event and the report) as JSON")
    .option("--controller <url>", "the controller (default: FERRY_URL, or the one `ferry up` started)")
    .option("--token <token>", "API token (default: FERRY_TOKEN, or the one `ferry up` saved)")
    .action(async (vm, opts) => {
      if (opts.to === undefined) throw new FerryError(ErrorCode.usage, `ferry migrate ${vm} needs --to HOST, the target host`);
      const client = controllerClient(opts);
      const request = { vm, to: opts.to, pool: opts.pool, priority: opts.priority, downtimeMs: opts.downtimeMs, bandwidthMbps: opts.bandwidthMbps, autoConverge: opts.autoConverge, convergence: opts.convergence, vmotionEncryption: opts.encryption, acceptWarnings: opts.yes === true ? ("all" as const) : undefined };
      const created = await createMigration(client, io, request);
      if (created === undefined) setStatus(ExitStatus.refused);
      else await followMigration(client, io, setStatus, created, opts);
    });
  // `migrate` has --controller, --token and --json too: after `resolve` they may land on either.
  registerResolveCommand(migrate, () => migrate.opts(), io, setStatus);
  registerTaskCommands(program, io, setStatus);
}

function registerResolveCommand(migrate: CommandUnknownOpts, parentOpts: () => { json?: true; controller?: string; token?: string }, io: CliIo, setStatus: SetStatus): void {
  migrate
    .command("resolve")
    .description("decide where a migration that needs attention ends: only the host that holds the VM's ownership record may run it")
    .argument("<task>", "the migration's id")
    .requiredOption("--run-on <host>", "the host to run the VM on (its source or destination); refused unless it holds the VM's ownership record")
    .option("--json", "print the settled task as JSON")
    .option("--controller <url>", "the controller")
    .option("--token <token>", "API token")
    .action(async (id, opts) => {
      const parent = parentOpts();
      const json = opts.json === true || parent.json === true;
      const client = controllerClient({ controller: opts.controller ?? parent.controller, token: opts.token ?? parent.token });
      const task = taskOf(await client.post<unknown>(`/migrations/${encodeURIComponent(id)}/resolve`, { runOn: opts.runOn }));
      if (json) printJson(io, task);
      else {
        const report = task.body.report;
        io.out(`${task.id}: ${task.vm} ${task.state}${report === undefined ? "" : `; it runs on ${report.runningOn}`}`);
        if (report !== undefined) io.out(reportText(report));
      }
      setStatus(ExitStatus.ok);
    });
}

/** `ferry tasks` and `ferry abort`. */
function registerTaskCommands(program: Command, io: CliIo, setStatus: SetStatus): void {
  program
    .command("tasks")
    .description("every task, newest first: operations (power, settings, host networking, tokens, imports, DRS, maintenance) and migrations, with who, when, state and result; or one migration, optionally followed live")
    .argument("[id]", "one migration task's id")
    .option("--object <name>", "only tasks on this VM, host, cluster, template, token or DRS rule")
    .option("--vm <vm>", "only this VM's (as --object)")
    .option("--user <token>", "only tasks this token's name started")
    .option("--state <states>", "only these states, comma-separated: running, succeeded, failed, cancelled")
    .option("--kind <kind>", "all (default), operation or migration")
    .option("--limit <n>", "at most this many (1–500)", "20")
    .option("-w, --watch", "follow the task to its end")
    .option("--json", "print as JSON")
    .option("--controller <url>", "the controller")
    .option("--token <token>", "API token")
    .action(async (id, opts) => {
      const client = controllerClient(opts);
      if (id !== undefined) {
        const { body, sequence } = await client.sequenced<unknown>("GET", `/migrations/${encodeURIComponent(id)}`);
        const task = taskOf(body);
        if (opts.watch === true && !TERMINAL_PHASES.has(task.state)) {
          const report = await watchTask(client, io, id, opts.json === true, sequence);
          if (report !== undefined && opts.json !== true) io.out(reportText(report));
          setStatus(report === undefined || migratedFine(report) ? ExitStatus.ok : ExitStatus.refused);
          return;
        }
        if (opts.json === true) printJson(io, task);
        else io.out(taskText(task));
        setStatus(ExitStatus.ok);
        return;
      }
      const tasks = await listTasks(client, opts);
      if (opts.json === true) printJson(io, tasks);
      else io.out(tasks.length === 0 ? "no tasks" : tasksListTable(tasks, io.isTty));
      setStatus(ExitStatus.ok);
    });

  program
    .command("abort")
    .description("abort a migration: the VM keeps running on its source")
    .argument("<id>", "the task's id")
    .option("--controller <url>", "the controller")
    .option("--token <token>", "API token")
    .action(async (id, opts) => {
      const task = taskOf(await controllerClient(opts).delete<unknown>(`/migrations/${encodeURIComponent(id)}`));
      io.out(`aborting ${task.id} (${task.vm}); it keeps running on ${task.source}`);
      setStatus(ExitStatus.ok);
    });
}
