import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Compatibility } from "../api/schemas.ts";
import type { ControllerEnv } from "./app.ts";
import { testController, type TestController } from "./testing/controller.ts";
import { gzipSync, gunzipSync, brotliCompressSync, brotliDecompressSync } from "node:zlib";
import { acceptedEncodings, serveWebUi } from "./ui.ts";

let ctl: TestController;
before(async () => { ctl = await testController(); });
after(async () => { await ctl.store.close(); });

describe("GET /api/session", () => {
  test("names the caller's token and role, for each role", async () => {
    assert.deepEqual((await ctl.call("GET", "/api/session")).body, { name: "admin", role: "admin" });
    assert.deepEqual((await ctl.call("GET", "/api/session", { token: ctl.tokens.operator })).body, { name: "ops", role: "operator" });
    assert.deepEqual((await ctl.call("GET", "/api/session", { token: ctl.tokens.readOnly })).body, { name: "viewer", role: "read-only" });
  });

  test("a bad token gets the server's message, not a session", async () => {
    const bad = await ctl.call("GET", "/api/session", { token: "ferry_nope" });
    assert.equal(bad.status, 401);
    assert.match((bad.body as { message: string }).message, /not valid/);
  });
});

describe("GET /api/clusters/{name}/compatibility", () => {
  test("every VM of the cluster against every host of it, with the checker's findings", async () => {
    const res = await ctl.call("GET", "/api/clusters/Prod/compatibility", { token: ctl.tokens.readOnly });
    assert.equal(res.status, 200);
    const grid = res.body as Compatibility;
    assert.deepEqual(grid.hosts, ["esx01", "esx02"]);
    const row = (vm: string) => grid.vms.find((v) => v.name === vm);
    // iso01's connected host CD-ROM blocks it; its own host is "current".
    const iso = row("iso01");
    assert.ok(iso !== undefined);
    assert.deepEqual(iso.cells.map((c) => [c.host, c.status]), [["esx01", "current"], ["esx02", "errors"]]);
    const finding = iso.cells[1]?.errors[0];
    assert.ok(finding !== undefined);
    assert.match(finding.message, /cdrom0/);
    assert.ok(finding.fix.length > 0);
    // The grid agrees with `where` for each pair.
    const where = (await ctl.call("GET", "/api/vms/web01/where")).body as { hosts: { host: string; ok: boolean; warnings: unknown[] }[] };
    const web = row("web01");
    for (const cell of web?.cells ?? []) {
      if (cell.status === "current") continue;
      const w = where.hosts.find((h) => h.host === cell.host);
      assert.equal(cell.status === "errors", w?.ok === false, cell.host);
    }
    // Only the cluster's VMs: none from Legacy's esx03.
    const vmsOnEsx03 = ((await ctl.call("GET", "/api/vms")).body as { name: string; host: string }[]).filter((v) => v.host === "esx03").map((v) => v.name);
    assert.ok(vmsOnEsx03.length > 0);
    for (const name of vmsOnEsx03) assert.equal(row(name), undefined);
  });

  test("a device disconnected through Edit settings turns the cell compatible", async () => {
    const patched = await ctl.call("PATCH", "/api/vms/iso01", { token: ctl.tokens.operator, body: { devices: [{ name: "cdrom0", connected: false }] } });
    assert.equal(patched.status, 200);
    const grid = (await ctl.call("GET", "/api/clusters/Prod/compatibility")).body as Compatibility;
    const cell = grid.vms.find((v) => v.name === "iso01")?.cells.find((c) => c.host === "esx02");
    assert.notEqual(cell?.status, "errors");
    assert.equal(cell?.errors.length, 0);
  });

  test("an unknown cluster is a 404 in the API's error shape", async () => {
    const res = await ctl.call("GET", "/api/clusters/Nope/compatibility");
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { code: "NOT_FOUND", message: 'no cluster named "Nope"', details: null });
  });
});

describe("the web UI at /", () => {
  const dir = mkdtempSync(join(tmpdir(), "ferry-ui-"));
  const dist = join(dir, "dist");
  const app = new OpenAPIHono<ControllerEnv>();
  serveWebUi(app, dist);
  app.get("/api/ping", (c) => c.text("pong"));
  after(() => { rmSync(dir, { recursive: true, force: true }); });

  test("without a build, / says how to build it in one line", async () => {
    const res = await app.request("/");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/html/);
    assert.match(await res.text(), /npm run build:web/);
  });

  test("serves the build: types, caching of hashed assets, SPA fallback, /api untouched, nothing outside", async () => {
    mkdirSync(join(dist, "assets"), { recursive: true });
    writeFileSync(join(dist, "index.html"), "<!doctype html><div id=root></div>");
    writeFileSync(join(dist, "assets", "index-AbCdEf12.js"), "console.log(1)");
    writeFileSync(join(dist, "assets", "index-AbCdEf12.css"), "body{}");
    writeFileSync(join(dir, "secret.txt"), "no");

    const index = await app.request("/");
    assert.equal(index.headers.get("cache-control"), "no-cache");
    assert.match(await index.text(), /id=root/);
    const js = await app.request("/assets/index-AbCdEf12.js");
    assert.equal(js.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.equal(js.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.equal((await app.request("/assets/index-AbCdEf12.css")).headers.get("content-type"), "text/css; charset=utf-8");
    const page = await app.request("/vms/web01");
    assert.equal(page.status, 200);
    assert.match(await page.text(), /id=root/);
    assert.equal((await app.request("/assets/gone-12345678.js")).status, 404);
    assert.equal(await (await app.request("/api/ping")).text(), "pong");
    const escape = await app.request("/..%2fsecret.txt");
    assert.doesNotMatch(await escape.text(), /^no$/);
  });

  test("a missing file with an extension is a 404, not the app: /favicon.ico before the build has one", async () => {
    mkdirSync(join(dist, "assets"), { recursive: true });
    writeFileSync(join(dist, "index.html"), "<!doctype html><div id=root></div>");
    const missing = await app.request("/favicon.ico");
    assert.equal(missing.status, 404);
    assert.doesNotMatch(await missing.text(), /id=root/);
    writeFileSync(join(dist, "favicon.ico"), Buffer.from([0, 0, 1, 0]));
    const icon = await app.request("/favicon.ico");
    assert.equal(icon.status, 200);
    assert.equal(icon.headers.get("content-type"), "image/x-icon");
    assert.deepEqual([...new Uint8Array(await icon.arrayBuffer())], [0, 0, 1, 0]);
  });

  test("sends the precompressed copy the browser accepts, with Content-Encoding and Vary; the plain file otherwise", async () => {
    mkdirSync(join(dist, "assets"), { recursive: true });
    const js = "export const ferry = 'live migration';\n".repeat(200);
    const file = join(dist, "assets", "app-ZzYyXx98.js");
    writeFileSync(file, js);
    writeFileSync(`${file}.gz`, gzipSync(js));
    writeFileSync(`${file}.br`, brotliCompressSync(js));
    const path = "/assets/app-ZzYyXx98.js";

    const br = await app.request(path, { headers: { "accept-encoding": "gzip, deflate, br, zstd" } });
    assert.equal(br.headers.get("content-encoding"), "br");
    assert.equal(br.headers.get("vary"), "Accept-Encoding");
    assert.equal(br.headers.get("content-type"), "text/javascript; charset=utf-8");
    const brBody = Buffer.from(await br.arrayBuffer());
    assert.ok(brBody.length < js.length / 4, `brotli copy is ${String(brBody.length)} bytes`);
    assert.equal(brotliDecompressSync(brBody).toString(), js);

    const gz = await app.request(path, { headers: { "accept-encoding": "gzip" } });
    assert.equal(gz.headers.get("content-encoding"), "gzip");
    assert.equal(gunzipSync(Buffer.from(await gz.arrayBuffer())).toString(), js);

    // br refused with q=0: gzip; nothing accepted: the file itself, still with Vary.
    assert.equal((await app.request(path, { headers: { "accept-encoding": "br;q=0, gzip;q=0.5" } })).headers.get("content-encoding"), "gzip");
    const plain = await app.request(path);
    assert.equal(plain.headers.get("content-encoding"), null);
    assert.equal(plain.headers.get("vary"), "Accept-Encoding");
    assert.equal(await plain.text(), js);
  });
});

describe("Accept-Encoding", () => {
  test("q-values, refusals and * (RFC 9110)", () => {
    assert.deepEqual([...acceptedEncodings("gzip, deflate, br")].sort(), ["br", "deflate", "gzip"]);
    assert.deepEqual([...acceptedEncodings("br;q=0, gzip;q=0.8")], ["gzip"]);
    assert.deepEqual([...acceptedEncodings("*")].sort(), ["br", "gzip"]);
    assert.deepEqual([...acceptedEncodings("*;q=1, br;q=0")], ["gzip"]);
    assert.deepEqual([...acceptedEncodings("identity")], ["identity"]);
    assert.equal(acceptedEncodings(undefined).size, 0);
  });
});
