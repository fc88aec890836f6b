// Controller benchmarks: a vCenter-maximum inventory (2,500 hosts, 40,000 VMs) imported into
// the SQLite store and served, within 1 GB RSS; and the API's where-can-it-go on it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateInventory } from "../src/core/lab/generate.ts";
import { systemClock } from "../src/drivers/clock.ts";
import { startController } from "../src/server/main.ts";

const MB = 1024 * 1024;

export const benchmarks = [
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
