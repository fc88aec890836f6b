// The link-rate part of the store contract: run by storeContract on every store, so SQLite
// and PostgreSQL keep what host pairs learned alike.
import { test } from "node:test";
import assert from "node:assert/strict";
import { learnLink, type LinkObservation } from "../core/migration/link-learning.ts";
import { QEMU_STREAM_COSTS } from "../core/migration/model.ts";
import type { Store } from "./store.ts";

const SEEN: LinkObservation = { bytesSent: 80e6, precopyRateBytesPerSec: 100e6, totalMs: 900, downtimeMs: 40, modelledDowntimeMs: 25, at: 1_700_000_000_000 };

export function linkRateContract(store: () => Store): void {
  void test("link rates: a pair's record is folded in, read back exactly, per direction, listed in order", async () => {
    const s = store();
    assert.equal(await s.getLinkRate("esx01", "esx02"), undefined);
    const first = await s.learnLinkRate("esx01", "esx02", (previous) => learnLink(previous, "esx01", "esx02", SEEN));
    assert.equal(first?.samples, 1);
    assert.deepEqual(await s.getLinkRate("esx01", "esx02"), first);
    const second = await s.learnLinkRate("esx01", "esx02", (previous) => learnLink(previous, "esx01", "esx02", { ...SEEN, totalMs: SEEN.totalMs + 100, at: SEEN.at + 1 }));
    assert.equal(second?.samples, 2);
    assert.ok(second.rateBytesPerSec < 100e6 && second.rateBytesPerSec > 50e6);
    assert.equal(second.updatedAt, SEEN.at + 1, "milliseconds since the epoch survive a bigint column");
    assert.deepEqual(await s.getLinkRate("esx01", "esx02"), second);
    assert.equal(await s.getLinkRate("esx02", "esx01"), undefined, "each direction is its own pair");
    await s.learnLinkRate("esx02", "esx01", (previous) => learnLink(previous, "esx02", "esx01", SEEN));
    await s.learnLinkRate("esx01", "esx03", (previous) => learnLink(previous, "esx01", "esx03", SEEN));
    assert.deepEqual((await s.listLinkRates()).map((r) => `${r.source}>${r.destination}:${r.samples}`), ["esx01>esx02:2", "esx01>esx03:1", "esx02>esx01:1"]);
    // A qemu pair's fitted time per zero page and stop-and-copy scale are kept; a sim pair has neither.
    const qemu = await s.learnLinkRate("esx03", "esx04", (previous) => learnLink(previous, "esx03", "esx04", { ...SEEN, zeroPages: 40_000, hypervisorDowntimeMs: 30, modelledStopCopyMs: 60 }, QEMU_STREAM_COSTS));
    assert.ok(qemu?.zeroPageMs !== undefined && qemu.zeroPageMs > 0);
    assert.equal(qemu.stopCopyScale, 0.5);
    assert.deepEqual(await s.getLinkRate("esx03", "esx04"), qemu);
    assert.equal((await s.getLinkRate("esx01", "esx02"))?.zeroPageMs, undefined);
    assert.equal((await s.getLinkRate("esx01", "esx02"))?.stopCopyScale, undefined);
  });

  void test("link rates: a fold that learns nothing writes nothing; concurrent folds on one pair all count", async () => {
    const s = store();
    assert.equal(await s.learnLinkRate("esx05", "esx06", () => undefined), undefined);
    assert.equal(await s.getLinkRate("esx05", "esx06"), undefined);
    await Promise.all(Array.from({ length: 8 }, (_, i) => s.learnLinkRate("esx05", "esx06", (previous) => learnLink(previous, "esx05", "esx06", { ...SEEN, at: SEEN.at + i }))));
    assert.equal((await s.getLinkRate("esx05", "esx06"))?.samples, 8);
  });
}
