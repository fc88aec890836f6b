// Ferry's benchmarks: `npm run bench` (never part of `npm test`). Each prints a table and
// one JSON line. Timings vary with this shared machine's load; compare within one run.
//   npm run bench                 every benchmark
//   npm run bench -- checker      only those whose name contains "checker" (engine, precopy,
//                                 controller, qemu, qemu-lab: the others; the qemu ones need
//                                 root and QEMU)
import { Bench } from "tinybench";
import { generateInventory } from "../src/core/lab/generate.ts";
import { indexInventory } from "../src/core/inventory/index.ts";
import { createChecker } from "../src/core/check/checker.ts";
import { benchmarks as controllerBenchmarks } from "./controller.ts";
import { benchmarks as controllerMigrationBenchmarks } from "./controller-migrations.ts";
import { benchmarks as drsBenchmarks } from "./drs.ts";
import { benchmarks as drsEndToEndBenchmarks } from "./drs-e2e.ts";
import { benchmarks as engineBenchmarks } from "./engine.ts";
import { benchmarks as precopyBenchmarks } from "./precopy.ts";
import { benchmarks as qemuBenchmarks } from "./qemu.ts";
import { benchmarks as qemuCeilingBenchmarks } from "./qemu-ceiling.ts";
import { benchmarks as qemuLabBenchmarks } from "./qemu-lab.ts";
import { benchmarks as qemuPredictionBenchmarks } from "./qemu-prediction.ts";

interface Benchmark {
  readonly name: string;
  readonly run: () => Promise<Record<string, number | string | boolean>>;
}

const MB = 1024 * 1024;

const checkerMatrix: Benchmark = {
  name: "checker: compatibility matrix, 1,000 hosts x 10,000 VMs (seed 1)",
  async run() {
    const rssBefore = process.memoryUsage().rss;
    const t0 = performance.now();
    const inventory = generateInventory({ hosts: 1000, vms: 10000, seed: 1 });
    const generateMs = performance.now() - t0;
    const index = indexInventory(inventory);
    const runs: number[] = [];
    let pairs = 0;
    let blocked = 0;
    let warned = 0;
    let groupRows = 0;
    for (let r = 0; r < 3; r++) {
      const checker = createChecker(index); // a fresh checker: no memo carried between runs
      const t = performance.now();
      const matrix = checker.matrix();
      runs.push(performance.now() - t);
      pairs = matrix.errors.length;
      blocked = 0;
      warned = 0;
      for (let i = 0; i < pairs; i++) {
        if (matrix.errors[i] !== 0) blocked++;
        else if (matrix.warnings[i] !== 0) warned++;
      }
      groupRows = matrix.groupRows;
    }
    const rssPeak = process.memoryUsage().rss;
    runs.sort((a, b) => a - b);
    const matrixMs = runs[1] ?? 0;

    // "Where can it go": every host with full findings (messages and fixes) for one VM.
    const checker = createChecker(index);
    const bench = new Bench({ iterations: 50, warmupIterations: 5 });
    let k = 0;
    bench.add("where", () => {
      k = (k + 7919) % inventory.vms.length;
      checker.where(inventory.vms[k]?.name ?? "");
    });
    await bench.run();
    const result = bench.tasks[0]?.result;
    const whereMs = result !== undefined && "latency" in result ? result.latency.p50 : Number.NaN;
    return {
      pairs,
      blocked,
      warnings_only: warned,
      compatible: pairs - blocked - warned,
      group_rows: groupRows,
      generate_ms: Math.round(generateMs),
      matrix_ms_median_of_3: Math.round(matrixMs),
      matrix_goal_ms: 2000,
      matrix_ns_per_pair: Math.round((matrixMs * 1e6) / pairs),
      rss_mb: Math.round(rssPeak / MB),
      rss_growth_mb: Math.round((rssPeak - rssBefore) / MB),
      rss_goal_mb: 512,
      where_ms_p50: Number(whereMs.toFixed(2)),
      where_goal_ms: 5,
    };
  },
};

const benchmarks: readonly Benchmark[] = [checkerMatrix, ...engineBenchmarks, ...precopyBenchmarks, ...controllerBenchmarks, ...controllerMigrationBenchmarks, ...qemuBenchmarks, ...qemuCeilingBenchmarks, ...qemuLabBenchmarks, ...qemuPredictionBenchmarks, ...drsBenchmarks, ...drsEndToEndBenchmarks];

const filters = process.argv.slice(2);
for (const b of benchmarks.filter((x) => filters.length === 0 || filters.some((f) => x.name.includes(f)))) {
  const result = await b.run();
  console.log(`\n${b.name}`);
  console.table(result);
  console.log(JSON.stringify({ benchmark: b.name, ...result }));
}
