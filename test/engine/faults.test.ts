// Migrations that lose a host or the link between agent processes: an agent killed in
// pre-copy, in switchover, after the destination confirmed; the link lost right after
// COMMIT (the window settle() resolves). One row per fault: { fault, expected code,
// expected phase }; the rule every row is held to is in test/support/faults.ts.
import { after } from "node:test";
import { MigrationFailureCode, Phase } from "../../src/core/migration/types.ts";
import { stopAllAgents } from "../support/agents.ts";
import { inPrecopy, runFaultTable, slowLink, when, type FaultRow } from "../support/faults.ts";

after(async () => {
  await stopAllAgents();
});

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

runFaultTable("migration faults: hosts and links lost", rows);
