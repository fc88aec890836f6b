// `ferry inventory import` against a controller served on a loopback socket: on a terminal it
// says what the controller is doing (uploading, validating, writing N objects, done), with
// --json only the answer; a refusal is one line; a connection that drops mid-import says so.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve, type ServerType } from "@hono/node-server";
import { ApiClient } from "../../api/client.ts";
import { systemClock } from "../../drivers/clock.ts";
import { tlsFetch } from "../../pki/tls-fetch.ts";
import { startController } from "../../server/main.ts";
import { inventoryYaml } from "../../core/inventory/serialize.ts";
import { testController, type TestController } from "../../server/testing/controller.ts";
import { readTextFile, type CliIo } from "../io.ts";
import { main } from "../main.ts";

let ctl: TestController;
let server: ServerType;
let address: string[];

async function closeServer(s: ServerType | Server): Promise<void> {
  await new Promise<void>((resolve) => {
    if ("closeAllConnections" in s) s.closeAllConnections();
    s.close(() => {
      resolve();
    });
  });
}

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
  await closeServer(server);
  await ctl.store.close();
});

/** Runs ferry in-process with `files`, as on a terminal or not. */
async function ferry(args: readonly string[], files: ReadonlyMap<string, string>, isTty: boolean): Promise<{ status: number; out: string; err: string[] }> {
  let out = "";
  const err: string[] = [];
  const io: CliIo = {
    out: (text) => { out += text.endsWith("\n") ? text : `${text}\n`; },
    err: (text) => { err.push(...text.trimEnd().split("\n")); },
    readText: async (path) => files.get(path) ?? (await readTextFile(path)),
    isTty,
  };
  const status = await main(["node", "ferry", ...args], io);
  return { status, out, err };
}

describe("ferry inventory import", () => {
  test("on a terminal: uploading, validating, writing N objects, done on stderr; the answer on stdout", async () => {
    const inventory = structuredClone(ctl.inventory.current.inventory);
    const vm = inventory.vms.find((v) => v.name === "web01");
    assert.ok(vm !== undefined);
    vm.memoryMB += 512;
    const files = new Map([["lab.yaml", inventoryYaml(inventory)]]);
    const run = await ferry(["inventory", "import", "lab.yaml", ...address], files, true);
    assert.equal(run.status, 0, run.err.join("\n"));
    assert.deepEqual(run.err.map((line) => line.replace(/ \(\d+\.\d s\)$/, "").replaceAll(/[\d.]+ MB/g, "N MB")), ["uploading lab.yaml: N MB of N MB", "validating on the controller", "writing 1 object", "done"]);
    assert.match(run.out, /^imported lab\.yaml: changed 1 vms \(web01\)/);
    assert.equal(ctl.inventory.current.index.vms.get("web01")?.memoryMB, vm.memoryMB);
  });

  test("--json: only the answer, as JSON; piped: no progress either", async () => {
    const files = new Map([["lab.json", JSON.stringify(ctl.inventory.current.inventory)]]);
    const json = await ferry(["inventory", "import", "lab.json", "--json", ...address], files, true);
    assert.equal(json.status, 0, json.err.join("\n"));
    assert.deepEqual(json.err, []);
    assert.equal((JSON.parse(json.out) as { dryRun: boolean }).dryRun, false);
    const piped = await ferry(["inventory", "import", "lab.json", ...address], files, false);
    assert.equal(piped.status, 0);
    assert.deepEqual(piped.err, []);
  });

  test("a bad file is refused (exit 2) in one line after the upload's progress, and nothing changes", async () => {
    const before = ctl.inventory.current.generation;
    const files = new Map([["bad.yaml", "hosts:\n  - name: esx01\n    memoryMB: -1\n"]]);
    const run = await ferry(["inventory", "import", "bad.yaml", ...address], files, true);
    assert.equal(run.status, 2);
    assert.deepEqual(run.err.slice(0, -1).map((line) => line.replace(/ \(.*$/, "")), ["uploading bad.yaml: 0.0 MB of 0.0 MB", "validating on the controller"]);
    assert.match(run.err.at(-1) ?? "", /^ferry: .*request body:3:15: hosts\[0\]\.memoryMB: must be greater than 0, got -1/);
    assert.equal(ctl.inventory.current.generation, before);
  });

  test("over HTTPS with the controller's CA, as the CLI talks to `ferry up`: the upload streams, the import lands", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-import-"));
    const controller = await startController({ dataDir: dir, host: "127.0.0.1", port: 0, clock: systemClock, initialInventory: ctl.inventory.current.inventory });
    try {
      const client = new ApiClient({ url: controller.url, token: controller.adminToken, fetch: tlsFetch({ ca: controller.tls.ca.certificate }) });
      const next = structuredClone(controller.inventory.current.inventory);
      const vm = next.vms[0];
      assert.ok(vm !== undefined);
      vm.memoryMB += 256;
      const steps: string[] = [];
      const result = await client.importInventory(inventoryYaml(next), "", (step) => {
        if (steps.at(-1) !== step.phase) steps.push(step.phase);
      });
      assert.deepEqual(steps, ["uploading", "validating", "writing", "done"]);
      assert.deepEqual(result.diff.changed, { vms: [vm.name] });
      assert.equal(controller.inventory.current.index.vms.get(vm.name)?.memoryMB, vm.memoryMB);
    } finally {
      await controller.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a connection that drops mid-import says so, and that the import may still complete", async () => {
    // A controller that takes the upload, says it writes, and is gone.
    const dropping = createServer((request, response) => {
      request.resume();
      request.on("end", () => {
        response.writeHead(200, { "content-type": "application/x-ndjson" });
        response.write(`${JSON.stringify({ phase: "writing", objects: 10 })}\n`, () => {
          response.socket?.destroy();
        });
      });
    });
    await new Promise<void>((resolve) => dropping.listen(0, "127.0.0.1", resolve));
    try {
      const files = new Map([["lab.yaml", "datacenter: Datacenter\n"]]);
      const run = await ferry(["inventory", "import", "lab.yaml", "--controller", `http://127.0.0.1:${(dropping.address() as AddressInfo).port}`, "--token", "x"], files, false);
      assert.notEqual(run.status, 0);
      assert.equal(run.err.length, 1, run.err.join("\n"));
      assert.match(run.err[0] ?? "", /the connection to the controller at http:\/\/127\.0\.0\.1:\d+ dropped during the import \(writing\); the controller may still complete it/);
    } finally {
      await closeServer(dropping);
    }
  });
});
