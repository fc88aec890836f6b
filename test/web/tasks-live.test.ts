// The tasks panel's model of a migration (web/src/tasks/live.ts): a stored task brought up to
// date by SSE events — the bar never goes backwards, one sample per pre-copy pass as the
// controller keeps them, the end taken from the report, and "not converging" in plain words.
import { test } from "node:test";
import assert from "node:assert/strict";
import { applyEvent, completionWarning, convergenceWarning, fromTask, parseTask, type LiveTask } from "../../web/src/tasks/live.ts";
import { failureWords } from "../../web/src/tasks/format.ts";
import { TaskEventSchema } from "../../src/core/migration/schema.ts";

const MiB = 1048576;
let seq = 0;
// Events as the page gets them: parsed by the stream with the core's schema.
const event = (type: string, at: number, body: Record<string, unknown>) => TaskEventSchema.parse({ seq: ++seq, taskId: "m-1", at, type, ...body });
const reportOf = (fields: Record<string, unknown>) => ({
  migrationId: "m-1", vm: "web01", source: "esx01", destination: "esx02", outcome: "completed", runningOn: "esx02", downtimeMs: 42, totalMs: 600, bytesSent: 52 * MiB, passes: 3,
  pagesSent: 1, zeroPages: 0, throttlePercentMax: 0, verified: true, ...fields,
});
const progress = (at: number, phase: string, percent: number, pass: number, extra: Record<string, unknown> = {}) =>
  event("progress", at, { migrationId: "m-1", vm: "web01", phase, percent, pass, bytesSent: pass * 10 * MiB, bytesRemaining: 8 * MiB / Math.max(1, pass), dirtyRateBytesPerSec: 2 * MiB, linkRateBytesPerSec: 12 * MiB, etaMs: 1000, expectedDowntimeMs: 50, throttlePercent: 0, message: "", ...extra });

function run(events: ReturnType<typeof event>[]): LiveTask {
  let task: LiveTask | undefined;
  for (const e of events) task = applyEvent(task, e);
  assert.ok(task !== undefined);
  return task;
}

test("events from queued to completed: percent never goes back, a sample per pass, the report ends it", () => {
  const task = run([
    event("task", 1000, { state: "queued", percent: 0, vm: "web01", source: "esx01", destination: "esx02", prediction: { passes: 3, bytes: 50 * MiB, totalMs: 900, downtimeMs: 40, converges: true, note: "converges after 3 passes", throttlePercent: 0 } }),
    progress(1010, "preparing", 5, 0),
    progress(1100, "precopy", 30, 1),
    progress(1200, "precopy", 60, 1),
    progress(1150, "precopy", 55, 1), // a late replayed event: the bar stays at 60
    progress(1300, "precopy", 80, 2),
    progress(1400, "precopy", 88, 3),
    progress(1500, "switchover", 95, 3),
    event("report", 1600, { state: "completed", report: reportOf({}) }),
  ]);
  assert.equal(task.state, "completed");
  assert.equal(task.percent, 100);
  assert.deepEqual(task.passes.map((p) => [p.pass, p.at]), [[1, 1150], [2, 1300], [3, 1400]]);
  assert.deepEqual(task.timeline.map((t) => t.phase), ["queued", "preparing", "precopy", "switchover", "completed"]);
  assert.equal(task.report?.runningOn, "esx02");
  assert.equal(task.prediction?.passes, 3);
  assert.deepEqual(task.report.warnings, [], "a report from before warnings existed parses with none");
  assert.equal(completionWarning(task), null);
});

test("a completed migration whose downtime went over its limit carries the warning", () => {
  const warned = run([
    event("task", 1000, { state: "queued", percent: 0, vm: "web02", source: "esx01", destination: "esx02" }),
    event("report", 1600, { state: "completed", report: reportOf({ downtimeMs: 401, warnings: [{ code: "DOWNTIME_OVER_LIMIT", message: "downtime 401 ms exceeded its 300 ms limit" }] }) }),
  ]);
  assert.equal(warned.state, "completed");
  assert.equal(completionWarning(warned), "downtime 401 ms exceeded its 300 ms limit");
  assert.throws(() => event("report", 1, { state: "completed", report: reportOf({ warnings: [{ code: "SOMETHING_ELSE", message: "" }] }) }), "warning codes are a closed catalogue");
});

test("a progress event of an unknown task asks for the list again (undefined); a stored task is the starting point", () => {
  assert.equal(applyEvent(undefined, progress(1, "precopy", 20, 1)), undefined);
  const stored = fromTask(parseTask({ id: "m-1", kind: "migration", vm: "db01", source: "esx02", destination: "esx01", state: "precopy", percent: 40, createdAt: 5, updatedAt: 6, createdBy: "admin", body: { request: { vm: "db01", to: "esx01", priority: "high" }, requestedBy: "admin", passes: [{ pass: 1, at: 6, bytesSent: 1, bytesRemaining: 2, dirtyRateBytesPerSec: 3, linkRateBytesPerSec: 4 }], timeline: [{ phase: "queued", at: 5 }] } }));
  const next = applyEvent(stored, progress(7, "precopy", 35, 2));
  assert.ok(next !== undefined);
  assert.equal(next.percent, 40, "an older percentage does not pull the bar back");
  assert.deepEqual(next.passes.map((p) => p.pass), [1, 2]);
  assert.throws(() => parseTask({ id: "m-2", kind: "migration", state: "sideways" }), /cannot read/, "a task that does not fit its schema is one clear error");
});

test("not converging and failures in plain words", () => {
  const base = run([event("task", 0, { state: "queued", percent: 0, vm: "db01", source: "esx02", destination: "esx01" })]);
  const slow = applyEvent(base, progress(10, "precopy", 40, 3, { dirtyRateBytesPerSec: 20 * MiB, linkRateBytesPerSec: 12 * MiB }))!;
  assert.match(convergenceWarning(slow) ?? "", /^Not converging: the guest dirties memory at 168 Mb\/s, faster than the 101 Mb\/s link/);
  const throttled = applyEvent(base, progress(10, "precopy", 40, 4, { throttlePercent: 30 }))!;
  assert.match(convergenceWarning(throttled) ?? "", /auto-converge slows it down by 30%/);
  assert.equal(convergenceWarning(applyEvent(base, progress(10, "precopy", 40, 2))!), null, "dirtying slower than the link converges");
  assert.equal(failureWords("NOT_CONVERGING"), "Not converging: the VM changes memory faster than the link can copy it");
});
