// The one Store implementation, over Kysely: SQLite and PostgreSQL differ only in the
// dialect handed in (sqlite.ts, postgres.ts) and a column type in the first migration.
import { Migrator, type Generated, type Kysely, type Selectable } from "kysely";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { migrationProvider, type Dialect } from "./migrations.ts";
import { eventLog } from "./event-log.ts";
import { guardWrite } from "./store-errors.ts";
import type { ApiToken, AuditEntry, ObjectChange, ObjectKind, Role, Store, StoredObject, TaskPatch, TaskQuery, TaskRecord } from "./store.ts";
import { coordination } from "./coordination.ts";
import { linkRates } from "./link-rates.ts";

export interface Database {
  inventory_object: { kind: string; name: string; body: string; version: number; updated_at: number | string };
  task: {
    id: string;
    kind: string;
    vm: string;
    source: string;
    destination: string;
    state: string;
    percent: number;
    created_at: number | string;
    updated_at: number | string;
    created_by: string;
    body: string;
    version: number;
    owner: string | null;
    lease_until: number | string | null;
  };
  vm_claim: { vm: string; task_id: string; source: string; destination: string; controller: string; at: number | string };
  admission: { task_id: string; source: string; destination: string; datastores: string; priority: string; controller: string; admitted_at: number | string; released_at: number | string | null };
  controller_lease: { id: string; address: string; started_at: number | string; lease_until: number | string };
  task_event: { seq: Generated<number | string>; task_id: string; at: number | string; body: string };
  link_rate: { source: string; destination: string; rate_bytes_per_sec: number; samples: number; fixed_ms: number; switchover_extra_ms: number; safety_margin_ms: number; updated_at: number | string };
  /** One row (id 1): the highest event sequence pruned (event-log.ts). */
  event_retention: { id: number; pruned_through: number | string };
  api_token: { id: string; name: string; role: string; hash: string; created_at: number | string; revoked_at: number | string | null; expires_at: number | string | null };
  audit_event: {
    seq: Generated<number | string>;
    at: number | string;
    actor: string | null;
    address: string | null;
    method: string;
    route: string;
    path: string;
    status: number;
    request_id: string;
    message: string | null;
  };
}

// pg returns BIGINT as a string (it may exceed 2^53); Ferry's are milliseconds and sequence
// numbers, well inside it.
export const num = (value: number | string): number => (typeof value === "string" ? Number(value) : value);

function parseJson(text: string, what: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (cause) {
    throw new FerryError(ErrorCode.internal, `the store holds a damaged ${what}`, { cause });
  }
}

export function toTask(row: Selectable<Database["task"]>): TaskRecord {
  return {
    id: row.id,
    kind: "migration",
    vm: row.vm,
    source: row.source,
    destination: row.destination,
    state: row.state,
    percent: row.percent,
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
    createdBy: row.created_by,
    body: parseJson(row.body, `task ${row.id}`),
    version: row.version,
    owner: row.owner ?? undefined,
    leaseUntil: row.lease_until === null ? undefined : num(row.lease_until),
  };
}

function toToken(row: Selectable<Database["api_token"]>): ApiToken {
  return { id: row.id, name: row.name, role: row.role as Role, createdAt: num(row.created_at), revokedAt: row.revoked_at === null ? undefined : num(row.revoked_at), expiresAt: row.expires_at === null ? undefined : num(row.expires_at) };
}

function toAudit(row: Selectable<Database["audit_event"]>): AuditEntry {
  return {
    seq: num(row.seq),
    at: num(row.at),
    actor: row.actor ?? undefined,
    address: row.address ?? undefined,
    method: row.method,
    route: row.route,
    path: row.path,
    status: row.status,
    requestId: row.request_id,
    message: row.message ?? undefined,
  };
}

export function kyselyStore(db: Kysely<Database>, dialect: Dialect, now: () => number): Store {
  const toObject = <T>(row: Selectable<Database["inventory_object"]>): StoredObject<T> => ({
    kind: row.kind as ObjectKind,
    name: row.name,
    body: JSON.parse(row.body) as T,
    version: row.version,
    updatedAt: num(row.updated_at),
  });

  return {
    dialect,
    ...coordination(db, dialect, now),
    ...linkRates(db, dialect === "postgres"),

    async migrateToLatest() {
      const migrator = new Migrator({ db, provider: migrationProvider(dialect) });
      const { error, results } = await migrator.migrateToLatest();
      if (error !== undefined) {
        const failed = results?.find((r) => r.status === "Error")?.migrationName ?? "a migration";
        throw new FerryError(ErrorCode.internal, `cannot bring the ${dialect} store up to date: ${failed} failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`, { cause: error });
      }
    },

    async close() {
      await db.destroy();
    },

    async putObject<T>(kind: ObjectKind, name: string, body: T, expectedVersion?: number): Promise<StoredObject<T>> {
      const text = JSON.stringify(body);
      const at = now();
      return guardWrite(() => db.transaction().execute(async (trx) => {
        const current = await trx.selectFrom("inventory_object").select(["version"]).where("kind", "=", kind).where("name", "=", name).executeTakeFirst();
        if (expectedVersion !== undefined && (current?.version ?? 0) !== expectedVersion) {
          throw new FerryError(ErrorCode.conflict, `${kind} ${name} changed meanwhile (version ${current?.version ?? 0}, expected ${expectedVersion}); read it again and retry`);
        }
        const version = (current?.version ?? 0) + 1;
        if (current === undefined) {
          await trx.insertInto("inventory_object").values({ kind, name, body: text, version, updated_at: at }).execute();
        } else {
          await trx.updateTable("inventory_object").set({ body: text, version, updated_at: at }).where("kind", "=", kind).where("name", "=", name).execute();
        }
        return { kind, name, body, version, updatedAt: at };
      }));
    },

    async replaceObjects(objects, alsoKinds = []) {
      const at = now();
      const kinds = [...new Set([...objects.map((o) => o.kind), ...alsoKinds])];
      await guardWrite(() => db.transaction().execute(async (trx) => {
        if (kinds.length > 0) await trx.deleteFrom("inventory_object").where("kind", "in", kinds).execute();
        // Chunks keep each statement under SQLite's bound-parameter limit.
        for (let i = 0; i < objects.length; i += 500) {
          const chunk = objects.slice(i, i + 500).map((o) => ({ kind: o.kind, name: o.name, body: JSON.stringify(o.body), version: 1, updated_at: at }));
          if (chunk.length > 0) await trx.insertInto("inventory_object").values(chunk).execute();
        }
      }), () => "two inventory objects of one kind share a name");
    },

    async applyObjects(changes: readonly ObjectChange[]) {
      const at = now();
      await guardWrite(() => db.transaction().execute(async (trx) => {
        for (const change of changes) {
          const current = await trx.selectFrom("inventory_object").select(["version"]).where("kind", "=", change.kind).where("name", "=", change.name).executeTakeFirst();
          if (change.expectedVersion !== undefined && (current?.version ?? 0) !== change.expectedVersion) {
            throw new FerryError(ErrorCode.conflict, `${change.kind} ${change.name} changed meanwhile (version ${current?.version ?? 0}, expected ${change.expectedVersion}); read it again and retry`);
          }
          if (change.body === null) {
            await trx.deleteFrom("inventory_object").where("kind", "=", change.kind).where("name", "=", change.name).execute();
          } else if (current === undefined) {
            await trx.insertInto("inventory_object").values({ kind: change.kind, name: change.name, body: JSON.stringify(change.body), version: 1, updated_at: at }).execute();
          } else {
            await trx.updateTable("inventory_object").set({ body: JSON.stringify(change.body), version: current.version + 1, updated_at: at }).where("kind", "=", change.kind).where("name", "=", change.name).execute();
          }
        }
      }));
    },

    async getObject<T>(kind: ObjectKind, name: string) {
      const row = await db.selectFrom("inventory_object").selectAll().where("kind", "=", kind).where("name", "=", name).executeTakeFirst();
      return row === undefined ? undefined : toObject<T>(row);
    },

    async listObjects<T>(kind: ObjectKind) {
      const rows = await db.selectFrom("inventory_object").selectAll().where("kind", "=", kind).orderBy("name").execute();
      return rows.map((row) => toObject<T>(row));
    },

    async deleteObject(kind, name) {
      const result = await db.deleteFrom("inventory_object").where("kind", "=", kind).where("name", "=", name).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },

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

    // Task events: append, read after, bounds, pruning (event-log.ts).
    ...eventLog(db, dialect),

    async addToken(token) {
      const expiresAt = token.expiresAt ?? null;
      // Only a unique violation means the name is taken: a full disk says so (store-errors.ts).
      await guardWrite(
        () => db.insertInto("api_token").values({ id: token.id, name: token.name, role: token.role, hash: token.hash, created_at: token.createdAt, revoked_at: null, expires_at: expiresAt }).execute(),
        () => `a token named ${token.name} already exists`,
      );
      return { id: token.id, name: token.name, role: token.role, createdAt: token.createdAt, revokedAt: undefined, expiresAt: token.expiresAt };
    },

    async findTokenByHash(hash) {
      const row = await db.selectFrom("api_token").selectAll().where("hash", "=", hash).where("revoked_at", "is", null).executeTakeFirst();
      return row === undefined ? undefined : toToken(row);
    },

    async listTokens() {
      const rows = await db.selectFrom("api_token").selectAll().orderBy("name").execute();
      return rows.map(toToken);
    },

    async revokeToken(name, at) {
      const result = await guardWrite(() => db.updateTable("api_token").set({ revoked_at: at }).where("name", "=", name).where("revoked_at", "is", null).executeTakeFirst());
      return Number(result.numUpdatedRows) > 0;
    },

    async appendAudit(entry) {
      await guardWrite(() =>
        db
          .insertInto("audit_event")
          .values({ at: entry.at, actor: entry.actor ?? null, address: entry.address ?? null, method: entry.method, route: entry.route, path: entry.path, status: entry.status, request_id: entry.requestId, message: entry.message ?? null })
          .execute(),
      );
    },

    async listAudit(query = {}) {
      let q = db.selectFrom("audit_event").selectAll();
      if (query.since !== undefined) q = q.where("at", ">=", query.since);
      if (query.actor !== undefined) q = q.where("actor", "=", query.actor);
      const rows = await q.orderBy("seq", "desc").limit(query.limit ?? 100).execute();
      return rows.map(toAudit);
    },

    async pruneAudit(keep) {
      // The newest `keep` stay: everything at or below the seq just past them goes.
      const pivot = await db.selectFrom("audit_event").select(["seq"]).orderBy("seq", "desc").offset(keep).limit(1).executeTakeFirst();
      if (pivot === undefined) return 0;
      const result = await guardWrite(() => db.deleteFrom("audit_event").where("seq", "<=", num(pivot.seq)).executeTakeFirst());
      return Number(result.numDeletedRows);
    },
  };
}
