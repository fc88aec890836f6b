// Real processes for controller tests: a controller, sim agents on 127.0.1.N, joined and
// with VMs; every process started here is stopped by PID in `stop()`.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { createAgentClient, type AgentClient } from "../../src/agent/client.ts";
import type { VmSpec } from "../../src/drivers/driver.ts";
import { startAgentProcess, stopAgent, type LabAgent } from "../../src/cli/commands/up.ts";
import { tlsFetch, type FetchFunction } from "../../src/pki/tls-fetch.ts";
import { parseInventory } from "../../src/core/inventory/parse.ts";
import type { Vm } from "../../src/core/inventory/schema.ts";

/** examples/lab.yaml (`ferry up`'s lab) as text, for startLab. */
export const LAB_TEXT = readFileSync(new URL("../../examples/lab.yaml", import.meta.url), "utf8");

/** A VM of examples/lab.yaml by name, for its spec. */
export function labVm(name: string): Vm {
  const parsed = parseInventory(LAB_TEXT, "examples/lab.yaml");
  if (!parsed.ok) throw new Error("examples/lab.yaml does not parse");
  const found = parsed.inventory.vms.find((v) => v.name === name);
  if (found === undefined) throw new Error(`examples/lab.yaml has no ${name}`);
  return found;
}

const BIN = new URL("../../bin/ferry.js", import.meta.url).pathname;

export interface ControllerProcess {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  readonly url: string;
  readonly token: string;
  /** The site CA (PEM) and its file: the controller's certificate is checked with it. */
  readonly ca: string;
  readonly caFile: string;
  /** A fetch that trusts the CA. */
  readonly fetch: FetchFunction;
  stderr(): string;
  /** A JSON call to the API (`/vms` → `/api/vms`), with the admin token unless another is given. */
  // The caller names the response shape it expects; its assertions check it.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  api<T = unknown>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T }>;
}

export async function startControllerProcess(dataDir: string, extra: string[] = []): Promise<ControllerProcess> {
  const child = spawn(process.execPath, [BIN, "controller", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--no-save", ...extra], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => { stderr += chunk.toString(); });
  const ready = await new Promise<{ api: string; ca: string }>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once("line", (line) => { resolve(JSON.parse(line) as { api: string; ca: string }); });
    child.once("exit", (code) => { reject(new Error(`controller exited ${String(code)}: ${stderr}`)); });
  });
  const token = readFileSync(join(dataDir, "admin.token"), "utf8").trim();
  // The API is HTTPS with the data directory's CA: this process trusts it, and so do in-process CLI runs.
  const ca = readFileSync(ready.ca, "utf8");
  const fetch = tlsFetch({ ca });
  process.env["FERRY_CA_FILE"] = ready.ca;
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  const api = async <T = unknown>(method: string, path: string, body?: unknown, as = token): Promise<{ status: number; body: T }> => {
    const response = await fetch(`${ready.api}/api${path}`, { method, headers: { authorization: `Bearer ${as}`, "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await response.text();
    return { status: response.status, body: (text.length === 0 ? undefined : JSON.parse(text)) as T };
  };
  return { child, url: ready.api, token, ca, caFile: ready.ca, fetch, stderr: () => stderr, api };
}

export async function stopProcess(child: ChildProcessByStdio<null, Readable, Readable> | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  process.kill(child.pid, signal);
  await exited;
}

export interface Lab {
  readonly dir: string;
  controller: ControllerProcess;
  readonly agents: Map<string, LabAgent>;
  readonly agentToken: string;
  agent(host: string): AgentClient;
  // The caller names the response shape it expects; its assertions check it.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  restartController(signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

/** A controller and one agent per host of `inventory` (YAML text), the VMs of `vms` created and running. */
export async function startLab(inventory: string, hosts: readonly { name: string; linkMbps?: number }[], vms: readonly { host: string; spec: VmSpec }[], controllerArgs: readonly string[] = []): Promise<Lab> {
  const dir = mkdtempSync(join(tmpdir(), "ferry-lab-"));
  const inventoryFile = join(dir, "inventory.yaml");
  writeFileSync(inventoryFile, inventory);
  const tokenFile = join(dir, "agent.token");
  const agentToken = "agent-token-for-tests-0123456789";
  writeFileSync(tokenFile, agentToken, { mode: 0o600 });
  const agents = new Map<string, LabAgent>();
  let controller: ControllerProcess | undefined;
  const lab: Lab = {
    dir,
    get controller() {
      if (controller === undefined) throw new Error("no controller");
      return controller;
    },
    set controller(value) {
      controller = value;
    },
    agents,
    agentToken,
    agent: (host) => {
      const agent = agents.get(host);
      if (agent === undefined) throw new Error(`no agent ${host}`);
      return createAgentClient({ baseUrl: agent.api, token: agentToken, name: host });
    },
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
    async api<T>(method: string, path: string, body?: unknown) {
      const response = await lab.controller.fetch(`${lab.controller.url}/api${path}`, { method, headers: { authorization: `Bearer ${lab.controller.token}`, "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      return { status: response.status, body: (await response.json()) as T };
    },
    async restartController(signal = "SIGTERM") {
      // A controller comes back where its agents know it: the same address (the ownership
      // ledger's capabilities in flight name it).
      const port = controller === undefined ? "0" : new URL(controller.url).port;
      await stopProcess(controller?.child, signal);
      controller = await startControllerProcess(join(dir, "data"), ["--listen", `127.0.0.1:${port}`, ...controllerArgs]);
    },
    async stop() {
      await stopProcess(controller?.child);
      await Promise.all([...agents.values()].map(stopAgent));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    controller = await startControllerProcess(join(dir, "data"), ["-i", inventoryFile, ...controllerArgs]);
    let i = 0;
    for (const host of hosts) {
      i += 1;
      agents.set(host.name, await startAgentProcess(inventoryFile, host.name, `127.0.1.${200 + i}`, { tokenFile, controllerCa: controller.caFile }, host.linkMbps));
    }
    for (const [host, agent] of agents) {
      const joined = await lab.api("POST", "/agents", { host, url: agent.api, token: agentToken });
      if (joined.status !== 200) throw new Error(`join ${host}: ${JSON.stringify(joined.body)}`);
    }
    for (const vm of vms) {
      await lab.agent(vm.host).createVm(vm.spec);
      await lab.agent(vm.host).powerOn(vm.spec.name);
    }
    return lab;
  } catch (error) {
    await lab.stop();
    throw error;
  }
}

/** A migration task's report once it has ended (completed, failed or cancelled), read through the lab's API; fails after 60 s naming its state. */
export async function migrationReport<R>(lab: Lab, id: string): Promise<R> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { body } = await lab.api<{ state: string; body: { report?: R } }>("GET", `/migrations/${id}`);
    if (["completed", "failed", "cancelled"].includes(body.state) && body.body.report !== undefined) return body.body.report;
    if (Date.now() > deadline) throw new Error(`task ${id} still ${body.state}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
