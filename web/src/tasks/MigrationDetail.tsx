// One migration (#/tasks/:id): its phase timeline, a live uPlot chart per pre-copy pass
// (bytes remaining, dirty rate, link rate), its progress, and at the end what the engine
// predicted beside what was measured. The task comes from GET /api/migrations/{id} (which
// keeps a sample per pass) and follows its own SSE events while it runs.
import {
  Alert,
  Button,
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  Spinner,
  Title,
} from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "../table.tsx";
import { useEffect, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { apiGetSequenced, apiSend, messageOf, seg } from "../api.ts";
import { useFerryEvents } from "../events.ts";
import { AbortConfirm } from "../vms/Confirm.tsx";
import { hrefs } from "../router.ts";
import { useSession } from "../session.tsx";
import type { PassSample, Phase } from "../../../src/core/migration/types.ts";
import type { Task } from "../types.ts";
import { failureWords, warningWords, formatBytes, formatDuration, formatRate, phaseWords, TERMINAL, whereItIs } from "./format.ts";
import { applyEvent, convergenceWarning, fromTask, parseTask, type LiveTask } from "./live.ts";
import { TaskProgress } from "./TasksPanel.tsx";
import "./tasks.css";

const MiB = 1048576;
// uPlot's Axis.Side.Right: a const enum, which cannot be read under isolatedModules.
// eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment
const RIGHT = 1 as uPlot.Axis.Side;
const PHASE_ORDER = ["queued", "validating", "preparing", "precopy", "switchover"] as const;

function PassChart({ passes }: { passes: readonly PassSample[] }) {
  const target = useRef<HTMLDivElement | null>(null);
  const plot = useRef<uPlot | null>(null);
  const data: uPlot.AlignedData = [passes.map((p) => p.pass), passes.map((p) => p.bytesRemaining / MiB), passes.map((p) => (p.dirtyRateBytesPerSec * 8) / 1e6), passes.map((p) => (p.linkRateBytesPerSec * 8) / 1e6)];

  useEffect(() => {
    const element = target.current;
    if (element === null) return;
    const opts: uPlot.Options = {
      width: Math.max(480, Math.min(960, element.clientWidth || 720)),
      height: 260,
      scales: { x: { time: false }, mib: { auto: true }, mbps: { auto: true } },
      axes: [
        { label: "pre-copy pass", incrs: [1, 2, 5, 10] },
        { scale: "mib", label: "MiB remaining", size: 60 },
        { scale: "mbps", label: "Mb/s", side: RIGHT, grid: { show: false }, size: 60 },
      ],
      series: [
        { label: "pass" },
        { label: "bytes remaining (MiB)", scale: "mib", stroke: "#0066cc", width: 2, points: { show: true } },
        { label: "dirty rate (Mb/s)", scale: "mbps", stroke: "#c9190b", width: 2, points: { show: true } },
        { label: "link rate (Mb/s)", scale: "mbps", stroke: "#3e8635", width: 2, dash: [6, 4], points: { show: true } },
      ],
    };
    const chart = new uPlot(opts, [[], [], [], []], element);
    plot.current = chart;
    return () => {
      chart.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    plot.current?.setData(data);
  });

  return (
    <figure className="ferry-chart" aria-label="Per-pass chart: bytes remaining, dirty rate and link rate">
      <div ref={target} />
      {passes.length === 0 && <figcaption className="ferry-muted">No pre-copy pass yet.</figcaption>}
      {passes.length > 0 && (
        <figcaption className="ferry-muted">
          {passes.length} pass{passes.length === 1 ? "" : "es"}; after the last one {formatBytes(passes[passes.length - 1]?.bytesRemaining ?? 0)} remained for the final copy.
        </figcaption>
      )}
    </figure>
  );
}

function Timeline({ task }: { task: LiveTask }) {
  const reached = new Map(task.timeline.map((t) => [t.phase, t.at]));
  const end = TERMINAL.has(task.state) ? task.state : null;
  const phases: Phase[] = [...PHASE_ORDER, end ?? "completed"];
  const start = task.timeline[0]?.at ?? task.createdAt;
  return (
    <ol className="ferry-timeline" aria-label="Phase timeline">
      {phases.map((phase) => {
        const at = reached.get(phase);
        const done = at !== undefined;
        const failed = phase === "failed" || phase === "cancelled";
        return (
          <li key={phase} className={failed ? "ferry-timeline-failed" : done ? "ferry-timeline-done" : undefined} aria-current={task.state === phase ? "step" : undefined}>
            <strong>{phaseWords(phase).split(":")[0]}</strong>
            <span className="ferry-muted">{done ? `+${formatDuration(at - start)}` : "not reached"}</span>
          </li>
        );
      })}
    </ol>
  );
}

function PredictedVsMeasured({ task }: { task: LiveTask }) {
  const p = task.prediction;
  const r = task.report;
  if (r === null) return null;
  const rows: [string, string, string][] = [
    ["Time", p === null ? "—" : formatDuration(p.totalMs), formatDuration(r.totalMs)],
    ["Bytes", p === null ? "—" : formatBytes(p.bytes), formatBytes(r.bytesSent)],
    ["Passes", p === null ? "—" : String(p.passes), String(r.passes)],
    ["Downtime", p === null ? "—" : formatDuration(p.downtimeMs), formatDuration(r.downtimeMs)],
    ...(r.hypervisorDowntimeMs === undefined ? [] : [["Downtime (QEMU's own)", p?.hypervisorDowntimeMs === undefined ? "—" : formatDuration(p.hypervisorDowntimeMs), formatDuration(r.hypervisorDowntimeMs)] as [string, string, string]]),
    ["Stream", "—", r.encrypted === undefined ? "—" : r.encrypted ? "encrypted (TLS)" : r.bytesSent > 0 ? "in clear" : "not opened"],
  ];
  return (
    <section aria-labelledby="ferry-pvm-title">
      <Title headingLevel="h2" id="ferry-pvm-title" size="lg">
        Predicted vs measured
      </Title>
      <Table aria-label="Predicted vs measured" variant="compact">
        <Thead>
          <Tr>
            <Th screenReaderText="Measure" />
            <Th>Predicted</Th>
            <Th>Measured</Th>
          </Tr>
        </Thead>
        <Tbody>
          {rows.map(([what, predicted, measured]) => (
            <Tr key={what}>
              <Th>{what}</Th>
              <Td dataLabel="Predicted">{predicted}</Td>
              <Td dataLabel="Measured">{measured}</Td>
            </Tr>
          ))}
        </Tbody>
      </Table>
      {p !== null && (
        <p className="ferry-muted">
          The prediction: {p.note}
          {p.basis !== undefined && ` (${p.basis.text})`}
        </p>
      )}
    </section>
  );
}

export function MigrationDetail({ id }: { id: string }) {
  const session = useSession();
  const [task, setTask] = useState<LiveTask | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [abortError, setAbortError] = useState<string | null>(null);
  const [askingAbort, setAskingAbort] = useState(false);
  const latest = useRef<LiveTask | null>(null);
  // The event sequence the task was first read at: its stream starts after it (list-then-watch).
  const [watchFrom, setWatchFrom] = useState<{ readonly id: string; readonly sequence: number } | null>(null);
  // Bumped when the controller says events were pruned: the task is read again.
  const [reloads, setReloads] = useState(0);

  useEffect(() => {
    let current = true;
    latest.current = null;
    setTask(null);
    setError(null);
    apiGetSequenced<unknown>(`/migrations/${seg(id)}`).then(
      ({ body, sequence }) => {
        if (!current) return;
        const t = parseTask(body);
        setWatchFrom((from) => (from?.id === id ? from : { id, sequence }));
        const fresh = fromTask(t);
        // Events replayed before the row arrived may already be further along.
        const known = latest.current;
        const next = known !== null && known.percent > fresh.percent && fresh.report === null ? { ...known, prediction: fresh.prediction } : fresh;
        latest.current = next;
        setTask(next);
      },
      (e: unknown) => {
        if (current) setError(messageOf(e));
      },
    );
    return () => {
      current = false;
    };
  }, [id, reloads]);

  useFerryEvents(
    (event) => {
      if (event.taskId !== id) return;
      const updated = applyEvent(latest.current ?? undefined, event);
      if (updated === undefined || updated === latest.current) return;
      latest.current = updated;
      setTask(updated);
    },
    { task: id, after: watchFrom?.id === id ? watchFrom.sequence : null },
    () => {
      setReloads((n) => n + 1);
    },
  );

  if (error !== null) {
    return (
      <Alert variant="danger" isInline title={`Cannot show migration ${id}`}>
        {error}
      </Alert>
    );
  }
  if (task === null) return <Spinner size="lg" aria-label="Loading the migration" />;

  const p = task.progress;
  const running = !TERMINAL.has(task.state);
  const converging = convergenceWarning(task);
  const abort = (): void => {
    setAskingAbort(false);
    setAbortError(null);
    apiSend<Task>("DELETE", `/migrations/${seg(task.id)}`).catch((e: unknown) => {
      setAbortError(messageOf(e));
    });
  };

  return (
    <section className="ferry-detail" aria-labelledby="ferry-detail-title">
      <Title headingLevel="h1" id="ferry-detail-title">
        Migration of {task.vm}: {task.source} → {task.destination}
      </Title>
      <p className="ferry-muted">
        Task {task.id}, started {new Date(task.createdAt).toLocaleString()}. <a href={hrefs.vm(task.vm)}>Open {task.vm}</a>
      </p>
      <TaskProgress task={task} />
      {task.report?.failure != null && task.state !== "completed" && (
        <Alert variant={task.state === "cancelled" ? "warning" : "danger"} isInline title={failureWords(task.report.failure.code)}>
          {task.report.failure.message}. {whereItIs(task)}.
        </Alert>
      )}
      {task.state === "completed" && task.report !== null && (
        <Alert variant={task.report.warnings.length === 0 ? "success" : "warning"} isInline title={`${task.vm} now runs on ${task.report.runningOn}${task.report.warnings.length === 0 ? "" : ", with a warning"}`}>
          Moved in {formatDuration(task.report.totalMs)} with {formatDuration(task.report.downtimeMs)} of downtime.
          {task.report.warnings.length > 0 && (
            <ul aria-label="Warnings">
              {task.report.warnings.map((w) => (
                <li key={w.code}>
                  {warningWords(w.code)}: {w.message}
                </li>
              ))}
            </ul>
          )}
        </Alert>
      )}
      {converging !== null && <Alert variant="warning" isInline title={converging} />}
      {abortError !== null && <Alert variant="danger" isInline title={`Cannot abort: ${abortError}`} />}
      {running && session.canEdit && (
        <Button variant="secondary" isDanger onClick={() => { setAskingAbort(true); }}>
          Abort this migration
        </Button>
      )}
      {askingAbort && running && <AbortConfirm task={task} onConfirm={abort} onCancel={() => { setAskingAbort(false); }} />}
      <section aria-labelledby="ferry-timeline-title">
        <Title headingLevel="h2" id="ferry-timeline-title" size="lg">
          Phases
        </Title>
        <Timeline task={task} />
      </section>
      {p !== null && (
        <DescriptionList isHorizontal isCompact columnModifier={{ default: "2Col" }} aria-label="Progress numbers">
          <DescriptionListGroup>
            <DescriptionListTerm>Pass</DescriptionListTerm>
            <DescriptionListDescription>{p.pass}</DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>Sent</DescriptionListTerm>
            <DescriptionListDescription>{formatBytes(p.bytesSent)}</DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>Remaining</DescriptionListTerm>
            <DescriptionListDescription>{formatBytes(p.bytesRemaining)}</DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>Link rate</DescriptionListTerm>
            <DescriptionListDescription>{formatRate(p.linkRateBytesPerSec)}</DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>Dirty rate</DescriptionListTerm>
            <DescriptionListDescription>{formatRate(p.dirtyRateBytesPerSec)}</DescriptionListDescription>
          </DescriptionListGroup>
          {running && (
            <DescriptionListGroup>
              <DescriptionListTerm>Time left</DescriptionListTerm>
              <DescriptionListDescription>{formatDuration(p.etaMs)}</DescriptionListDescription>
            </DescriptionListGroup>
          )}
          {running && (
            <DescriptionListGroup>
              <DescriptionListTerm>Expected downtime</DescriptionListTerm>
              <DescriptionListDescription>{formatDuration(p.expectedDowntimeMs)}</DescriptionListDescription>
            </DescriptionListGroup>
          )}
          {running && p.message !== "" && (
            <DescriptionListGroup>
              <DescriptionListTerm>Now</DescriptionListTerm>
              <DescriptionListDescription>{p.message}</DescriptionListDescription>
            </DescriptionListGroup>
          )}
        </DescriptionList>
      )}
      <section aria-labelledby="ferry-chart-title">
        <Title headingLevel="h2" id="ferry-chart-title" size="lg">
          Pre-copy passes
        </Title>
        <PassChart passes={task.passes} />
      </section>
      <PredictedVsMeasured task={task} />
    </section>
  );
}
