// `ferry tokens`, `ferry tokens create --ttl`, `ferry inventory import --dry-run/--force` and
// `ferry audit`, run in-process against a controller app served on a loopback socket.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { serve, type ServerType } from "@hono/node-server";
import type { AddressInfo } from "node:net";
import { testController, type TestController } from "../../server/testing/controller.ts";
import { runFerry } from "../testing/io.ts";
import { parseSince } from "./audit.ts";
import { parseTtl } from "./manage.ts";

let ctl: TestController;
let server: ServerType;
let address: string[];

before(async () => {
  ctl = await testController();
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: ctl.app.fetch, hostname: "127.0.0.1", port: 0 }, () => {
      resolve(s);
    });
  });
  address = ["--controller", `http://127.0.0.1:${(server.address() as AddressInfo).port}`, "--token", ctl.tokens.admin];
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

test("durations: --ttl and --since take s, m, h, d; anything else is a usage error", () => {
  assert.equal(parseTtl("30d"), 30 * 86_400);
  assert.equal(parseTtl("90m"), 5400);
  assert.throws(() => parseTtl("30"), { code: "USAGE", message: '--ttl takes a duration like 90s, 30m, 12h or 30d, got "30"' });
  assert.throws(() => parseTtl("10s"), { code: "USAGE", message: '--ttl must be from 1m to 3650d, got "10s"' });
  assert.equal(parseSince("2h", 10_000_000), 10_000_000 - 7_200_000);
  assert.equal(parseSince("2026-12-06T12:00:00Z", 0), Date.parse("2026-12-06T12:00:00Z"));
  assert.throws(() => parseSince("yesterday", 0), { code: "USAGE" });
});

test("ferry tokens create --ttl, then `ferry tokens` lists its expiry", async () => {
  const created = await runFerry(["tokens", "create", "ci-bot", "--role", "read-only", "--ttl", "30d", ...address]);
  assert.equal(created.status, 0, created.err);
  assert.match(created.out, /^ferry_\S+\n\(token "ci-bot", read-only, expires \d{4}-\d\d-\d\dT[\d:.]+Z: shown only now\)\n$/);
  const bad = await runFerry(["tokens", "create", "x", "--role", "admin", "--ttl", "soon", ...address]);
  assert.equal(bad.status, 2);
  assert.equal(bad.err.trim().split("\n").length, 1, "one line");
  const listed = await runFerry(["tokens", ...address]);
  assert.equal(listed.status, 0, listed.err);
  assert.match(listed.out, /ci-bot\s*│\s*read-only\s*│\s*active\s*│\s*\d{4}-/);
  assert.match(listed.out, /admin\s*│\s*admin\s*│\s*active\s*│\s*never/);
});

test("ferry inventory import --dry-run shows the diff and the refusal; without --force it is refused; nothing changes", async () => {
  const before = JSON.stringify(ctl.inventory.current.inventory);
  const files = new Map([["empty.yaml", "datacenter: Datacenter\n"]]);
  const dry = await runFerry(["inventory", "import", "empty.yaml", "--dry-run", ...address], files);
  assert.equal(dry.status, 0, dry.err);
  assert.match(dry.out, /^empty\.yaml would: removed \d+ datastores .*; removed 3 hosts \(esx01, esx02, esx03\); .*\nwithout --force it is refused: the import would remove 13 running VMs /);
  const refused = await runFerry(["inventory", "import", "empty.yaml", ...address], files);
  assert.equal(refused.status, 1);
  assert.match(refused.err, /the import would remove 13 running VMs .*add force=true/);
  assert.equal(JSON.stringify(ctl.inventory.current.inventory), before);
});

test("ferry audit lists the writes above, newest first, as a table and as JSON", async () => {
  const json = await runFerry(["audit", "--since", "1h", "--limit", "3", "--json", ...address]);
  assert.equal(json.status, 0, json.err);
  const entries = JSON.parse(json.out) as { actor: string; method: string; path: string; status: number }[];
  assert.deepEqual(entries.map((e) => [e.actor, e.method, e.path, e.status]), [
    ["admin", "PUT", "/api/inventory", 409],
    ["admin", "PUT", "/api/inventory?dryRun=true", 200],
    ["admin", "POST", "/api/tokens", 201],
  ]);
  const text = await runFerry(["audit", "--actor", "admin", ...address]);
  assert.equal(text.status, 0, text.err);
  assert.match(text.out, /PUT \/api\/inventory\s*│\s*409/);
  const denied = await runFerry(["audit", "--controller", address[1] ?? "", "--token", ctl.tokens.operator]);
  assert.equal(denied.status, 1);
  assert.match(denied.err, /this needs an admin token/);
});

test("ferry migrate refuses meaningless numbers up front, in one line, exit 2", async () => {
  for (const [flag, value, words] of [
    ["--bandwidth-mbps", "1e-300", '--bandwidth-mbps takes a number of Mb/s from 1 to 400000, got "1e-300"'],
    ["--bandwidth-mbps", "500000", '--bandwidth-mbps takes a number of Mb/s from 1 to 400000, got "500000"'],
    ["--downtime-ms", "0", '--downtime-ms takes a whole number of milliseconds from 1 to 600000, got "0"'],
  ] as const) {
    const run = await runFerry(["migrate", "web01", "--to", "esx02", flag, value, ...address]);
    assert.equal(run.status, 2, run.err);
    assert.equal(run.err.trim().split("\n").length, 1, "one line");
    assert.match(run.err, new RegExp(words.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  }
  assert.equal(ctl.inventory.claims.claimOf("web01"), undefined);
});
