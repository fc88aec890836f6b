// POST /api/migrations/preview in process: findings, the refusal POST /migrations would give,
// and the prediction — and nothing queued. (With agents, the prediction is compared with the
// one a started task stores in test/controller/preview-passes.test.ts.)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { testController, type TestController } from "./testing/controller.ts";

let ctl: TestController;
before(async () => { ctl = await testController(); });
after(async () => { await ctl.store.close(); });

interface Preview {
  vm: string; source: string; to: string; pool: string | null; priority: string; ok: boolean;
  errors: { code: string; message: string; fix: string }[]; warnings: { code: string }[];
  refusal: string | null; predictedFrom: string;
  prediction: { passes: number; bytes: number; totalMs: number; downtimeMs: number; converges: boolean; note: string } | null;
}

test("a compatible host: no errors, a prediction from the inventory, the VM's own pool, nothing started", async () => {
  const res = await ctl.call("POST", "/api/migrations/preview", { token: ctl.tokens.readOnly, body: { vm: "web01", to: "esx02" } });
  assert.equal(res.status, 200, res.text);
  const p = res.body as Preview;
  assert.deepEqual([p.vm, p.source, p.to, p.pool, p.priority, p.ok, p.errors.length], ["web01", "esx01", "esx02", "Prod-root", "high", true, 0]);
  assert.equal(p.predictedFrom, "inventory", "no agent in process: the inventory's memory size");
  assert.ok(p.prediction !== null);
  assert.ok(p.prediction.passes >= 1 && p.prediction.totalMs > 0 && p.prediction.bytes > 0, JSON.stringify(p.prediction));
  // web01 has 4096 MB in examples/lab.yaml: at least that much crosses the wire in pass 1's pages and markers.
  assert.ok(p.prediction.bytes >= 2048 * 1048576, String(p.prediction.bytes));
  assert.match(p.refusal ?? "", /no agent connected/);
  assert.equal(((await ctl.call("GET", "/api/migrations")).body as unknown[]).length, 0);
  assert.equal(((await ctl.call("GET", "/api/vms/web01")).body as { migrating: boolean }).migrating, false);
});

test("an incompatible host: its errors with message and fix", async () => {
  const p = (await ctl.call("POST", "/api/migrations/preview", { body: { vm: "web01", to: "esx03", priority: "low" } })).body as Preview;
  assert.equal(p.ok, false);
  assert.deepEqual(p.errors.map((e) => e.code).sort(), ["CPU_FEATURE_MISSING", "PORTGROUP_MISSING"]);
  assert.ok(p.errors.every((e) => e.message.length > 0 && e.fix.length > 0));
  assert.equal(p.pool, null, "Prod-root is not in esx03's cluster");
});

test("bad input: unknown names are 404, a bad body 400", async () => {
  const vm = await ctl.call("POST", "/api/migrations/preview", { body: { vm: "web99", to: "esx02" } });
  assert.equal(vm.status, 404);
  assert.deepEqual(vm.body, { code: "NOT_FOUND", message: 'no VM named "web99"', details: null });
  assert.equal((await ctl.call("POST", "/api/migrations/preview", { body: { vm: "web01", to: "esx09" } })).status, 404);
  assert.equal((await ctl.call("POST", "/api/migrations/preview", { body: { vm: "web01", to: "esx02", pool: "Nope" } })).status, 404);
  const bad = await ctl.call("POST", "/api/migrations/preview", { body: { vm: "web01", to: "esx02", priority: "urgent" } });
  assert.equal(bad.status, 400);
  assert.equal((await ctl.call("POST", "/api/migrations/preview", { token: null, body: { vm: "web01", to: "esx02" } })).status, 401);
});

interface ConvergencePreview extends Preview {
  convergence: { kind: string; afterPasses?: number };
  proposal?: { policy: { kind: string; afterPasses?: number }; why: string; risk: string };
}

test("a move that fits: auto-converge, nothing proposed; the request's policy is what the preview says it runs with", async () => {
  const fits = (await ctl.call("POST", "/api/migrations/preview", { body: { vm: "web01", to: "esx02" } })).body as ConvergencePreview;
  assert.deepEqual(fits.convergence, { kind: "auto-converge" });
  assert.equal(fits.prediction?.converges, true);
  assert.equal(fits.proposal, undefined);
  const asked = (await ctl.call("POST", "/api/migrations/preview", { body: { vm: "web01", to: "esx02", convergence: { kind: "fail" } } })).body as ConvergencePreview;
  assert.deepEqual(asked.convergence, { kind: "fail" });
  const older = (await ctl.call("POST", "/api/migrations/preview", { body: { vm: "web01", to: "esx02", autoConverge: false } })).body as ConvergencePreview;
  assert.deepEqual(older.convergence, { kind: "fail" }, "autoConverge false is the fail policy");
});

test("a move predicted not to fit the downtime limit even throttled: post-copy proposed, with its risk in plain words", async () => {
  // 1 Mb/s against a 4 GiB guest and a 1 ms limit: pre-copy cannot fit, whatever the throttle.
  const body = { vm: "web01", to: "esx02", downtimeMs: 1, bandwidthMbps: 1 };
  const p = (await ctl.call("POST", "/api/migrations/preview", { body })).body as ConvergencePreview;
  assert.equal(p.prediction?.converges, false);
  assert.ok(p.proposal !== undefined);
  assert.deepEqual(p.proposal.policy, { kind: "post-copy", afterPasses: 2 });
  assert.match(p.proposal.why, /not to fit the downtime limit even with throttling/);
  assert.equal(p.proposal.risk, "a failure during post-copy loses the VM unless the destination survives: once the VM runs on the destination, the source no longer has its memory");
  const already = (await ctl.call("POST", "/api/migrations/preview", { body: { ...body, convergence: { kind: "post-copy", afterPasses: 3 } } })).body as ConvergencePreview;
  assert.equal(already.proposal, undefined, "post-copy asked already: nothing to propose");
  assert.deepEqual(already.convergence, { kind: "post-copy", afterPasses: 3 });
});

test("a bad convergence policy in the body is a 400", async () => {
  for (const convergence of [{ kind: "post-copy", afterPasses: 0 }, { kind: "post-copy" }, { kind: "throttle" }, "post-copy-after=2"]) {
    const res = await ctl.call("POST", "/api/migrations/preview", { body: { vm: "web01", to: "esx02", convergence } });
    assert.equal(res.status, 400, JSON.stringify(convergence));
  }
});
