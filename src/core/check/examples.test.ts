import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseInventory, formatIssue } from "../inventory/parse.ts";
import { claimsOf } from "../inventory/claims.ts";
import { indexInventory } from "../inventory/index.ts";
import { createChecker, codesOf, Priority } from "./checker.ts";
import { FINDING_CODES, type FindingCode } from "./findings.ts";

const EXAMPLES = ["lab.yaml", "troubled-hosts.yaml"];

function load(name: string) {
  const file = new URL(`../../../examples/${name}`, import.meta.url);
  const result = parseInventory(readFileSync(file, "utf8"), name);
  if (!result.ok) assert.fail(result.issues.map(formatIssue).join("\n"));
  return indexInventory(result.inventory);
}

test("the examples between them hit every finding code, as errors and warnings where both exist", () => {
  const seen = new Set<FindingCode>();
  for (const name of EXAMPLES) {
    const index = load(name);
    const checker = createChecker(index);
    for (const priority of [Priority.high, Priority.low]) {
      const matrix = checker.matrix({ priority });
      for (let cell = 0; cell < matrix.errors.length; cell++) {
        for (const code of [...codesOf(matrix.errors[cell]!), ...codesOf(matrix.warnings[cell]!)]) seen.add(code);
      }
    }
    // Pool rules need an explicit pool: the lab's fixed Gold pool and a pool of another cluster.
    // SAME_HOST is not in the matrix (it marks a VM's own host by position): ask for it.
    // VM_MIGRATING comes from an open task's claim, never from a file: busy01 with one.
    if (name === "lab.yaml") {
      const moving = createChecker(index, undefined, claimsOf([{ vm: "busy01", taskId: "m-1", source: "esx01", destination: "esx02" }]));
      const checks = [checker.check("app01", "esx02", { pool: "Prod-Gold" }), checker.check("web01", "esx02", { pool: "Legacy-root" }), checker.check("web01", "esx01"), moving.check("busy01", "esx02")];
      for (const code of checks.flatMap((r) => r.errors).map((f) => f.code)) seen.add(code);
    }
  }
  const missing = FINDING_CODES.filter((code) => !seen.has(code));
  assert.deepEqual(missing, [], `codes no example hits: ${missing.join(", ")}`);
});

test("the lab's happy path is clean, and its demo pairs say what the comments promise", () => {
  const checker = createChecker(load("lab.yaml"));
  assert.deepEqual(checker.check("web01", "esx02"), { vm: "web01", host: "esx02", ok: true, errors: [], warnings: [] });
  assert.equal(checker.check("web02", "esx03").ok, true);
  assert.deepEqual(checker.check("web01", "esx03").errors.map((f) => f.code).sort(), ["CPU_FEATURE_MISSING", "PORTGROUP_MISSING"]);
  assert.deepEqual(checker.check("db01", "esx01").errors.map((f) => f.code), ["HOST_RESOURCES_SHORT"]);
  assert.deepEqual(checker.check("db01", "esx01", { priority: Priority.low }).warnings.map((f) => f.code), ["HOST_RESOURCES_SHORT"]);
  assert.equal(checker.check("legacy01", "esx01").ok, true);
});
