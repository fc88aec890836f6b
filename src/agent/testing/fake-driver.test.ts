// The fake driver's ownership fence, which the contract's cases (run without one) do not reach:
// with a fence, the destination claims the VM's record before it resumes it, and an uncertain
// switchover is settled by the source's own claim, so the VM runs on exactly one host whichever
// side of COMMIT the link broke. The record is an in-memory one with the core's claim rule.
import assert from "node:assert/strict";
import { test } from "node:test";
import { claimVerdict, type ClaimResult, type Ownership } from "../../core/ownership.ts";
import { DEFAULT_MIGRATE_OPTIONS, MigrationFailureCode, Phase } from "../../core/migration/types.ts";
import { systemClock } from "../../drivers/clock.ts";
import { PowerStatus, type OwnershipFence } from "../../drivers/driver.ts";
import { createFakeDriver, createFakeNetwork, fakeHostFacts, type FakeFaults } from "./fake-driver.ts";

/** One VM's record, and a fence on it per host, all from the generation the migration began at. */
function ledger(vm: string, migrationId: string): { record: () => Ownership; fenceFor: (host: string) => OwnershipFence } {
  let record: Ownership = { vm, owner: "esx01", generation: 1, at: 0 };
  return {
    record: () => record,
    fenceFor: (host) => ({
      where: "the test's ledger",
      generation: 1,
      claim: (): Promise<ClaimResult> => {
        const verdict = claimVerdict(record, 1, host, migrationId);
        if (verdict === "write") record = { vm, owner: host, generation: 2, migrationId, at: 0 };
        return Promise.resolve({ won: verdict !== "lost", ownership: record });
      },
    }),
  };
}

const rows: readonly { readonly drop: FakeFaults["dropAfterCommit"]; readonly settled: "source" | "destination" }[] = [
  { drop: "running", settled: "destination" },
  { drop: "not-running", settled: "source" },
];

for (const { drop, settled } of rows) {
  test(`the link drops after COMMIT (destination ${drop}): settled by the record on the ${settled}, the VM runs on one host`, async () => {
    const network = createFakeNetwork();
    const source = createFakeDriver(network, fakeHostFacts("esx01", "127.0.1.1"));
    const destination = createFakeDriver(network, fakeHostFacts("esx02", "127.0.1.2"));
    const spec = { name: "web01", memoryMB: 64, vcpus: 1, nics: [] };
    const { record, fenceFor } = ledger(spec.name, "m1");
    try {
      await source.create(spec);
      await source.powerOn(spec.name);
      const target = await destination.prepareIncoming(spec, { migrationId: "m1", listenHost: "127.0.1.2", fence: fenceFor("esx02") });
      source.faults = { dropAfterCommit: drop };
      const report = await source.migrateOut(spec.name, target, DEFAULT_MIGRATE_OPTIONS, { signal: new AbortController().signal, clock: systemClock, onProgress: () => undefined, fence: fenceFor("esx01") });
      assert.deepEqual({ outcome: report.outcome, code: report.failure?.code, runningOn: report.runningOn }, { outcome: Phase.failed, code: MigrationFailureCode.destinationLost, runningOn: "" });
      // The destination's word is overruled by the record: "unknown" here would resume a copy the destination runs.
      assert.equal(await source.settle(spec.name, "m1", "unknown"), settled);
      const powers = [(await source.get(spec.name))?.power, (await destination.get(spec.name))?.power];
      assert.deepEqual(powers, settled === "destination" ? [undefined, PowerStatus.running] : [PowerStatus.running, undefined]);
      assert.equal(record().owner, settled === "destination" ? "esx02" : "esx01");
      assert.equal(await source.settle(spec.name, "m1", "running"), settled, "a repeated settle gives the same answer");
    } finally {
      await Promise.all([source.close(), destination.close()]);
    }
  });
}

test("a destination whose claim lost does not resume the VM; it runs on the source", async () => {
  const network = createFakeNetwork();
  const source = createFakeDriver(network, fakeHostFacts("esx01", "127.0.1.1"));
  const destination = createFakeDriver(network, fakeHostFacts("esx02", "127.0.1.2"));
  const spec = { name: "web01", memoryMB: 64, vcpus: 1, nics: [] };
  const { fenceFor } = ledger(spec.name, "m1");
  try {
    await source.create(spec);
    await source.powerOn(spec.name);
    const target = await destination.prepareIncoming(spec, { migrationId: "m1", listenHost: "127.0.1.2", fence: fenceFor("esx02") });
    // The source took the record back first (as after a failed switchover elsewhere).
    assert.equal((await fenceFor("esx01").claim()).won, true);
    const report = await source.migrateOut(spec.name, target, DEFAULT_MIGRATE_OPTIONS, { signal: new AbortController().signal, clock: systemClock, onProgress: () => undefined });
    assert.deepEqual({ outcome: report.outcome, code: report.failure?.code, runningOn: report.runningOn }, { outcome: Phase.failed, code: MigrationFailureCode.destinationLost, runningOn: "esx01" });
    assert.equal((await source.get(spec.name))?.power, PowerStatus.running);
    assert.equal(await destination.get(spec.name), undefined);
    assert.equal(await destination.incomingState("m1"), "failed");
  } finally {
    await Promise.all([source.close(), destination.close()]);
  }
});
