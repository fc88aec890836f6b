// Fencing with real agent processes (sim driver) and the controller's ownership ledger: the
// destination agent is frozen (SIGSTOP) at the worst moments of a switchover, and every row is
// held to the one rule *after the frozen agent comes back* (SIGCONT): the VM runs on exactly
// one host, the one its ownership record names, with the state it had. An agent that does not
// answer is never taken for a dead one.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { settleOnSource, migrate } from "../../src/engine/migrate.ts";
import { DEFAULT_MIGRATE_OPTIONS, MigrationFailureCode, Phase } from "../../src/core/migration/types.ts";
import { systemClock } from "../../src/drivers/clock.ts";
import type { VmSpec } from "../../src/drivers/driver.ts";
import { startAgents, stopAllAgents, type AgentProcess } from "../support/agents.ts";
import { startLedgerServer, type LedgerServer } from "../support/ledger.ts";

after(async () => {
  await stopAllAgents();
});

const MiB = 1048576;
type Host = "esx01" | "esx02";

interface Lab {
  readonly esx01: AgentProcess;
  readonly esx02: AgentProcess;
  readonly ledger: LedgerServer;
}

interface FenceRow {
  readonly fault: string;
  /** Fault rules on the destination that hold it at the moment to freeze it. */
  readonly holds: Record<string, unknown>;
  /** The state in which the destination is frozen. */
  readonly freezeWhen: (lab: Lab) => Promise<boolean>;
  /** What happens while it is frozen, after the engine's report (e.g. the ledger comes back). */
  readonly whileFrozen?: (lab: Lab) => Promise<void>;
  readonly cutLedger?: boolean;
  readonly expected: { readonly outcome: Phase; readonly code: MigrationFailureCode; readonly runningOn: Host | ""; readonly message: RegExp; readonly finallyOn: Host };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await systemClock.sleep(20);
  }
}

const spec: VmSpec = {
  name: "web01",
  memoryMB: 48,
  vcpus: 1,
  touchedBytes: 16 * MiB,
  nics: [{ name: "eth0", mac: "00:50:56:0b:00:01", ip: "198.18.0.31", portGroup: "VM Network" }],
  workload: { kind: "idle", dirtyRateBytesPerSec: 0, workingSetBytes: 0, seed: 7 },
};

const rows: readonly FenceRow[] = [
  {
    fault: "SIGSTOP of the destination after COMMIT, before it claims the VM",
    holds: { holdBeforeClaimMs: 1500 },
    freezeWhen: async ({ esx02 }) => (await esx02.client.incomingState("m1")).state === "committing",
    expected: { outcome: Phase.failed, code: MigrationFailureCode.destinationLost, runningOn: "esx01", message: /esx01 took web01's ownership record back/, finallyOn: "esx01" },
  },
  {
    fault: "SIGSTOP of the destination after it resumed the VM, before RUNNING reached the source",
    holds: { holdAfterCommitMs: 1500 },
    freezeWhen: async ({ esx02 }) => (await esx02.client.getVm("web01")).power === "running",
    expected: { outcome: Phase.completed, code: MigrationFailureCode.destinationLost, runningOn: "esx02", message: /esx02 holds web01's ownership record \(it claimed it before resuming\) but did not answer/, finallyOn: "esx02" },
  },
  {
    fault: "SIGSTOP of the destination after COMMIT while the ledger is cut off: needs attention until the destination answers",
    holds: { holdBeforeClaimMs: 1500 },
    freezeWhen: async ({ esx02 }) => (await esx02.client.incomingState("m1")).state === "committing",
    cutLedger: true,
    whileFrozen: async ({ esx01, esx02, ledger }) => {
      // The ledger comes back; the destination, thawed, takes the record; the source, asked again, gives way.
      ledger.cut(false);
      esx02.resume();
      await waitFor("esx02 to run web01", async () => (await esx02.client.incomingState("m1")).state === "running");
      const settled = await settleOnSource("m1", esx01.client, () => undefined);
      assert.equal(settled.where, "destination", "the source's claim loses to the destination's");
    },
    expected: { outcome: Phase.needsAttention, code: MigrationFailureCode.ownershipUnknown, runningOn: "", message: /neither host could prove it holds web01's ownership record/, finallyOn: "esx02" },
  },
];

describe("fencing: a frozen destination never makes a VM run twice (sim agents, controller ledger)", () => {
  for (const row of rows) {
    test(`${row.fault} → ${row.expected.outcome}, finally on ${row.expected.finallyOn} only`, async () => {
      const [esx01, esx02] = (await startAgents([
        { name: "esx01", index: 1 },
        { name: "esx02", index: 2 },
      ])) as [AgentProcess, AgentProcess];
      const ledger = await startLedgerServer();
      const lab: Lab = { esx01, esx02, ledger };
      try {
        await esx01.client.createVm(spec);
        await esx01.client.powerOn("web01");
        const before = (await esx01.client.getVm("web01")).stateDigest;
        await esx02.client.setFaults([row.holds]);
        const plan = await ledger.plan("web01", "m1", [esx01.client, esx02.client]);

        let frozen = false;
        const freezer = waitFor("the moment to freeze esx02", () => row.freezeWhen(lab)).then(() => {
          if (row.cutLedger === true) ledger.cut(true);
          esx02.pause();
          frozen = true;
        });
        const report = await migrate({
          migrationId: "m1",
          vm: spec,
          source: esx01.client,
          destination: esx02.client,
          ownership: plan,
          options: { ...DEFAULT_MIGRATE_OPTIONS, stallTimeoutMs: 3000 },
          signal: new AbortController().signal,
          clock: systemClock,
          timings: { reattachMs: 1000, retryMs: 100 },
          onProgress: () => undefined,
        });
        await freezer;
        assert.ok(frozen, "esx02 was frozen");
        assert.equal(report.outcome, row.expected.outcome, JSON.stringify(report.failure));
        assert.equal(report.failure?.code, row.expected.code, report.failure?.message);
        assert.match(report.failure.message, row.expected.message);
        assert.equal(report.runningOn, row.expected.runningOn);
        if (row.whileFrozen !== undefined) await row.whileFrozen(lab);

        // The frozen agent comes back, and finishes what it was doing.
        esx02.resume();
        await waitFor("esx02 to settle its side", async () => ["running", "failed", "aborted"].includes((await esx02.client.incomingState("m1")).state));
        const expectedHost = row.expected.finallyOn === "esx01" ? esx01 : esx02;
        for (const agent of [esx01, esx02]) {
          const vms = await agent.client.listVms();
          if (agent === expectedHost) {
            assert.deepEqual(vms.map((v) => [v.name, v.power]), [["web01", "running"]], `${agent.name} runs web01`);
            assert.equal(vms[0]?.stateDigest, before, "memory and device state intact");
          } else {
            assert.deepEqual(vms.map((v) => v.name), [], `${agent.name} holds no copy or shell of web01`);
          }
        }
        assert.equal((await ledger.ledger.read("web01"))?.owner, row.expected.finallyOn, "the ownership record names the host that runs it");
      } finally {
        esx01.kill();
        esx02.kill();
        await Promise.all([esx01.exited, esx02.exited]);
        await ledger.close();
      }
    });
  }
});
