// The audit_event table: one row per API request the audit trail records, newest first on
// reading, pruned to the newest `keep`.
import type { Kysely, Selectable } from "kysely";
import { guardWrite } from "./store-errors.ts";
import { num, type Database } from "./kysely-store.ts";
import type { AuditEntry, Store } from "./store.ts";

type AuditLog = Pick<Store, "appendAudit" | "listAudit" | "pruneAudit">;

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

export function auditLog(db: Kysely<Database>): AuditLog {
  return {
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
