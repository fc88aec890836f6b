// A migration task as the UI follows it: the stored task (GET /api/migrations) brought up to
// date by its SSE events — "task" when queued, "progress" while it runs, "report" at the end.
// The percentage never goes backwards, as the phase machine promises, even when a replayed
// event arrives after a newer stored row.
import type { FerryEvent } from "../events.ts";
import type { Task } from "../types.ts";

export interface ProgressSnapshot {
  readonly phase: string;
  readonly percent: number;
  readonly pass: number;
  readonly bytesSent: number;
  readonly bytesRemaining: number;
  readonly dirtyRateBytesPerSec: number;
  readonly linkRateBytesPerSec: number;
  readonly etaMs: number | null;
  readonly expectedDowntimeMs: number | null;
  readonly throttlePercent: number;
  readonly message: string;
  readonly at: number;
}

export interface PredictionView {
  readonly passes: number;
  readonly bytes: number;
  readonly totalMs: number;
  readonly downtimeMs: number;
  readonly converges: boolean;
  readonly note: string;
}

export interface ReportView {
  readonly outcome: string;
  readonly failure: { readonly code: string; readonly message: string; readonly phase: string } | null;
  readonly runningOn: string;
  readonly downtimeMs: number;
  readonly totalMs: number;
  readonly bytesSent: number;
  readonly passes: number;
  /** Whether guest memory crossed the VMotion network inside TLS; null when the report does not say. */
  readonly encrypted: boolean | null;
}

export interface PassSampleView {
  readonly pass: number;
  readonly at: number;
  readonly bytesSent: number;
  readonly bytesRemaining: number;
  readonly dirtyRateBytesPerSec: number;
  readonly linkRateBytesPerSec: number;
}

export interface LiveTask {
  readonly id: string;
  readonly vm: string;
  readonly source: string;
  readonly destination: string;
  readonly state: string;
  readonly percent: number;
  readonly createdAt: number;
  readonly progress: ProgressSnapshot | null;
  readonly prediction: PredictionView | null;
  readonly report: ReportView | null;
  readonly timeline: readonly { readonly phase: string; readonly at: number }[];
  readonly passes: readonly PassSampleView[];
  readonly waitingReason: string | null;
}

const num = (v: unknown, fallback = 0): number => (typeof v === "number" && Number.isFinite(v) ? v : fallback);
const str = (v: unknown, fallback = ""): string => (typeof v === "string" ? v : fallback);
const obj = (v: unknown): Record<string, unknown> | null => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null);

function progressFrom(v: unknown): ProgressSnapshot | null {
  const p = obj(v);
  if (p === null) return null;
  return {
    phase: str(p["phase"]),
    percent: num(p["percent"]),
    pass: num(p["pass"]),
    bytesSent: num(p["bytesSent"]),
    bytesRemaining: num(p["bytesRemaining"]),
    dirtyRateBytesPerSec: num(p["dirtyRateBytesPerSec"]),
    linkRateBytesPerSec: num(p["linkRateBytesPerSec"]),
    etaMs: typeof p["etaMs"] === "number" ? p["etaMs"] : null,
    expectedDowntimeMs: typeof p["expectedDowntimeMs"] === "number" ? p["expectedDowntimeMs"] : null,
    throttlePercent: num(p["throttlePercent"]),
    message: str(p["message"]),
    at: num(p["at"]),
  };
}

function predictionFrom(v: unknown): PredictionView | null {
  const p = obj(v);
  if (p === null) return null;
  return { passes: num(p["passes"]), bytes: num(p["bytes"]), totalMs: num(p["totalMs"]), downtimeMs: num(p["downtimeMs"]), converges: p["converges"] !== false, note: str(p["note"]) };
}

function reportFrom(v: unknown): ReportView | null {
  const r = obj(v);
  if (r === null) return null;
  const f = obj(r["failure"]);
  return {
    outcome: str(r["outcome"]),
    failure: f === null ? null : { code: str(f["code"]), message: str(f["message"]), phase: str(f["phase"]) },
    runningOn: str(r["runningOn"]),
    downtimeMs: num(r["downtimeMs"]),
    totalMs: num(r["totalMs"]),
    bytesSent: num(r["bytesSent"]),
    passes: num(r["passes"]),
    encrypted: typeof r["encrypted"] === "boolean" ? r["encrypted"] : null,
  };
}

function passesFrom(v: unknown): PassSampleView[] {
  if (!Array.isArray(v)) return [];
  return v.flatMap((item) => {
    const s = obj(item);
    return s === null ? [] : [{ pass: num(s["pass"]), at: num(s["at"]), bytesSent: num(s["bytesSent"]), bytesRemaining: num(s["bytesRemaining"]), dirtyRateBytesPerSec: num(s["dirtyRateBytesPerSec"]), linkRateBytesPerSec: num(s["linkRateBytesPerSec"]) }];
  });
}

export function fromTask(task: Task): LiveTask {
  const body = task.body;
  const timeline = Array.isArray(body["timeline"]) ? body["timeline"].flatMap((t) => { const e = obj(t); return e === null ? [] : [{ phase: str(e["phase"]), at: num(e["at"]) }]; }) : [];
  return {
    id: task.id,
    vm: task.vm,
    source: task.source,
    destination: task.destination,
    state: task.state,
    percent: task.percent,
    createdAt: task.createdAt,
    progress: progressFrom(body["progress"]),
    prediction: predictionFrom(body["prediction"]),
    report: reportFrom(body["report"]),
    timeline,
    passes: passesFrom(body["passes"]),
    waitingReason: typeof body["waitingReason"] === "string" ? body["waitingReason"] : null,
  };
}

/** Records one pass sample the way the controller does: the pass's latest event stands for its end. */
function withSample(passes: readonly PassSampleView[], p: ProgressSnapshot): readonly PassSampleView[] {
  if (p.phase !== "precopy" || p.pass <= 0) return passes;
  const sample: PassSampleView = { pass: p.pass, at: p.at, bytesSent: p.bytesSent, bytesRemaining: p.bytesRemaining, dirtyRateBytesPerSec: p.dirtyRateBytesPerSec, linkRateBytesPerSec: p.linkRateBytesPerSec };
  const last = passes[passes.length - 1];
  if (last?.pass === p.pass) return [...passes.slice(0, -1), sample];
  if (last === undefined || p.pass > last.pass) return [...passes, sample];
  return passes;
}

/** The task after one event; undefined when the event is about a task not known yet. */
export function applyEvent(task: LiveTask | undefined, event: FerryEvent): LiveTask | undefined {
  switch (event.type) {
    case "task": {
      if (task !== undefined) return task;
      return {
        id: event.taskId,
        vm: str(event["vm"]),
        source: str(event["source"]),
        destination: str(event["destination"]),
        state: str(event["state"], "queued"),
        percent: num(event["percent"]),
        createdAt: event.at,
        progress: null,
        prediction: predictionFrom(event["prediction"]),
        report: null,
        timeline: [{ phase: str(event["state"], "queued"), at: event.at }],
        passes: [],
        waitingReason: null,
      };
    }
    case "progress": {
      if (task === undefined) return undefined;
      const progress = progressFrom(event);
      if (progress === null || task.report !== null) return task;
      const timeline = task.timeline[task.timeline.length - 1]?.phase === progress.phase || task.timeline.some((t) => t.phase === progress.phase) ? task.timeline : [...task.timeline, { phase: progress.phase, at: progress.at }];
      return {
        ...task,
        state: progress.phase,
        // A completed migration is at 100% whatever its last batch reported.
        percent: progress.phase === "completed" ? 100 : Math.max(task.percent, progress.percent),
        progress,
        timeline,
        passes: withSample(task.passes, progress),
        waitingReason: progress.phase === "queued" ? progress.message : null,
      };
    }
    case "report": {
      if (task === undefined) return undefined;
      const report = reportFrom(event["report"]);
      const state = str(event["state"], report?.outcome ?? task.state);
      return {
        ...task,
        state,
        percent: state === "completed" ? 100 : task.percent,
        report,
        timeline: task.timeline.some((t) => t.phase === state) ? task.timeline : [...task.timeline, { phase: state, at: event.at }],
      };
    }
    default:
      return task;
  }
}

/** Not converging, in plain words, while it runs: the guest dirties faster than the link copies. */
export function convergenceWarning(task: LiveTask): string | null {
  const p = task.progress;
  if (p === null || task.report !== null || p.phase !== "precopy" || p.pass < 2) return null;
  const dirty = (p.dirtyRateBytesPerSec * 8) / 1e6;
  const link = (p.linkRateBytesPerSec * 8) / 1e6;
  if (p.throttlePercent > 0) return `Not converging on its own: the guest dirties ${dirty.toFixed(0)} Mb/s against a ${link.toFixed(0)} Mb/s link; auto-converge slows it down by ${p.throttlePercent.toFixed(0)}%`;
  if (p.linkRateBytesPerSec > 0 && p.dirtyRateBytesPerSec >= p.linkRateBytesPerSec) return `Not converging: the guest dirties memory at ${dirty.toFixed(0)} Mb/s, faster than the ${link.toFixed(0)} Mb/s link copies it`;
  return null;
}
