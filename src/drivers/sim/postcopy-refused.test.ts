// The sim driver's contract for post-copy (issue 16 part 2): its protocol is pre-copy only, so a
// destination asked to prepare for post-copy refuses before anything exists or moves, saying so.
import assert from "node:assert/strict";
import { test } from "node:test";
import { isFerryError } from "../../core/errors.ts";
import { MigrationFailureCode } from "../../core/migration/types.ts";
import { systemClock } from "../clock.ts";
import { createSimDriver } from "./driver.ts";
import { simHost, smallSpec } from "./testing.ts";

test("a sim destination refuses to prepare for post-copy, and prepares the same VM for pre-copy", async () => {
  const destination = createSimDriver({ host: simHost("esx02", "127.0.1.2"), clock: systemClock });
  try {
    const spec = smallSpec("web01");
    await assert.rejects(destination.prepareIncoming(spec, { migrationId: "pc-sim", listenHost: "127.0.1.2", postcopy: true }), (error: unknown) => {
      assert.ok(isFerryError(error));
      assert.equal(error.code, "REFUSED");
      assert.equal(error.failureCode, MigrationFailureCode.incompatible);
      assert.match(error.message, /esx02 runs the sim driver, which has no post-copy: migrate web01 with the auto-converge or fail policy/);
      return true;
    });
    assert.equal(await destination.get("web01"), undefined, "nothing was made");
    const prepared = await destination.prepareIncoming(spec, { migrationId: "pre-sim", listenHost: "127.0.1.2", encryption: "disabled" });
    assert.equal(prepared.migrationId, "pre-sim");
  } finally {
    await destination.close();
  }
});
