// Migrations at datacenter scale through the controller as `ferry controller` runs it: the
// vCenter-maximum inventory (2,500 hosts / 40,000 VMs, generateInventory seed 7), the product's
// store (SQLite in a data directory, or PostgreSQL), HTTPS, and two real sim agent processes
// for one pair of hosts of one cluster, 200 of the cluster's VMs gathered on the first.
//   - start and end: how long one migration's start (request checked, VM claimed, the source
//     agent asked for the VM, task stored) and end (task, admission, inventory move, claim) take
//     in the controller, one migration at a time so nothing else runs meanwhile: wall time, an
//     upper bound of their CPU (the log lines' durationMs; the start's includes the agent's answer);
//   - a burst: 200 requests for distinct VMs at once over HTTPS from a client process (bench/
//     burst-client.ts), until every one is accepted; the controller's CPU meanwhile, per request.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAgentProcess, stopAgent, labVmSpec, type LabAgent } from "../src/cli/commands/up.ts";
import { createAgentClient } from "../src/agent/client.ts";
import { createChecker } from "../src/core/check/checker.ts";
import { indexInventory } from "../src/core/inventory/index.ts";
import { inventoryYaml } from "../src/core/inventory/serialize.ts";
import type { Inventory } from "../src/core/inventory/schema.ts";
import { generateInventory } from "../src/core/lab/generate.ts";
import { systemClock } from "../src/drivers/clock.ts";
import { tlsFetch } from "../src/pki/tls-fetch.ts";
import { startController, type RunningController } from "../src/server/main.ts";
import { startThrowawayPostgres } from "../src/store/testing/postgres.ts";

const MOVES = 220;
const SEQUENTIAL = 20;
const AGENT_TOKEN = "bench-agent-token-0123456789abcdef";

interface Site {
  readonly inventory: Inventory;
  readonly from: string;
  readonly to: string;
  readonly vms: readonly string[];
}

/** Two hosts of one cluster, and MOVES of the cluster's VMs gathered on the first that the checker lets move to the second. */
function site(): Site {
  const inventory = generateInventory({ hosts: 2500, vms: 40000, seed: 7 });
  for (const cluster of inventory.clusters) {
    const found = gather(inventory, cluster.name);
    if (found !== undefined) return found;
  }
  throw new Error(`no cluster has ${MOVES} VMs that can move between two of its hosts`);
}

function gather(inventory: Inventory, cluster: string): Site | undefined {
  const hosts = inventory.hosts.filter((h) => h.cluster === cluster && h.connected);
  const [from, to] = [hosts[0]?.name ?? "", hosts[1]?.name ?? ""];
  const onCluster = new Set(hosts.map((h) => h.name));
  const mounted = new Set(inventory.hosts.find((h) => h.name === from)?.datastores ?? []);
  const files = (v: Inventory["vms"][number]): string[] => [v.files.config.datastore, v.files.log?.datastore, v.files.nvram?.datastore, ...v.disks.map((d) => d.datastore)].filter((d): d is string => d !== undefined);
  const candidates = inventory.vms.filter((v) => onCluster.has(v.host) && v.power === "on" && files(v).every((d) => mounted.has(d)));
  if (candidates.length < MOVES) return undefined;
  const gathered: Inventory = { ...inventory, vms: inventory.vms.map((v) => (candidates.includes(v) ? { ...v, host: from } : v)) };
  const checker = createChecker(indexInventory(gathered));
  const movable = candidates.filter((v) => checker.check(v.name, to).errors.length === 0).map((v) => v.name);
  if (movable.length < MOVES) return undefined;
  const chosen = new Set(movable.slice(0, MOVES));
  // The others stay where they were: only the chosen gather on `from`.
  return { inventory: { ...inventory, vms: inventory.vms.map((v) => (chosen.has(v.name) ? { ...v, host: from } : v)) }, from, to, vms: [...chosen] };
}

/** What the agents read: their two hosts, the cluster's shared things and the moving VMs. */
function agentInventory(s: Site): Inventory {
  const hosts = s.inventory.hosts.filter((h) => h.name === s.from || h.name === s.to);
  const datastores = new Set(hosts.flatMap((h) => h.datastores));
  const clusters = new Set(hosts.map((h) => h.cluster));
  const vms = new Set(s.vms);
  return {
    ...s.inventory,
    datastores: s.inventory.datastores.filter((d) => datastores.has(d.name)),
    clusters: s.inventory.clusters.filter((c) => clusters.has(c.name)),
    resourcePools: s.inventory.resourcePools.filter((p) => clusters.has(p.cluster)),
    hosts,
    vms: s.inventory.vms.filter((v) => vms.has(v.name)).map((v) => ({ ...v, template: undefined })),
    templates: [],
  };
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Number((sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? 0).toFixed(2));
}

async function run(postgresUrl: string | undefined): Promise<Record<string, number | string | boolean>> {
  const dir = mkdtempSync(join(tmpdir(), "ferry-bench-moves-"));
  const s = site();
  const cpuLines = new Map<string, number[]>();
  const log = (_level: string, message: string, fields?: Readonly<Record<string, unknown>>): void => {
    if (typeof fields?.["durationMs"] === "number") cpuLines.set(message, [...(cpuLines.get(message) ?? []), fields["durationMs"]]);
  };
  const agents: LabAgent[] = [];
  let controller: RunningController | undefined;
  try {
    const agentFile = join(dir, "agents.yaml");
    writeFileSync(agentFile, inventoryYaml(agentInventory(s)));
    const tokenFile = join(dir, "agent.token");
    writeFileSync(tokenFile, AGENT_TOKEN, { mode: 0o600 });
    controller = await startController({ dataDir: join(dir, "data"), postgresUrl, host: "127.0.0.1", port: 0, clock: systemClock, initialInventory: s.inventory, log });
    const fetch = tlsFetch({ ca: controller.tls.ca.certificate });
    const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: { id?: string; state?: string; message?: string } }> => {
      const response = await fetch(`${controller?.url ?? ""}/api${path}`, { method, headers: { authorization: `Bearer ${controller?.adminToken ?? ""}`, "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      return { status: response.status, body: (await response.json()) as { id?: string; state?: string; message?: string } };
    };
    for (const [i, host] of [s.from, s.to].entries()) {
      const agent = await startAgentProcess(agentFile, host, `127.0.1.${230 + i}`, { tokenFile, controllerCa: controller.tls.caFile }, 10_000);
      agents.push(agent);
      const joined = await api("POST", "/agents", { host, url: agent.api, token: AGENT_TOKEN });
      if (joined.status !== 200) throw new Error(`join ${host}: ${JSON.stringify(joined.body)}`);
    }
    const source = createAgentClient({ baseUrl: agents[0]?.api ?? "", token: AGENT_TOKEN, name: s.from });
    for (const name of s.vms) {
      const vm = s.inventory.vms.find((v) => v.name === name);
      if (vm === undefined) continue;
      await source.createVm({ ...labVmSpec(vm, undefined, 7), memoryMB: 16, touchedBytes: 4 * 1048576, workload: { kind: "idle", dirtyRateBytesPerSec: 0, workingSetBytes: 0, seed: 7 } });
      await source.powerOn(name);
    }
    // Read from the store the controller writes (not over HTTP): watching must not load what is measured.
    const store = controller.store;
    const until = async (id: string): Promise<string> => {
      for (;;) {
        const state = (await store.getTask(id))?.state ?? "";
        if (["completed", "failed", "cancelled"].includes(state)) return state;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    // One at a time: each start and end is the only work the controller does then.
    for (const vm of s.vms.slice(0, SEQUENTIAL)) {
      const r = await api("POST", "/migrations", { vm, to: s.to, acceptWarnings: "all" });
      if (r.status !== 202) throw new Error(`${vm}: ${r.status} ${JSON.stringify(r.body)}`);
      const state = await until(r.body.id ?? "");
      if (state !== "completed") throw new Error(`${vm} ended ${state}`);
    }
    // The burst: every request at once from a client process, until each is accepted (202) and stored.
    const burst = s.vms.slice(SEQUENTIAL);
    const cpu0 = process.cpuUsage();
    if (process.env["FERRY_BENCH_MARKS"] !== undefined) console.error(`burst starts at ${Math.round(performance.now())} ms`);
    // Not spawnSync: this process is the controller, and must serve meanwhile.
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ["--import", "tsx", join(import.meta.dirname, "burst-client.ts"), controller?.url ?? "", controller?.adminToken ?? "", controller?.tls.caFile ?? "", s.to, ...burst], { timeout: 300_000, maxBuffer: 16 * 1048576 }, (error, stdout, stderr) => {
        if (error === null) resolve(stdout);
        else reject(new Error(`the burst client failed: ${error.message} ${stderr}`));
      });
    });
    const burstCpu = process.cpuUsage(cpu0);
    if (process.env["FERRY_BENCH_MARKS"] !== undefined) console.error(`burst answered at ${Math.round(performance.now())} ms`);
    const result = JSON.parse(out) as { ms: number; answers: { status: number; id?: string; message?: string }[] };
    const burstMs = result.ms;
    const accepted = result.answers.map((a) => ({ status: a.status, body: { id: a.id, message: a.message } }));
    const refused = accepted.filter((r) => r.status !== 202);
    if (refused.length > 0) throw new Error(`${refused.length} requests refused, first: ${JSON.stringify(refused[0]?.body)}`);
    const states: string[] = [];
    for (const r of accepted) states.push(await until(r.body.id ?? ""));
    const failed = accepted.map((r, i) => ({ id: r.body.id, state: states[i] })).filter((t) => t.state !== "completed");
    const starts = (cpuLines.get("migration queued") ?? []).slice(0, SEQUENTIAL);
    const ends = (cpuLines.get("migration completed") ?? []).slice(0, SEQUENTIAL);
    return {
      store: postgresUrl === undefined ? "sqlite" : "postgres",
      hosts: s.inventory.hosts.length,
      vms: s.inventory.vms.length,
      start_ms_p50: percentile(starts, 0.5),
      start_ms_max: percentile(starts, 1),
      end_ms_p50: percentile(ends, 0.5),
      end_ms_max: percentile(ends, 1),
      start_end_goal_ms: 5,
      burst_requests: burst.length,
      burst_accepted_ms: Math.round(burstMs),
      burst_goal_ms: 2000,
      burst_cpu_ms_per_request: Number(((burstCpu.user + burstCpu.system) / 1000 / burst.length).toFixed(2)),
      burst_completed: states.filter((st) => st === "completed").length,
      burst_not_completed: failed.length === 0 ? "none" : JSON.stringify((await Promise.all(failed.slice(0, 3).map((t) => store.getTask(t.id ?? "")))).map((t) => (t?.body["report"] as { failure?: { message?: string } } | undefined)?.failure?.message)),
    };
  } finally {
    await controller?.close();
    await Promise.all(agents.map(stopAgent));
    rmSync(dir, { recursive: true, force: true });
  }
}

export const benchmarks: { name: string; run: () => Promise<Record<string, number | string | boolean>> }[] = [
  { name: "controller: migration start/end and a burst of requests, 2,500 hosts / 40,000 VMs (SQLite)", run: () => run(undefined) },
  {
    name: "controller: migration start/end and a burst of requests, 2,500 hosts / 40,000 VMs (PostgreSQL)",
    async run() {
      const postgres = await startThrowawayPostgres();
      try {
        return await run(postgres.url);
      } finally {
        postgres.stop();
      }
    },
  },
];
