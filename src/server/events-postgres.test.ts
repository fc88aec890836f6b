// Events across controllers: two EventHubs on two stores (two pools, two LISTEN connections)
// on one real PostgreSQL, as two controller processes have. Whatever either publishes, and
// whatever a third writer appends on many connections at once, reaches the subscribers of
// both, in sequence order, none lost, none twice.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { openPostgresStore } from "../store/postgres.ts";
import type { Store, TaskEvent } from "../store/store.ts";
import { startThrowawayPostgres, type ThrowawayPostgres } from "../store/testing/postgres.ts";
import { EventHub } from "./events.ts";
import { progressEvent } from "./testing/events.ts";

let server: ThrowawayPostgres;
const stores: Store[] = [];
const hubs: EventHub[] = [];

before(async () => {
  server = await startThrowawayPostgres();
  for (let i = 0; i < 3; i++) {
    const store = openPostgresStore(server.url);
    await store.migrateToLatest();
    stores.push(store);
  }
  for (const store of stores.slice(0, 2)) {
    const hub = new EventHub(store);
    await hub.start();
    hubs.push(hub);
  }
});

after(async () => {
  for (const hub of hubs) await hub.close();
  for (const store of stores) await store.close();
  server.stop();
});

/**
 * Subscribes after `from` and resolves with the events before the first of task `end` (a marker
 * published last): a lost event fails the comparison instead of hanging the test.
 */
function collect(hub: EventHub, from: number): { done: Promise<TaskEvent[]>; stop: () => void } {
  const seen: TaskEvent[] = [];
  const abort = new AbortController();
  let finish!: (events: TaskEvent[]) => void;
  const done = new Promise<TaskEvent[]>((resolve) => { finish = resolve; });
  void hub.subscribe({
    after: from,
    signal: abort.signal,
    onResync: () => { throw new Error("no event was pruned: no resync expected"); },
    onEvent: (event) => {
      if (event.taskId === "end") finish(seen);
      else seen.push(event);
    },
  });
  return { done, stop: () => { abort.abort(); } };
}

function assertInOrderAndComplete(events: readonly TaskEvent[], published: readonly TaskEvent[], who: string): void {
  assert.deepEqual(events.map((e) => e.seq), [...published].map((e) => e.seq).sort((a, b) => a - b), `${who}: every event, once, in sequence order`);
}

test("events published on either controller, and appended on many connections at once, reach the subscribers of both in order, none lost", async () => {
  const [a, b] = hubs as [EventHub, EventHub];
  const from = await a.sequence();
  const perWriter = 150;
  const total = perWriter * 3;
  // Subscribers already live before the writers start, and one that joins midway (replay, then live).
  const onA = collect(a, from);
  const onB = collect(b, from);
  let late: ReturnType<typeof collect> | undefined;
  const loop = async (publish: (i: number) => Promise<TaskEvent>): Promise<TaskEvent[]> => {
    const out: TaskEvent[] = [];
    for (let i = 0; i < perWriter; i++) {
      out.push(await publish(i));
      if (i === perWriter / 2 && late === undefined) late = collect(b, from);
    }
    return out;
  };
  const raw = stores[2] as Store;
  const [fromA, fromB, fromRaw] = await Promise.all([
    loop((i) => a.publish("task-a", i, progressEvent("task-a", i))),
    loop((i) => b.publish("task-b", i, progressEvent("task-b", i))),
    // Ten at a time from one pool: appends that race for sequence numbers on different connections.
    (async () => {
      const out: TaskEvent[] = [];
      for (let i = 0; i < perWriter; i += 10) out.push(...(await Promise.all(Array.from({ length: 10 }, (_, k) => raw.appendEvent("task-c", i + k, progressEvent("task-c", i + k))))));
      return out;
    })(),
  ]);
  const published = [...fromA, ...fromB, ...fromRaw];
  await a.publish("end", 0, progressEvent("end", 100));
  assert.equal(new Set(published.map((e) => e.seq)).size, total);
  assertInOrderAndComplete(await onA.done, published, "controller A's subscriber");
  assertInOrderAndComplete(await onB.done, published, "controller B's subscriber");
  assert.ok(late !== undefined);
  assertInOrderAndComplete(await late.done, published, "a subscriber that joined midway");
  onA.stop();
  onB.stop();
  late.stop();
});

test("a dropped LISTEN connection is remade, and events appended meanwhile still arrive", async () => {
  const [a, b] = hubs as [EventHub, EventHub];
  const from = await b.sequence();
  const onB = collect(b, from);
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  try {
    const listeners = async (): Promise<number[]> => (await admin.query<{ pid: number }>("select pid from pg_stat_activity where query ilike 'LISTEN%'")).rows.map((r) => r.pid);
    const before = await listeners();
    assert.equal(before.length, 2, "one LISTEN connection per controller");
    // End every LISTEN connection, then publish on A at once: B hears of it only by reading the store when it is back.
    await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where query ilike 'LISTEN%'");
    const published = [await a.publish("task-d", 1, progressEvent("task-d", 1)), await a.publish("task-d", 2, progressEvent("task-d", 2))];
    // Wait for both connections to be back (new backends), then publish once more.
    for (;;) {
      const now = await listeners();
      if (now.length === 2 && now.every((pid) => !before.includes(pid))) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    published.push(await a.publish("task-d", 3, progressEvent("task-d", 3)));
    await a.publish("end", 0, progressEvent("end", 100));
    assertInOrderAndComplete(await onB.done, published, "controller B's subscriber");
  } finally {
    onB.stop();
    await admin.end();
  }
});
