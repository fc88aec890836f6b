import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { testController, type TestController } from "./testing/controller.ts";

let ctl: TestController;
before(async () => { ctl = await testController(); });
after(async () => { await ctl.store.close(); });

/** Reads SSE events from the API until `count` have arrived, then hangs up. */
async function readEvents(count: number, headers: Record<string, string> = {}, query = ""): Promise<{ id: string; data: Record<string, unknown> }[]> {
  const controller = new AbortController();
  const response = await ctl.app.request(`/api/events${query}`, { headers: { authorization: `Bearer ${ctl.tokens.readOnly}`, ...headers }, signal: controller.signal });
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /text\/event-stream/);
  const out: { id: string; data: Record<string, unknown> }[] = [];
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const id = /^id: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (id !== undefined && data !== undefined) out.push({ id, data: JSON.parse(data) as Record<string, unknown> });
      end = buffer.indexOf("\n\n");
    }
    if (out.length >= count) break;
  }
  controller.abort();
  return out;
}

test("events stream live, in order, and resume after Last-Event-ID with nothing lost", async () => {
  const first = await ctl.events.publish("t1", 1, { phase: "preparing", percent: 5 });
  await ctl.events.publish("t2", 2, { phase: "queued", percent: 0 });
  const pending = readEvents(4);
  await ctl.events.publish("t1", 3, { phase: "precopy", percent: 40 });
  await ctl.events.publish("t1", 4, { phase: "completed", percent: 100 });
  const seen = await pending;
  assert.deepEqual(seen.map((e) => e.data["taskId"]), ["t1", "t2", "t1", "t1"]);
  assert.deepEqual(seen.map((e) => Number(e.id)), [...seen.map((e) => Number(e.id))].sort((a, b) => a - b));
  const resumed = await readEvents(2, { "last-event-id": String(first.seq) }, "?task=t1");
  assert.deepEqual(resumed.map((e) => e.data["percent"]), [40, 100]);
});

test("events need a token", async () => {
  const response = await ctl.app.request("/api/events");
  assert.equal(response.status, 401);
});
