// The fencing fault table (test/support/fencing.ts runs it): the destination frozen or
// partitioned after COMMIT, after it resumed, and while the ledger is cut off, on both drivers.
// Partition rows run inside a network namespace (test/engine/fencing-partition.test.ts).
import { MigrationFailureCode, Phase } from "../../src/core/migration/types.ts";
import { destinationAnswersLater, type FenceRow } from "./fencing.ts";

const committing = async ({ esx02 }: Parameters<FenceRow["cutWhen"]>[0]): Promise<boolean> => (await esx02.client.incomingState("m1")).state === "committing";
const streaming: FenceRow["cutWhen"] = (_lab, p) => Promise.resolve(p?.phase === Phase.precopy);

export const FENCE_ROWS = {
  simFrozenAfterCommit: {
    fault: "sim: the destination frozen (SIGSTOP) after COMMIT, before it claims the VM",
    driver: "sim",
    cut: "freeze",
    holds: { holdBeforeClaimMs: 1500 },
    cutWhen: committing,
    expected: { outcome: Phase.failed, code: MigrationFailureCode.destinationLost, runningOn: "esx01", message: /esx01 took web01's ownership record back/, finallyOn: "esx01" },
  },
  simFrozenAfterResume: {
    fault: "sim: the destination frozen after it resumed the VM, before RUNNING reached the source",
    driver: "sim",
    cut: "freeze",
    holds: { holdAfterCommitMs: 1500 },
    cutWhen: async ({ esx02 }) => (await esx02.client.getVm("web01")).power === "running",
    expected: { outcome: Phase.completed, code: MigrationFailureCode.destinationLost, runningOn: "esx02", message: /esx02 holds web01's ownership record \(it claimed it before resuming\) but did not answer/, finallyOn: "esx02" },
  },
  simFrozenLedgerCut: {
    fault: "sim: the destination frozen after COMMIT while the ledger is cut off: needs attention until it answers",
    driver: "sim",
    cut: "freeze",
    holds: { holdBeforeClaimMs: 1500 },
    cutWhen: committing,
    cutLedger: true,
    afterReport: destinationAnswersLater,
    expected: { outcome: Phase.needsAttention, code: MigrationFailureCode.ownershipUnknown, runningOn: "", message: /neither host could prove it holds web01's ownership record/, finallyOn: "esx02" },
  },
  simPartitionAfterCommit: {
    fault: "sim: the destination's management cable pulled after COMMIT, before it claims: it cannot, the source takes the VM back",
    driver: "sim",
    cut: "partition",
    holds: { holdBeforeClaimMs: 1500 },
    cutWhen: committing,
    expected: { outcome: Phase.failed, code: MigrationFailureCode.destinationLost, runningOn: "esx01", message: /esx01 took web01's ownership record back/, finallyOn: "esx01" },
  },
  qemuFrozenAcrossCompletion: {
    fault: "qemu: the destination's agent frozen while the stream runs; QEMU completes it, nobody claims",
    driver: "qemu",
    cut: "freeze",
    cutWhen: streaming,
    expected: { outcome: Phase.failed, code: MigrationFailureCode.destinationLost, runningOn: "esx01", message: /esx01 took web01's ownership record back/, finallyOn: "esx01" },
  },
  qemuFrozenAfterResume: {
    fault: "qemu: the destination's agent frozen right after its VM resumed",
    driver: "qemu",
    cut: "freeze",
    cutWhen: async ({ esx02 }) => (await esx02.client.incomingState("m1")).state === "running",
    // The source saw "running" before the freeze: plain success, or (the freeze came before the
    // destination's check of the guest on the VM network answered) completed with that check
    // unanswered. Or it did not: then its claim loses to the destination's.
    expected: { outcome: Phase.completed, code: [undefined, MigrationFailureCode.unreachableAfterMigration, MigrationFailureCode.destinationLost], runningOn: "esx02", finallyOn: "esx02" },
  },
  qemuFrozenLedgerCut: {
    fault: "qemu: the destination's agent frozen while the ledger is cut off: needs attention until it answers",
    driver: "qemu",
    cut: "freeze",
    cutWhen: streaming,
    cutLedger: true,
    afterReport: destinationAnswersLater,
    expected: { outcome: Phase.needsAttention, code: MigrationFailureCode.ownershipUnknown, runningOn: "", message: /neither host could prove it holds web01's ownership record/, finallyOn: "esx02" },
  },
  qemuAgentPartitioned: {
    fault: "qemu: the destination's management cable pulled while the stream runs: QEMU completes over VMotion, the agent cannot claim, the source takes the VM back",
    driver: "qemu",
    cut: "partition",
    cutWhen: streaming,
    expected: { outcome: Phase.failed, code: MigrationFailureCode.destinationLost, runningOn: "esx01", message: /esx01 took web01's ownership record back/, finallyOn: "esx01" },
  },
} as const satisfies Record<string, FenceRow>;

export type FenceRowId = keyof typeof FENCE_ROWS;
