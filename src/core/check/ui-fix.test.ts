// Every finding the examples produce carries a fix in the UI's words: none of the command
// line's or the inventory file's words, and, when it names a place, the place as placeText
// renders it (the words a reader follows are the steps a browser test follows).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseInventory, formatIssue } from "../inventory/parse.ts";
import { claimsOf } from "../inventory/claims.ts";
import { indexInventory } from "../inventory/index.ts";
import { createChecker, Priority } from "./checker.ts";
import { FINDING_CODES, FindingCode, type Finding } from "./findings.ts";
import { placeText, UiPage, UiStepKind } from "./ui-fix.ts";

function load(name: string) {
  const file = new URL(`../../../examples/${name}`, import.meta.url);
  const result = parseInventory(readFileSync(file, "utf8"), name);
  if (!result.ok) assert.fail(result.issues.map(formatIssue).join("\n"));
  return indexInventory(result.inventory);
}

/** Every finding of every VM against every host of both examples, both priorities, plus the pool, same-host and claim cases. */
function allFindings(): Finding[] {
  const out: Finding[] = [];
  for (const name of ["lab.yaml", "troubled-hosts.yaml"]) {
    const index = load(name);
    const checker = createChecker(index);
    for (const vm of index.inventory.vms) {
      for (const host of index.inventory.hosts) {
        for (const priority of [Priority.high, Priority.low]) {
          const r = checker.check(vm.name, host.name, { priority });
          out.push(...r.errors, ...r.warnings);
        }
      }
    }
    if (name === "lab.yaml") {
      const moving = createChecker(index, undefined, claimsOf([{ vm: "busy01", taskId: "m-1", source: "esx01", destination: "esx02" }]));
      for (const r of [checker.check("app01", "esx02", { pool: "Prod-Gold" }), checker.check("web01", "esx02", { pool: "Legacy-root" }), moving.check("busy01", "esx02")]) out.push(...r.errors, ...r.warnings);
    }
  }
  return out;
}

// Words that belong to the command line or the inventory file, never to the UI.
const CLI_WORDS: readonly RegExp[] = [/`/, /\bin the inventory\b/, /\bferry\s+[a-z]/, /\bdocs\//, /:\s*(false|true)\b/, /--[a-z]/, /\.ya?ml\b/, /\bcpuAffinity\b/];

test("every finding of the examples has UI words free of command-line and inventory-file words", () => {
  const findings = allFindings();
  const seen = new Set(findings.map((f) => f.code));
  assert.deepEqual(FINDING_CODES.filter((c) => !seen.has(c)), [], "the examples hit every code");
  for (const f of findings) {
    assert.ok(f.ui.text.length > 0, `${f.code} has no UI words`);
    for (const word of CLI_WORDS) assert.doesNotMatch(f.ui.text, word, `${f.code}: "${f.ui.text}"`);
    if (f.ui.place !== undefined) {
      assert.ok(f.ui.text.includes(placeText(f.ui.place)), `${f.code}: "${f.ui.text}" names its place ${placeText(f.ui.place)}`);
      assert.ok(f.ui.place.steps.length > 0 && f.ui.place.steps.every((s) => s.name.length > 0), `${f.code}: a place with empty steps`);
    }
  }
});

test("the fixes the issue names point to UI places, not to files or commands", () => {
  const findings = allFindings();
  const placeOf = (code: FindingCode, match: (f: Finding) => boolean = () => true): string | undefined => {
    const f = findings.find((x) => x.code === code && match(x));
    return f?.ui.place === undefined ? undefined : placeText(f.ui.place);
  };
  assert.equal(placeOf(FindingCode.cpuAffinity), "VM pinned01 > Edit settings > Resources > Advanced CPU > Scheduling affinity");
  assert.equal(placeOf(FindingCode.deviceHostOnly, (f) => f.severity === "error" && f.subject.vm === "iso01"), "VM iso01 > Edit settings > cdrom0 > Connected");
  assert.equal(placeOf(FindingCode.vmMigrating), "Task m-1 > Abort this migration");
  assert.equal(placeOf(FindingCode.vmotionMtuMismatch)?.endsWith(" > MTU"), true);
  assert.equal(placeOf(FindingCode.portGroupMissing, (f) => f.message.includes("case-sensitive"))?.startsWith("Host esx03 > Networking > Rename "), true);
  // A masking fix lands on the mask's control, in the dialog's words.
  const nx = findings.find((f) => f.code === FindingCode.cpuFeatureMissing && f.ui.place?.steps.some((s) => s.kind === UiStepKind.radio) === true);
  assert.ok(nx !== undefined && nx.ui.place?.page === UiPage.vm);
  assert.match(nx.ui.text, /Hide the NX\/XD flag from guest/);
  assert.doesNotMatch(nx.ui.text, /\(nx\)|\(custom\)/);
});
