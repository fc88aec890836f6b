// The store's task-event log: events appended with a store-wide increasing sequence (the SSE
// id), read after a sequence, pruned by age and count (never an open task's), and its bounds,
// so that a client resuming from a pruned sequence is told to resync instead of missing events
// silently. Spread into the one Store implementation (kysely-store.ts).
import { sql, type Kysely, type Selectable } from "kysely";
import { ErrorCode, FerryError } from "../core/errors.ts";
import type { Database } from "./kysely-store.ts";
import type { Dialect } from "./migrations.ts";
import { guardWrite } from "./store-errors.ts";
import type { EventBounds, EventPruneOptions, Store, TaskEvent } from "./store.ts";

/** The PostgreSQL channel every controller LISTENs on; the payload is the new event's sequence. */
export const EVENT_CHANNEL = "ferry_events";

/**
 * The transaction-level advisory lock every append takes on PostgreSQL ("ferry" in ASCII).
 * bigserial values are drawn at insert but commit in any order across connections: without
 * it a reader could see seq 11, move on, and only then see 10 commit. Under the lock the next
 * value is drawn only after the previous append committed, so sequences commit in order and a
 * reader that saw N has seen everything below N (gaps only where an append rolled back).
 */
const APPEND_LOCK = 0x6665727279;

/** Events deleted per transaction: a first prune of a big log does not hold the write lock for long. */
const PRUNE_BATCH = 5000;

const num = (value: number | string): number => (typeof value === "string" ? Number(value) : value);

function toEvent(row: Selectable<Database["task_event"]>): TaskEvent {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(row.body) as Record<string, unknown>;
  } catch (cause) {
    throw new FerryError(ErrorCode.internal, `the store holds a damaged event ${String(row.seq)}`, { cause });
  }
  return { seq: num(row.seq), taskId: row.task_id, at: num(row.at), body };
}

type EventLog = Pick<Store, "appendEvent" | "eventsAfter" | "latestEvent" | "eventBounds" | "pruneEvents">;

/** Events read per page while looking back for a task's latest of a type (its last few events, as a rule). */
const LOOKBACK_PAGE = 20;

export function eventLog(db: Kysely<Database>, dialect: Dialect): EventLog {
  const prunedThrough = async (): Promise<number> => num((await db.selectFrom("event_retention").select(["pruned_through"]).where("id", "=", 1).executeTakeFirst())?.pruned_through ?? 0);

  /** The highest sequence to prune by age (older than `before`) or by count (beyond the newest `keep`). */
  const cutOf = async (before: number, keep: number): Promise<number> => {
    const beyondCount = await db.selectFrom("task_event").select(["seq"]).orderBy("seq", "desc").offset(keep).limit(1).executeTakeFirst();
    // Sequences and times grow together (one clock per controller, appends in order): the
    // first young event ends the old ones, read from the oldest without a scan of the rest.
    const firstYoung = await db.selectFrom("task_event").select(["seq"]).where("at", ">=", before).orderBy("seq").limit(1).executeTakeFirst();
    const byAge = firstYoung === undefined ? num((await db.selectFrom("task_event").select((eb) => eb.fn.max("seq").as("seq")).executeTakeFirst())?.seq ?? 0) : num(firstYoung.seq) - 1;
    return Math.max(byAge, beyondCount === undefined ? 0 : num(beyondCount.seq));
  };

  return {
    async appendEvent(taskId, at, body) {
      const values = { task_id: taskId, at, body: JSON.stringify(body) };
      if (dialect === "sqlite") {
        // One writer at a time is SQLite's own rule: sequences commit in order.
        const row = await guardWrite(() => db.insertInto("task_event").values(values).returning(["seq"]).executeTakeFirstOrThrow());
        return { seq: num(row.seq), taskId, at, body };
      }
      const seq = await guardWrite(() =>
        db.transaction().execute(async (trx) => {
          await sql`select pg_advisory_xact_lock(${APPEND_LOCK}::bigint)`.execute(trx);
          const row = await trx.insertInto("task_event").values(values).returning(["seq"]).executeTakeFirstOrThrow();
          // Delivered to every listener when (and only if) the append commits.
          await sql`select pg_notify(${EVENT_CHANNEL}, ${String(row.seq)})`.execute(trx);
          return num(row.seq);
        }),
      );
      return { seq, taskId, at, body };
    },

    async eventsAfter(seq, options = {}) {
      let q = db.selectFrom("task_event").selectAll().where("seq", ">", seq);
      if (options.taskId !== undefined) q = q.where("task_id", "=", options.taskId);
      const rows = await q.orderBy("seq").limit(options.limit ?? 1000).execute();
      return rows.map(toEvent);
    },

    async latestEvent(taskId, type) {
      // The type is inside the JSON body: look back from the newest, a page at a time (task_event_task_idx).
      for (let below = Number.MAX_SAFE_INTEGER; ; ) {
        const rows = await db.selectFrom("task_event").selectAll().where("task_id", "=", taskId).where("seq", "<", below).orderBy("seq", "desc").limit(LOOKBACK_PAGE).execute();
        const found = rows.map(toEvent).find((e) => e.body["type"] === type);
        const last = rows[rows.length - 1];
        if (found !== undefined || last === undefined || rows.length < LOOKBACK_PAGE) return found;
        below = num(last.seq);
      }
    },

    async eventBounds(): Promise<EventBounds> {
      const pruned = await prunedThrough();
      // Two index lookups: SQLite scans the whole table for min() and max() in one query.
      const newest = await db.selectFrom("task_event").select(["seq"]).orderBy("seq", "desc").limit(1).executeTakeFirst();
      const first = await db.selectFrom("task_event").select(["seq"]).orderBy("seq").limit(1).executeTakeFirst();
      // An emptied log still resumes after what it pruned, never from 0.
      const latest = Math.max(pruned, newest === undefined ? 0 : num(newest.seq));
      const oldest = first === undefined ? null : num(first.seq);
      return { oldest: oldest ?? latest + 1, latest, prunedThrough: pruned };
    },

    async pruneEvents(options: EventPruneOptions): Promise<number> {
      const cut = await cutOf(options.before, options.keep);
      if (cut <= 0) return 0;
      const ended = [...options.ended];
      let removed = 0;
      for (;;) {
        const batch = await guardWrite(() =>
          db.transaction().execute(async (trx) => {
            // Tasks that have not ended keep every event (their watchers replay them).
            const tasks = trx.selectFrom("task").select(["id"]);
            const open = ended.length === 0 ? tasks : tasks.where("state", "not in", ended);
            const victims = await trx.selectFrom("task_event").select(["seq"]).where("seq", "<=", cut).where("task_id", "not in", open).orderBy("seq").limit(PRUNE_BATCH).execute();
            const first = victims[0];
            const last = victims[victims.length - 1];
            if (first === undefined || last === undefined) return 0;
            const result = await trx.deleteFrom("task_event").where("seq", ">=", num(first.seq)).where("seq", "<=", num(last.seq)).where("task_id", "not in", open).executeTakeFirst();
            await trx.updateTable("event_retention").set({ pruned_through: num(last.seq) }).where("id", "=", 1).where("pruned_through", "<", num(last.seq)).execute();
            return Number(result.numDeletedRows);
          }),
        );
        removed += batch;
        if (batch === 0) return removed;
      }
    },
  };
}
