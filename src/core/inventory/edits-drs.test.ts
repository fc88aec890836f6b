import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { bentInventory } from "../testing/inventory.ts";
import { openDraft } from "./draft.ts";
import { putDrsRule, removeDrsRule, setClusterDrs, setHostMaintenance, setVmDrsAutomation } from "./edits-drs.ts";
import { findVm } from "./edits.ts";
import { indexInventory } from "./index.ts";
import { checkReferences } from "./references.ts";
import { InventorySchema } from "./schema.ts";
import { macOwners, validateChange } from "./validate-change.ts";

const base = () => bentInventory();

describe("DRS settings in the inventory", () => {
  test("a cluster's DRS settings: only the given fields change, the rest keep their defaults", () => {
    const d = openDraft(base().inventory);
    assert.deepEqual(setClusterDrs(d, "Prod", { automation: "full" }), { automation: "full", threshold: 3 });
    assert.deepEqual(setClusterDrs(d, "Prod", { threshold: 5, maxMovesPerHost: 1 }), { automation: "full", threshold: 5, maxMovesPerHost: 1 });
    assert.throws(() => setClusterDrs(d, "Prod", { threshold: 6 }), { code: "INVALID_INPUT", message: /from 1 .* to 5/ });
    assert.throws(() => setClusterDrs(d, "Nope", {}), { code: "NOT_FOUND" });
  });

  test("the schema refuses a threshold outside 1-5 and an affinity rule of one VM", () => {
    const { inventory } = base();
    assert.equal(InventorySchema.safeParse({ ...inventory, clusters: [{ name: "Prod", drs: { threshold: 0 } }] }).success, false);
    assert.equal(InventorySchema.safeParse({ ...inventory, drsRules: [{ kind: "vm-affinity", name: "r", vms: ["web01"] }] }).success, false);
    const parsed = InventorySchema.parse({ ...inventory, drsRules: [{ kind: "vm-host", name: "r", vms: ["web01"], hosts: ["esx01"] }] });
    assert.deepEqual(parsed.drsRules[0], { kind: "vm-host", name: "r", vms: ["web01"], hosts: ["esx01"], mandatory: false, affine: true, enabled: true });
  });

  test("a rule's VMs and hosts must exist, once each; rule names are unique", () => {
    const { inventory } = base();
    const issues = checkReferences({
      ...inventory,
      drsRules: [
        { kind: "vm-host", name: "r1", vms: ["web01", "ghost"], hosts: ["esx01", "esx01", "esx99"], mandatory: true, affine: true, enabled: true },
        { kind: "vm-anti-affinity", name: "r1", vms: ["web01", "web01"], enabled: true },
      ],
    });
    assert.deepEqual(issues.map((i) => i.path).sort(), ["drsRules[0].hosts[1]", "drsRules[0].hosts[2]", "drsRules[0].vms[1]", "drsRules[1].name", "drsRules[1].vms[1]"]);
    assert.match(issues.find((i) => i.path === "drsRules[0].vms[1]")?.message ?? "", /names VM "ghost", which does not exist/);
  });

  test("an edit is checked: a rule on a missing VM is refused, and so is removing a VM a rule names", () => {
    const { index } = base();
    const macs = macOwners(index.inventory);
    const bad = openDraft(index.inventory);
    putDrsRule(bad, { kind: "vm-anti-affinity", name: "apart", vms: ["web01", "ghost"], enabled: true });
    const refused = validateChange(index, macs, bad);
    assert.ok(!refused.ok);
    assert.match(refused.referenceIssues[0]?.message ?? "", /"ghost", which does not exist/);

    const good = openDraft(index.inventory);
    assert.equal(putDrsRule(good, { kind: "vm-host", name: "stay", vms: ["web01"], hosts: ["esx01"], mandatory: false, affine: true, enabled: true }), true);
    const verdict = validateChange(index, macs, good);
    assert.ok(verdict.ok);
    const after = indexInventory(verdict.inventory);
    assert.equal(after.drsRules.get("stay")?.kind, "vm-host");

    const removeVm = openDraft(after.inventory);
    removeVm.vms = removeVm.vms.filter((vm) => vm.name !== "web01");
    const gone = validateChange(after, macOwners(after.inventory), removeVm);
    assert.ok(!gone.ok);
    assert.match(gone.referenceIssues[0]?.message ?? "", /DRS rule "stay" names VM "web01"/);

    const removeRule = openDraft(after.inventory);
    removeDrsRule(removeRule, "stay");
    const ruleGone = validateChange(after, macOwners(after.inventory), removeRule);
    assert.ok(ruleGone.ok);
    assert.deepEqual(ruleGone.changes.removed.drsRules, ["stay"]);
    assert.throws(() => { removeDrsRule(removeRule, "stay"); }, { code: "NOT_FOUND" });
  });

  test("a VM's own automation level and a host's maintenance flag", () => {
    const { index } = base();
    const d = openDraft(index.inventory);
    setVmDrsAutomation(d, "web01", "manual");
    assert.equal(findVm(d, "web01").drsAutomation, "manual");
    setVmDrsAutomation(d, "web01", null);
    assert.equal(findVm(d, "web01").drsAutomation, undefined);
    setHostMaintenance(d, "esx02", true);
    const verdict = validateChange(index, macOwners(index.inventory), d);
    assert.ok(verdict.ok);
    assert.equal(verdict.inventory.hosts.find((h) => h.name === "esx02")?.maintenance, true);
  });
});
