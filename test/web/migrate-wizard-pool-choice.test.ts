// The migrate wizard's pool preselection (web/src/migrate/pool-choice.ts), a pure function: no browser needed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { poolChoice } from "../../web/src/migrate/pool-choice.ts";

// examples/lab.yaml's pools: Prod's root and its fixed Gold child, Legacy's root.
const POOLS = [
  { name: "Prod-root", cluster: "Prod" },
  { name: "Prod-Gold", cluster: "Prod", parent: "Prod-root" },
  { name: "Legacy-root", cluster: "Legacy" },
];

test("a VM leaving its cluster gets the destination cluster's root pool, never a child that sorts first", () => {
  const choice = poolChoice({ name: "legacy01", pool: "Legacy-root" }, { name: "esx01", cluster: "Prod" }, POOLS);
  assert.equal(choice.pool, "Prod-root");
  assert.deepEqual(choice.pools, ["Prod-root", "Prod-Gold"]);
  assert.match(choice.reason, /root pool of cluster Prod/);
  assert.match(choice.reason, /legacy01's pool now, Legacy-root, does not belong to cluster Prod/);
});

test("a VM staying in its cluster keeps its own pool, even a child pool", () => {
  const choice = poolChoice({ name: "app01", pool: "Prod-Gold" }, { name: "esx02", cluster: "Prod" }, POOLS);
  assert.equal(choice.pool, "Prod-Gold");
  assert.match(choice.reason, /app01's pool now/);
});

test("a VM in no pool gets the root pool; a host without pools has none", () => {
  assert.equal(poolChoice({ name: "x" }, { name: "esx01", cluster: "Prod" }, POOLS).pool, "Prod-root");
  const none = poolChoice({ name: "x", pool: "Prod-root" }, { name: "esx09" }, POOLS);
  assert.equal(none.pool, null);
  assert.match(none.reason, /esx09 has no resource pools/);
});

test("a standalone host's own pools count, its root first", () => {
  const pools = [{ name: "b-child", host: "esx09", parent: "a-root" }, { name: "a-root", host: "esx09" }];
  assert.equal(poolChoice({ name: "x", pool: "Prod-root" }, { name: "esx09" }, pools).pool, "a-root");
});
