// A host joins through its agent: the agent authenticates to the controller with an
// agent-role token (which opens nothing else) and the controller takes the host's facts.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { startControllerProcess, stopProcess, type ControllerProcess } from "./harness.ts";

const BIN = new URL("../../bin/ferry.js", import.meta.url).pathname;
const LAB = new URL("../../examples/lab.yaml", import.meta.url).pathname;

let dir: string;
let controller: ControllerProcess;
let agent: ChildProcessByStdio<null, Readable, Readable> | undefined;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "ferry-join-"));
  controller = await startControllerProcess(join(dir, "data"), ["-i", LAB]);
});
after(async () => {
  await stopProcess(agent);
  await stopProcess(controller.child);
  rmSync(dir, { recursive: true, force: true });
});

const api = async (token: string, method: string, path: string, body?: unknown) => {
  const response = await fetch(`${controller.url}/api${path}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: response.status, body: (await response.json()) };
};

test("an agent joins with its own token; that token opens nothing else", async () => {
  const created = await api(controller.token, "POST", "/tokens", { name: "esx02-agent", role: "agent" });
  assert.equal(created.status, 201);
  const joinToken = (created.body as { token: string }).token;
  assert.equal((await api(joinToken, "GET", "/vms")).status, 403);
  assert.equal((await api(joinToken, "POST", "/migrations", { vm: "web01", to: "esx02" })).status, 403);

  writeFileSync(join(dir, "join.token"), joinToken);
  writeFileSync(join(dir, "agent.token"), "esx02-agent-api-token-0123456789");
  agent = spawn(process.execPath, [BIN, "agent", "-i", LAB, "--name", "esx02", "--vmotion-ip", "127.0.1.42", "--token-file", join(dir, "agent.token"), "--controller", controller.url, "--join-token-file", join(dir, "join.token")], { stdio: ["ignore", "pipe", "pipe"] });
  const ready = await new Promise<{ api: string }>((resolve, reject) => {
    createInterface({ input: agent!.stdout }).once("line", (line) => { resolve(JSON.parse(line) as { api: string }); });
    agent!.once("exit", (code) => { reject(new Error(`agent exited ${String(code)}`)); });
  });
  let agents: { host: string; url: string }[] = [];
  for (let i = 0; i < 100 && agents.length === 0; i++) {
    agents = (await api(controller.token, "GET", "/agents")).body as { host: string; url: string }[];
    if (agents.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.deepEqual(agents, [{ host: "esx02", url: ready.api }]);
  const listed = JSON.stringify(agents);
  assert.ok(!listed.includes("esx02-agent-api-token"), "the agent's token never leaves the controller");
});
