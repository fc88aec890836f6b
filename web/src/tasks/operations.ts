// Operations as the UI follows them: the list (GET /api/operations: every operation and
// migration, newest first) brought up to date by the stream — an `operation` event starts or
// ends one; a migration's progress moves its phase and percent; its report ends it. An ended
// operation never goes back to running when a replayed start arrives after its end. Parsed with
// the core's schema (src/core/operations/schema.ts), as the server answers it.
import { useCallback, useEffect, useRef, useState } from "react";
import { ErrorCode } from "../../../src/core/errors.ts";
import { OperationSchema, OperationState, type Operation } from "../../../src/core/operations/schema.ts";
import { migrationState } from "../../../src/core/operations/migrations.ts";
import { ApiError, apiGetSequenced, messageOf } from "../api.ts";
import { useFerryEvents, type FerryEvent } from "../events.ts";

export type { Operation };

export interface TaskFilter {
  readonly object: string;
  readonly user: string;
  /** "" for every state. */
  readonly state: "" | OperationState;
  readonly kind: "all" | "operation" | "migration";
}

export const NO_FILTER: TaskFilter = { object: "", user: "", state: "", kind: "all" };

export function parseOperations(value: unknown): Operation[] {
  const parsed = OperationSchema.array().safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ApiError(200, ErrorCode.internal, `the controller answered tasks this page cannot read (${issue === undefined ? "invalid" : `${issue.path.join(".")}: ${issue.message}`})`);
}

/** The list's query for a filter. */
export function operationsQuery(filter: TaskFilter, limit: number, before?: number): string {
  const query = new URLSearchParams({ limit: String(limit), kind: filter.kind });
  if (filter.object.trim() !== "") query.set("object", filter.object.trim());
  if (filter.user.trim() !== "") query.set("user", filter.user.trim());
  if (filter.state !== "") query.set("state", filter.state);
  if (before !== undefined) query.set("before", String(before));
  return query.toString();
}

/** Whether a task shows under a filter (a live operation the list did not have yet). */
export function matchesFilter(op: Operation, filter: TaskFilter): boolean {
  if (filter.kind === "operation" && op.migration !== null) return false;
  if (filter.kind === "migration" && op.migration === null) return false;
  if (filter.object.trim() !== "" && op.object?.name !== filter.object.trim()) return false;
  if (filter.user.trim() !== "" && op.initiator !== filter.user.trim()) return false;
  return filter.state === "" || op.state === filter.state;
}

/**
 * The tasks after one event: an operation's start or end, a migration's progress or end.
 * `unknown` when the event is about a task the list may lack (reload it).
 */
export function applyTaskEvent(tasks: ReadonlyMap<string, Operation>, event: FerryEvent, filter: TaskFilter): ReadonlyMap<string, Operation> | "unknown" {
  switch (event.type) {
    case "operation": {
      const op = event.operation;
      const known = tasks.get(op.id);
      if (known !== undefined && known.state !== OperationState.running && op.state === OperationState.running) return tasks;
      if (known === undefined && !matchesFilter(op, filter)) return tasks;
      return new Map(tasks).set(op.id, op);
    }
    case "progress": {
      const known = tasks.get(event.taskId);
      if (known?.migration == null) return tasks;
      if (known.state !== OperationState.running) return tasks;
      // Its end: the stored row has the result and the end time (the report follows).
      if (migrationState(event.phase) !== OperationState.running) return "unknown";
      const percent = Math.max(known.migration.percent, event.percent);
      return new Map(tasks).set(known.id, { ...known, state: migrationState(event.phase), migration: { ...known.migration, phase: event.phase, percent } });
    }
    case "task":
      return tasks.has(event.taskId) ? tasks : "unknown";
    case "report":
      // The end's result and time are the stored row's words: read the list again.
      return "unknown";
    case "host":
    case "reconcile":
    case "reconciled":
      return tasks;
  }
}

const newestFirst = (a: Operation, b: Operation): number => b.startedAt - a.startedAt || b.id.localeCompare(a.id);

export interface LiveOperations {
  readonly tasks: Operation[];
  readonly error: string | null;
  readonly loading: boolean;
  /** Whether older tasks may exist beyond the last one shown. */
  readonly more: boolean;
  readonly loadOlder: () => void;
}

/** The tasks under a filter, newest first, kept live by the event stream (list-then-watch). */
export function useLiveOperations(filter: TaskFilter, limit: number): LiveOperations {
  const [tasks, setTasks] = useState<ReadonlyMap<string, Operation>>(new Map());
  const latest = useRef(tasks);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [more, setMore] = useState(false);
  const [watchFrom, setWatchFrom] = useState<number | null>(null);
  const [shown, setShown] = useState(limit);
  const reloadTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const filterRef = useRef(filter);
  filterRef.current = filter;
  const key = operationsQuery(filter, shown);

  const load = useCallback(async (): Promise<void> => {
    try {
      const { body, sequence } = await apiGetSequenced<unknown>(`/operations?${key}`);
      const list = parseOperations(body);
      setWatchFrom((from) => from ?? sequence);
      const next = new Map(list.map((op) => [op.id, op] as const));
      latest.current = next;
      setTasks(next);
      setMore(list.length >= shown);
      setError(null);
    } catch (e) {
      setError(`Cannot load the tasks: ${messageOf(e)}`);
    } finally {
      setLoading(false);
    }
  }, [key, shown]);

  useEffect(() => {
    setLoading(true);
    void load();
  }, [load]);

  useEffect(
    () => () => {
      if (reloadTimer.current !== null) clearTimeout(reloadTimer.current);
    },
    [],
  );

  useFerryEvents(
    (event) => {
      const next = applyTaskEvent(latest.current, event, filterRef.current);
      if (next === "unknown") {
        if (reloadTimer.current === null) {
          reloadTimer.current = setTimeout(() => {
            reloadTimer.current = null;
            void load();
          }, 300);
        }
        return;
      }
      if (next === latest.current) return;
      latest.current = next;
      setTasks(next);
    },
    { after: watchFrom },
    () => {
      void load();
    },
  );

  const loadOlder = useCallback(() => {
    setShown((n) => n + limit);
  }, [limit]);
  return { tasks: [...tasks.values()].sort(newestFirst), error, loading, more, loadOlder };
}
