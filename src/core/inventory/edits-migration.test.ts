import { test } from "node:test";
import assert from "node:assert/strict";
import { bentInventory } from "../testing/inventory.ts";
import { openDraft } from "./draft.ts";
import { clusterConvergence, setClusterConvergence } from "./edits-migration.ts";
import { ClusterSchema } from "./schema.ts";

test("a cluster's convergence policy is set, read back and cleared", () => {
  const d = openDraft(bentInventory().inventory);
  assert.equal(setClusterConvergence(d, "Prod", { kind: "post-copy", afterPasses: 4 }), "post-copy-after=4");
  const prod = d.clusters.find((c) => c.name === "Prod");
  assert.ok(prod !== undefined);
  assert.deepEqual(clusterConvergence(prod), { kind: "post-copy", afterPasses: 4 });
  assert.equal(ClusterSchema.safeParse(prod).success, true);
  assert.equal(setClusterConvergence(d, "Prod", null), undefined);
  assert.equal(clusterConvergence(prod), undefined);
  assert.throws(() => setClusterConvergence(d, "Nope", { kind: "fail" }), { code: "NOT_FOUND" });
});

test("the inventory schema refuses a policy in words it does not know", () => {
  for (const convergence of ["post-copy-after=0", "post-copy-after=31", "postcopy", "auto"]) {
    const parsed = ClusterSchema.safeParse({ name: "Prod", migration: { convergence } });
    assert.equal(parsed.success, false, convergence);
  }
  assert.equal(ClusterSchema.safeParse({ name: "Prod", migration: { convergence: "fail" } }).success, true);
});
