// The inventory_object table: one row per inventory object (host, VM, pool, ...) with its JSON
// body and a version that conditional writes compare.
import type { Kysely, Selectable } from "kysely";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { guardWrite } from "./store-errors.ts";
import { num, type Database } from "./kysely-store.ts";
import type { ObjectChange, ObjectKind, Store, StoredObject } from "./store.ts";

type InventoryObjects = Pick<Store, "putObject" | "replaceObjects" | "applyObjects" | "getObject" | "listObjects" | "deleteObject">;

function toObject<T>(row: Selectable<Database["inventory_object"]>): StoredObject<T> {
  return {
    kind: row.kind as ObjectKind,
    name: row.name,
    body: JSON.parse(row.body) as T,
    version: row.version,
    updatedAt: num(row.updated_at),
  };
}

export function inventoryObjects(db: Kysely<Database>, now: () => number): InventoryObjects {
  return {
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
  };
}
