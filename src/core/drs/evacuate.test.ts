import assert from "node:assert/strict";
import { test } from "node:test";
import { isFerryError } from "../errors.ts";
import { planEvacuation, scheduleMs } from "./evacuate.ts";
import { cluster, host, vm } from "./test-cluster.ts";
import type { DrsVm } from "./types.ts";

const hosts = [host("h1"), host("h2"), host("h3"), host("hm", { maintenance: true })];

test("every powered-on VM leaves for another active host, lowest load after placement; powered-off VMs are listed apart", () => {
  const vms = [vm("a", "h1", 4000, 16000), vm("b", "h1", 1000, 4000), vm("off", "h1", 0, 4000, { power: "off" }), vm("x", "h2", 3000, 8000)];
  const plan = planEvacuation(cluster({ hosts, vms }), "h1");
  assert.equal(plan.host, "h1");
  assert.deepEqual(plan.moves.map((m) => [m.vm, m.to, m.reason.kind]), [["a", "h3", "maintenance"], ["b", "h2", "maintenance"]]);
  assert.deepEqual(plan.powerOff, ["off"]);
  assert.deepEqual(plan.blocked, []);
  assert.equal(plan.etaMs, 16000 + 4000, "concurrency 1: the sum of predicted times");
  assert.equal(planEvacuation(cluster({ hosts, vms }), "h1", 2).etaMs, 16000);
  assert.match(plan.moves[0]?.reason.text ?? "", /lowest load after placement/);
});

test("a VM with nowhere to go blocks with its reasons; a pinned VM blocks; rules hold", () => {
  const vms = [vm("pin", "h1", 100, 100, { pinned: "MSCS RDM" }), vm("odd", "h1", 100, 100), vm("d1", "h1", 100, 100), vm("d2", "h2", 100, 100), vm("g1", "h1", 100, 100), vm("g2", "h1", 100, 100)];
  const compatible = (v: DrsVm) => (v.name === "odd" ? { ok: false as const, reason: "no datastore ds-local-h1" } : { ok: true as const });
  const rules = [
    { kind: "vm-anti-affinity" as const, name: "apart", vms: ["d1", "d2"], enabled: true },
    { kind: "vm-affinity" as const, name: "group", vms: ["g1", "g2"], enabled: true },
  ];
  const plan = planEvacuation(cluster({ hosts, vms, compatible, rules }), "h1");
  const blocked = new Map(plan.blocked.map((b) => [b.vm, b.reason]));
  assert.match(blocked.get("pin") ?? "", /pinned: MSCS RDM/);
  assert.match(blocked.get("odd") ?? "", /h2: no datastore ds-local-h1/);
  const to = new Map(plan.moves.map((m) => [m.vm, m.to]));
  assert.equal(to.get("d1"), "h3");
  assert.equal(to.get("g1"), to.get("g2"));
});

test("scheduleMs fills the lane that frees first; an unknown host is NOT_FOUND", () => {
  assert.equal(scheduleMs([5, 3, 3, 3], 2), 8);
  assert.equal(scheduleMs([], 4), 0);
  assert.throws(() => planEvacuation(cluster({ hosts, vms: [] }), "nope"), (e) => isFerryError(e) && e.code === "NOT_FOUND");
});
