import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { EVENT_SEQUENCE_HEADER } from "../api/schemas.ts";
import { openSqliteStore } from "../store/sqlite.ts";
import { EventHub } from "./events.ts";
import { createManualClock } from "./testing/manual-clock.ts";
import { testController, type TestController } from "./testing/controller.ts";
import { progressEvent, reportEvent, testReport } from "./testing/events.ts";
import { Phase } from "../core/migration/types.ts";
import { parseSseFrames } from "../api/sse.ts";

let ctl: TestController;
before(async () => { ctl = await testController(); });
after(async () => { await ctl.store.close(); });

interface Frame { id: string; event: string; data: Record<string, unknown> }

/** The API's SSE frames, one by one; `close` hangs up. */
async function openEvents(headers: Record<string, string> = {}, query = ""): Promise<{ frames: AsyncGenerator<Frame>; close: () => void }> {
  const controller = new AbortController();
  const response = await ctl.app.request(`/api/events${query}`, { headers: { authorization: `Bearer ${ctl.tokens.readOnly}`, ...headers }, signal: controller.signal });
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /text\/event-stream/);
  async function* frames(): AsyncGenerator<Frame> {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      const { frames: parsed, rest } = parseSseFrames(buffer);
      buffer = rest;
      for (const frame of parsed) if (frame.id !== null) yield { id: frame.id, event: frame.event, data: JSON.parse(frame.data) as Record<string, unknown> };
    }
  }
  const iterator = frames();
  // Ending the iterator cancels the body: the server's stream sees the client go.
  return { frames: iterator, close: () => { controller.abort(); void iterator.return(undefined); } };
}

/** Reads SSE frames until `count` have arrived, then hangs up. */
async function readEvents(count: number, headers: Record<string, string> = {}, query = ""): Promise<Frame[]> {
  const stream = await openEvents(headers, query);
  const out: Frame[] = [];
  for await (const frame of stream.frames) {
    out.push(frame);
    if (out.length >= count) break;
  }
  stream.close();
  return out;
}

test("events stream live, in order, and resume after Last-Event-ID with nothing lost", async () => {
  const first = await ctl.events.publish("t1", 1, progressEvent("t1", 5, { phase: Phase.preparing }));
  await ctl.events.publish("t2", 2, progressEvent("t2", 0, { phase: Phase.queued }));
  const pending = readEvents(4);
  await ctl.events.publish("t1", 3, progressEvent("t1", 40));
  await ctl.events.publish("t1", 4, progressEvent("t1", 100, { phase: Phase.switchover }));
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

test("lists answer the event sequence they are current at; watching after it gives what came later, and only that", async () => {
  const earlier = await ctl.events.publish("t3", 5, progressEvent("t3", 10));
  for (const path of ["/api/migrations", "/api/hosts", "/api/vms", "/api/inventory"]) {
    const response = await ctl.app.request(path, { headers: { authorization: `Bearer ${ctl.tokens.readOnly}` } });
    assert.equal(response.status, 200, path);
    assert.equal(response.headers.get(EVENT_SEQUENCE_HEADER), String(earlier.seq), path);
  }
  const later = await ctl.events.publish("t3", 6, progressEvent("t3", 20));
  const seen = await readEvents(1, {}, `?after=${String(earlier.seq)}`);
  assert.deepEqual(seen.map((e) => Number(e.id)), [later.seq]);
  // A refused request says nothing of events.
  const missing = await ctl.app.request("/api/migrations/nope", { headers: { authorization: `Bearer ${ctl.tokens.readOnly}` } });
  assert.equal(missing.status, 404);
  assert.equal(missing.headers.get(EVENT_SEQUENCE_HEADER), null);
});

test("the JSON page of events: after a sequence, paged, and 410 GONE once events after it were pruned", async () => {
  const start = await ctl.events.sequence();
  const a = await ctl.events.publish("gone-1", 7, progressEvent("gone-1", 1));
  const b = await ctl.events.publish("gone-1", 8, progressEvent("gone-1", 2));
  const page = await ctl.call("GET", `/api/events/page?after=${String(start)}&limit=1`);
  assert.equal(page.status, 200);
  assert.deepEqual(page.body, { events: [{ seq: a.seq, taskId: "gone-1", at: 7, ...progressEvent("gone-1", 1) }], next: a.seq, latest: b.seq });
  const quiet = await ctl.call("GET", `/api/events/page?after=${String(b.seq)}`);
  assert.deepEqual(quiet.body, { events: [], next: b.seq, latest: b.seq });
  // Nothing here is a task's: every event goes.
  assert.ok((await ctl.store.pruneEvents({ before: Number.MAX_SAFE_INTEGER, keep: 0, ended: [] })) >= 2);
  const gone = await ctl.call("GET", `/api/events/page?after=${String(start)}`);
  assert.equal(gone.status, 410);
  const body = gone.body as { code: string; message: string; details: { type: string; after: number; latest: number } };
  assert.equal(body.code, "GONE");
  assert.match(body.message, /were pruned.*reload the lists/);
  assert.deepEqual([body.details.type, body.details.after, body.details.latest], ["resync", start, b.seq]);
  assert.equal((await ctl.call("GET", `/api/events/page?after=${String(b.seq)}`)).status, 200, "from the latest on, all is well");
});

test("a stream resuming before pruned events gets a resync first, then what happens next", async () => {
  const latest = await ctl.events.sequence();
  const stream = await openEvents({ "last-event-id": "1" });
  const resync = (await stream.frames.next()).value as Frame;
  const next = await ctl.events.publish("t4", 9, progressEvent("t4", 3));
  const live = (await stream.frames.next()).value as Frame;
  stream.close();
  assert.equal(resync.event, "resync");
  assert.equal(resync.id, String(latest));
  assert.equal(resync.data["type"], "resync");
  assert.equal(resync.data["after"], 1);
  assert.equal(resync.data["latest"], latest);
  assert.match(String(resync.data["reason"]), /pruned/);
  assert.equal(live.event, "task");
  assert.equal(live.id, String(next.seq));
  // Resuming after the resync's id is a plain resume.
  const plain = await readEvents(1, { "last-event-id": String(latest) });
  assert.deepEqual(plain.map((e) => [e.event, Number(e.id)]), [["task", next.seq]]);
});

test("the controller prunes by its retention on its clock: an ended task's old events go, a running task's stay, and a late client is told to resync", async () => {
  const clock = createManualClock();
  const store = openSqliteStore(":memory:", () => clock.now());
  await store.migrateToLatest();
  const hub = new EventHub(store, { clock, retention: { maxAgeMs: 60_000, maxCount: 1000, intervalMs: 10_000 } });
  try {
    const base = { kind: "migration" as const, vm: "web01", source: "esx01", destination: "esx02", percent: 0, createdBy: "admin", body: {} };
    await store.createTask({ ...base, id: "done", state: "completed", createdAt: clock.now() });
    await store.createTask({ ...base, id: "running", state: "precopy", createdAt: clock.now() });
    const old = [await hub.publish("done", clock.now(), reportEvent(testReport("done"))), await hub.publish("running", clock.now(), progressEvent("running", 10))];
    await hub.start({ prune: true });
    assert.deepEqual((await store.eventsAfter(0)).map((e) => e.seq), old.map((e) => e.seq), "nothing is old yet");
    // Past the age limit, the next round prunes the ended task's event only.
    await clock.advance(70_000);
    const fresh = await hub.publish("running", clock.now(), progressEvent("running", 10));
    for (let round = 0; round < 3 && (await store.eventBounds()).prunedThrough === 0; round++) await clock.advance(10_000);
    assert.deepEqual((await store.eventsAfter(0)).map((e) => e.taskId), ["running", "running"]);
    assert.equal((await store.eventBounds()).prunedThrough, old[0]?.seq);
    assert.equal((await hub.resyncFor(0))?.latest, fresh.seq);
    assert.equal(await hub.resyncFor(old[0]?.seq ?? 0), undefined, "a client past the pruned event resumes as usual");
  } finally {
    await hub.close();
    await store.close();
  }
});
