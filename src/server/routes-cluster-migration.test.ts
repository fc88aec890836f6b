// A cluster's convergence policy through the API, in-process: none set reads null (the
// default applies), an operator sets and clears it, bad words are a one-line 400, a read-only
// token is refused, an unknown cluster is a 404; and what is set is what a migration's preview runs with.
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

describe("cluster migration settings", () => {
  test("read, set, refused, cleared", async () => {
    const none = await ctl.call("GET", "/api/clusters/Prod/migration", { token: ctl.tokens.readOnly });
    assert.equal(none.status, 200, none.text);
    assert.deepEqual(none.body, { convergence: null });
    assert.equal((await ctl.call("PUT", "/api/clusters/Prod/migration", { token: ctl.tokens.readOnly, body: { convergence: "fail" } })).status, 403);

    const set = await ctl.call("PUT", "/api/clusters/Prod/migration", { token: ctl.tokens.operator, body: { convergence: "post-copy-after 3" } });
    assert.equal(set.status, 200, set.text);
    assert.deepEqual(set.body, { convergence: "post-copy-after=3" }, "stored in the policy's own words");
    assert.equal(ctl.inventory.current.inventory.clusters.find((c) => c.name === "Prod")?.migration?.convergence, "post-copy-after=3");

    const bad = await ctl.call("PUT", "/api/clusters/Prod/migration", { token: ctl.tokens.operator, body: { convergence: "post-copy-after=0" } });
    assert.equal(bad.status, 400);
    assert.match((bad.body as { message: string }).message, /post-copy-after takes a whole number of pre-copy passes from 1 to 30, not "0"/);
    assert.deepEqual((await ctl.call("GET", "/api/clusters/Prod/migration")).body, { convergence: "post-copy-after=3" }, "a refusal writes nothing");

    assert.equal((await ctl.call("PUT", "/api/clusters/Nope/migration", { body: { convergence: "fail" } })).status, 404);
    const cleared = await ctl.call("PUT", "/api/clusters/Prod/migration", { body: { convergence: null } });
    assert.deepEqual(cleared.body, { convergence: null });
    assert.equal(ctl.inventory.current.inventory.clusters.find((c) => c.name === "Prod")?.migration, undefined);
  });
});
