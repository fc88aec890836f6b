// Every operation is a task (issue 15): the recorder in front of the real routes of an
// in-process controller — what it records for a write that succeeds, one that is refused, one
// that streams its answer, and one that runs on after it (maintenance mode); what it leaves out
// (questions, dry runs, migrations, which are tasks already); the list's filters; the events.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { OpenAPIHono } from "@hono/zod-openapi";
import { IMPORT_PROGRESS_TYPE, OperationSchema, type Operation } from "../api/schemas.ts";
import { Phase } from "../core/migration/types.ts";
import { createManualClock } from "./testing/manual-clock.ts";
import { testController, type TestController } from "./testing/controller.ts";
import { openSqliteStore } from "../store/sqlite.ts";
import type { ControllerEnv } from "./app.ts";
import { EventHub } from "./events.ts";
import { operationRecorder, routeParams, type MaintenanceView } from "./operations.ts";
import { Role } from "./auth.ts";

let ctl: TestController;
before(async () => {
  ctl = await testController();
});
after(async () => {
  await ctl.store.close();
});

async function tasks(query = ""): Promise<Operation[]> {
  const answer = await ctl.call("GET", `/api/operations${query}`);
  assert.equal(answer.status, 200, answer.text);
  return OperationSchema.array().parse(answer.body);
}

test("route parameters are read from the declared route, decoded", () => {
  assert.deepEqual(routeParams("/api/hosts/{name}/network/{port}", "/api/hosts/esx%2001/network/vmk1"), { name: "esx 01", port: "vmk1" });
  assert.deepEqual(routeParams("/api/vms/{name}", "/api/hosts/esx01"), {});
});

test("a power operation is a task: running, then succeeded with who, when and what it did", async () => {
  const vm = ctl.inventory.current.inventory.vms.find((v) => v.power === "on");
  assert.ok(vm !== undefined);
  const answer = await ctl.call("POST", `/api/vms/${vm.name}/power`, { token: ctl.tokens.operator, body: { action: "off" } });
  assert.equal(answer.status, 200, answer.text);
  const [off] = await tasks(`?object=${vm.name}`);
  assert.ok(off !== undefined);
  assert.deepEqual([off.kind, off.title, off.object, off.initiator, off.state, off.result, off.errorCode, off.migration], ["vm.power.off", "Power off", { kind: "vm", name: vm.name }, "ops", "succeeded", `${vm.name} is powered off on ${vm.host}`, null, null]);
  assert.ok(off.endedAt !== null && off.endedAt >= off.startedAt);
  assert.match(off.requestId ?? "", /^[\w-]{8,}$/);
  const one = await ctl.call("GET", `/api/operations/${off.id}`);
  assert.deepEqual(one.body, off);

  // Its start and end are events of the stream, in order.
  const page = await ctl.call("GET", `/api/events/page?after=0&task=op:${off.id}`);
  const events = (page.body as { events: { type: string; operation: Operation }[] }).events;
  assert.deepEqual(events.map((e) => [e.type, e.operation.state]), [["operation", "running"], ["operation", "succeeded"]]);
  await ctl.call("POST", `/api/vms/${vm.name}/power`, { body: { action: "on" } });
});

test("a refused operation is a failed task with the error's code and message; the read-only token's too", async () => {
  const denied = await ctl.call("POST", "/api/vms/web01/power", { token: ctl.tokens.readOnly, body: { action: "cycle" } });
  assert.equal(denied.status, 403);
  const unknown = await ctl.call("PATCH", "/api/vms/nosuchvm", { body: { devices: [{ name: "cdrom0", connected: false }] } });
  assert.equal(unknown.status, 404, unknown.text);
  const [cycle] = await tasks("?user=viewer");
  assert.deepEqual([cycle?.title, cycle?.state, cycle?.errorCode, cycle?.result], ["Power cycle", "failed", "FORBIDDEN", (denied.body as { message: string }).message]);
  const [edit] = await tasks("?object=nosuchvm");
  assert.deepEqual([edit?.kind, edit?.title, edit?.state, edit?.errorCode, edit?.initiator], ["vm.edit", "Edit settings", "failed", "NOT_FOUND", "admin"]);
});

test("questions, dry runs and migrations' own requests are no operations; a token's secret never reaches the list", async () => {
  const before = (await tasks("?limit=500")).length;
  assert.equal((await ctl.call("POST", "/api/check", { body: { vm: "web01", host: "esx02" } })).status, 200);
  const exported = await ctl.call("GET", "/api/inventory");
  assert.equal((await ctl.call("PUT", "/api/inventory?dryRun=true", { text: JSON.stringify(exported.body) })).status, 200);
  assert.equal((await tasks("?limit=500")).length, before, "nothing recorded");

  // A migration accepted is a migration task; refused, it is a failed operation with why.
  const refused = await ctl.call("POST", "/api/migrations", { body: { vm: "web01", to: "esx02" } });
  assert.notEqual(refused.status, 202, "the test controller has no agents: refused");
  const [migrate] = await tasks("?object=web01&kind=operation");
  assert.deepEqual([migrate?.kind, migrate?.title, migrate?.state, migrate?.result], ["migration.start", "Migrate", "failed", (refused.body as { message: string }).message]);

  const created = await ctl.call("POST", "/api/tokens", { body: { name: "ci-bot", role: "read-only" } });
  assert.equal(created.status, 201, created.text);
  const secret = (created.body as { token: string }).token;
  const [token] = await tasks("?object=ci-bot");
  assert.deepEqual([token?.title, token?.state, token?.result], ["Create token", "succeeded", "token ci-bot created (read-only)"]);
  const everything = JSON.stringify(await tasks("?limit=500"));
  assert.equal(everything.includes(secret), false, "the secret is shown once, in the answer only");
});

test("an import that streams its progress ends with its last line", async () => {
  const exported = await ctl.call("GET", "/api/inventory");
  const response = await ctl.app.request("/api/inventory", { method: "PUT", headers: { authorization: `Bearer ${ctl.tokens.admin}`, "content-type": "application/json", accept: IMPORT_PROGRESS_TYPE }, body: JSON.stringify(exported.body) });
  assert.equal(response.status, 200);
  const [running] = await tasks("?object=inventory");
  assert.equal(running?.state, "running", "the answer left; its lines have not been read yet");
  const lines = (await response.text()).trim().split("\n");
  assert.match(lines[lines.length - 1] ?? "", /"phase":"done"/);
  const [done] = await tasks("?object=inventory");
  assert.deepEqual([done?.id, done?.title, done?.state], [running.id, "Import inventory", "succeeded"]);
  assert.match(done?.result ?? "", /hosts, \d+ VMs/);
});

test("the list: migrations among operations, newest first; filters by object, user, state and kind; a bad state is one clear error", async () => {
  const at = Date.now() + 60_000;
  const task = { id: "m-ops-1", kind: "migration" as const, vm: "db01", source: "esx02", destination: "esx01", percent: 100, createdBy: "ops", body: { request: { vm: "db01", to: "esx01", priority: "high" }, requestedBy: "ops", timeline: [] } };
  await ctl.store.createTask({ ...task, state: Phase.completed, createdAt: at });
  await ctl.store.createTask({ ...task, id: "m-ops-2", state: Phase.precopy, percent: 40, createdAt: at + 1 });
  const newest = await tasks("?limit=2");
  assert.deepEqual(newest.map((t) => [t.id, t.kind, t.title, t.state, t.migration?.phase]), [["m-ops-2", "migration", "Migrate", "running", "precopy"], ["m-ops-1", "migration", "Migrate", "succeeded", "completed"]]);
  assert.equal(newest[1]?.result, "db01 runs on esx01");
  assert.deepEqual((await tasks("?object=db01&state=running")).map((t) => t.id), ["m-ops-2"]);
  assert.deepEqual((await tasks("?user=ops&kind=migration")).map((t) => t.id), ["m-ops-2", "m-ops-1"]);
  assert.ok((await tasks("?kind=operation&limit=500")).every((t) => t.kind !== "migration"));
  assert.ok((await tasks(`?before=${String(at)}&limit=500`)).every((t) => t.startedAt < at));
  const bad = await ctl.call("GET", "/api/operations?state=done");
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.body, { ...(bad.body as object), code: "INVALID_INPUT", message: 'state: unknown state "done": give running, succeeded, failed or cancelled, comma-separated' });
  assert.equal((await ctl.call("GET", "/api/operations/op-none")).status, 404);
  const listed = await ctl.app.request("/api/operations", { headers: { authorization: `Bearer ${ctl.tokens.readOnly}` } });
  assert.match(listed.headers.get("ferry-event-sequence") ?? "", /^\d+$/, "list-then-watch");
});

test("entering maintenance mode runs until the host is in (or the evacuation failed)", async () => {
  const store = openSqliteStore(":memory:");
  await store.migrateToLatest();
  const clock = createManualClock(1_000);
  const states = new Map<string, "out" | "entering" | "in" | "failed">([["esx01", "entering"], ["esx02", "entering"]]);
  const maintenance: MaintenanceView = { status: (host) => ({ state: states.get(host) ?? "out", message: `${host} is ${states.get(host) ?? "out"}` }) };
  const app = new OpenAPIHono<ControllerEnv>();
  app.use("*", async (c, next) => {
    c.set("token", { id: "t", name: "ops", role: Role.operator, createdAt: 0, revokedAt: undefined, expiresAt: undefined });
    c.set("requestId", "r-1");
    await next();
  });
  app.use("/api/*", operationRecorder({ store, events: new EventHub(store, { clock }), clock, maintenance, pollMs: 100 }));
  app.post("/api/hosts/:name/maintenance", (c) => c.json({ status: { state: "entering", message: "evacuating" } }));
  try {
    const ask = (host: string, body: object) => app.request(`/api/hosts/${host}/maintenance`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    assert.equal((await ask("esx01", { action: "enter", dryRun: true })).status, 200);
    assert.deepEqual(await store.listOperations(), [], "a dry run is no operation");
    await ask("esx01", { action: "enter" });
    await ask("esx02", { action: "enter" });
    const running = await store.listOperations();
    assert.deepEqual(running.map((o) => [o.object?.name, o.title, o.state]), [["esx02", "Enter maintenance mode", "running"], ["esx01", "Enter maintenance mode", "running"]]);
    states.set("esx01", "in");
    states.set("esx02", "failed");
    await clock.advance(100);
    for (let i = 0; i < 50 && (await store.listOperations({ states: ["running"] })).length > 0; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual((await store.listOperations()).map((o) => [o.object?.name, o.state, o.result, o.endedAt]), [["esx02", "failed", "esx02 is failed", 1_100], ["esx01", "succeeded", "esx01 is in", 1_100]]);
  } finally {
    await store.close();
  }
});

test("every write route the API declares has a name in the catalogue (a new route is not a nameless task)", async () => {
  const { describeOperation } = await import("../core/operations/catalogue.ts");
  const writes = ctl.app.openAPIRegistry.definitions.flatMap((d) => (d.type === "route" && d.route.method !== "get" ? [{ method: d.route.method.toUpperCase(), route: d.route.path }] : []));
  assert.ok(writes.length > 25, "the API's write routes");
  const nameless = writes.filter((w) => {
    const named = describeOperation({ ...w, params: {}, query: {}, body: { action: "on", name: "x", host: "esx01", csr: "x" } });
    return named === undefined || (named !== "skip" && named.kind === "api.write");
  });
  assert.deepEqual(nameless, []);
});
