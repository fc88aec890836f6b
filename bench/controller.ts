// Controller benchmarks: a vCenter-maximum inventory (2,500 hosts, 40,000 VMs) imported into
// the SQLite store and served, within 1 GB RSS; and the API's where-can-it-go on it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateInventory } from "../src/core/lab/generate.ts";
import { systemClock } from "../src/drivers/clock.ts";
import { tlsFetch } from "../src/pki/tls-fetch.ts";
import { startController } from "../src/server/main.ts";

const MB = 1024 * 1024;

export const benchmarks: { name: string; run: () => Promise<Record<string, number | string | boolean>> }[] = [
  {
    name: "controller: import and serve 2,500 hosts / 40,000 VMs (SQLite)",
    async run(): Promise<Record<string, number | string | boolean>> {
      const dir = mkdtempSync(join(tmpdir(), "ferry-bench-"));
      try {
        const inventory = generateInventory({ hosts: 2500, vms: 40000, seed: 7 });
        const controller = await startController({ dataDir: dir, host: "127.0.0.1", port: 0, clock: systemClock });
        try {
          const t0 = performance.now();
          await controller.inventory.replace(inventory);
          const importMs = performance.now() - t0;
          const headers = { authorization: `Bearer ${controller.adminToken}` };
          // The API is HTTPS with the data directory's own CA.
          const fetch = tlsFetch({ ca: controller.tls.ca.certificate });
          const t1 = performance.now();
          const reload = await controller.inventory.reload();
          const reloadMs = performance.now() - t1;
          const vms = reload.inventory.vms;
          const times: number[] = [];
          for (let i = 0; i < 20; i++) {
            const vm = vms[(i * 7919) % vms.length]?.name ?? "";
            const t = performance.now();
            const response = await fetch(`${controller.url}/api/vms/${encodeURIComponent(vm)}/where`, { headers });
            await response.arrayBuffer();
            times.push(performance.now() - t);
            if (!response.ok) throw new Error(`where answered ${response.status}`);
          }
          times.sort((a, b) => a - b);
          const rss = process.memoryUsage().rss;
          return {
            hosts: reload.inventory.hosts.length,
            vms: vms.length,
            import_ms: Math.round(importMs),
            reload_from_store_ms: Math.round(reloadMs),
            where_over_http_ms_p50: Number((times[10] ?? 0).toFixed(1)),
            where_over_http_ms_max: Number((times[times.length - 1] ?? 0).toFixed(1)),
            rss_mb: Math.round(rss / MB),
            rss_goal_mb: 1024,
          };
        } finally {
          await controller.close();
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
];

/** An inline lab: two twin hosts with 10 Gb/s VMotion NICs (vCenter's limit: 8 migrations each). */
export function twinHostsYaml(vms: number): string {
  const host = (name: string, ip: string) => `  - name: ${name}
    cluster: C
    cpu: { vendor: GenuineIntel, family: 6, model: 63, flags: [fpu, tsc, cx8, apic, cmov, fxsr, sse, sse2, syscall, nx, lm, pni, ssse3, sse4_1, sse4_2], cores: 32, mhz: 2500 }
    memoryMB: 262144
    nics: [{ name: vmnic0, speedMbps: 10000 }, { name: vmnic1, speedMbps: 10000 }]
    vswitches:
      - { name: vSwitch0, uplinks: [vmnic0], portGroups: [{ name: VM Network }] }
      - name: vSwitch1
        uplinks: [vmnic1]
        portGroups: [{ name: VMotion }]
        vmkernelPorts: [{ name: vmk1, portGroup: VMotion, ip: ${ip}/24, vmotion: true }]
    datastores: [ds1]
`;
  const vmLines = Array.from({ length: vms }, (_, i) => `  - { name: vm${i}, host: esx01, memoryMB: 1024, files: { config: { datastore: ds1 } }, nics: [{ name: nic0, portGroup: VM Network, mac: "00:50:56:00:10:${i.toString(16).padStart(2, "0")}" }] }`);
  return `datastores: [{ name: ds1 }]\nclusters: [{ name: C }]\nhosts:\n${host("esx01", "198.19.0.1")}${host("esx02", "198.19.0.2")}vms:\n${vmLines.join("\n")}\n`;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

benchmarks.push({
  name: "controller: 200 clients polling tasks, each with an SSE stream, during 8 migrations",
  async run(): Promise<Record<string, number | string | boolean>> {
    // The controller and the agents are processes of their own, as in a real site: the
    // clients below load the controller, not the benchmark's own event loop.
    const { startLab } = await import("../test/controller/harness.ts");
    const { labVmSpec } = await import("../src/cli/commands/up.ts");
    const { parseInventory } = await import("../src/core/inventory/parse.ts");
    const yaml = twinHostsYaml(8);
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
