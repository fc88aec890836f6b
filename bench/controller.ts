// Controller benchmarks (`npm run bench -- controller`): a vCenter-maximum inventory (2,500
// hosts, 40,000 VMs) on SQLite and on PostgreSQL: its import through the API as the CLI sends
// it, one-object edits and VM moves (a migration's end) through InventoryService.change, with
// one edit the old whole-inventory way beside them, and where-can-it-go; then many clients.
// `benchmarks` is one array: a new benchmark is one more entry.
import { mkdtempSync, rmSync } from "node:fs";
import { CORE_SCHEMA, dump as dumpYaml } from "js-yaml";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateInventory } from "../src/core/lab/generate.ts";
import { systemClock } from "../src/drivers/clock.ts";
import { tlsFetch } from "../src/pki/tls-fetch.ts";
import { createChecker } from "../src/core/check/checker.ts";
import { moveVm, setNicConnected } from "../src/core/inventory/edits.ts";
import { indexInventory } from "../src/core/inventory/index.ts";
import { checkReferences } from "../src/core/inventory/references.ts";
import { InventorySchema, type Inventory } from "../src/core/inventory/schema.ts";
import { startController, type RunningController } from "../src/server/main.ts";
import { startThrowawayPostgres } from "../src/store/testing/postgres.ts";

const MB = 1024 * 1024;

type BenchResult = Record<string, number | string | boolean>;

/** One benchmark: its name says what and at which size; `run` returns one row of figures. */
export interface ControllerBenchmark {
  readonly name: string;
  readonly run: () => Promise<BenchResult>;
}

const SCALE = { hosts: 2500, vms: 40000, seed: 7 } as const;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Milliseconds of this process's CPU (the controller runs in it) that `run` takes. */
async function cpuMs(run: () => Promise<unknown>): Promise<number> {
  const before = process.cpuUsage();
  await run();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

const round1 = (n: number): number => Number(n.toFixed(1));

/** p50 and max of some samples, rounded. */
function spread(samples: number[]): { p50: number; max: number } {
  samples.sort((a, b) => a - b);
  return { p50: round1(percentile(samples, 50)), max: round1(samples[samples.length - 1] ?? Number.NaN) };
}

/**
 * The edit path before edits validated only what they changed, as it was: the whole
 * inventory copied, parsed and reference-checked, its index and checker rebuilt. Timed once
 * per run beside today's path, on the same inventory.
 */
function oldWholeInventoryChange(inventory: Inventory): void {
  const draft = structuredClone<Inventory>(inventory);
  const vm = draft.vms[0];
  if (vm !== undefined) vm.memoryMB += 1;
  const parsed = InventorySchema.parse(draft);
  if (checkReferences(parsed).length > 0) throw new Error("the old path found a broken inventory");
  createChecker(indexInventory(parsed));
}

/** Hosts of `vm`'s cluster other than its own, where a move keeps its storage and networks. */
function movesOf(controller: RunningController, vmName: string): string[] {
  const { index } = controller.inventory.current;
  const vm = index.vms.get(vmName);
  const cluster = vm === undefined ? undefined : index.hosts.get(vm.host)?.host.cluster;
  if (vm === undefined || cluster === undefined) return [];
  return [...index.hosts.values()].filter((view) => view.host.cluster === cluster && view.host.name !== vm.host).map((view) => view.host.name);
}

/** Single-object edits (a NIC's Connected box) and VM moves (a migration's end) through InventoryService.change. */
async function editFigures(controller: RunningController, samples: number): Promise<BenchResult> {
  const vms = controller.inventory.current.inventory.vms.filter((vm) => vm.nics.length > 0);
  const editWall: number[] = [];
  const editCpu: number[] = [];
  for (let i = 0; i < samples; i++) {
    const vm = vms[(i * 7919) % vms.length];
    if (vm === undefined) continue;
    const nic = vm.nics[0];
    if (nic === undefined) continue;
    const t = performance.now();
    editCpu.push(await cpuMs(() => controller.inventory.change((draft) => { setNicConnected(draft, vm.name, nic.name, !nic.connected); })));
    editWall.push(performance.now() - t);
  }
  const moveWall: number[] = [];
  const moveCpu: number[] = [];
  let refused = 0;
  for (let i = 0; moveWall.length < samples && i < samples * 4; i++) {
    const vm = vms[(i * 104729 + 13) % vms.length];
    if (vm === undefined) continue;
    const to = movesOf(controller, vm.name)[0];
    if (to === undefined) continue;
    const t = performance.now();
    try {
      moveCpu.push(await cpuMs(() => controller.inventory.change((draft) => { moveVm(draft, vm.name, to, vm.pool); })));
      moveWall.push(performance.now() - t);
    } catch {
      refused++;
    }
  }
  const oldCpu = await cpuMs(() => {
    oldWholeInventoryChange(controller.inventory.current.inventory);
    return Promise.resolve();
  });
  // The first edit after an import pays what is built once per inventory (its positions by
  // name) and, often, the collection of the import's garbage: shown on its own.
  const firstEdit = editCpu.shift() ?? Number.NaN;
  editWall.shift();
  const edit = spread(editCpu);
  const move = spread(moveCpu);
  return {
    first_edit_after_import_cpu_ms: round1(firstEdit),
    edit_cpu_ms_p50: edit.p50,
    edit_cpu_ms_max: edit.max,
    edit_wall_ms_p50: spread(editWall).p50,
    edit_goal_ms: 20,
    move_cpu_ms_p50: move.p50,
    move_cpu_ms_max: move.max,
    move_wall_ms_p50: spread(moveWall).p50,
    move_goal_ms: 5,
    moves_refused: refused,
    old_whole_inventory_change_cpu_ms: Math.round(oldCpu),
  };
}

/** PUT /api/inventory over HTTPS with the admin token, the file as `ferry inventory import` sends it. */
async function importOverHttp(controller: RunningController, text: string, type: string): Promise<number> {
  const fetch = tlsFetch({ ca: controller.tls.ca.certificate });
  const t = performance.now();
  const response = await fetch(`${controller.url}/api/inventory?force=true`, { method: "PUT", headers: { authorization: `Bearer ${controller.adminToken}`, "content-type": type }, body: text });
  const answer = await response.text();
  if (!response.ok) throw new Error(`import answered ${response.status}: ${answer.slice(0, 300)}`);
  return performance.now() - t;
}

async function whereFigures(controller: RunningController): Promise<BenchResult> {
  const fetch = tlsFetch({ ca: controller.tls.ca.certificate });
  const vms = controller.inventory.current.inventory.vms;
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const vm = vms[(i * 7919) % vms.length]?.name ?? "";
    const t = performance.now();
    const response = await fetch(`${controller.url}/api/vms/${encodeURIComponent(vm)}/where`, { headers: { authorization: `Bearer ${controller.adminToken}` } });
    await response.arrayBuffer();
    times.push(performance.now() - t);
    if (!response.ok) throw new Error(`where answered ${response.status}`);
  }
  const where = spread(times);
  return { where_over_http_ms_p50: where.p50, where_over_http_ms_max: where.max };
}

/** The controller at a vCenter-maximum inventory, on one store: import, edits, moves, where. */
function inventoryAtScale(storeKind: "SQLite" | "PostgreSQL"): ControllerBenchmark {
  return {
    name: `controller: inventory at 2,500 hosts / 40,000 VMs (${storeKind}): import over the API, one-object edits, VM moves`,
    async run(): Promise<BenchResult> {
      const dir = mkdtempSync(join(tmpdir(), "ferry-bench-"));
      const postgres = storeKind === "PostgreSQL" ? await startThrowawayPostgres() : undefined;
      try {
        const inventory = generateInventory(SCALE);
        // The file as `ferry lab generate` would give it; js-yaml writes it in seconds (the UI's exporter takes ~20 s).
        const yaml = dumpYaml(inventory, { schema: CORE_SCHEMA, noRefs: true, lineWidth: -1 });
        const controller = await startController({ dataDir: dir, host: "127.0.0.1", port: 0, clock: systemClock, postgresUrl: postgres?.url });
        try {
          // Wall time on a shared machine swings with its load; the CPU it took (client and
          // controller share this process; the client's part is the upload) does not.
          let importYamlMs = 0;
          const importYamlCpuMs = await cpuMs(async () => {
            importYamlMs = await importOverHttp(controller, yaml, "application/yaml");
          });
          const changed = structuredClone<Inventory>(controller.inventory.current.inventory);
          for (const vm of changed.vms.slice(0, 100)) vm.memoryMB += 256;
          const reimportJsonMs = await importOverHttp(controller, JSON.stringify(changed), "application/json");
          const edits = await editFigures(controller, 30);
          const where = await whereFigures(controller);
          return {
            hosts: controller.inventory.current.inventory.hosts.length,
            vms: controller.inventory.current.inventory.vms.length,
            import_yaml_over_http_ms: Math.round(importYamlMs),
            import_yaml_cpu_ms: Math.round(importYamlCpuMs),
            yaml_mb: round1(Buffer.byteLength(yaml) / MB),
            reimport_json_100_changed_ms: Math.round(reimportJsonMs),
            import_goal_ms: 10_000,
            ...edits,
            ...where,
            rss_mb: Math.round(process.memoryUsage().rss / MB),
          };
        } finally {
          await controller.close();
        }
      } finally {
        postgres?.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Every controller benchmark, in the order they run; add new ones here. */
export const benchmarks: ControllerBenchmark[] = [inventoryAtScale("SQLite"), inventoryAtScale("PostgreSQL")];

benchmarks.push({
  name: "controller: 200 clients polling tasks, each with an SSE stream, during 8 migrations",
  async run(): Promise<BenchResult> {
    // The controller and the agents are processes of their own, as in a real site: the
    // clients below load the controller, not the benchmark's own event loop.
    const { startLab } = await import("../test/controller/harness.ts");
    const { labVmSpec } = await import("../src/cli/commands/up.ts");
    const { parseInventory } = await import("../src/core/inventory/parse.ts");
    // Two twin hosts with 10 Gb/s VMotion NICs (vCenter's limit: 8 migrations each).
    const { twinLabYaml } = await import("../test/support/twin-lab.ts");
    const yaml = twinLabYaml({ vms: 8, nicMbps: 10_000, vmMemoryMB: 1024 });
    const parsed = parseInventory(yaml, "bench.yaml");
    if (!parsed.ok) throw new Error("bench inventory does not parse");
    const lab = await startLab(
      yaml,
      [{ name: "esx01" }, { name: "esx02" }],
      parsed.inventory.vms.map((vm) => ({ host: "esx01", spec: { ...labVmSpec(vm, undefined, 1), memoryMB: 64, touchedBytes: 48 * 1048576 } })),
    );
    try {
      const url = lab.controller.url;
      const fetch = lab.controller.fetch;
      const headers = { authorization: `Bearer ${lab.controller.token}`, "content-type": "application/json" };
      // Eight migrations at 40 Mb/s each: long enough (~10 s) to load the controller meanwhile.
      for (const vm of parsed.inventory.vms) {
        const started = await lab.api<{ id?: string; message?: string }>("POST", "/migrations", { vm: vm.name, to: "esx02", bandwidthMbps: 40, priority: "low", acceptWarnings: "all" });
        if (started.body.id === undefined) throw new Error(`migration refused: ${started.body.message ?? started.status}`);
      }
      const clients = 200;
      let stopped = false;
      const latencies: number[] = [];
      let sseEvents = 0;
      let errors = 0;
      const streamAbort = new AbortController();
      const streams = Array.from({ length: clients }, async () => {
        try {
          const response = await fetch(`${url}/api/events`, { headers, signal: streamAbort.signal });
          for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) sseEvents += Buffer.from(chunk).toString().split("\nid: ").length - 1;
        } catch {
          // closed at the end
        }
      });
      const pollers = Array.from({ length: clients }, async () => {
        while (!stopped) {
          const t = performance.now();
          try {
            const response = await fetch(`${url}/api/migrations?limit=20`, { headers });
            await response.arrayBuffer();
            if (response.ok) latencies.push(performance.now() - t);
            else errors++;
          } catch {
            errors++;
          }
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      });
      const t0 = performance.now();
      let finals: { state: string; body: { report?: { failure?: { code: string; message: string } } } }[] = [];
      for (;;) {
        finals = (await (await fetch(`${url}/api/migrations?limit=20`, { headers })).json()) as typeof finals;
        if (finals.every((t) => ["completed", "failed", "cancelled"].includes(t.state)) || performance.now() - t0 > 180_000) break;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const wallMs = performance.now() - t0;
      stopped = true;
      streamAbort.abort();
      await Promise.allSettled([...pollers, ...streams]);
      latencies.sort((a, b) => a - b);
      return {
        clients,
        migrations: parsed.inventory.vms.length,
        completed: finals.filter((t) => t.state === "completed").length,
        states: [...new Set(finals.map((t) => t.state))].join(","),
        failures: [...new Set(finals.flatMap((t) => (t.body.report?.failure === undefined ? [] : [`${t.body.report.failure.code}: ${t.body.report.failure.message.slice(0, 120)}`])))].join(" | "),
        migrations_wall_ms: Math.round(wallMs),
        polls: latencies.length,
        poll_errors: errors,
        poll_ms_p50: Number(percentile(latencies, 50).toFixed(1)),
        poll_ms_p99: Number(percentile(latencies, 99).toFixed(1)),
        sse_events_delivered: sseEvents,
      };
    } finally {
      await lab.stop();
    }
  },
});
