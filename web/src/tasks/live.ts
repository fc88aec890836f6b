// A migration task as the UI follows it: the stored task (GET /api/migrations) brought up to
// date by its SSE events — "task" when queued, "progress" while it runs, "report" at the end.
// The percentage never goes backwards, as the phase machine promises, even when a replayed
// event arrives after a newer stored row. Tasks and events are the core's schemas
// (src/core/migration/schema.ts), parsed: no hand-copied types.
import type { z } from "zod";
import { MigrationTaskSchema, type MigrationReportSchema } from "../../../src/core/migration/schema.ts";
import type { MigrationProgress, PassSample, Phase, Prediction, TimelineEntry } from "../../../src/core/migration/types.ts";
import { ApiError } from "../api.ts";
import { ErrorCode } from "../../../src/core/errors.ts";
import type { FerryEvent } from "../events.ts";
import type { Task } from "../types.ts";

/** A report as the UI holds it: parsed, so its warnings are always there (none: []). */
export type ReportView = z.output<typeof MigrationReportSchema>;

export interface LiveTask {
  readonly id: string;
  readonly vm: string;
  readonly source: string;
  readonly destination: string;
  readonly state: Phase;
  readonly percent: number;
  readonly createdAt: number;
  readonly progress: MigrationProgress | null;
  readonly prediction: Prediction | null;
  readonly report: ReportView | null;
  readonly timeline: readonly TimelineEntry[];
  readonly passes: readonly PassSample[];
  readonly waitingReason: string | null;
}

/** A task as the controller answered it, checked against the task's schema; one line when it does not fit. */
export function parseTask(value: unknown): Task {
  const parsed = MigrationTaskSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ApiError(200, ErrorCode.internal, `the controller answered a task this page cannot read (${issue === undefined ? "invalid" : `${issue.path.join(".")}: ${issue.message}`})`);
}

/** A list of tasks (GET /api/migrations), each checked as parseTask does. */
export function parseTasks(value: unknown): Task[] {
  if (!Array.isArray(value)) throw new ApiError(200, ErrorCode.internal, "the controller answered something else than a list of tasks");
  return value.map(parseTask);
}

export function fromTask(task: Task): LiveTask {
  const { body } = task;
  return {
    id: task.id,
    vm: task.vm,
    source: task.source,
    destination: task.destination,
    state: task.state,
    percent: task.percent,
    createdAt: task.createdAt,
    progress: body.progress ?? null,
    prediction: body.prediction ?? null,
    report: body.report ?? null,
    timeline: body.timeline,
    passes: body.passes ?? [],
    waitingReason: body.waitingReason ?? null,
  };
}

/** Records one pass sample the way the controller does: the pass's latest event stands for its end. */
function withSample(passes: readonly PassSample[], p: MigrationProgress): readonly PassSample[] {
  if (p.phase !== "precopy" || p.pass <= 0) return passes;
  const sample: PassSample = { pass: p.pass, at: p.at, bytesSent: p.bytesSent, bytesRemaining: p.bytesRemaining, dirtyRateBytesPerSec: p.dirtyRateBytesPerSec, linkRateBytesPerSec: p.linkRateBytesPerSec, throttlePercent: p.throttlePercent };
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
        vm: event.vm,
        source: event.source,
        destination: event.destination,
        state: event.state,
        percent: event.percent,
        createdAt: event.at,
        progress: null,
        prediction: event.prediction ?? null,
        report: null,
        timeline: [{ phase: event.state, at: event.at }],
        passes: [],
        waitingReason: null,
      };
    }
    case "progress": {
      if (task === undefined) return undefined;
      if (task.report !== null) return task;
      const progress: MigrationProgress = event;
      const timeline = task.timeline.some((t) => t.phase === progress.phase) ? task.timeline : [...task.timeline, { phase: progress.phase, at: progress.at }];
      return {
        ...task,
        state: progress.phase,
        // A completed migration is at 100% whatever its last batch reported. The stream's percent
        // never goes back (the engine's tracker, across a takeover too), but the list this view
        // started from may be newer than the first events after its sequence (they are replayed
        // though the row already shows them): those must not move the bar back.
        percent: progress.phase === "completed" ? 100 : Math.max(task.percent, progress.percent),
        progress,
        timeline,
        passes: withSample(task.passes, progress),
        waitingReason: progress.phase === "queued" ? progress.message : null,
      };
    }
    case "report": {
      if (task === undefined) return undefined;
      const state = event.state;
      return {
        ...task,
        state,
        percent: state === "completed" ? 100 : task.percent,
        report: event.report,
        timeline: task.timeline.some((t) => t.phase === state) ? task.timeline : [...task.timeline, { phase: state, at: event.at }],
      };
    }
    case "host":
    case "reconcile":
    case "reconciled":
      return task;
    case "operation":
      // An operation's event (task id op:ID) is no migration's: operations.ts follows those.
      return task;
  }
}

/** What a completed migration wants known (its report's warnings), in one line; null when nothing. */
export function completionWarning(task: LiveTask): string | null {
  const warnings = task.report?.warnings ?? [];
  if (task.state !== "completed" || warnings.length === 0) return null;
  return warnings.map((w) => w.message).join("; ");
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
