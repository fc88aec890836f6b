// Migrations that fail without losing a host, between agent processes: the stream cut or
// stalled, an operator's abort, a destination without the memory, corrupted memory. One row
// per fault: { fault, expected code, expected phase }; the rule every row is held to is in
// test/support/faults.ts.
import { after } from "node:test";
import { MigrationFailureCode, Phase } from "../../src/core/migration/types.ts";
import { stopAllAgents } from "../support/agents.ts";
import { MiB, inPrecopy, runFaultTable, slowLink, type FaultRow } from "../support/faults.ts";

after(async () => {
  await stopAllAgents();
});

const rows: readonly FaultRow[] = [
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
];

runFaultTable("migration faults: refused, cut, stalled, aborted", rows);
