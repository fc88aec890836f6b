// Fencing with real agent processes: the destination frozen (SIGSTOP) at the worst moments of
// a switchover, on the sim and on QEMU, each row held to the one rule after the frozen agent
// comes back (test/support/fencing.ts). Partitions: fencing-partition.test.ts.
import { after, describe, test } from "node:test";
import { requireQemu } from "../../src/drivers/qemu/testing/requirements.ts";
import { stopAllAgents } from "../support/agents.ts";
import { FENCE_ROWS } from "../support/fence-rows.ts";
import { runFenceRow, type FenceRow } from "../support/fencing.ts";

after(async () => {
  await stopAllAgents();
});

const frozen: readonly FenceRow[] = Object.values(FENCE_ROWS).filter((row: FenceRow) => row.cut === "freeze");

describe("fencing: a frozen destination never makes a VM run twice", () => {
  for (const row of frozen) {
    test(`${row.fault} → ${row.expected.outcome}, finally on ${row.expected.finallyOn} only`, async () => {
      await runFenceRow(row, row.driver === "qemu" ? { qemu: requireQemu() } : {});
    });
  }
});
