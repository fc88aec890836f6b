// Bad convergence policies given to `ferry migrate`: one line naming what is allowed, exit 2,
// before any controller is asked (the URL given answers nothing).
import { test } from "node:test";
import assert from "node:assert/strict";
import { runFerry } from "../testing/io.ts";

const nowhere = ["--controller", "https://127.0.0.1:9", "--token", "unused-token"];

for (const { policy, message } of [
  { policy: "post-copy", message: /convergence policy "post-copy" is not one of auto-converge, post-copy-after=N \(N from 1 to 30\) or fail/ },
  { policy: "post-copy-after=0", message: /post-copy-after takes a whole number of pre-copy passes from 1 to 30, not "0"/ },
  { policy: "post-copy-after=many", message: /post-copy-after takes a whole number .*, not "many"/ },
  { policy: "throttle", message: /is not one of auto-converge/ },
]) {
  test(`ferry migrate --convergence ${policy}: exit 2 and one line`, async () => {
    const r = await runFerry(["migrate", "web01", "--to", "esx02", "--convergence", policy, ...nowhere]);
    assert.equal(r.status, 2, r.err + r.out);
    assert.match(r.err, message);
    assert.equal(r.err.trim().split("\n").length, 1, r.err);
  });
}

test("ferry cluster convergence with a bad policy, or a policy and --clear: exit 2 and one line, no controller asked", async () => {
  const bad = await runFerry(["cluster", "convergence", "Prod", "post-copy-after=99", ...nowhere]);
  assert.equal(bad.status, 2, bad.err + bad.out);
  assert.match(bad.err, /post-copy-after takes a whole number of pre-copy passes from 1 to 30, not "99"/);
  assert.equal(bad.err.trim().split("\n").length, 1, bad.err);
  const both = await runFerry(["cluster", "convergence", "Prod", "fail", "--clear", ...nowhere]);
  assert.equal(both.status, 2, both.err + both.out);
  assert.match(both.err, /give a policy or --clear, not both/);
});
