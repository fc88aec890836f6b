import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ErrorCode } from "../core/errors.ts";
import { MigrationFailureCode, Phase, type MigrationProgress, type MigrationReport } from "../core/migration/types.ts";
import { createManualClock, type ManualClock } from "../core/testing/clock.ts";
import { createScheduler, localSlots, type AdmissionSlots, type QueuedMigration } from "./scheduler.ts";

const nics: Record<string, number> = { esx01: 1000, esx02: 1000, esx03: 10_000, esx04: 10_000 };

function report(id: string, source: string, destination: string): MigrationReport {
  return {
    migrationId: id, vm: `vm-${id}`, source, destination, outcome: Phase.completed, failure: undefined, runningOn: destination, downtimeMs: 1, totalMs: 1,
    bytesSent: 0, passes: 1, pagesSent: 0, zeroPages: 0, throttlePercentMax: 0, prediction: undefined, verified: true,
  };
}

/** Migrations that run until the test finishes them; time moves only when the test advances `clock`. */
function harness(slots?: AdmissionSlots, clock: ManualClock = createManualClock()) {
  const scheduler = createScheduler({ clock, vmotionNicMbps: (h) => nics[h], slots, pollMs: 1000 });
  const started: string[] = [];
  const finishers = new Map<string, () => void>();
  const events = new Map<string, MigrationProgress[]>();
  const submit = (id: string, source: string, destination: string, signal = new AbortController().signal): Promise<MigrationReport> => {
    events.set(id, []);
    const migration: QueuedMigration = {
      migrationId: id, vm: `vm-${id}`, source, destination, signal,
      onProgress: (p) => events.get(id)?.push(p),
      run: () => {
        started.push(id);
        return new Promise((resolve) => finishers.set(id, () => { resolve(report(id, source, destination)); }));
      },
    };
    return scheduler.submit(migration);
  };
  const finish = async (id: string): Promise<void> => {
    const done = finishers.get(id);
    assert.ok(done !== undefined, `${id} is running`);
    done();
    await decided();
  };
  /** Admission decides asynchronously: wait until the decisions asked for are made. */
  const decided = async (): Promise<void> => {
    await new Promise((r) => setImmediate(r));
    await scheduler.idle();
  };
  return { scheduler, started, submit, finish, events, decided };
}

describe("engine scheduler", () => {
  test("a 1 Gb/s host runs 4 at a time; the rest wait, say why once, and start as slots free", async () => {
    const h = harness();
    const reports = ["a", "b", "c", "d", "e", "f"].map((id) => h.submit(id, "esx01", "esx03"));
    await h.decided();
    assert.deepEqual(h.started, ["a", "b", "c", "d"]);
    for (const id of ["e", "f"]) {
      const queued = h.events.get(id) ?? [];
      assert.equal(queued.length, 1);
      assert.equal(queued[0]?.phase, Phase.queued);
      assert.equal(queued[0].message, "waiting: esx01 runs 4 migrations, the limit on a 1 Gb/s VMotion NIC");
    }
    assert.deepEqual(h.scheduler.state().waiting.map((w) => w.migrationId), ["e", "f"]);
    await h.finish("b");
    assert.deepEqual(h.started, ["a", "b", "c", "d", "e"], "the first in line takes the free slot");
    await h.finish("a");
    assert.deepEqual(h.started, ["a", "b", "c", "d", "e", "f"]);
    for (const id of ["c", "d", "e", "f"]) await h.finish(id);
    assert.deepEqual((await Promise.all(reports)).map((r) => r.outcome), Array(6).fill(Phase.completed));
    assert.deepEqual(h.scheduler.state(), { running: [], waiting: [] });
  });

  test("10 Gb/s hosts run 8 at a time", async () => {
    const h = harness();
    const reports = Array.from({ length: 9 }, (_, i) => h.submit(`m${i}`, "esx03", "esx04"));
    await h.decided();
    assert.equal(h.started.length, 8);
    assert.equal(h.events.get("m8")?.[0]?.message, "waiting: esx03 runs 8 migrations, the limit on a 10 Gb/s VMotion NIC");
    for (const id of [...h.started]) await h.finish(id);
    await h.finish("m8");
    await Promise.all(reports);
  });

  test("a migration waits for the busier of its two hosts; others go ahead on free hosts", async () => {
    const h = harness();
    for (const id of ["a", "b", "c", "d"]) void h.submit(id, "esx01", "esx03");
    void h.submit("to-esx01", "esx04", "esx01");
    void h.submit("free", "esx04", "esx02");
    await h.decided();
    assert.deepEqual(h.started, ["a", "b", "c", "d", "free"]);
    assert.equal(h.events.get("to-esx01")?.[0]?.message, "waiting: esx01 runs 4 migrations, the limit on a 1 Gb/s VMotion NIC");
    for (const id of ["a", "b", "c", "d", "free"]) await h.finish(id);
    await h.finish("to-esx01");
  });

  test("aborting a queued migration takes it out of the queue: cancelled in phase queued, nothing run", async () => {
    const h = harness();
    for (const id of ["a", "b", "c", "d"]) void h.submit(id, "esx01", "esx02");
    const stop = new AbortController();
    const waiting = h.submit("e", "esx01", "esx02", stop.signal);
    await h.decided();
    stop.abort();
    const r = await waiting;
    assert.equal(r.outcome, Phase.cancelled);
    assert.equal(r.failure?.code, MigrationFailureCode.aborted);
    assert.equal(r.failure.phase, Phase.queued);
    assert.match(r.failure.message, /aborted while queued \(esx01 runs 4 migrations/);
    assert.equal(r.runningOn, "esx01");
    await h.finish("a");
    assert.ok(!h.started.includes("e"));
  });

  test("the same migration id twice is a CONFLICT", async () => {
    const h = harness();
    void h.submit("a", "esx01", "esx02");
    await assert.rejects(h.submit("a", "esx01", "esx02"), (e: unknown) => (e as { code?: string }).code === ErrorCode.conflict);
  });

  test("two schedulers on shared slots (two controllers) never exceed a host's limit together; a freed slot is found by polling", async () => {
    const local = localSlots();
    let peak = 0;
    let open = 0;
    // The store's slots as two controllers see them: one count, decisions in turn.
    const shared: AdmissionSlots = {
      shared: true,
      admit: async (decide) => {
        const added = await local.admit(decide);
        open += added.length;
        peak = Math.max(peak, open);
        return added;
      },
      release: async (id) => {
        open -= 1;
        await local.release(id);
      },
    };
    const clock = createManualClock();
    const a = harness(shared, clock);
    const b = harness(shared, clock);
    for (const id of ["a1", "a2", "a3"]) void a.submit(id, "esx01", "esx03");
    await a.decided();
    for (const id of ["b1", "b2"]) void b.submit(id, "esx01", "esx04");
    await b.decided();
    assert.deepEqual([a.started, b.started], [["a1", "a2", "a3"], ["b1"]], "esx01's 4 slots are counted across both");
    assert.equal(b.events.get("b2")?.[0]?.message, "waiting: esx01 runs 4 migrations, the limit on a 1 Gb/s VMotion NIC");
    await a.finish("a1");
    // b learns of the freed slot only by asking again, once its poll interval has passed.
    await clock.advance(999);
    await b.decided();
    assert.deepEqual(b.started, ["b1"], "not before its next poll");
    await clock.advance(1);
    await b.decided();
    assert.deepEqual(b.started, ["b1", "b2"]);
    assert.equal(peak, 4);
    for (const id of ["a2", "a3"]) await a.finish(id);
    for (const id of ["b1", "b2"]) await b.finish(id);
    assert.equal(open, 0);
  });
});
