// `ferry drs recommend|apply|config|rules` (issue 14): a cluster's recommendations with why,
// what each gains (σ before → after) and costs (predicted GB, time, downtime), the VMs that
// cannot move and why; applying them; the cluster's automation level and threshold; rules.
import type { Command } from "@commander-js/extra-typings";
import type { DrsApplyResult, DrsRun, DrsView } from "../../api/schemas.ts";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { DrsRuleSchema, type DrsRuleSetting } from "../../core/inventory/schema.ts";
import { controllerClient, type ControllerOptions } from "../controller.ts";
import { ExitStatus, printJson, type CliIo } from "../io.ts";
import type { SetStatus } from "./index.ts";
import { api, table } from "./manage.ts";
import { registerMaintenanceCommand } from "./drs-maintenance.ts";
import { followTasks, gigabytes, seconds } from "./drs-text.ts";

const enc = encodeURIComponent;

/** What an inventory edit answers (ChangedSchema). */
interface Changed {
  readonly changed: readonly string[];
  readonly generation: number;
}
const sigma = (n: number): string => n.toFixed(3);

/** The recommendations table and the unmovable VMs, as `ferry drs recommend` prints them. */
export function drsViewText(view: DrsView): string {
  const lines = [`cluster ${view.cluster}: automation ${view.config.automation}, threshold ${view.config.threshold}; σ ${sigma(view.imbalance)} (target ${sigma(view.targetImbalance)}) → ${sigma(view.imbalanceAfter)} after ${view.recommendations.length} move(s)`, view.basis.text];
  if (view.recommendations.length === 0) lines.push("no recommendations: the cluster is balanced and keeps its rules");
  else {
    lines.push(
      table(
        ["id", "VM", "from → to", "reason", "σ before → after", "GB", "time", "downtime"],
        view.recommendations.map((r) => [r.id, r.vm, `${r.from} → ${r.to}`, `${r.reason.kind}: ${r.reason.text}`, `${sigma(r.gain.imbalanceBefore)} → ${sigma(r.gain.imbalanceAfter)}`, gigabytes(r.cost.bytes), seconds(r.cost.totalMs), `${Math.round(r.cost.downtimeMs)} ms`]),
      ),
    );
  }
  if (view.unmovable.length > 0) lines.push("VMs that stay where they are:", table(["VM", "why"], view.unmovable.map((u) => [u.vm, u.reason])));
  return lines.join("\n");
}

function appliedText(result: DrsApplyResult): string {
  const lines = result.started.map((s) => `started ${s.vm}: ${s.from} → ${s.to} (migration ${s.migration}, recommendation ${s.id})`);
  for (const s of result.skipped) lines.push(`skipped ${s.id}: ${s.reason}`);
  return lines.length === 0 ? "nothing to apply" : lines.join("\n");
}

function parseThreshold(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 5) throw new FerryError(ErrorCode.usage, `--threshold takes 1 (rule fixes and maintenance only) to 5 (aggressive), got "${text}"`);
  return n;
}

function parseAutomation(text: string): "manual" | "partial" | "full" {
  if (text === "manual" || text === "partial" || text === "full") return text;
  throw new FerryError(ErrorCode.usage, `--automation takes manual, partial or full, got "${text}"`);
}

const list = (text: string): string[] => text.split(",").map((s) => s.trim()).filter((s) => s.length > 0);

export function registerDrsCommands(program: Command, io: CliIo, setStatus: SetStatus): void {
  const drs = program.command("drs").description("DRS: balance clusters by live migration, with every move's reason, gain and cost");
  api(drs.command("recommend").description("a cluster's recommendations: VM, from → to, reason, σ before → after, predicted GB, time and downtime; then the VMs that cannot move and why").argument("<cluster>", "the cluster")).action(async (cluster: string, opts: ControllerOptions & { json?: boolean }) => {
    const view = await controllerClient(opts).get<DrsView>(`/clusters/${enc(cluster)}/drs`);
    if (opts.json === true) printJson(io, view);
    else io.out(drsViewText(view));
    setStatus(ExitStatus.ok);
  });

  api(
    drs
      .command("apply")
      .description("apply recommendations by id (or every current one of a cluster with --all): each starts a live migration")
      .argument("[ids...]", "recommendation ids, as `ferry drs recommend` lists them")
      .option("--all <cluster>", "every recommendation of this cluster, made now")
      .option("--wait", "follow the migrations until they end"),
  ).action(async (ids: string[], opts: ControllerOptions & { json?: boolean; all?: string; wait?: boolean }) => {
    if ((ids.length === 0) === (opts.all === undefined)) throw new FerryError(ErrorCode.usage, "give recommendation ids, or --all CLUSTER (not both)");
    const client = controllerClient(opts);
    const wanted = opts.all === undefined ? ids : (await client.get<DrsView>(`/clusters/${enc(opts.all)}/drs`)).recommendations.map((r) => r.id);
    const result: DrsApplyResult = wanted.length === 0 ? { started: [], skipped: [] } : await client.post<DrsApplyResult>("/drs/apply", { ids: wanted });
    if (opts.json !== true) io.out(appliedText(result));
    const ended = opts.wait === true ? await followTasks(client, result.started.map((s) => ({ vm: s.vm, migration: s.migration })), opts.json === true ? undefined : io) : [];
    if (opts.json === true) printJson(io, opts.wait === true ? { ...result, ended } : result);
    setStatus(result.skipped.length > 0 || ended.some((t) => t.state !== "completed") ? ExitStatus.refused : ExitStatus.ok);
  });

  api(
    drs
      .command("config")
      .description("a cluster's DRS settings; with options, change them")
      .argument("<cluster>", "the cluster")
      .option("--automation <level>", "manual (approve each move), partial (initial placement only) or full (apply automatically)", parseAutomation)
      .option("--threshold <n>", "1 (rule fixes and maintenance only) to 5 (aggressive)", parseThreshold),
  ).action(async (cluster: string, opts: ControllerOptions & { json?: boolean; automation?: string; threshold?: number }) => {
    const client = controllerClient(opts);
    const change = { ...(opts.automation === undefined ? {} : { automation: opts.automation }), ...(opts.threshold === undefined ? {} : { threshold: opts.threshold }) };
    const config = Object.keys(change).length === 0 ? (await client.get<DrsView>(`/clusters/${enc(cluster)}/drs`)).config : await client.put<DrsView["config"]>(`/clusters/${enc(cluster)}/drs`, change);
    if (opts.json === true) printJson(io, config);
    else io.out(`cluster ${cluster}: automation ${config.automation}, threshold ${config.threshold}, at most ${config.maxMovesPerRun} moves per run and ${config.maxMovesPerHost} per host`);
    setStatus(ExitStatus.ok);
  });

  registerRuleCommands(drs, io, setStatus);
  registerRunCommand(drs, io, setStatus);
  registerMaintenanceCommand(program, io, setStatus);
}

function registerRunCommand(drs: Command, io: CliIo, setStatus: SetStatus): void {
  api(drs.command("run").description("run DRS now: fresh recommendations; a fully automated cluster starts their moves").argument("<cluster>", "the cluster")).action(async (cluster: string, opts: ControllerOptions & { json?: boolean }) => {
    const run = await controllerClient(opts).post<DrsRun>(`/clusters/${enc(cluster)}/drs/run`, {});
    if (opts.json === true) printJson(io, run);
    else io.out([drsViewText(run), ...(run.started.length + run.skipped.length > 0 ? [appliedText(run)] : [])].join("\n"));
    setStatus(ExitStatus.ok);
  });
}

/** A rule from `ferry drs rules add` options, checked by the same schema the controller uses. */
function ruleOf(name: string, opts: { kind: string; vms: string; hosts?: string; must?: boolean; not?: boolean; disabled?: boolean }): DrsRuleSetting {
  const base = { name, vms: list(opts.vms), enabled: opts.disabled !== true };
  const candidate = opts.kind === "vm-host" ? { ...base, kind: "vm-host", hosts: list(opts.hosts ?? ""), mandatory: opts.must === true, affine: opts.not !== true } : { ...base, kind: opts.kind };
  const parsed = DrsRuleSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FerryError(ErrorCode.usage, `rule ${name}: ${issue === undefined ? "invalid" : `${issue.path.join(".") || "kind"}: ${issue.message}`} (--kind is vm-affinity, vm-anti-affinity or vm-host; vm-host needs --hosts)`);
  }
  return parsed.data;
}

function ruleWords(rule: DrsRuleSetting): string {
  const state = rule.enabled ? "" : " (disabled)";
  if (rule.kind === "vm-host") return `${rule.vms.join(", ")} ${rule.mandatory ? "must" : "should"}${rule.affine ? "" : " not"} run on ${rule.hosts.join(", ")}${state}`;
  return `${rule.vms.join(", ")} ${rule.kind === "vm-affinity" ? "kept together" : "kept apart"}${state}`;
}

function registerRuleCommands(drs: Command, io: CliIo, setStatus: SetStatus): void {
  const rules = drs.command("rules").description("DRS rules: VM-VM affinity and anti-affinity, VM-host must/should");
  api(rules.command("list").description("every DRS rule")).action(async (opts: ControllerOptions & { json?: boolean }) => {
    const all = await controllerClient(opts).get<DrsRuleSetting[]>("/drs/rules");
    if (opts.json === true) printJson(io, all);
    else io.out(all.length === 0 ? "no DRS rules" : table(["rule", "kind", "what"], all.map((r) => [r.name, r.kind, ruleWords(r)])));
    setStatus(ExitStatus.ok);
  });
  api(
    rules
      .command("add")
      .description("add (or replace) a rule")
      .argument("<name>", "the rule's name")
      .requiredOption("--kind <kind>", "vm-affinity, vm-anti-affinity or vm-host")
      .requiredOption("--vms <vms>", "the VMs, comma-separated")
      .option("--hosts <hosts>", "vm-host: the hosts, comma-separated")
      .option("--must", "vm-host: a must rule (default should)")
      .option("--not", "vm-host: must/should NOT run on the hosts")
      .option("--disabled", "store it disabled"),
  ).action(async (name: string, opts: ControllerOptions & { json?: boolean; kind: string; vms: string; hosts?: string; must?: boolean; not?: boolean; disabled?: boolean }) => {
    const rule = ruleOf(name, opts);
    done(io, setStatus, opts.json, await controllerClient(opts).put<Changed>(`/drs/rules/${enc(name)}`, rule), `rule ${name}: ${ruleWords(rule)}`);
  });
  api(rules.command("remove").description("remove a rule").argument("<name>", "the rule's name")).action(async (name: string, opts: ControllerOptions & { json?: boolean }) => {
    done(io, setStatus, opts.json, await controllerClient(opts).delete<Changed>(`/drs/rules/${enc(name)}`), `rule ${name} removed`);
  });
}

function done(io: CliIo, setStatus: SetStatus, json: boolean | undefined, answer: Changed, words: string): void {
  if (json === true) printJson(io, answer);
  else io.out(words);
  setStatus(ExitStatus.ok);
}
