// The migration task's schema against what a real controller stores: task rows read straight
// from its SQLite file after real migrations between sim agent processes (one completed, one
// aborted) parse with the core's schema, round-trip through JSON unchanged, answer the API as
// the same parsed task, carry failureCode beside report.failure, and rows as an older version
// wrote them (no warnings, no failureCode, no prediction basis) still parse; the CLI prints
// them, as JSON and as text.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import Database from "better-sqlite3";
import { MigrationTaskBodySchema, MigrationTaskSchema, TaskEventSchema } from "../../src/core/migration/schema.ts";
import { OperationSchema } from "../../src/core/operations/schema.ts";
import { labVmSpec } from "../../src/cli/commands/up.ts";
import { LAB_TEXT, labVm, startLab, type Lab } from "./harness.ts";
import { taskEnded, waitFor } from "../support/tasks.ts";
import { runFerry } from "../../src/cli/testing/io.ts";

const vm = labVm;

interface Row { id: string; kind: string; vm: string; source: string; destination: string; state: string; percent: number; created_at: number; updated_at: number; created_by: string; body: string }

/** The controller's task rows as its SQLite file holds them (read-only, beside the running controller). */
function storedRows(lab: Lab): Row[] {
  const db = new Database(join(lab.dir, "data", "ferry.db"), { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT * FROM task ORDER BY created_at").all() as Row[];
  } finally {
    db.close();
  }
}

function recordOf(row: Row): unknown {
  const body: unknown = JSON.parse(row.body);
  return { id: row.id, kind: row.kind, vm: row.vm, source: row.source, destination: row.destination, state: row.state, percent: row.percent, createdAt: row.created_at, updatedAt: row.updated_at, createdBy: row.created_by, body };
}

let lab: Lab;
before(async () => {
  // 32 MiB over a 40 Mb/s cap: a few seconds of pre-copy, long enough to abort one on its way.
  const spec = (name: string) => ({ ...labVmSpec(vm(name), undefined, 3), memoryMB: 32, touchedBytes: 16 * 1048576 });
  lab = await startLab(LAB_TEXT, [{ name: "esx01", linkMbps: 40 }, { name: "esx02", linkMbps: 40 }], [{ host: "esx01", spec: spec("web01") }, { host: "esx01", spec: spec("web02") }]);
});
after(async () => {
  await lab.stop();
});

test("real stored task bodies parse, round-trip, and answer the API as the parsed task", async () => {
  const done = await lab.api<{ id: string }>("POST", "/migrations", { vm: "web01", to: "esx02", bandwidthMbps: 40 });
  assert.equal(done.status, 202, JSON.stringify(done.body));
  await taskEnded(lab, done.body.id);
  const aborted = await lab.api<{ id: string }>("POST", "/migrations", { vm: "web02", to: "esx02", bandwidthMbps: 40 });
  assert.equal(aborted.status, 202, JSON.stringify(aborted.body));
  // Aborted once it is under way (or still queued): either way it ends cancelled with ABORTED.
  await waitFor("the abort to be taken", async () => ((await lab.api("DELETE", `/migrations/${aborted.body.id}`)).status === 202 ? true : undefined));
  await taskEnded(lab, aborted.body.id);

  const rows = storedRows(lab);
  assert.equal(rows.length, 2);
  for (const row of rows) {
    const task = MigrationTaskSchema.parse(recordOf(row));
    assert.deepEqual(MigrationTaskSchema.parse(JSON.parse(JSON.stringify(task))), task, `task ${row.id} round-trips through JSON`);
    const answered = await lab.api<unknown>("GET", `/migrations/${row.id}`);
    assert.deepEqual(MigrationTaskSchema.parse(answered.body).body, task.body, "the API answers the stored body, parsed");
    assert.ok(task.body.timeline.length >= 2 && task.body.timeline[0]?.phase === "queued");
    assert.equal(task.body.report?.outcome, task.state);
  }
  const [completed, cancelled] = rows.map((row) => MigrationTaskSchema.parse(recordOf(row)));
  assert.equal(completed?.state, "completed");
  assert.equal(completed.body.failureCode, undefined);
  // The one warning a busy machine can give this move: its downtime over the limit, which the
  // report's own downtime then shows.
  for (const warning of completed.body.report?.warnings ?? []) {
    assert.equal(warning.code, "DOWNTIME_OVER_LIMIT", warning.message);
    assert.ok(warning.message.includes(`paused ${(completed.body.report?.downtimeMs ?? 0).toFixed(0)} ms`), warning.message);
  }
  assert.ok((completed.body.passes ?? []).length >= 1 && completed.body.prediction !== undefined);
  assert.equal(cancelled?.state, "cancelled");
  assert.equal(cancelled.body.report?.failure?.code, "ABORTED");
  assert.equal(cancelled.body.failureCode, "ABORTED", "the failure code is a field of the task's body");
  assert.equal((JSON.parse(rows[1]?.body ?? "{}") as { details?: unknown }).details, undefined, "never details.failureCode");

  // A row as an older controller wrote it: no failureCode, no report warnings, no prediction basis.
  const old = JSON.parse(rows[0]?.body ?? "{}") as { report?: Record<string, unknown>; prediction?: Record<string, unknown>; failureCode?: unknown };
  delete old.failureCode;
  delete old.report?.["warnings"];
  delete old.report?.["prediction"];
  delete old.prediction?.["basis"];
  const older = MigrationTaskBodySchema.parse(old);
  assert.deepEqual(older.report?.warnings, [], "an old report parses with no warnings");
  assert.equal(older.prediction?.basis, undefined);
});

test("ferry tasks prints the same tasks: --json the parsed task, text its report and the list its failure code", async () => {
  const ferry = (...args: string[]) => runFerry([...args, "--controller", lab.controller.url, "--token", lab.controller.token]);
  const rows = storedRows(lab).map((row) => MigrationTaskSchema.parse(recordOf(row)));
  const [completed, cancelled] = rows;
  assert.ok(completed !== undefined && cancelled !== undefined, "the first test ran its migrations");
  const json = await ferry("tasks", completed.id, "--json");
  assert.equal(json.status, 0, json.err);
  assert.deepEqual(MigrationTaskSchema.parse(JSON.parse(json.out)).body, completed.body);
  // A busy machine can pause web01 past its limit: whatever the run measured, --json and the
  // text say the same warnings as the stored report.
  const warnings = completed.body.report?.warnings ?? [];
  assert.deepEqual((JSON.parse(json.out) as { body: { report: { warnings: unknown } } }).body.report.warnings, warnings, "--json prints the report's warnings");
  const text = await ferry("tasks", completed.id);
  assert.equal(text.status, 0, text.err);
  assert.match(text.out, new RegExp(`^${completed.id}: web01 esx01 → esx02, completed 100%, asked by admin\\n {2}timeline: queued `));
  assert.match(text.out, /web01 now runs on esx02: migrated from esx01 in \d+ ms with \d+ ms of downtime/);
  if (warnings.length === 0) assert.doesNotMatch(text.out, /WARNING/);
  for (const warning of warnings) assert.ok(text.out.includes(warning.code) || text.out.includes(warning.message), `the text names ${warning.code}: ${text.out}`);
  const list = await ferry("tasks");
  assert.equal(list.status, 0, list.err);
  assert.match(list.out, new RegExp(`${cancelled.id}.*cancelled.*ABORTED`));
  assert.match(list.out, new RegExp(`${completed.id}.*completed.*downtime \\d+ ms`));
  // The task list holds operations too (issue 15): the migrations, in the list's shape.
  const listed = await ferry("tasks", "--kind", "migration", "--json");
  assert.deepEqual(OperationSchema.array().parse(JSON.parse(listed.out)).map((t) => [t.id, t.errorCode]), [[cancelled.id, "ABORTED"], [completed.id, null]], "newest first");
});

test("every event the controller stored (migrations' and hosts') is one of the stream's union", async () => {
  const page = await lab.api<{ events: unknown[]; latest: number }>("GET", "/events/page?after=0&limit=1000");
  assert.equal(page.status, 200);
  const types = new Set<string>();
  for (const raw of page.body.events) {
    const parsed = TaskEventSchema.safeParse(raw);
    assert.ok(parsed.success, `an event outside the union: ${JSON.stringify(raw)}: ${parsed.error?.issues[0]?.message ?? ""}`);
    types.add(parsed.data.type);
  }
  for (const type of ["task", "progress", "report"]) assert.ok(types.has(type), `the migrations' ${type} events were seen (${[...types].join(", ")})`);
});
