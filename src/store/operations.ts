// The operation table: every operation the controller recorded as a task (who, what, on what,
// when it started and ended, how it went), newest first on reading, pruned to the newest `keep`.
// Spread into the one Store implementation (kysely-store.ts).
import type { Kysely, Selectable } from "kysely";
import { guardWrite } from "./store-errors.ts";
import { num, type Database } from "./kysely-store.ts";
import type { OperationRecord, Store } from "./store.ts";

type OperationLog = Pick<Store, "startOperation" | "finishOperation" | "getOperation" | "listOperations" | "failStaleOperations" | "failOperationsOf" | "pruneOperations">;

function toOperation(row: Selectable<Database["operation"]>): OperationRecord {
  return {
    id: row.id,
    kind: row.kind,
    title: row.title,
    object: row.object_kind === null || row.object_name === null ? undefined : { kind: row.object_kind, name: row.object_name },
    initiator: row.initiator ?? undefined,
    state: row.state,
    startedAt: num(row.started_at),
    endedAt: row.ended_at === null ? undefined : num(row.ended_at),
    result: row.result ?? undefined,
    errorCode: row.error_code ?? undefined,
    requestId: row.request_id ?? undefined,
    ...(row.controller === null ? {} : { controller: row.controller }),
  };
}

/** Results are one line for a table: long error messages are cut. */
const RESULT_MAX = 2000;

export function operationLog(db: Kysely<Database>): OperationLog {
  const get = async (id: string): Promise<OperationRecord | undefined> => {
    const row = await db.selectFrom("operation").selectAll().where("id", "=", id).executeTakeFirst();
    return row === undefined ? undefined : toOperation(row);
  };
  return {
    async startOperation(op) {
      await guardWrite(
        () =>
          db
            .insertInto("operation")
            .values({
              id: op.id,
              kind: op.kind,
              title: op.title,
              object_kind: op.object?.kind ?? null,
              object_name: op.object?.name ?? null,
              initiator: op.initiator ?? null,
              state: op.state,
              started_at: op.startedAt,
              ended_at: op.endedAt ?? null,
              result: op.result?.slice(0, RESULT_MAX) ?? null,
              error_code: op.errorCode ?? null,
              request_id: op.requestId ?? null,
              controller: op.controller ?? null,
            })
            .execute(),
        () => `an operation with id ${op.id} already exists`,
      );
    },

    async finishOperation(id, end) {
      // Only a running one ends: a second end (a follower racing the answer) changes nothing.
      await guardWrite(() =>
        db
          .updateTable("operation")
          .set({ state: end.state, ended_at: end.endedAt, result: end.result?.slice(0, RESULT_MAX) ?? null, error_code: end.errorCode ?? null })
          .where("id", "=", id)
          .where("state", "=", "running")
          .execute(),
      );
      return get(id);
    },

    getOperation: get,

    async listOperations(query = {}) {
      let q = db.selectFrom("operation").selectAll();
      if (query.object !== undefined) q = q.where("object_name", "=", query.object);
      if (query.initiator !== undefined) q = q.where("initiator", "=", query.initiator);
      if (query.states !== undefined && query.states.length > 0) q = q.where("state", "in", [...query.states]);
      if (query.startedBefore !== undefined) q = q.where("started_at", "<", query.startedBefore);
      const rows = await q.orderBy("started_at", "desc").orderBy("seq", "desc").limit(query.limit ?? 100).execute();
      return rows.map(toOperation);
    },

    async failStaleOperations(before, at, result) {
      const done = await guardWrite(() =>
        db.updateTable("operation").set({ state: "failed", ended_at: at, result, error_code: "UNAVAILABLE" }).where("state", "=", "running").where("started_at", "<", before).executeTakeFirst(),
      );
      return Number(done.numUpdatedRows);
    },

    async failOperationsOf(controller, at, result) {
      const rows = await guardWrite(() =>
        db.updateTable("operation").set({ state: "failed", ended_at: at, result: result.slice(0, RESULT_MAX), error_code: "UNAVAILABLE" }).where("state", "=", "running").where("controller", "=", controller).returningAll().execute(),
      );
      return rows.map(toOperation);
    },

    async pruneOperations(keep) {
      // The newest `keep` stay, running ones always.
      const pivot = await db.selectFrom("operation").select(["seq"]).orderBy("seq", "desc").offset(keep).limit(1).executeTakeFirst();
      if (pivot === undefined) return 0;
      const result = await guardWrite(() => db.deleteFrom("operation").where("seq", "<=", num(pivot.seq)).where("state", "!=", "running").executeTakeFirst());
      return Number(result.numDeletedRows);
    },
  };
}
