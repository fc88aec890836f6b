// `ferry tasks` without an id: every task, as the web's Tasks page lists them — operations
// (power, settings, host networking, tokens, imports, DRS, maintenance) and migrations, newest
// first, with who started each, when it started and ended, its state and its result; filtered by
// object, user, state and kind. `ferry tasks ID` (one migration, followed live) is migrate.ts's.
import { styleText } from "node:util";
import Table from "cli-table3";
import type { ApiClient } from "../../api/client.ts";
import { OperationSchema, OperationState, type Operation } from "../../api/schemas.ts";
import { ErrorCode, FerryError } from "../../core/errors.ts";

export interface TaskListOptions {
  readonly object?: string | undefined;
  /** The old name of --object, for a VM's migrations. */
  readonly vm?: string | undefined;
  readonly user?: string | undefined;
  readonly state?: string | undefined;
  readonly kind?: string | undefined;
  readonly limit: string;
}

const STATES: ReadonlySet<string> = new Set(Object.values(OperationState));
const KINDS: ReadonlySet<string> = new Set(["all", "operation", "migration"]);

/** The list's query, or a usage error naming what is wrong. */
export function taskListQuery(opts: TaskListOptions): URLSearchParams {
  const limit = Number(opts.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new FerryError(ErrorCode.usage, `--limit takes a whole number from 1 to 500, got "${opts.limit}"`);
  if (opts.object !== undefined && opts.vm !== undefined && opts.object !== opts.vm) throw new FerryError(ErrorCode.usage, "give --object or --vm, not both");
  const query = new URLSearchParams({ limit: String(limit) });
  const object = opts.object ?? opts.vm;
  if (object !== undefined) query.set("object", object);
  if (opts.user !== undefined) query.set("user", opts.user);
  if (opts.state !== undefined) {
    const bad = opts.state.split(",").find((s) => !STATES.has(s.trim()));
    if (bad !== undefined) throw new FerryError(ErrorCode.usage, `--state takes running, succeeded, failed or cancelled (comma-separated), got "${bad}"`);
    query.set("state", opts.state);
  }
  if (opts.kind !== undefined) {
    if (!KINDS.has(opts.kind)) throw new FerryError(ErrorCode.usage, `--kind takes all, operation or migration, got "${opts.kind}"`);
    query.set("kind", opts.kind);
  }
  return query;
}

const time = (at: number | null): string => (at === null ? "-" : new Date(at).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z"));

/** The task's name with a migration's hosts: "Migrate esx01 → esx02". */
export function taskName(op: Operation): string {
  return op.migration === null ? op.title : `${op.title} ${op.migration.source} → ${op.migration.destination}`;
}

/** The state, with a migration's phase when it says more (running (precopy 40%), succeeded (completed)). */
export function taskState(op: Operation): string {
  if (op.migration === null) return op.state;
  if (op.state === OperationState.running) return `running (${op.migration.phase} ${op.migration.percent.toFixed(0)}%)`;
  return op.migration.phase === op.state ? op.state : `${op.state} (${op.migration.phase})`;
}

export function taskResult(op: Operation): string {
  const result = op.result ?? "";
  return op.errorCode === null ? result : `${op.errorCode}${result === "" ? "" : `: ${result}`}`;
}

export function tasksListTable(ops: readonly Operation[], tty: boolean): string {
  const table = new Table({ head: ["id", "task", "target", "state", "by", "started", "ended", "result"], style: { head: [], border: [] } });
  for (const op of ops) {
    const state = taskState(op);
    const painted = !tty ? state : op.state === OperationState.failed ? styleText("red", state) : op.state === OperationState.cancelled ? styleText("yellow", state) : state;
    table.push([op.id, taskName(op), op.object === null ? "-" : op.object.name, painted, op.initiator ?? "-", time(op.startedAt), time(op.endedAt), taskResult(op)]);
  }
  return table.toString();
}

export async function listTasks(client: ApiClient, opts: TaskListOptions): Promise<Operation[]> {
  return OperationSchema.array().parse(await client.get<unknown>(`/operations?${taskListQuery(opts).toString()}`));
}
