// The task table: migration tasks, their state and percent as columns (for queries) and the
// rest as a JSON body; every update bumps a version that conditional writes compare.
import type { Kysely } from "kysely";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { guardWrite } from "./store-errors.ts";
import { num, toTask, type Database } from "./kysely-store.ts";
import type { Store, TaskPatch, TaskQuery } from "./store.ts";

type TaskTable = Pick<Store, "createTask" | "updateTask" | "getTask" | "listTasks">;

export function taskTable(db: Kysely<Database>, now: () => number): TaskTable {
  return {
    async createTask(task) {
      const row = {
        id: task.id,
        kind: task.kind,
        vm: task.vm,
        source: task.source,
        destination: task.destination,
        state: task.state,
        percent: task.percent,
        created_at: task.createdAt,
        updated_at: task.createdAt,
        created_by: task.createdBy,
        body: JSON.stringify(task.body),
        version: 1,
        owner: task.owner ?? null,
        lease_until: task.leaseUntil ?? null,
      };
      await guardWrite(() => db.insertInto("task").values(row).execute(), () => `a task with id ${task.id} already exists`);
      return { ...task, updatedAt: task.createdAt, version: 1 };
    },

    async updateTask(id: string, patch: TaskPatch, expectedVersion?: number, owner?: string) {
      return guardWrite(() => db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom("task").selectAll().where("id", "=", id).executeTakeFirst();
        if (row === undefined) throw new FerryError(ErrorCode.notFound, `no task with id ${id}`);
        if (owner !== undefined && row.owner !== null && row.owner !== owner) {
          throw new FerryError(ErrorCode.conflict, `task ${id} is run by controller ${row.owner} now (this controller's lease on it expired)`, { details: { owner: row.owner } });
        }
        if (expectedVersion !== undefined && row.version !== expectedVersion) {
          throw new FerryError(ErrorCode.conflict, `task ${id} changed meanwhile (version ${row.version}, expected ${expectedVersion})`);
        }
        const next = {
          state: patch.state ?? row.state,
          percent: patch.percent ?? row.percent,
          body: patch.body === undefined ? row.body : JSON.stringify(patch.body),
          updated_at: now(),
          version: row.version + 1,
        };
        // The version in the WHERE makes the write itself refuse a concurrent writer (PostgreSQL, several controllers).
        const result = await trx.updateTable("task").set(next).where("id", "=", id).where("version", "=", row.version).executeTakeFirst();
        if (Number(result.numUpdatedRows) !== 1) throw new FerryError(ErrorCode.conflict, `task ${id} changed meanwhile; retry`);
        return toTask({ ...row, ...next });
      }));
    },

    async getTask(id) {
      const row = await db.selectFrom("task").selectAll().where("id", "=", id).executeTakeFirst();
      return row === undefined ? undefined : toTask(row);
    },

    async listTasks(query: TaskQuery = {}) {
      let q = db.selectFrom("task").selectAll();
      if (query.states !== undefined && query.states.length > 0) q = q.where("state", "in", [...query.states]);
      if (query.vm !== undefined) q = q.where("vm", "=", query.vm);
      if (query.createdBy !== undefined) q = q.where("created_by", "=", query.createdBy);
      if (query.createdBefore !== undefined) q = q.where("created_at", "<", query.createdBefore);
      if (query.before !== undefined) {
        const pivot = await db.selectFrom("task").select(["created_at", "id"]).where("id", "=", query.before).executeTakeFirst();
        if (pivot !== undefined) {
          const at = num(pivot.created_at);
          q = q.where((eb) => eb.or([eb("created_at", "<", at), eb.and([eb("created_at", "=", at), eb("id", "<", pivot.id)])]));
        }
      }
      const rows = await q.orderBy("created_at", "desc").orderBy("id", "desc").limit(query.limit ?? 100).execute();
      return rows.map(toTask);
    },
  };
}
