// Issue 11, point 5: each hardening rule as a table of bad requests with the exact status and
// message, and the inventory exported before and after to show nothing changed. In-process
// with app.request(), and over a real socket where the socket is the point (413 before the
// body arrives, the client's address, an SSE stream cut by revocation).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { serve, type ServerType } from "@hono/node-server";
import { request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assembleController, buildControllerApp } from "./main.ts";
import { createToken, Role, TokenStreams } from "./auth.ts";
import { createManualClock } from "./testing/manual-clock.ts";
import { testController, type TestController } from "./testing/controller.ts";
import { progressEvent } from "./testing/events.ts";
import { Phase } from "../core/migration/types.ts";
import { createControllerApp, type ControllerApp } from "./app.ts";
import { openSqliteStore } from "../store/sqlite.ts";
import { ObjectKind } from "../store/store.ts";
import { createAgentApp } from "../agent/app.ts";
import { createFakeDriver, createFakeNetwork, fakeHostFacts } from "../agent/testing/fake-driver.ts";
import { systemClock } from "../drivers/clock.ts";

type Err = { code: string; message: string; details: unknown };
type Row = { what: string; method: string; path: string; body?: string; contentType?: string; token?: "admin" | "operator" | "readOnly"; status: number; message: string | RegExp };

let ctl: TestController;
before(async () => {
  ctl = await testController();
});
after(async () => {
  await ctl.store.close();
});

async function send(app: ControllerApp, row: Pick<Row, "method" | "path" | "body" | "contentType">, token: string, headers: Record<string, string> = {}): Promise<Response> {
  const all: Record<string, string> = { authorization: `Bearer ${token}`, ...headers };
  if (row.contentType !== undefined) all["content-type"] = row.contentType;
  // Bytes, not a string: a string body would get text/plain from the Request constructor.
  return app.request(row.path, { method: row.method, headers: all, ...(row.body === undefined ? {} : { body: new TextEncoder().encode(row.body) }) });
}

const exportAll = async (): Promise<unknown> => (await ctl.call("GET", "/api/inventory")).body;
const json = (value: unknown): string => JSON.stringify(value);
const mask = { cpuidMask: { nx: true, sse3: false, sse4: false, custom: [] } };

async function runTable(rows: readonly Row[]): Promise<void> {
  const before = await exportAll();
  const generation = ctl.inventory.current.generation;
  const tokens = (await ctl.call("GET", "/api/tokens")).text;
  for (const row of rows) {
    const response = await send(ctl.app, row, ctl.tokens[row.token ?? "admin"]);
    const body = (await response.json()) as Err;
    assert.equal(response.status, row.status, `${row.what}: ${json(body)}`);
    if (typeof row.message === "string") assert.equal(body.message, row.message, row.what);
    else assert.match(body.message, row.message, row.what);
    assert.equal(typeof body.code, "string", row.what);
  }
  assert.deepEqual(await exportAll(), before, "nothing changed");
  assert.equal(ctl.inventory.current.generation, generation, "no generation bumped");
  assert.equal((await ctl.call("GET", "/api/tokens")).text, tokens, "no token added");
}

describe("bodies: a declared JSON body is required, and bounded", () => {
  test("missing or wrong Content-Type is 415, an empty body 400, too large 413 — nothing changes", async () => {
    await runTable([
      { what: "migrate without Content-Type (was: no VM named \"undefined\")", method: "POST", path: "/api/migrations", body: json({ vm: "web01", to: "esx02" }), status: 415, message: "this request needs a body with Content-Type: application/json" },
      { what: "cluster mask without Content-Type (was: 500)", method: "PUT", path: "/api/clusters/Prod/mask", body: json(mask), status: 415, message: "this request needs a body with Content-Type: application/json" },
      { what: "PATCH with no body at all (was: generation bumped)", method: "PATCH", path: "/api/vms/web01", status: 415, message: "this request needs a body with Content-Type: application/json" },
      { what: "PATCH as text/plain", method: "PATCH", path: "/api/vms/web01", body: json({ devices: [] }), contentType: "text/plain", status: 415, message: "Content-Type text/plain is not accepted here: send application/json" },
      { what: "PATCH with an empty JSON body", method: "PATCH", path: "/api/vms/web01", body: "", contentType: "application/json", status: 400, message: "the request body is empty: send application/json" },
      { what: "token as form data", method: "POST", path: "/api/tokens", body: "name=x&role=admin", contentType: "application/x-www-form-urlencoded", status: 415, message: "Content-Type application/x-www-form-urlencoded is not accepted here: send application/json" },
      { what: "import as text/plain", method: "PUT", path: "/api/inventory", body: "{}", contentType: "text/plain", status: 415, message: "Content-Type text/plain is not accepted here: send application/yaml or application/json" },
      { what: "import with an empty body", method: "PUT", path: "/api/inventory", body: " \n", contentType: "application/yaml", status: 400, message: "the request body is empty: send application/yaml" },
      { what: "a 2 MB token request", method: "POST", path: "/api/tokens", body: json({ name: "x".repeat(2 * 1024 * 1024), role: "admin" }), contentType: "application/json", status: 413, message: "the request body is larger than 1 MB, the limit for a request to the controller" },
      { what: "malformed JSON", method: "POST", path: "/api/check", body: "{not json", contentType: "application/json", status: 400, message: /JSON|malformed/i },
    ]);
  });

  test("over a real socket, a body declared above the limit is refused before it is sent", async () => {
    const server = await listen(ctl.app);
    try {
      // Declares 200 MB, sends nothing more: the answer must come without the body.
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest({ host: "127.0.0.1", port: server.port, method: "PUT", path: "/api/inventory", headers: { authorization: `Bearer ${ctl.tokens.readOnly}`, "content-type": "application/yaml", "content-length": String(200 * 1024 * 1024) } }, (res) => {
          let body = "";
          res.on("data", (chunk: Buffer) => (body += chunk.toString()));
          res.on("end", () => {
            resolve({ status: res.statusCode ?? 0, body });
          });
        });
        req.on("error", reject);
        req.write("datacenter: x\n");
      });
      assert.equal(answer.status, 413);
      assert.equal((JSON.parse(answer.body) as Err).message, "the request body is larger than 64 MB, the limit for an inventory import");
    } finally {
      await server.close();
    }
  });
});

test("the agent API refuses a body above 1 MB with 413, before its token or route is looked at", async () => {
  const agent = createAgentApp({ driver: createFakeDriver(createFakeNetwork(), fakeHostFacts("h", "127.0.1.9")), token: "agent-token-0123456789abcdef", clock: systemClock, hostName: "h", vmotionIp: undefined });
  const big = new TextEncoder().encode(JSON.stringify({ name: "x".repeat(1024 * 1024) }));
  const response = await agent.request("/v1/vms", { method: "POST", headers: { authorization: "Bearer agent-token-0123456789abcdef", "content-type": "application/json" }, body: big });
  assert.equal(response.status, 413);
  assert.deepEqual(await response.json(), { code: "INVALID_INPUT", message: "the request body is larger than 1 MB, the agent's limit", details: { limitBytes: 1024 * 1024 } });
});

describe("names and numbers", () => {
  test("unsafe names and meaningless numbers are refused with one line naming the field", async () => {
    const vm = (name: string) => json({ name, host: "esx02", memoryMB: 256 });
    const start = (extra: Record<string, unknown>) => json({ vm: "web01", to: "esx02", acceptWarnings: "all", ...extra });
    const nameRule = 'must be letters, digits, ".", "_" or "-", starting with a letter or digit (no spaces, "/" or control characters)';
    await runTable([
      { what: "a VM named ..", method: "POST", path: "/api/vms", body: vm(".."), contentType: "application/json", status: 400, message: `name: ${nameRule}` },
      { what: "a VM named a/b", method: "POST", path: "/api/vms", body: vm("a/b"), contentType: "application/json", status: 400, message: `name: ${nameRule}` },
      { what: "a VM named with a newline", method: "POST", path: "/api/vms", body: vm("web\n01"), contentType: "application/json", status: 400, message: `name: ${nameRule}` },
      { what: "a VM named \" \"", method: "POST", path: "/api/vms", body: vm(" "), contentType: "application/json", status: 400, message: `name: ${nameRule}` },
      { what: "a VM named a..b", method: "POST", path: "/api/vms", body: vm("a..b"), contentType: "application/json", status: 400, message: 'name: must not contain ".."' },
      { what: "a VM name of 129 characters", method: "POST", path: "/api/vms", body: vm("v".repeat(129)), contentType: "application/json", status: 400, message: "name: must be at most 128 characters" },
      { what: "a deployed VM with a space", method: "POST", path: "/api/templates/tmpl-debian-nx/deploy", body: json({ name: "web 09", host: "esx02" }), contentType: "application/json", status: 400, message: `name: ${nameRule}` },
      { what: "a token named with a newline", method: "POST", path: "/api/tokens", body: json({ name: "ci\nadmin", role: "admin" }), contentType: "application/json", status: 400, message: `name: ${nameRule}` },
      { what: "an import with a VM named ..", method: "PUT", path: "/api/inventory", body: "vms:\n  - name: ..\n    host: esx01\n    files: { config: { datastore: shared-ds1 } }\n", contentType: "application/yaml", status: 400, message: `request body:2:11: vms[0].name: ${nameRule}, got ".."` },
      { what: "a port group with a trailing space", method: "PUT", path: "/api/inventory", body: "hosts:\n  - name: h1\n    cpu: { vendor: GenuineIntel, family: 6, model: 85, flags: [] }\n    memoryMB: 1024\n    vswitches: [{ name: vSwitch0, portGroups: [{ name: \"VM Network \" }] }]\n", contentType: "application/yaml", status: 400, message: /^request body:5:56: hosts\[0\]\.vswitches\[0\]\.portGroups\[0\]\.name: must be letters, digits, spaces, .* got "VM Network "$/ },
      { what: "bandwidth 1e-300 Mb/s (was: accepted, then ignored)", method: "POST", path: "/api/migrations", body: start({ bandwidthMbps: 1e-300 }), contentType: "application/json", status: 400, message: /^bandwidthMbps: .*>=1/ },
      { what: "bandwidth above 400 Gb/s", method: "POST", path: "/api/migrations", body: start({ bandwidthMbps: 500_000 }), contentType: "application/json", status: 400, message: /^bandwidthMbps: .*<=400000/ },
      { what: "downtime 0 ms", method: "POST", path: "/api/migrations", body: start({ downtimeMs: 0 }), contentType: "application/json", status: 400, message: /^downtimeMs: .*>=1/ },
      { what: "downtime 600,001 ms", method: "POST", path: "/api/migrations", body: start({ downtimeMs: 600_001 }), contentType: "application/json", status: 400, message: /^downtimeMs: .*<=600000/ },
    ]);
  });

  test("port groups keep vSphere's names: \"VM Network\" is fine", async () => {
    const yaml = await ctl.call("GET", "/api/inventory?format=yaml");
    assert.match(yaml.text, /VM Network/);
    const dry = await ctl.call("PUT", "/api/inventory?dryRun=true", { text: yaml.text, contentType: "application/yaml" });
    assert.equal(dry.status, 200, dry.text);
  });
});

describe("imports and migrating VMs", () => {
  test("an import that removes running VMs is refused; dryRun answers the diff; nothing changes", async () => {
    const running = ctl.inventory.current.inventory.vms.filter((v) => v.power === "on").map((v) => v.name);
    const shown = running.length <= 5 ? running.join(", ") : `${running.slice(0, 5).join(", ")} and ${running.length - 5} more`;
    const hosts = ctl.inventory.current.inventory.hosts.length;
    const message = `the import would remove ${running.length} running VMs (${shown}): check with dryRun=true, then add force=true (\`ferry inventory import --force\`) to do it anyway`;
    assert.ok(hosts > 0);
    await runTable([{ what: "PUT {} while VMs run (was: everything gone, unlogged)", method: "PUT", path: "/api/inventory", body: "{}", contentType: "application/json", status: 409, message }]);
    const before = await exportAll();
    const dry = await ctl.call("PUT", "/api/inventory?dryRun=true", { text: "{}" });
    assert.equal(dry.status, 200);
    const answer = dry.body as { dryRun: boolean; diff: { removed: Record<string, string[]>; added: Record<string, string[]> }; refusal: string };
    assert.equal(answer.dryRun, true);
    assert.equal(answer.diff.removed["vms"]?.length, ctl.inventory.current.inventory.vms.length);
    assert.equal(answer.diff.removed["hosts"]?.length, hosts);
    assert.deepEqual(answer.diff.added, {});
    assert.equal(answer.refusal, message);
    assert.deepEqual(await exportAll(), before, "a dry run changes nothing");
  });

  test("an import that removes a host with an agent is refused naming it", async () => {
    await ctl.store.putObject(ObjectKind.agent, "esx03", { host: "esx03", url: "https://127.0.1.203:1", token: "not-used-here-0123456789" });
    const inv = structuredClone(ctl.inventory.current.inventory);
    const gone = inv.vms.filter((v) => v.host === "esx03");
    inv.hosts = inv.hosts.filter((h) => h.name !== "esx03");
    inv.vms = inv.vms.filter((v) => v.host !== "esx03");
    const running = gone.filter((v) => v.power === "on").map((v) => v.name);
    const vms = running.length === 0 ? "" : `remove ${running.length} running VM${running.length === 1 ? "" : "s"} (${running.join(", ")}) and `;
    await runTable([{ what: "an import without esx03, whose agent joined", method: "PUT", path: "/api/inventory", body: json(inv), contentType: "application/json", status: 409, message: `the import would ${vms}remove 1 host with an agent (esx03): check with dryRun=true, then add force=true (\`ferry inventory import --force\`) to do it anyway` }]);
    await ctl.store.deleteObject(ObjectKind.agent, "esx03");
  });

  test("an import while a migration runs needs force and forgets no migration (that is the task's, not the inventory's); edits of a migrating VM are refused naming the migration", async () => {
    // A running migration of busy01, as the store records one (the engine is not needed here).
    await ctl.store.createTask({ id: "m-hardening-busy01", kind: "migration", vm: "busy01", source: "esx01", destination: "esx02", state: "precopy", percent: 40, createdAt: Date.now(), createdBy: "ops", body: {} });
    await ctl.parts.claims.claim({ vm: "busy01", taskId: "m-hardening-busy01", source: "esx01", destination: "esx02", controller: "test", at: Date.now() });
    const inv = structuredClone(ctl.inventory.current.inventory);
    const busy = inv.vms.find((v) => v.name === "busy01");
    assert.ok(busy !== undefined);
    busy.memoryMB += 1;
    const refused = await ctl.call("PUT", "/api/inventory", { body: inv });
    assert.equal(refused.status, 409);
    assert.equal((refused.body as Err).message, "the import would replace the inventory while 1 migration runs (busy01: m-hardening-busy01): check with dryRun=true, then add force=true (`ferry inventory import --force`) to do it anyway");
    const dry = await ctl.call("PUT", "/api/inventory?dryRun=true", { body: inv });
    assert.deepEqual((dry.body as { diff: { changed: Record<string, string[]> } }).diff.changed, { vms: ["busy01"] }, "only its memory changes");
    const forced = await ctl.call("PUT", "/api/inventory?force=true", { body: inv });
    assert.equal(forced.status, 200, forced.text);
    await runTable([
      { what: "settings of a migrating VM", method: "PATCH", path: "/api/vms/busy01", body: json({ devices: [] }), contentType: "application/json", status: 409, message: "busy01 is migrating (migration m-hardening-busy01, precopy): edit its settings once the migration ends" },
      { what: "the mask of its cluster", method: "PUT", path: "/api/clusters/Prod/mask", body: json(mask), contentType: "application/json", status: 409, message: "busy01 is migrating (migration m-hardening-busy01, precopy): set the cluster's mask once the migration ends" },
      { what: "connecting its NIC", method: "PATCH", path: "/api/vms/busy01", body: json({ nics: [{ name: "nic0", connected: false }] }), contentType: "application/json", status: 409, message: "busy01 is migrating (migration m-hardening-busy01, precopy): edit its settings once the migration ends" },
      { what: "powering it", method: "POST", path: "/api/vms/busy01/power", body: json({ action: "off" }), contentType: "application/json", status: 409, message: "busy01 is migrating (migration m-hardening-busy01, precopy): power it once the migration ends" },
      { what: "deleting it", method: "DELETE", path: "/api/vms/busy01", status: 409, message: "busy01 is migrating (migration m-hardening-busy01, precopy): delete it once the migration ends" },
    ]);
    await ctl.store.updateTask("m-hardening-busy01", { state: "failed" });
    await ctl.parts.claims.release("busy01", "m-hardening-busy01");
  });
});

test("abort once the switchover passed its commit, or after completion, answers 409 too late", async () => {
  // Task rows as the controller records them (the engine is not needed for the refusal).
  const base = { kind: "migration" as const, vm: "web01", source: "esx01", destination: "esx02", createdAt: Date.now(), createdBy: "ops", body: {} };
  await ctl.store.createTask({ ...base, id: "m-committed", state: "switchover", percent: 96 });
  // Its run's last event passed the commit (the run itself is another controller's, or was before a restart).
  await ctl.events.publish("m-committed", Date.now(), progressEvent("m-committed", 96, { phase: Phase.switchover, committed: true }));
  await ctl.store.createTask({ ...base, id: "m-done", state: "completed", percent: 100 });
  await ctl.store.createTask({ ...base, id: "m-failed", state: "failed", percent: 40 });
  await runTable([
    { what: "abort after COMMIT (was: 202)", method: "DELETE", path: "/api/migrations/m-committed", token: "operator", status: 409, message: "too late: the destination runs it (migration m-committed is past its commit)" },
    { what: "abort of a completed migration", method: "DELETE", path: "/api/migrations/m-done", token: "operator", status: 409, message: "too late: the destination runs it (migration m-done is completed)" },
    { what: "abort of a failed migration", method: "DELETE", path: "/api/migrations/m-failed", token: "operator", status: 409, message: "migration m-failed already ended (failed)" },
  ]);
  await ctl.store.updateTask("m-committed", { state: "completed" });
});

describe("request ids, 5xx and security headers", () => {
  test("every answer carries a request id; a sane incoming one is kept, another replaced", async () => {
    const own = await send(ctl.app, { method: "GET", path: "/api/vms" }, ctl.tokens.readOnly, { "x-request-id": "trace-0123456789" });
    assert.equal(own.headers.get("x-request-id"), "trace-0123456789");
    const odd = await send(ctl.app, { method: "GET", path: "/api/vms" }, ctl.tokens.readOnly, { "x-request-id": "no spaces allowed here" });
    assert.match(odd.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
    const denied = await ctl.app.request("/api/vms");
    assert.equal(denied.status, 401);
    assert.match(denied.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
  });

  test("a 5xx is logged once with the id, the stack stays in the log, the body carries the id", async () => {
    const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
    const store = Object.create(ctl.store) as typeof ctl.store;
    store.listTokens = () => Promise.reject(new Error("disk on fire"));
    const app = buildControllerApp({ ...ctl.parts, store, log: (level, message, fields = {}) => lines.push({ level, message, fields }) }, createManualClock());
    const response = await send(app, { method: "GET", path: "/api/tokens" }, ctl.tokens.admin, { "x-request-id": "req-5xx-000001" });
    const body = (await response.json()) as Err;
    assert.equal(response.status, 500);
    assert.deepEqual(body, { code: "INTERNAL", message: "internal error: the controller hit a bug; see its log (request req-5xx-000001)", details: { requestId: "req-5xx-000001" } });
    assert.ok(!JSON.stringify(body).includes("disk on fire"), "no cause or stack reaches the client");
    const logged = lines.filter((l) => l.level === "error");
    assert.equal(logged.length, 1);
    assert.equal(logged[0]?.message, "GET /api/tokens answered 500");
    assert.equal(logged[0].fields["requestId"], "req-5xx-000001");
    assert.equal(logged[0].fields["error"], "disk on fire");
    assert.match(String(logged[0].fields["stack"]), /disk on fire\n\s+at /);
    const audited = (await ctl.store.listAudit({ limit: 50 })).find((e) => e.requestId === "req-5xx-000001");
    assert.deepEqual([audited?.status, audited?.actor, audited?.route], [500, "admin", "/api/tokens"], "a 5xx is in the audit log too");
  });

  test("on a full store, creating a token answers 503 \"the controller's store is full\" with the request id, never \"already exists\"", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-full-"));
    const file = join(dir, "ferry.db");
    try {
      const fresh = openSqliteStore(file);
      await fresh.migrateToLatest();
      const admin = (await createToken(fresh, "admin", Role.admin, Date.now())).secret;
      await fresh.close();
      // The file may not grow past the pages it has now: a real SQLITE_FULL.
      const store = openSqliteStore(file, Date.now, (sqlite) => {
        sqlite.pragma(`max_page_count = ${String(sqlite.pragma("page_count", { simple: true }))}`);
      });
      const parts = await assembleController(store, createManualClock());
      const app = buildControllerApp(parts, createManualClock());
      let answer: { status: number; body: Err } | undefined;
      for (let i = 0; i < 2000 && answer === undefined; i++) {
        const response = await send(app, { method: "POST", path: "/api/tokens", body: json({ name: `t${i}-${"x".repeat(100)}`, role: "read-only" }), contentType: "application/json" }, admin);
        if (response.status !== 201) answer = { status: response.status, body: (await response.json()) as Err };
      }
      assert.ok(answer !== undefined, "the store never filled up");
      assert.equal(answer.status, 503);
      assert.equal(answer.body.code, "UNAVAILABLE");
      assert.equal(answer.body.message, "the controller's store is full (no space left for the database): free space, then retry");
      assert.match(String((answer.body.details as { requestId?: string }).requestId), /^[0-9a-f-]{36}$/);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("UI and API answers carry CSP, frame-ancestors 'none', nosniff and no-referrer", async () => {
    for (const path of ["/", "/api/openapi.json", "/api/vms"]) {
      const response = await ctl.app.request(path, { headers: { authorization: `Bearer ${ctl.tokens.readOnly}` } });
      const csp = response.headers.get("content-security-policy") ?? "";
      assert.match(csp, /default-src 'self'/, path);
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.match(csp, /script-src 'self'(;|$)/, path);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff", path);
      assert.equal(response.headers.get("referrer-policy"), "no-referrer", path);
      assert.equal(response.headers.get("x-frame-options"), "DENY", path);
    }
  });
});

describe("tokens: expiry, throttling, revocation", () => {
  test("a token with a TTL works until it expires, then is refused saying so; lists show expiry", async () => {
    const clock = createManualClock();
    const app = buildControllerApp(ctl.parts, clock);
    const created = await send(app, { method: "POST", path: "/api/tokens", body: json({ name: "short", role: "read-only", ttlSeconds: 3600 }), contentType: "application/json" }, ctl.tokens.admin);
    assert.equal(created.status, 201);
    const { token, expiresAt } = (await created.json()) as { token: string; expiresAt: number };
    assert.equal(expiresAt, clock.now() + 3_600_000);
    assert.equal((await send(app, { method: "GET", path: "/api/vms" }, token)).status, 200);
    const listed = (await (await send(app, { method: "GET", path: "/api/tokens" }, ctl.tokens.admin)).json()) as { name: string; expiresAt: number | null }[];
    assert.equal(listed.find((t) => t.name === "short")?.expiresAt, expiresAt);
    assert.equal(listed.find((t) => t.name === "admin")?.expiresAt, null);
    await clock.advance(3_600_000);
    const expired = await send(app, { method: "GET", path: "/api/vms" }, token);
    assert.equal(expired.status, 401);
    assert.equal(((await expired.json()) as Err).message, `the token "short" expired at ${new Date(expiresAt).toISOString()}: ask an admin for a new one`);
    const tooShort = await send(app, { method: "POST", path: "/api/tokens", body: json({ name: "blink", role: "read-only", ttlSeconds: 1 }), contentType: "application/json" }, ctl.tokens.admin);
    assert.equal(tooShort.status, 400);
    assert.match(((await tooShort.json()) as Err).message, /^ttlSeconds: .*>=60/);
  });

  test("after 10 failed authentications in a minute an address gets 429 with Retry-After, logged; the window passes", async () => {
    const clock = createManualClock();
    const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
    const app = buildControllerApp({ ...ctl.parts, log: (level, message, fields = {}) => lines.push({ level, message, fields }) }, clock);
    const server = await listen(app);
    const get = (token: string) => fetch(`http://127.0.0.1:${server.port}/api/vms`, { headers: { authorization: `Bearer ${token}` } });
    try {
      for (let i = 0; i < 10; i++) {
        assert.equal((await get(`ferry_guess${i}`)).status, 401);
        await clock.advance(1000);
      }
      const throttled = await get("ferry_guess10");
      assert.equal(throttled.status, 429);
      // Failures at 0..9 s, now 10 s: the first leaves the minute's window in 50 s.
      assert.equal(throttled.headers.get("retry-after"), "50");
      assert.equal(((await throttled.json()) as Err).message, "too many failed authentications from 127.0.0.1: try again in 50 s");
      assert.equal((await get(ctl.tokens.readOnly)).status, 429, "a throttled address learns nothing, even with a good token");
      const refusals = lines.filter((l) => l.message === "authentication refused");
      assert.equal(refusals.length, 10);
      assert.equal(refusals[9]?.fields["address"], "127.0.0.1");
      assert.equal(refusals[9].fields["failures"], 10);
      await clock.advance(50_000);
      assert.equal((await get(ctl.tokens.readOnly)).status, 200);
    } finally {
      await server.close();
    }
  });

  test("revoking a token cuts its open event stream", async () => {
    const { secret } = await createToken(ctl.store, "watcher", Role.readOnly, Date.now());
    const server = await listen(ctl.app);
    try {
      // From the events of now on (earlier tests published some).
      const stream = await fetch(`http://127.0.0.1:${server.port}/api/events?after=${String(await ctl.events.sequence())}`, { headers: { authorization: `Bearer ${secret}`, accept: "text/event-stream" } });
      assert.equal(stream.status, 200);
      const reader = (stream.body ?? new ReadableStream<Uint8Array>()).getReader();
      // An event reaches it while the token is valid.
      await ctl.events.publish("t-hardening", Date.now(), { type: "task", state: "queued", percent: 0, vm: "web01", source: "esx01", destination: "esx02" });
      const first = await reader.read();
      assert.match(new TextDecoder().decode(first.value as Uint8Array), /t-hardening/);
      assert.equal((await ctl.call("DELETE", "/api/tokens/watcher")).status, 200);
      // The stream ends: reads drain and then report done.
      for (;;) {
        const next = await reader.read();
        if (next.done) break;
      }
      assert.equal((await fetch(`http://127.0.0.1:${server.port}/api/events`, { headers: { authorization: `Bearer ${secret}` } })).status, 401);
    } finally {
      await server.close();
    }
  });
});

test("a token revoked in the store by another controller cuts this one's streams at the next sweep", async () => {
  const { token } = await createToken(ctl.store, "elsewhere", Role.readOnly, Date.now());
  const streams = new TokenStreams();
  let cuts = 0;
  streams.watch(token.id, () => cuts++);
  await streams.sweep(ctl.store, 1_000_000);
  assert.equal(cuts, 0, "valid: nothing cut");
  assert.equal(await ctl.store.revokeToken("elsewhere", Date.now()), true);
  await streams.sweep(ctl.store, 1_005_000);
  assert.equal(cuts, 0, "the store is read at most every 10 s");
  await streams.sweep(ctl.store, 1_010_000);
  assert.equal(cuts, 1);
});

describe("audit log", () => {
  test("the log is pruned to a bounded size, newest kept", async () => {
    const store = openSqliteStore(":memory:");
    await store.migrateToLatest();
    const app = createControllerApp({ store, inventory: ctl.inventory, events: ctl.events, clock: createManualClock(), auditKeep: 5 });
    for (let i = 0; i < 12; i++) await app.request("/api/tokens", { method: "POST", headers: { "x-request-id": `prune-test-${String(i).padStart(2, "0")}` } });
    const kept = await store.listAudit({ limit: 100 });
    assert.ok(kept.length <= 10, `at most keep + keep entries, got ${kept.length}`);
    assert.equal(kept[0]?.requestId, "prune-test-11");
    assert.ok(kept.every((e) => e.status === 401 || e.status === 429), "401s, then 429s once the address is throttled");
    await store.close();
  });

  test("writes, refusals and 401s are recorded with actor, route, path, status and request id; admins list them", async () => {
    const since = Date.now();
    await ctl.call("PATCH", "/api/vms/web01", { token: ctl.tokens.operator, body: { nics: [{ name: "nic0", connected: true }] } });
    await ctl.call("PATCH", "/api/vms/web01", { token: ctl.tokens.readOnly, body: {} });
    await ctl.app.request("/api/vms", { headers: { authorization: "Bearer ferry_nope", "x-request-id": "audit-401-0001" } });
    await ctl.call("GET", "/api/vms");
    const list = await ctl.call("GET", `/api/audit?since=${since}`);
    assert.equal(list.status, 200, list.text);
    const entries = list.body as { actor: string | null; method: string; route: string; path: string; status: number; requestId: string; message: string | null; at: number }[];
    assert.deepEqual(
      entries.slice(0, 3).map((e) => [e.actor, e.method, e.route, e.path, e.status]),
      [
        [null, "GET", "/api/vms", "/api/vms", 401],
        ["viewer", "PATCH", "/api/vms/{name}", "/api/vms/web01", 403],
        ["ops", "PATCH", "/api/vms/{name}", "/api/vms/web01", 200],
      ],
    );
    assert.equal(entries[0]?.requestId, "audit-401-0001");
    assert.equal(entries[0].message, "the token is not valid (unknown or revoked)");
    assert.ok(!entries.some((e) => e.method === "GET" && e.status === 200), "reads are not audited");
    const byOps = (await ctl.call("GET", `/api/audit?actor=ops&limit=1&since=${new Date(since).toISOString()}`)).body as { actor: string }[];
    assert.deepEqual(byOps.map((e) => e.actor), ["ops"]);
    const denied = await ctl.call("GET", "/api/audit", { token: ctl.tokens.operator });
    assert.equal(denied.status, 403);
    const bad = await ctl.call("GET", "/api/audit?since=yesterday");
    assert.equal(bad.status, 400);
    assert.equal((bad.body as Err).message, "since: must be an ISO 8601 time or milliseconds since the epoch");
  });
});

async function listen(app: ControllerApp): Promise<{ port: number; close: () => Promise<void> }> {
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, () => {
      resolve(s);
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        if ("closeAllConnections" in server) server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
