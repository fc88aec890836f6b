// `ferry tasks ID --watch` / `ferry migrate --watch` when the controller pruned events the watch
// needed: the CLI says so in one line, reads the task again, and ends with the task's report.
// The controller is the real API app in-process; the client is the CLI's own ApiClient.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ApiClient } from "../../api/client.ts";
import { testController, type TestController } from "../../server/testing/controller.ts";
import { progressEvent, reportEvent, testReport } from "../../server/testing/events.ts";
import type { CliIo } from "../io.ts";
import { watchTask } from "./migrate.ts";

let ctl: TestController;
before(async () => { ctl = await testController(); });
after(async () => { await ctl.store.close(); });

test("a watch from before pruned events says so, reads the task again and returns its report", async () => {
  const report = testReport("m-pruned");
  const body = { request: { vm: "web01", to: "esx02", priority: "high" }, requestedBy: "admin", acceptedWarnings: [], timeline: [{ phase: "queued", at: 1 }, { phase: "completed", at: 3 }], report };
  await ctl.store.createTask({ id: "m-pruned", kind: "migration", vm: "web01", source: "esx01", destination: "esx02", state: "completed", percent: 100, createdAt: 1, createdBy: "admin", body });
  await ctl.events.publish("m-pruned", 2, progressEvent("m-pruned", 50));
  await ctl.events.publish("m-pruned", 3, reportEvent(report));
  assert.ok((await ctl.store.pruneEvents({ before: Number.MAX_SAFE_INTEGER, keep: 0, ended: ["completed"] })) >= 2);

  const client = new ApiClient({ url: "http://controller", token: ctl.tokens.readOnly, fetch: (input, init) => Promise.resolve(ctl.app.request(input.replace("http://controller", ""), init)) });
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (t) => out.push(t), err: (t) => err.push(t), readText: () => Promise.reject(new Error("unused")), isTty: false };
  const got = await watchTask(client, io, "m-pruned", false, 0);
  assert.deepEqual(got, report);
  assert.equal(err.length, 1);
  assert.match(err[0] ?? "", /^ferry: the controller no longer keeps some events of this watch \(events after 0 up to \d+ were pruned.*\); reading migration m-pruned again$/);
});
