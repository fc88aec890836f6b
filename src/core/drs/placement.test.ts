import assert from "node:assert/strict";
import { test } from "node:test";
import { placeVm } from "./placement.ts";
import { cluster, host, vm } from "./test-cluster.ts";
import type { DrsHost } from "./types.ts";

const hosts = [host("esx01"), host("esx02"), host("esx03"), host("esx04", { maintenance: true })];
const busy = [vm("a", "esx01", 5000, 30000), vm("b", "esx02", 3000, 20000), vm("c", "esx03", 1000, 10000)];

test("a new VM goes to the host with the lowest load after placement, and says why and who refused", () => {
  const compatible = (_: unknown, h: DrsHost) => (h.name === "esx03" ? { ok: false as const, reason: "CPU lacks avx2" } : { ok: true as const });
  const p = placeVm(cluster({ hosts, vms: busy, compatible }), vm("new", "", 1000, 4096));
  assert.ok(p.ok);
  assert.equal(p.host, "esx02");
  assert.match(p.why, /^lowest load after placement: esx02 40% CPU \/ 37% memory/);
  assert.match(p.why, /esx03 refused: CPU lacks avx2/);
  assert.match(p.why, /esx04 refused: in maintenance mode/);
});

test("no host: every refusal is given; an affinity group's host and anti-affinity are respected; a registered VM is placed afresh", () => {
  const none = placeVm(cluster({ hosts, vms: busy }), vm("huge", "", 1000, 100_000));
  assert.ok(!none.ok);
  assert.deepEqual(none.reasons.map((r) => r.host), ["esx01", "esx02", "esx03", "esx04"]);
  const rules = [{ kind: "vm-affinity" as const, name: "with-a", vms: ["new", "a"], enabled: true }];
  const p = placeVm(cluster({ hosts, vms: busy, rules }), vm("new", "", 100, 100));
  assert.equal(p.ok && p.host, "esx01");
  const apart = [{ kind: "vm-anti-affinity" as const, name: "not-c", vms: ["new", "c"], enabled: true }];
  const q = placeVm(cluster({ hosts, vms: busy, rules: apart }), vm("new", "", 100, 100));
  assert.equal(q.ok && q.host, "esx02");
  // "a" is taken out of esx01's sums first: esx01 is then empty, the lowest load after placement.
  const again = placeVm(cluster({ hosts, vms: busy }), vm("a", "esx01", 5000, 30000));
  assert.equal(again.ok && again.host, "esx01");
});
