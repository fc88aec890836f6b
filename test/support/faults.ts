// The fault table's runner for the integration tests (STYLE.md lesson 11: failure kinds are
// test parameters). Each row gets two fresh agent processes, esx01 (127.0.1.1) and esx02
// (127.0.1.2), a running idle VM on esx01, and a migration to esx02 through the engine;
// then every row is held to the same rule: the VM runs on exactly one host, with the digest
// it had before (an idle guest's state does not change on its own), its MAC and IP, no shell
// or reservation left on a live host, and a failure that carries a code, a phase and a
// reason whenever something went wrong. Callers register `after(stopAllAgents)`.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DEFAULT_MIGRATE_OPTIONS, Phase, TERMINAL_PHASES, type MigrateOptions, type MigrationFailureCode as FailureCode, type MigrationProgress } from "../../src/core/migration/types.ts";
import type { VmSpec } from "../../src/drivers/driver.ts";
import { systemClock } from "../../src/drivers/clock.ts";
import { migrate } from "../../src/engine/migrate.ts";
import { startAgents, type AgentOptions, type AgentProcess } from "./agents.ts";

export const MiB = 1048576;

export interface FaultLab {
  readonly esx01: AgentProcess;
  readonly esx02: AgentProcess;
  readonly abort: AbortController;
}

export type HostName = "esx01" | "esx02";

export interface FaultRow {
  readonly fault: string;
  readonly expected: { readonly outcome: Phase; readonly code: FailureCode | undefined; readonly phase: Phase | undefined; readonly runningOn: HostName; readonly message?: RegExp };
  readonly source?: Partial<AgentOptions>;
  readonly destination?: Partial<AgentOptions>;
  readonly options?: Partial<MigrateOptions>;
  readonly vmMemoryMB?: number;
  /** Before the migration: fault rules, a memory hog... */
  readonly arrange?: (lab: FaultLab) => Promise<void>;
  /** Called on every progress event until it returns true; it may act (kill, abort) in the background. */
  readonly trigger?: (p: MigrationProgress, lab: FaultLab) => boolean;
  /** Agents the fault killed. */
  readonly killed?: readonly HostName[];
}

/** Polls until `check` holds, then runs `act`; in the background, errors ignored (the host may be gone). */
export function when(check: () => Promise<boolean>, act: () => void): void {
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

export const inPrecopy = (p: MigrationProgress): boolean => p.phase === Phase.precopy && p.bytesSent > 2 * MiB;
/** 100 Mb/s: pre-copy of 16 MiB takes over a second, time to act in it. */
export const slowLink = { linkMbps: 100 };


export function runFaultTable(title: string, rows: readonly FaultRow[]): void {
  describe(title, () => {
    for (const row of rows) {
      const { expected } = row;
      test(`${row.fault} → ${expected.code ?? expected.outcome} in ${expected.phase ?? "-"}, VM on ${expected.runningOn}`, async () => {
        const [esx01, esx02] = (await startAgents([
          { name: "esx01", index: 1, ...row.source },
          { name: "esx02", index: 2, ...row.destination },
        ])) as [AgentProcess, AgentProcess];
        const lab: FaultLab = { esx01, esx02, abort: new AbortController() };
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
}
