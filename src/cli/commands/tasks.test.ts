// `ferry tasks`: every operation and migration as the controller recorded them, in-process
// against a controller app served on a loopback socket.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { serve, type ServerType } from "@hono/node-server";
import type { AddressInfo } from "node:net";
import { OperationSchema } from "../../api/schemas.ts";
import { testController, type TestController } from "../../server/testing/controller.ts";
import { runFerry } from "../testing/io.ts";

let ctl: TestController;
let server: ServerType;
let url: string;

before(async () => {
  ctl = await testController();
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: ctl.app.fetch, hostname: "127.0.0.1", port: 0 }, () => {
      resolve(s);
    });
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise<void>((resolve) => {
    if ("closeAllConnections" in server) server.closeAllConnections();
    server.close(() => {
      resolve();
    });
  });
  await ctl.store.close();
});

const as = (token: string): string[] => ["--controller", url, "--token", token];

test("ferry tasks lists what was done, by whom, when and how it went; filters by object, user and state; --json is the API's shape", async () => {
  const off = await runFerry(["vm", "power", "web01", "off", ...as(ctl.tokens.operator)]);
  assert.equal(off.status, 0, off.err);
  const denied = await runFerry(["vm", "power", "web01", "on", ...as(ctl.tokens.readOnly)]);
  assert.equal(denied.status, 1);

  const table = await runFerry(["tasks", "--object", "web01", ...as(ctl.tokens.readOnly)]);
  assert.equal(table.status, 0, table.err);
  const rows = table.out.split("\n").filter((l) => l.includes("op-"));
  assert.equal(rows.length, 2, table.out);
  assert.match(rows[0] ?? "", /Power on\s*│\s*web01\s*│\s*failed\s*│\s*viewer\s*│\s*\d{4}-\d\d-\d\d [\d:]+Z\s*│\s*\d{4}-.*│\s*FORBIDDEN: /);
  assert.match(rows[1] ?? "", /Power off\s*│\s*web01\s*│\s*succeeded\s*│\s*ops\s*│.*│\s*web01 is powered off on esx01/);

  const json = await runFerry(["tasks", "--user", "ops", "--state", "succeeded", "--json", ...as(ctl.tokens.admin)]);
  assert.equal(json.status, 0, json.err);
  const listed = OperationSchema.array().parse(JSON.parse(json.out));
  assert.deepEqual(listed.map((t) => [t.kind, t.object?.name, t.initiator, t.state]), [["vm.power.off", "web01", "ops", "succeeded"]]);

  assert.equal((await runFerry(["tasks", "--kind", "migration", "--json", ...as(ctl.tokens.admin)])).out.trim(), "[]", "no migration ran");
});

test("ferry tasks refuses a state, kind or limit it does not know, in one line, exit 2", async () => {
  for (const [flag, value, words] of [
    ["--state", "done", '--state takes running, succeeded, failed or cancelled (comma-separated), got "done"'],
    ["--kind", "power", '--kind takes all, operation or migration, got "power"'],
    ["--limit", "0", '--limit takes a whole number from 1 to 500, got "0"'],
  ] as const) {
    const run = await runFerry(["tasks", flag, value, ...as(ctl.tokens.admin)]);
    assert.equal(run.status, 2, run.err);
    assert.equal(run.err.trim().split("\n").length, 1, "one line");
    assert.ok(run.err.includes(words), run.err);
  }
});
