import { test } from "node:test";
import assert from "node:assert/strict";
import { Phase, type MigrationReport, type Prediction } from "../core/migration/types.ts";
import { openSqliteStore } from "../store/sqlite.ts";
import { Predictor, type FinishedMigration } from "./prediction.ts";

const BASIS: NonNullable<Prediction["basis"]> = { linkRateBytesPerSec: 125e6, linkSource: "nominal", samples: 0, costs: "qemu", safetyMarginMs: 0, text: "", zeroPageMs: 0.0005, stopCopyScale: 1 };

const PREDICTED: Prediction = {
  passes: 5,
  bytes: 200e6,
  totalMs: 2000,
  downtimeMs: 100,
  hypervisorDowntimeMs: 60,
  converges: true,
  note: "",
  throttlePercent: 0,
  basis: BASIS,
};

function finished(over: Partial<MigrationReport>, prediction: Prediction = PREDICTED): FinishedMigration {
  const report: MigrationReport = {
    migrationId: "m-1",
    vm: "vm1",
    source: "esx01",
    destination: "esx02",
    outcome: Phase.completed,
    runningOn: "esx02",
    downtimeMs: 70,
    hypervisorDowntimeMs: 30,
    totalMs: 2100,
    bytesSent: 210e6,
    passes: 5,
    pagesSent: 50_000,
    zeroPages: 60_000,
    throttlePercentMax: 0,
    prediction,
    verified: false,
    warnings: [],
    ...over,
  };
  return { source: "esx01", destination: "esx02", report, passes: [{ linkRateBytesPerSec: 110e6 }], cold: false, bandwidthLimited: false, at: 1 };
}

test("a completed QEMU move teaches its pair QEMU's own downtime over the stop-and-copy its prediction replayed, undone from the scale that prediction used", async () => {
  const store = openSqliteStore(":memory:");
  try {
    await store.migrateToLatest();
    const predictor = new Predictor(store);
    // Predicted 60 ms of QEMU's own at scale 1; QEMU took 30.
    const first = await predictor.learn(finished({}));
    assert.equal(first?.stopCopyScale, 0.5);
    // The next prediction used 0.5 (30 ms of QEMU's own: 60 unscaled); QEMU took 60: the sample is 1.
    const next = { ...PREDICTED, hypervisorDowntimeMs: 30, basis: { ...BASIS, linkSource: "learned", samples: 1, stopCopyScale: 0.5 } } satisfies Prediction;
    const second = await predictor.learn(finished({ hypervisorDowntimeMs: 60 }, next));
    assert.ok(second?.stopCopyScale !== undefined && Math.abs(second.stopCopyScale - 0.65) < 1e-9, `scale ${String(second?.stopCopyScale)}`);
    assert.deepEqual(await store.getLinkRate("esx01", "esx02"), second);
    // A report without QEMU's figure (the sim's) leaves the scale as it was.
    const third = await predictor.learn(finished({ hypervisorDowntimeMs: undefined }, next));
    assert.equal(third?.stopCopyScale, second.stopCopyScale);
  } finally {
    await store.close();
  }
});
