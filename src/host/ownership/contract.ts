// The ownership-ledger contract: every OwnershipLedger runs this same suite (STYLE.md
// lesson 2): memory, a datastore directory, the controller's store on SQLite and PostgreSQL,
// and the controller's store over HTTP as agents reach it.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { OwnershipLedger } from "./ledger.ts";

export interface LedgerUnderTest {
  readonly ledger: OwnershipLedger;
  /** A second handle on the same records (another host's view), when the ledger has one. */
  readonly other?: OwnershipLedger;
  readonly cleanup: () => Promise<void>;
}

export function ledgerContract(name: string, open: () => Promise<LedgerUnderTest>): void {
  describe(`ownership ledger contract: ${name}`, () => {
    let under: LedgerUnderTest;
    before(async () => {
      under = await open();
    });
    after(async () => {
      await under.cleanup();
    });

    test("a VM without a record reads as none; the first claim takes generation 1", async () => {
      assert.equal(await under.ledger.read("fresh01"), undefined);
      const first = await under.ledger.claim("fresh01", 0, "esx01", undefined);
      assert.equal(first.won, true);
      assert.deepEqual({ owner: first.ownership.owner, generation: first.ownership.generation }, { owner: "esx01", generation: 1 });
      assert.deepEqual((await (under.other ?? under.ledger).read("fresh01"))?.owner, "esx01");
    });

    test("two claims from one generation: exactly one wins, and the loser is told who", async () => {
      await under.ledger.claim("race01", 0, "esx01", undefined);
      const other = under.other ?? under.ledger;
      for (let round = 1; round <= 5; round++) {
        const [a, b] = await Promise.all([under.ledger.claim("race01", round, "esx01", `m${round}`), other.claim("race01", round, "esx02", `m${round}`)]);
        assert.equal([a, b].filter((r) => r.won).length, 1, `round ${round}: one winner`);
        const winner = a.won ? "esx01" : "esx02";
        assert.equal(a.ownership.owner, winner);
        assert.equal(b.ownership.owner, winner);
        assert.equal(a.ownership.generation, round + 1);
        assert.equal((await under.ledger.read("race01"))?.generation, round + 1);
      }
    });

    test("a claim from an old generation loses to the record that moved on", async () => {
      await under.ledger.claim("old01", 0, "esx01", undefined);
      await under.ledger.claim("old01", 1, "esx02", "m1");
      const late = await under.ledger.claim("old01", 1, "esx01", "m1");
      assert.equal(late.won, false);
      assert.deepEqual({ owner: late.ownership.owner, generation: late.ownership.generation }, { owner: "esx02", generation: 2 });
    });

    test("a claim repeated after its answer was lost wins again, the same record", async () => {
      await under.ledger.claim("again01", 0, "esx01", undefined);
      const once = await under.ledger.claim("again01", 1, "esx02", "m7");
      const twice = await under.ledger.claim("again01", 1, "esx02", "m7");
      assert.equal(twice.won, true);
      assert.equal(twice.ownership.generation, once.ownership.generation);
      const stranger = await under.ledger.claim("again01", 1, "esx02", "m8");
      assert.equal(stranger.won, false, "the same host under another migration is not the same claim");
    });

    test("a readied claim decides nothing until it is made; made, it wins as a plain one, and of two readied from one generation exactly one wins", async () => {
      await under.ledger.claim("prep01", 0, "esx01", undefined);
      const other = under.other ?? under.ledger;
      for (let round = 1; round <= 3; round++) {
        await Promise.all([under.ledger.prepare?.("prep01", round, "esx02", `m${round}`), other.prepare?.("prep01", round, "esx03", `m${round}`)]);
        assert.equal((await under.ledger.read("prep01"))?.generation, round, `round ${round}: readying took no generation`);
        const [a, b] = await Promise.all([under.ledger.claim("prep01", round, "esx02", `m${round}`), other.claim("prep01", round, "esx03", `m${round}`)]);
        assert.equal([a, b].filter((r) => r.won).length, 1, `round ${round}: one winner`);
        assert.equal(a.ownership.owner, b.ownership.owner);
        assert.deepEqual(await under.ledger.read("prep01"), a.ownership, "the winner's record is the record");
      }
      // Readied, never made (the migration failed before its switchover): the record stays.
      await under.ledger.prepare?.("prep01", 4, "esx04", "m4");
      assert.equal((await other.read("prep01"))?.generation, 4);
      // Made again after its answer was lost: the same record.
      const once = await under.ledger.claim("prep01", 4, "esx04", "m4");
      assert.deepEqual(await under.ledger.claim("prep01", 4, "esx04", "m4"), once);
    });

    test("records of different VMs are independent", async () => {
      await under.ledger.claim("ind01", 0, "esx01", undefined);
      await under.ledger.claim("ind02", 0, "esx02", undefined);
      assert.equal((await under.ledger.read("ind01"))?.owner, "esx01");
      assert.equal((await under.ledger.read("ind02"))?.owner, "esx02");
    });
  });
}
