// The docked "Recent tasks" panel on every page: each running and past migration, kept live by
// SSE task events. The bar moves by phase as the seed's progress dialog does — setup up to
// about 10%, pre-copy to about 90%, then the quiesced final copy — with the rate, the time
// left, and plain words when a migration is not converging or has failed. Running ones can be
// aborted by users who may migrate.
import { Alert, Button, Label, Progress, ProgressMeasureLocation, ProgressVariant, Title } from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "../table.tsx";
import { useCallback, useEffect, useRef, useState } from "react";
import { apiGetSequenced, apiSend, messageOf, seg } from "../api.ts";
import { useFerryEvents, type FerryEvent } from "../events.ts";
import { AbortConfirm } from "../vms/Confirm.tsx";
import { hrefs } from "../router.ts";
import { useSession } from "../session.tsx";
import type { Task } from "../types.ts";
import { failureWords, formatDuration, formatRate, phaseWords, TERMINAL, whereItIs } from "./format.ts";
import { applyEvent, completionWarning, convergenceWarning, fromTask, parseTasks, type LiveTask } from "./live.ts";
import { NO_FILTER, useLiveOperations, type Operation, type TaskFilter } from "./operations.ts";
import { TaskStateLabel, targetHref } from "./TasksPage.tsx";
import "./tasks.css";

const SHOWN = 10;

/** The tasks, kept newest first and updated by every event. */
export function useLiveTasks(limit: number): { tasks: LiveTask[]; error: string | null } {
  const [tasks, setTasks] = useState<ReadonlyMap<string, LiveTask>>(new Map());
  const [error, setError] = useState<string | null>(null);
  const refetchTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  // The latest map, read and written synchronously by the loader and the event handler, so
  // neither overwrites the other with a stale copy (state updaters run later).
  const latest = useRef(tasks);
  // The event sequence the first list was read at: the stream starts after it (list-then-watch).
  const [watchFrom, setWatchFrom] = useState<number | null>(null);
  const [failures, setFailures] = useState(0);

  const load = useCallback(async (): Promise<void> => {
    try {
      const { body, sequence } = await apiGetSequenced<unknown>(`/migrations?limit=${String(limit)}`);
      const list = parseTasks(body);
      setWatchFrom((from) => from ?? sequence);
      const next = new Map(latest.current);
      for (const task of list) {
        const fresh = fromTask(task);
        const known = next.get(task.id);
        // Events may have moved a task past its stored row: keep the furthest.
        next.set(task.id, known !== undefined && known.percent > fresh.percent && fresh.report === null ? known : fresh);
      }
      latest.current = next;
      setTasks(next);
      setError(null);
    } catch (e) {
      setError(`Cannot load the recent tasks: ${messageOf(e)}`);
      setFailures((n) => n + 1);
    }
  }, [limit]);

  // Until a first list arrives there is no stream to bring news: ask again every 2 s.
  useEffect(() => {
    if (watchFrom !== null || failures === 0) return undefined;
    const retry = setTimeout(() => {
      void load();
    }, 2000);
    return () => {
      clearTimeout(retry);
    };
  }, [watchFrom, failures, load]);

  useEffect(() => {
    void load();
    return () => {
      if (refetchTimer.current !== null) clearTimeout(refetchTimer.current);
    };
  }, [load]);

  useFerryEvents((event: FerryEvent) => {
    // Hosts' liveness and reconciliation events (task id host:NAME) and operations' (op:ID) are no migration's.
    if (event.taskId.startsWith("host:") || event.type === "operation") return;
    const known = latest.current.get(event.taskId);
    const updated = applyEvent(known, event);
    if (updated === undefined) {
      // An event of a task this page has not seen (it started before the list was loaded).
      if (refetchTimer.current === null) {
        refetchTimer.current = setTimeout(() => {
          refetchTimer.current = null;
          void load();
        }, 300);
      }
      return;
    }
    if (updated === known) return;
    const next = new Map(latest.current);
    next.set(event.taskId, updated);
    latest.current = next;
    setTasks(next);
  }, { after: watchFrom }, () => {
    // Events this page needed were pruned: the list is read again; the stream goes on.
    void load();
  });

  const sorted = [...tasks.values()].sort((a, b) => b.createdAt - a.createdAt || b.id.localeCompare(a.id));
  return { tasks: sorted, error };
}

/** What the row says beside the bar: waiting, not converging, failed, or how it went. */
function statusMessage(task: LiveTask): { text: string; tone: "danger" | "warning" | "info" | "success" } | null {
  if (task.report !== null && task.report.failure !== undefined && task.state !== "completed") {
    return { text: `${failureWords(task.report.failure.code)}. ${task.report.failure.message}. ${whereItIs(task)}.`, tone: task.state === "cancelled" ? "warning" : "danger" };
  }
  const warned = completionWarning(task);
  if (task.state === "completed" && task.report !== null && warned !== null) return { text: `Moved in ${formatDuration(task.report.totalMs)}, but: ${warned}`, tone: "warning" };
  if (task.state === "completed" && task.report !== null) return { text: `Moved in ${formatDuration(task.report.totalMs)}, ${String(task.report.passes)} pass${task.report.passes === 1 ? "" : "es"}, downtime ${formatDuration(task.report.downtimeMs)}`, tone: "success" };
  const converging = convergenceWarning(task);
  if (converging !== null) return { text: converging, tone: "warning" };
  if (task.state === "queued" && task.waitingReason !== null && task.waitingReason !== "") return { text: task.waitingReason, tone: "info" };
  if (task.prediction !== null && !task.prediction.converges && !TERMINAL.has(task.state)) return { text: `Predicted not to converge: ${task.prediction.note}`, tone: "warning" };
  return null;
}

function variantOf(task: LiveTask): ProgressVariant | undefined {
  const state = task.state;
  if (state === "completed") return completionWarning(task) === null ? ProgressVariant.success : ProgressVariant.warning;
  if (state === "failed") return ProgressVariant.danger;
  if (state === "cancelled") return ProgressVariant.warning;
  return undefined;
}

export function TaskProgress({ task }: { task: LiveTask }) {
  const running = !TERMINAL.has(task.state);
  const variant = variantOf(task);
  const words = phaseWords(task.state, task.progress?.pass);
  const wordsId = `ferry-task-phase-${task.id}`;
  // The phase in words sits above the bar and describes it; the bar's own name says whose it
  // is (PatternFly's title would become the bar's name instead).
  return (
    <div className={running ? "ferry-task-progress ferry-task-running" : "ferry-task-progress"}>
      <div id={wordsId} className="ferry-task-phase">
        {words}
      </div>
      <Progress
        value={Math.round(task.percent)}
        size="sm"
        measureLocation={ProgressMeasureLocation.outside}
        aria-label={`Progress of ${task.vm}`}
        aria-describedby={wordsId}
        valueText={`${String(Math.round(task.percent))}%: ${words}`}
        {...(variant === undefined ? {} : { variant })}
      />
    </div>
  );
}

function TaskRow({ task, canAbort, onError }: { task: LiveTask; canAbort: boolean; onError: (message: string | null) => void }) {
  const [aborting, setAborting] = useState(false);
  const running = !TERMINAL.has(task.state);
  const message = statusMessage(task);
  const p = task.progress;
  const rate = running && p !== null && p.linkRateBytesPerSec > 0 && (task.state === "precopy" || task.state === "switchover") ? formatRate(p.linkRateBytesPerSec) : "—";
  const eta = running && p?.etaMs !== undefined ? formatDuration(p.etaMs) : "—";
  const [asking, setAsking] = useState(false);
  const abort = (): void => {
    setAsking(false);
    setAborting(true);
    onError(null);
    apiSend<Task>("DELETE", `/migrations/${seg(task.id)}`).catch((e: unknown) => {
      onError(`Cannot abort the migration of ${task.vm}: ${messageOf(e)}`);
      setAborting(false);
    });
  };
  return (
    <Tr aria-label={`Migration of ${task.vm} to ${task.destination}`} data-task-id={task.id} data-state={task.state}>
      <Td dataLabel="Target">
        {task.vm}
        {(task.report?.warnings ?? []).map((w) => (
          <Label key={w.code} color="orange" isCompact className="ferry-task-warning" title={w.message}>
            {w.code}
          </Label>
        ))}
      </Td>
      <Td dataLabel="Task">
        Migrate {task.source} → {task.destination}
      </Td>
      <Td dataLabel="Status" className="ferry-task-progress-cell">
        <TaskProgress task={task} />
        {message !== null && <div className={`ferry-task-message ferry-task-message-${message.tone}`}>{message.text}</div>}
      </Td>
      <Td dataLabel="Rate">{rate}</Td>
      <Td dataLabel="Time left">{eta}</Td>
      <Td dataLabel="Actions" isActionCell>
        <div className="ferry-task-actions">
          <Button component="a" variant="link" isInline href={hrefs.task(task.id)} aria-label={`Details of the migration of ${task.vm}`}>
            Details
          </Button>
          {running && canAbort && (
            <Button variant="secondary" isDanger size="sm" onClick={() => { setAsking(true); }} isDisabled={aborting} aria-label={`Abort the migration of ${task.vm}`}>
              {aborting ? "Aborting…" : "Abort"}
            </Button>
          )}
          {asking && <AbortConfirm task={task} onConfirm={abort} onCancel={() => { setAsking(false); }} />}
        </div>
      </Td>
    </Tr>
  );
}

/** An operation's row (power, settings, networking, tokens, import, DRS, maintenance): its target, name, state and result, who and when. */
function OperationRow({ op }: { op: Operation }) {
  const href = targetHref(op);
  const target = op.object?.name ?? "—";
  const tone = op.state === "failed" ? "danger" : op.state === "cancelled" ? "warning" : "info";
  return (
    <Tr aria-label={`${op.title} on ${target}`} data-operation-id={op.id} data-state={op.state}>
      <Td dataLabel="Target">{href === undefined ? target : <a href={href}>{target}</a>}</Td>
      <Td dataLabel="Task">{op.title}</Td>
      <Td dataLabel="Status" className="ferry-task-progress-cell">
        <TaskStateLabel op={op} />
        <div className={`ferry-task-message ferry-task-message-${tone}`}>
          {[op.result ?? "", op.errorCode ?? ""].filter((w) => w !== "").join(" · ")}
          {op.initiator !== null && <span className="ferry-task-initiator"> — by {op.initiator}, {new Date(op.startedAt).toLocaleTimeString()}</span>}
        </div>
      </Td>
      <Td dataLabel="Rate">—</Td>
      <Td dataLabel="Time left">—</Td>
      <Td dataLabel="Actions" isActionCell />
    </Tr>
  );
}

type PanelRow = { readonly at: number; readonly kind: "migration"; readonly task: LiveTask } | { readonly at: number; readonly kind: "operation"; readonly op: Operation };

const OPERATIONS_ONLY: TaskFilter = { ...NO_FILTER, kind: "operation" };

export function TasksPanel() {
  const session = useSession();
  const { tasks, error } = useLiveTasks(25);
  const operations = useLiveOperations(OPERATIONS_ONLY, 25);
  const [actionError, setActionError] = useState<string | null>(null);
  // Migrations and operations together, newest first, the latest SHOWN of them.
  const rows: PanelRow[] = [...tasks.map((task): PanelRow => ({ at: task.createdAt, kind: "migration", task })), ...operations.tasks.map((op): PanelRow => ({ at: op.startedAt, kind: "operation", op }))].sort((a, b) => b.at - a.at).slice(0, SHOWN);
  const shown = rows;
  const running = tasks.filter((t) => !TERMINAL.has(t.state)).length + operations.tasks.filter((op) => op.state === "running").length;
  return (
    <section aria-labelledby="ferry-recent-tasks-title" className="ferry-tasks">
      <Title headingLevel="h2" id="ferry-recent-tasks-title" size="lg">
        Recent tasks{running > 0 ? ` (${String(running)} running)` : ""}
      </Title>
      {error !== null && <Alert variant="danger" isInline isPlain title={error} />}
      {actionError !== null && (
        <Alert variant="danger" isInline title={actionError} actionClose={<Button variant="plain" aria-label="Dismiss" onClick={() => { setActionError(null); }}>×</Button>} />
      )}
      <a href={hrefs.tasks()} className="ferry-all-tasks">
        All tasks
      </a>
      {operations.error !== null && <Alert variant="danger" isInline isPlain title={operations.error} />}
      {shown.length === 0 && error === null && <p className="ferry-muted">No tasks yet. Choose a VM and “Migrate…”, or power it, to start one.</p>}
      {shown.length > 0 && (
        <Table aria-label="Recent tasks" variant="compact">
          <Thead>
            <Tr>
              <Th>Target</Th>
              <Th>Task</Th>
              <Th width={40}>Status</Th>
              <Th>Rate</Th>
              <Th>Time left</Th>
              <Th screenReaderText="Actions" />
            </Tr>
          </Thead>
          <Tbody>
            {shown.map((row) => (row.kind === "migration" ? <TaskRow key={row.task.id} task={row.task} canAbort={session.canEdit} onError={setActionError} /> : <OperationRow key={row.op.id} op={row.op} />))}
          </Tbody>
        </Table>
      )}
    </section>
  );
}
