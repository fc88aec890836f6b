// Live migrations between two real agent processes, one per workload: idle, steady, bursty,
// and hot (dirtying faster than the link carries) with auto-converge. At switchover — held
// open a moment by the destination's delay-before-READY rule — both hosts hold the VM
// paused, and the destination's state digest must equal the source's. Then the VM runs on
// the destination only, with its MAC and IP, and the report carries the prediction.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { VmSpec, WorkloadSpec } from "../../src/drivers/driver.ts";
import { DEFAULT_MIGRATE_OPTIONS, Phase, type MigrateOptions, type MigrationProgress } from "../../src/core/migration/types.ts";
import { systemClock } from "../../src/drivers/clock.ts";
import { migrate } from "../../src/engine/migrate.ts";
import { createScheduler } from "../../src/engine/scheduler.ts";
import { startAgents, stopAllAgents, type AgentProcess } from "../support/agents.ts";

const MiB = 1048576;
let esx01: AgentProcess;
let esx02: AgentProcess;

before(async () => {
  // The source's VMotion link is held to 400 Mb/s, so a hot guest can outrun it.
  [esx01, esx02] = (await startAgents([
    { name: "esx01", index: 1, linkMbps: 400 },
    { name: "esx02", index: 2 },
  ])) as [AgentProcess, AgentProcess];
});
after(async () => {
  await stopAllAgents();
});

function vm(name: string, workload: WorkloadSpec): VmSpec {
  return {
    name,
    memoryMB: 32,
    vcpus: 1,
    touchedBytes: 8 * MiB,
    nics: [{ name: "eth0", mac: "00:50:56:0a:00:01", ip: "198.18.0.21", portGroup: "VM Network" }],
    workload,
  };
}

interface Digests {
  readonly source: string | undefined;
  readonly destination: string | undefined;
  readonly sourcePower: string;
  readonly destinationPower: string;
}

/** Reads both digests while the destination holds the verified state, before READY. */
async function digestsAtSwitchover(migrationId: string, name: string): Promise<Digests> {
  const deadline = Date.now() + 60_000; // a deadline, not a wait: a busy 2-core machine may need long
  while (Date.now() < deadline) {
    if ((await esx02.client.incomingState(migrationId)).state === "verified") {
      const [s, d] = await Promise.all([esx01.client.getVm(name), esx02.client.getVm(name)]);
      return { source: s.stateDigest, destination: d.stateDigest, sourcePower: s.power, destinationPower: d.power };
    }
    await systemClock.sleep(5);
  }
  throw new Error("the destination never reached verified");
}

const cases: readonly { readonly workload: WorkloadSpec; readonly options?: Partial<MigrateOptions> }[] = [
  { workload: { kind: "idle", dirtyRateBytesPerSec: 0, workingSetBytes: 0, seed: 1 } },
  { workload: { kind: "steady", dirtyRateBytesPerSec: 4 * MiB, workingSetBytes: 4 * MiB, seed: 2 } },
  { workload: { kind: "bursty", dirtyRateBytesPerSec: 4 * MiB, workingSetBytes: 4 * MiB, seed: 3 } },
  {
    workload: { kind: "hot", dirtyRateBytesPerSec: 80 * MiB, workingSetBytes: 8 * MiB, seed: 4 },
    options: { autoConverge: true, downtimeLimitMs: 50, maxPasses: 4 },
  },
];

describe("live migration between agent processes, by workload", () => {
  for (const { workload, options } of cases) {
    test(`${workload.kind}: the destination's digest equals the source's at switchover`, async () => {
      const name = `vm-${workload.kind}`;
      const migrationId = `wl-${workload.kind}`;
      const spec = vm(name, workload);
      await esx01.client.createVm(spec);
      await esx01.client.powerOn(name);
      await esx02.client.setFaults([{ delayBeforeReadyMs: 300 }]);
      let atSwitchover: Promise<Digests> | undefined;
      const progress: MigrationProgress[] = [];
      const prediction = { passes: 2, bytes: 8 * MiB, totalMs: 200, downtimeMs: 10, converges: true, note: "test", throttlePercent: 0 };
      try {
        const report = await migrate({
          migrationId,
          vm: spec,
          source: esx01.client,
          destination: esx02.client,
          options: { ...DEFAULT_MIGRATE_OPTIONS, ...options },
          prediction,
          signal: AbortSignal.timeout(30_000),
          clock: systemClock,
          onProgress: (p) => {
            progress.push(p);
            if (p.phase === Phase.switchover) atSwitchover ??= digestsAtSwitchover(migrationId, name);
          },
        });
        assert.equal(report.outcome, Phase.completed, JSON.stringify(report.failure));
        assert.equal(report.runningOn, "esx02");
        assert.equal(report.verified, true);
        assert.deepEqual(report.prediction, prediction);
        assert.ok(report.passes >= 1);
        assert.ok(atSwitchover !== undefined, "a switchover phase was reported");
        const digests = await atSwitchover;
        assert.equal(digests.sourcePower, "paused");
        assert.equal(digests.destinationPower, "paused");
        assert.ok(digests.source !== undefined && digests.source.length > 0);
        assert.equal(digests.destination, digests.source, "memory and device state equal at switchover");
        if (workload.kind === "hot") assert.ok(report.throttlePercentMax > 0, `auto-converge throttled the guest (passes ${report.passes})`);

        const moved = await esx02.client.getVm(name);
        assert.equal(moved.power, "running");
        assert.deepEqual(moved.nics, spec.nics, "same MAC and IP");
        await assert.rejects(esx01.client.getVm(name), /no VM named/);
        const percents = progress.map((p) => p.percent);
        assert.deepEqual(percents, [...percents].sort((a, b) => a - b), "percent never goes backwards");
        assert.equal(progress[progress.length - 1]?.percent, 100);
      } finally {
        await esx02.client.setFaults([]);
      }
    });
  }

  test("the scheduler holds the fifth migration off a 1 Gb/s host, says why, and runs it when a slot frees", async () => {
    const scheduler = createScheduler({ clock: systemClock, vmotionNicMbps: () => 1000 });
    const specs = Array.from({ length: 5 }, (_, i): VmSpec => ({ name: `q${i}`, memoryMB: 16, vcpus: 1, touchedBytes: 4 * MiB, nics: [] }));
    for (const spec of specs) {
      await esx01.client.createVm(spec);
      await esx01.client.powerOn(spec.name);
    }
    const queued = new Map<string, string>();
    const reports = await Promise.all(
      specs.map((spec) => {
        const migrationId = `sched-${spec.name}`;
        const signal = AbortSignal.timeout(30_000);
        const onProgress = (p: MigrationProgress): void => {
          if (p.phase === Phase.queued) queued.set(spec.name, p.message);
        };
        return scheduler.submit({
          migrationId,
          vm: spec.name,
          source: "esx01",
          destination: "esx02",
          signal,
          onProgress,
          run: () => migrate({ migrationId, vm: spec, source: esx01.client, destination: esx02.client, options: { ...DEFAULT_MIGRATE_OPTIONS, priority: "low" }, signal, clock: systemClock, onProgress }),
        });
      }),
    );
    assert.deepEqual([...queued.entries()], [["q4", "waiting: esx01 runs 4 migrations, the limit on a 1 Gb/s VMotion NIC"]]);
    assert.deepEqual(reports.map((r) => [r.vm, r.outcome, r.runningOn]), specs.map((s) => [s.name, Phase.completed, "esx02"]));
  });
});
