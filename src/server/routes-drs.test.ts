// DRS routes in-process (no agents): the cluster view, settings, rules, apply's refusals,
// maintenance mode's dry run and roles.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { testController, type TestController } from "./testing/controller.ts";

let ctl: TestController;
before(async () => {
  ctl = await testController();
});
after(async () => {
  await ctl.store.close();
});

interface View {
  config: { automation: string; threshold: number };
  imbalance: number;
  recommendations: { id: string; vm: string; from: string; to: string }[];
  unmovable: { vm: string; reason: string }[];
  basis: { demand: string; text: string };
  at: number;
  history: { at: number; imbalance: number; target: number }[];
}

describe("DRS routes", () => {
  test("a cluster's view: defaults, σ, and a basis that says demand is the fallback when nothing was measured", async () => {
    const got = await ctl.call("GET", "/api/clusters/Prod/drs", { token: ctl.tokens.readOnly });
    assert.equal(got.status, 200, got.text);
    const view = got.body as View;
    assert.deepEqual(view.config, { automation: "manual", threshold: 3, maxMovesPerRun: 64, maxMovesPerHost: 2 });
    assert.equal(typeof view.imbalance, "number");
    assert.equal(view.basis.demand, "fallback");
    assert.match(view.basis.text, /not measured yet/);
    // The σ history (in memory, oldest first): its last point is this view's own σ.
    assert.deepEqual(view.history.at(-1), { at: view.at, imbalance: view.imbalance, target: (got.body as { targetImbalance: number }).targetImbalance });
    assert.ok(view.history.every((p, i, all) => i === 0 || (all[i - 1]?.at ?? Infinity) < p.at), "oldest first");
    const missing = await ctl.call("GET", "/api/clusters/Nope/drs");
    assert.equal(missing.status, 404);
  });

  test("settings: read-only refused, operator sets them, a threshold outside 1-5 is a one-line 400", async () => {
    assert.equal((await ctl.call("PUT", "/api/clusters/Prod/drs", { token: ctl.tokens.readOnly, body: { automation: "full" } })).status, 403);
    const set = await ctl.call("PUT", "/api/clusters/Prod/drs", { token: ctl.tokens.operator, body: { automation: "partial", threshold: 4 } });
    assert.equal(set.status, 200, set.text);
    assert.deepEqual(set.body, { automation: "partial", threshold: 4, maxMovesPerRun: 64, maxMovesPerHost: 2 });
    assert.equal(ctl.inventory.current.index.clusters.get("Prod")?.drs?.automation, "partial");
    const bad = await ctl.call("PUT", "/api/clusters/Prod/drs", { token: ctl.tokens.operator, body: { threshold: 9 } });
    assert.equal(bad.status, 400);
    assert.match((bad.body as { message: string }).message, /threshold: must be 1 to 5/);
    await ctl.call("PUT", "/api/clusters/Prod/drs", { body: { automation: "manual", threshold: 3 } });
  });

  test("rules: a rule on a VM that does not exist is refused; added, listed, removed", async () => {
    const ghost = await ctl.call("PUT", "/api/drs/rules/apart", { body: { kind: "vm-anti-affinity", name: "apart", vms: ["web01", "ghost"] } });
    assert.equal(ghost.status, 400);
    assert.match((ghost.body as { message: string }).message, /names VM "ghost", which does not exist/);
    assert.equal((await ctl.call("PUT", "/api/drs/rules/apart", { token: ctl.tokens.readOnly, body: { kind: "vm-anti-affinity", name: "apart", vms: ["web01", "web02"] } })).status, 403);
    const put = await ctl.call("PUT", "/api/drs/rules/apart", { token: ctl.tokens.operator, body: { kind: "vm-anti-affinity", name: "apart", vms: ["web01", "web02"] } });
    assert.equal(put.status, 200, put.text);
    const listed = await ctl.call("GET", "/api/drs/rules", { token: ctl.tokens.readOnly });
    assert.deepEqual(listed.body, [{ kind: "vm-anti-affinity", name: "apart", vms: ["web01", "web02"], enabled: true }]);
    assert.equal((await ctl.call("PUT", "/api/drs/rules/other", { body: { kind: "vm-anti-affinity", name: "apart", vms: ["web01", "web02"] } })).status, 400);
    assert.equal((await ctl.call("DELETE", "/api/drs/rules/apart")).status, 200);
    assert.equal((await ctl.call("GET", "/api/drs/rules/apart")).status, 404);
  });

  test("apply: read-only tokens are refused; an unknown id says why", async () => {
    assert.equal((await ctl.call("POST", "/api/drs/apply", { token: ctl.tokens.readOnly, body: { ids: ["x"] } })).status, 403);
    const unknown = await ctl.call("POST", "/api/drs/apply", { token: ctl.tokens.operator, body: { ids: ["nope"] } });
    assert.equal(unknown.status, 409);
    assert.match((unknown.body as { message: string }).message, /no recommendation with id nope/);
    assert.equal((await ctl.call("POST", "/api/drs/apply", { body: { ids: [] } })).status, 400);
  });

  test("maintenance: a dry run lists every powered-on VM as a move or blocked; entering needs an operator", async () => {
    const dry = await ctl.call("POST", "/api/hosts/esx01/maintenance", { token: ctl.tokens.readOnly, body: { action: "enter", dryRun: true } });
    assert.equal(dry.status, 200, dry.text);
    const answer = dry.body as { plan: { host: string; moves: { vm: string }[]; blocked: { vm: string }[]; etaMs: number }; status: { state: string } };
    assert.equal(answer.plan.host, "esx01");
    assert.equal(answer.status.state, "out");
    const on = (ctl.inventory.current.index.vmsByHost.get("esx01") ?? []).filter((vm) => vm.power === "on").map((vm) => vm.name).sort();
    assert.deepEqual([...answer.plan.moves.map((m) => m.vm), ...answer.plan.blocked.map((b) => b.vm)].sort(), on);
    assert.equal((await ctl.call("POST", "/api/hosts/esx01/maintenance", { token: ctl.tokens.readOnly, body: { action: "enter" } })).status, 403);
    assert.equal((await ctl.call("POST", "/api/hosts/esx99/maintenance", { body: { action: "enter", dryRun: true } })).status, 404);
    const exit = await ctl.call("POST", "/api/hosts/esx01/maintenance", { token: ctl.tokens.operator, body: { action: "exit" } });
    assert.equal((exit.body as { status: { state: string } }).status.state, "out");
  });

  test("initial placement: a VM created without a host goes to the best compatible host of its cluster, and the answer says why", async () => {
    const body = { name: "placed01", memoryMB: 512, cluster: "Prod", disks: [{ datastore: "shared-ds1", path: "placed01/disk0.qcow2", sizeMB: 64 }], nics: [{ portGroup: "Production" }] };
    const made = await ctl.call("POST", "/api/vms", { token: ctl.tokens.operator, body });
    assert.equal(made.status, 200, made.text);
    const created = made.body as { host: string; placement: { cluster: string; why: string } };
    assert.ok(["esx01", "esx02"].includes(created.host), created.host);
    assert.equal(created.placement.cluster, "Prod");
    assert.match(created.placement.why, new RegExp(`lowest load after placement: ${created.host}`));
    assert.equal(ctl.inventory.current.index.vms.get("placed01")?.host, created.host);
    // esx03 (Legacy) spells its port group "production": no host of Legacy can take the VM, and each says why.
    const refused = await ctl.call("POST", "/api/vms", { token: ctl.tokens.operator, body: { ...body, name: "placed02", cluster: "Legacy" } });
    assert.equal(refused.status, 422, refused.text);
    assert.match((refused.body as { message: string }).message, /no host of cluster Legacy can take placed02: esx03: .*"Production"/);
    const noCluster = await ctl.call("POST", "/api/vms", { token: ctl.tokens.operator, body: { ...body, name: "placed03", cluster: undefined } });
    assert.equal(noCluster.status, 400);
    assert.match((noCluster.body as { message: string }).message, /give the VM a host, or a cluster to place it in \(one of Prod, Legacy\)/);
  });
});
