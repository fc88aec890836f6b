// Migrations under faults, between real agent processes: one table of
// { fault, expected code, expected phase } (STYLE.md lesson 11). Every row must end with the
// VM running on exactly one host, its memory and device state intact (the digest it had
// before the migration: the guest is idle, so its state does not change on its own), no
// shell or reservation left behind on a live host, and — whenever something went wrong — a
// failure that carries a code, the phase and a reason.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { DEFAULT_MIGRATE_OPTIONS, MigrationFailureCode, Phase, TERMINAL_PHASES, type MigrateOptions, type MigrationFailureCode as FailureCode, type MigrationProgress } from "../../src/core/migration/types.ts";
import type { VmSpec } from "../../src/drivers/driver.ts";
import { systemClock } from "../../src/drivers/clock.ts";
import { migrate } from "../../src/engine/migrate.ts";
import { startAgents, stopAllAgents, type AgentOptions, type AgentProcess } from "../support/agents.ts";

const MiB = 1048576;

after(async () => {
  await stopAllAgents();
});

interface Lab {
  readonly esx01: AgentProcess;
  readonly esx02: AgentProcess;
  readonly abort: AbortController;
}

type HostName = "esx01" | "esx02";

interface FaultRow {
  readonly fault: string;
  readonly expected: { readonly outcome: Phase; readonly code: FailureCode | undefined; readonly phase: Phase | undefined; readonly runningOn: HostName; readonly message?: RegExp };
  readonly source?: Partial<AgentOptions>;
  readonly destination?: Partial<AgentOptions>;
  readonly options?: Partial<MigrateOptions>;
  readonly vmMemoryMB?: number;
  /** Before the migration: fault rules, a memory hog... */
  readonly arrange?: (lab: Lab) => Promise<void>;
  /** Called on every progress event until it returns true; it may act (kill, abort) in the background. */
  readonly trigger?: (p: MigrationProgress, lab: Lab) => boolean;
  /** Agents the fault killed. */
  readonly killed?: readonly HostName[];
}

/** Polls until `check` holds, then runs `act`; in the background, errors ignored (the host may be gone). */
function when(check: () => Promise<boolean>, act: () => void): void {
  void (async () => {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (await check().catch(() => false)) {
        act();
        return;
      }
      await systemClock.sleep(5);
    }
  })();
}

const inPrecopy = (p: MigrationProgress): boolean => p.phase === Phase.precopy && p.bytesSent > 2 * MiB;
/** 100 Mb/s: pre-copy of 16 MiB takes over a second, time to act in it. */
const slowLink = { linkMbps: 100 };

const rows: readonly FaultRow[] = [
  {
    fault: "kill the destination agent during pre-copy",
    source: slowLink,
    trigger: (p, { esx02 }) => {
      if (!inPrecopy(p)) return false;
      esx02.kill();
      return true;
    },
    killed: ["esx02"],
    expected: { outcome: Phase.failed, code: MigrationFailureCode.destinationLost, phase: Phase.precopy, runningOn: "esx01", message: /destination agent esx02 went away during precopy/ },
  },
  {
    fault: "kill the destination agent during switchover (held before READY)",
    arrange: ({ esx02 }) => esx02.client.setFaults([{ delayBeforeReadyMs: 5000 }]),
    trigger: (p, { esx02 }) => {
      if (p.phase !== Phase.switchover) return false;
      when(async () => (await esx02.client.incomingState("m1")).state === "verified", () => { esx02.kill(); });
      return true;
    },
    killed: ["esx02"],
    expected: { outcome: Phase.failed, code: MigrationFailureCode.destinationLost, phase: Phase.switchover, runningOn: "esx01", message: /destination agent esx02 went away during switchover/ },
  },
  {
    fault: "cut the stream",
    arrange: ({ esx01 }) => esx01.client.setFaults([{ cutStreamAfterBytes: 3 * MiB }]),
    expected: { outcome: Phase.failed, code: MigrationFailureCode.streamBroken, phase: Phase.precopy, runningOn: "esx01" },
  },
  {
    fault: "stall the stream",
    arrange: ({ esx01 }) => esx01.client.setFaults([{ stallAfterBytes: 3 * MiB }]),
    options: { stallTimeoutMs: 800 },
    expected: { outcome: Phase.failed, code: MigrationFailureCode.stalled, phase: Phase.precopy, runningOn: "esx01" },
  },
  {
    fault: "abort during pre-copy",
    source: slowLink,
    trigger: (p, { abort }) => {
      if (!inPrecopy(p)) return false;
      abort.abort(new Error("operator pressed Abort"));
      return true;
    },
    expected: { outcome: Phase.cancelled, code: MigrationFailureCode.aborted, phase: Phase.precopy, runningOn: "esx01", message: /operator pressed Abort/ },
  },
  {
    fault: "exhaust the destination's memory (low priority)",
    destination: { memoryMB: 96 },
    options: { priority: "low" },
    arrange: async ({ esx02 }) => {
      await esx02.client.createVm({ name: "hog", memoryMB: 64, vcpus: 1, nics: [] });
      await esx02.client.powerOn("hog");
    },
    expected: { outcome: Phase.failed, code: MigrationFailureCode.destinationOutOfMemory, phase: Phase.preparing, runningOn: "esx01", message: /esx02 cannot hold web01's 48 MB of memory: 32 MB free/ },
  },
  {
    fault: "exhaust the destination's memory (high priority reserves first)",
    destination: { memoryMB: 96 },
    arrange: async ({ esx02 }) => {
      await esx02.client.createVm({ name: "hog", memoryMB: 64, vcpus: 1, nics: [] });
      await esx02.client.powerOn("hog");
    },
    expected: { outcome: Phase.failed, code: MigrationFailureCode.reservationRefused, phase: Phase.preparing, runningOn: "esx01", message: /esx02 cannot reserve resources for migration m1: 48 MB of memory asked, 32 MB free/ },
  },
  {
    fault: "corrupt the memory received",
    arrange: ({ esx02 }) => esx02.client.setFaults([{ corruptMemory: true }]),
    expected: { outcome: Phase.failed, code: MigrationFailureCode.checksumMismatch, phase: Phase.switchover, runningOn: "esx01" },
  },
  {
    fault: "kill the source agent after the destination confirmed (held after COMMIT)",
    arrange: ({ esx02 }) => esx02.client.setFaults([{ holdAfterCommitMs: 5000 }]),
    trigger: (p, { esx01, esx02 }) => {
      if (p.phase !== Phase.switchover) return false;
      when(async () => (await esx02.client.getVm("web01")).power === "running", () => { esx01.kill(); });
      return true;
    },
    killed: ["esx01"],
    expected: { outcome: Phase.completed, code: MigrationFailureCode.sourceLost, phase: Phase.switchover, runningOn: "esx02", message: /source agent esx01 went away .* after esx02 confirmed it runs web01/ },
  },
  {
    fault: "the link drops after COMMIT; the destination had resumed",
    arrange: ({ esx02 }) => esx02.client.setFaults([{ dropAfterCommit: "running" }]),
    expected: { outcome: Phase.completed, code: MigrationFailureCode.destinationLost, phase: Phase.switchover, runningOn: "esx02", message: /settled with esx02's state "running": web01 runs on esx02/ },
  },
  {
    fault: "the link drops after COMMIT; the destination had not resumed",
    arrange: ({ esx02 }) => esx02.client.setFaults([{ dropAfterCommit: "not-running" }]),
    expected: { outcome: Phase.failed, code: MigrationFailureCode.destinationLost, phase: Phase.switchover, runningOn: "esx01", message: /settled with esx02's state "(failed|aborted)": web01 runs on esx01/ },
  },
];

describe("migration faults between agent processes", () => {
  for (const row of rows) {
    const { expected } = row;
    test(`${row.fault} → ${expected.code ?? expected.outcome} in ${expected.phase ?? "-"}, VM on ${expected.runningOn}`, async () => {
      const [esx01, esx02] = (await startAgents([
        { name: "esx01", index: 1, ...row.source },
        { name: "esx02", index: 2, ...row.destination },
      ])) as [AgentProcess, AgentProcess];
      const lab: Lab = { esx01, esx02, abort: new AbortController() };
      try {
        const spec: VmSpec = {
          name: "web01",
          memoryMB: row.vmMemoryMB ?? 48,
          vcpus: 1,
          touchedBytes: 16 * MiB,
          nics: [{ name: "eth0", mac: "00:50:56:0b:00:01", ip: "198.18.0.31", portGroup: "VM Network" }],
          workload: { kind: "idle", dirtyRateBytesPerSec: 0, workingSetBytes: 0, seed: 7 },
        };
        await esx01.client.createVm(spec);
        await esx01.client.powerOn("web01");
        const before = (await esx01.client.getVm("web01")).stateDigest;
        assert.ok(before !== undefined);
        await row.arrange?.(lab);

        let fired = false;
        const outcomes: Phase[] = [];
        const report = await migrate({
          migrationId: "m1",
          vm: spec,
          source: esx01.client,
          destination: esx02.client,
          options: { ...DEFAULT_MIGRATE_OPTIONS, ...row.options },
          signal: lab.abort.signal,
          clock: systemClock,
          timings: { reattachMs: 1000, retryMs: 100 },
          onProgress: (p) => {
            if (TERMINAL_PHASES.has(p.phase)) outcomes.push(p.phase);
            if (!fired && row.trigger !== undefined) fired = row.trigger(p, lab);
          },
        });
        if (row.trigger !== undefined) assert.ok(fired, "the fault was injected");

        // The outcome, with a code, the phase and a reason.
        assert.equal(report.outcome, expected.outcome, JSON.stringify(report.failure));
        assert.equal(report.failure?.code, expected.code, report.failure?.message);
        assert.equal(report.failure?.phase, expected.phase);
        if (expected.code !== undefined) assert.ok((report.failure?.message.length ?? 0) > 20, `a reason: "${report.failure?.message ?? ""}"`);
        if (expected.message !== undefined) assert.match(report.failure?.message ?? "", expected.message);
        assert.equal(report.runningOn, expected.runningOn);
        assert.deepEqual(outcomes, [expected.outcome], "the outcome is announced once, after settling");

        // The one rule: running on exactly one host, state intact, nothing left behind.
        for (const agent of [esx01, esx02]) {
          if (row.killed?.includes(agent.name as HostName) === true) continue;
          const vms = (await agent.client.listVms()).filter((v) => v.name !== "hog");
          if (agent.name === expected.runningOn) {
            assert.deepEqual(vms.map((v) => [v.name, v.power]), [["web01", "running"]], `${agent.name} runs web01`);
            assert.equal(vms[0]?.stateDigest, before, "memory and device state intact");
            assert.deepEqual(vms[0].nics, spec.nics, "same MAC and IP");
          } else {
            assert.deepEqual(vms, [], `${agent.name} holds no copy or shell of web01`);
          }
          assert.deepEqual(await agent.client.listReservations(), [], `${agent.name} holds no reservation`);
        }
        assert.ok(!(row.killed ?? []).includes(expected.runningOn), "the host the VM runs on is alive");
      } finally {
        esx01.kill();
        esx02.kill();
        await Promise.all([esx01.exited, esx02.exited]);
      }
    });
  }
});
