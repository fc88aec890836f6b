// The CLI against a real controller process: inventory commands through the REST API, on
// SQLite and on a real PostgreSQL, and state that survives a controller restart.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcessByStdio } from "node:child_process";
import type { Readable } from "node:stream";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { runFerry } from "../../src/cli/testing/io.ts";
import { startThrowawayPostgres, type ThrowawayPostgres } from "../../src/store/testing/postgres.ts";

const BIN = new URL("../../bin/ferry.js", import.meta.url).pathname;
const LAB = new URL("../../examples/lab.yaml", import.meta.url).pathname;

interface Controller {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  readonly url: string;
  readonly token: string;
}

async function startControllerProcess(dataDir: string, extra: string[] = []): Promise<Controller> {
  const child = spawn(process.execPath, [BIN, "controller", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "-i", LAB, "--no-save", ...extra], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => { stderr += chunk.toString(); });
  const ready = await new Promise<{ api: string; ca: string }>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once("line", (line) => { resolve(JSON.parse(line) as { api: string; ca: string }); });
    child.once("exit", (code) => { reject(new Error(`controller exited ${code}: ${stderr}`)); });
  });
  // The API is HTTPS: the CLI trusts the controller's CA through FERRY_CA_FILE.
  process.env["FERRY_CA_FILE"] = ready.ca;
  return { child, url: ready.api, token: readFileSync(join(dataDir, "admin.token"), "utf8").trim() };
}

async function stop(controller: Controller | undefined): Promise<void> {
  if (controller?.child.exitCode !== null || controller.child.pid === undefined) return;
  const exited = new Promise((resolve) => controller.child.once("exit", resolve));
  process.kill(controller.child.pid, "SIGTERM");
  await exited;
}

function suite(name: string, setup: () => Promise<{ dataDir: string; extra: string[]; cleanup: () => void }>): void {
  describe(`ferry CLI against a controller on ${name}`, () => {
    let env: { dataDir: string; extra: string[]; cleanup: () => void };
    let ctl: Controller | undefined;
    const ferry = (...args: string[]) => runFerry([...args, "--controller", ctl!.url, "--token", ctl!.token]);

    before(async () => {
      env = await setup();
      ctl = await startControllerProcess(env.dataDir, env.extra);
    });
    after(async () => {
      await stop(ctl);
      env.cleanup();
    });

    test("hosts and vms", async () => {
      const hosts = await ferry("hosts", "--json");
      assert.equal(hosts.status, 0, hosts.err);
      assert.deepEqual((JSON.parse(hosts.out) as { name: string }[]).map((h) => h.name), ["esx01", "esx02", "esx03"]);
      const vms = await ferry("vms");
      assert.match(vms.out, /web01\s+│ esx01/);
    });

    test("check and where go through the API, with the same exit statuses", async () => {
      assert.equal((await ferry("check", "--vm", "web01", "--to", "esx02")).status, 0);
      const blocked = await ferry("check", "--vm", "iso01", "--to", "esx02");
      assert.equal(blocked.status, 1);
      assert.match(blocked.out, /DEVICE_HOST_ONLY/);
      const where = await ferry("where", "--vm", "web01", "--json");
      assert.equal((JSON.parse(where.out) as { current: string }).current, "esx01");
      const unknown = await ferry("check", "--vm", "nope", "--to", "esx02");
      assert.equal(unknown.status, 2);
      assert.equal(unknown.err, 'ferry: no VM named "nope" in the inventory\n');
    });

    test("vm set, host network, masks, deploy", async () => {
      assert.equal((await ferry("vm", "set", "iso01", "--disconnect", "cdrom0")).status, 0);
      assert.equal((await ferry("check", "--vm", "iso01", "--to", "esx02")).status, 0);
      const add = await ferry("host", "network", "add", "esx03", "--vswitch", "vSwitch9", "--nic", "vmnic7", "--ip", "198.19.9.3/24");
      assert.equal(add.status, 2);
      assert.equal(add.err, 'ferry: esx03 has no physical adapter named "vmnic7"\n');
      assert.equal((await ferry("host", "network", "edit", "esx03", "vmk1", "--mtu", "1500")).status, 0);
      assert.equal((await ferry("host", "network", "edit", "esx03", "vmk1", "--vmotion", "maybe")).status, 2);
      const mask = await ferry("cluster", "mask", "Prod", "--mask", "nx,sse4", "--json");
      assert.equal(mask.status, 0, mask.err);
      assert.ok((JSON.parse(mask.out) as { changed: string[] }).changed.includes("web01"));
      assert.equal((await ferry("cluster", "mask", "Prod", "--mask", "sse5")).status, 2);
      assert.equal((await ferry("template", "deploy", "tmpl-debian-nx", "--name", "web42", "--host", "esx02", "--pool", "Prod-root")).status, 0);
    });

    test("tokens: create, use read-only, revoke", async () => {
      const created = await ferry("tokens", "create", "viewer", "--role", "read-only", "--json");
      assert.equal(created.status, 0, created.err);
      const secret = (JSON.parse(created.out) as { token: string }).token;
      const asViewer = await runFerry(["vm", "set", "web01", "--mask", "none", "--controller", ctl!.url, "--token", secret]);
      assert.equal(asViewer.status, 1);
      assert.match(asViewer.err, /is read-only/);
      const list = await ferry("tokens", "list");
      assert.ok(!list.out.includes(secret), "secrets are never listed");
      assert.equal((await ferry("tokens", "revoke", "viewer")).status, 0);
    });

    test("a migration with no agent for the hosts is refused with a reason, nothing changed", async () => {
      const r = await ferry("migrate", "web01", "--to", "esx02");
      assert.equal(r.status, 1);
      assert.match(r.err, /has no agent connected to the controller/);
      // No migration task; the refusal is a failed operation (issue 15).
      const tasks = await ferry("tasks", "--kind", "migration", "--json");
      assert.deepEqual(JSON.parse(tasks.out), []);
      const [refused] = JSON.parse((await ferry("tasks", "--object", "web01", "--state", "failed", "--json")).out) as ({ kind: string; result: string } | undefined)[];
      assert.equal(refused?.kind, "migration.start");
      assert.match(refused.result, /has no agent connected to the controller/);
      assert.equal((await ferry("migrate", "web01", "--to", "esx02", "--priority", "urgent")).status, 2);
    });

    test("state survives a controller restart", async () => {
      await stop(ctl);
      ctl = await startControllerProcess(env.dataDir, env.extra);
      const vm = JSON.parse((await ferry("inventory", "export", "--json")).out) as { vms: { name: string; devices: { name: string; connected: boolean }[] }[] };
      assert.equal(vm.vms.find((v) => v.name === "iso01")?.devices[0]?.connected, false);
      assert.ok(vm.vms.some((v) => v.name === "web42"));
    });
  });
}

suite("SQLite", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "ferry-ctl-"));
  return Promise.resolve({ dataDir, extra: [], cleanup: () => { rmSync(dataDir, { recursive: true, force: true }); } });
});

let pg: ThrowawayPostgres | undefined;
suite("PostgreSQL", async () => {
  pg = await startThrowawayPostgres();
  const dataDir = mkdtempSync(join(tmpdir(), "ferry-ctl-pg-"));
  return { dataDir, extra: ["--postgres", pg.url], cleanup: () => { pg?.stop(); rmSync(dataDir, { recursive: true, force: true }); } };
});
