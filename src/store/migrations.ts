// Schema migrations, in code (no migration folder to ship). Each migration is append-only:
// never edit one that has shipped; add the next. JSON documents are TEXT in both databases
// so that one query API serves both.
import { sql, type Kysely, type Migration, type MigrationProvider } from "kysely";

export type Dialect = "sqlite" | "postgres";

function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    "0001-initial": {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .createTable("inventory_object")
          .addColumn("kind", "text", (c) => c.notNull())
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("body", "text", (c) => c.notNull())
          .addColumn("version", "integer", (c) => c.notNull())
          .addColumn("updated_at", "bigint", (c) => c.notNull())
          .addPrimaryKeyConstraint("inventory_object_pk", ["kind", "name"])
          .execute();

        await db.schema
          .createTable("task")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("kind", "text", (c) => c.notNull())
          .addColumn("vm", "text", (c) => c.notNull())
          .addColumn("source", "text", (c) => c.notNull())
          .addColumn("destination", "text", (c) => c.notNull())
          .addColumn("state", "text", (c) => c.notNull())
          .addColumn("percent", "real", (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("updated_at", "bigint", (c) => c.notNull())
          .addColumn("created_by", "text", (c) => c.notNull())
          .addColumn("body", "text", (c) => c.notNull())
          .addColumn("version", "integer", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("task_state_idx").on("task").columns(["state"]).execute();
        await db.schema.createIndex("task_vm_idx").on("task").columns(["vm", "created_at"]).execute();
        await db.schema.createIndex("task_created_idx").on("task").columns(["created_at", "id"]).execute();

        // The event sequence is the SSE id: strictly increasing across the store.
        await db.schema
          .createTable("task_event")
          .addColumn("seq", dialect === "postgres" ? "bigserial" : "integer", (c) => (dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement()))
          .addColumn("task_id", "text", (c) => c.notNull())
          .addColumn("at", "bigint", (c) => c.notNull())
          .addColumn("body", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("task_event_task_idx").on("task_event").columns(["task_id", "seq"]).execute();

        await db.schema
          .createTable("api_token")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("name", "text", (c) => c.notNull().unique())
          .addColumn("role", "text", (c) => c.notNull())
          .addColumn("hash", "text", (c) => c.notNull().unique())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("revoked_at", "bigint")
          .execute();
      },
    },
    // Issue 11: token expiry, and the audit log (who, what, when, result, request id).
    "0002-token-expiry-and-audit": {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema.alterTable("api_token").addColumn("expires_at", "bigint").execute();
        await db.schema
          .createTable("audit_event")
          .addColumn("seq", dialect === "postgres" ? "bigserial" : "integer", (c) => (dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement()))
          .addColumn("at", "bigint", (c) => c.notNull())
          .addColumn("actor", "text")
          .addColumn("address", "text")
          .addColumn("method", "text", (c) => c.notNull())
          .addColumn("route", "text", (c) => c.notNull())
          .addColumn("path", "text", (c) => c.notNull())
          .addColumn("status", "integer", (c) => c.notNull())
          .addColumn("request_id", "text", (c) => c.notNull())
          .addColumn("message", "text")
          .execute();
        await db.schema.createIndex("audit_event_at_idx").on("audit_event").columns(["at"]).execute();
        await db.schema.createIndex("audit_event_actor_idx").on("audit_event").columns(["actor", "seq"]).execute();
      },
    },
    // Issue 17: several controllers on one store. A VM is claimed by one migration at a time
    // (the primary key makes the claim atomic); tasks have an owner and a lease; admissions
    // (per-host and per-datastore limits) are rows every controller counts; a controller's
    // lease says it is alive.
    "0003-claims-leases-admission": {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .createTable("vm_claim")
          .addColumn("vm", "text", (c) => c.primaryKey())
          .addColumn("task_id", "text", (c) => c.notNull())
          .addColumn("source", "text", (c) => c.notNull())
          .addColumn("destination", "text", (c) => c.notNull())
          .addColumn("controller", "text", (c) => c.notNull())
          .addColumn("at", "bigint", (c) => c.notNull())
          .execute();
        await db.schema.alterTable("task").addColumn("owner", "text").execute();
        await db.schema.alterTable("task").addColumn("lease_until", "bigint").execute();
        await db.schema
          .createTable("admission")
          .addColumn("task_id", "text", (c) => c.primaryKey())
          .addColumn("source", "text", (c) => c.notNull())
          .addColumn("destination", "text", (c) => c.notNull())
          .addColumn("datastores", "text", (c) => c.notNull())
          .addColumn("priority", "text", (c) => c.notNull())
          .addColumn("controller", "text", (c) => c.notNull())
          .addColumn("admitted_at", "bigint", (c) => c.notNull())
          .addColumn("released_at", "bigint")
          .execute();
        await db.schema.createIndex("admission_open_idx").on("admission").columns(["released_at"]).execute();
        await db.schema
          .createTable("controller_lease")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("address", "text", (c) => c.notNull())
          .addColumn("started_at", "bigint", (c) => c.notNull())
          .addColumn("lease_until", "bigint", (c) => c.notNull())
          .execute();
      },
    },
    // Issue 17: events are pruned by age and count; the highest sequence pruned tells a client
    // that resumes before it to resync (event-log.ts).
    "0004-event-retention": {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema.createTable("event_retention").addColumn("id", "integer", (c) => c.primaryKey()).addColumn("pruned_through", "bigint", (c) => c.notNull()).execute();
        await sql`insert into event_retention (id, pruned_through) values (1, 0)`.execute(db);
      },
    },
    // Issue 17: a controller reads what others on the store changed since it last looked.
    "0005-inventory-updated-index": {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema.createIndex("inventory_object_updated_idx").on("inventory_object").columns(["updated_at"]).execute();
      },
    },
    // Issue 12: what each VMotion host pair's migrations taught (src/core/migration/link-learning.ts).
    "0006-link-rates": {
      async up(db: Kysely<unknown>): Promise<void> {
        // PostgreSQL's real is 4 bytes: the learned figures are kept as doubles, as SQLite's real is.
        const real = dialect === "postgres" ? "double precision" : "real";
        await db.schema
          .createTable("link_rate")
          .addColumn("source", "text", (c) => c.notNull())
          .addColumn("destination", "text", (c) => c.notNull())
          .addColumn("rate_bytes_per_sec", real, (c) => c.notNull())
          .addColumn("samples", "integer", (c) => c.notNull())
          .addColumn("fixed_ms", real, (c) => c.notNull())
          .addColumn("switchover_extra_ms", real, (c) => c.notNull())
          .addColumn("safety_margin_ms", real, (c) => c.notNull())
          .addColumn("updated_at", "bigint", (c) => c.notNull())
          .addPrimaryKeyConstraint("link_rate_pk", ["source", "destination"])
          .execute();
      },
    },
    // Issue 15: every operation (power, settings, host networking, tokens, imports, DRS,
    // maintenance) is a task: who, when, state, result (src/store/operations.ts).
    "0007-operations": {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .createTable("operation")
          .addColumn("seq", dialect === "postgres" ? "bigserial" : "integer", (c) => (dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement()))
          .addColumn("id", "text", (c) => c.notNull().unique())
          .addColumn("kind", "text", (c) => c.notNull())
          .addColumn("title", "text", (c) => c.notNull())
          .addColumn("object_kind", "text")
          .addColumn("object_name", "text")
          .addColumn("initiator", "text")
          .addColumn("state", "text", (c) => c.notNull())
          .addColumn("started_at", "bigint", (c) => c.notNull())
          .addColumn("ended_at", "bigint")
          .addColumn("result", "text")
          .addColumn("error_code", "text")
          .addColumn("request_id", "text")
          .execute();
        await db.schema.createIndex("operation_started_idx").on("operation").columns(["started_at", "seq"]).execute();
        await db.schema.createIndex("operation_object_idx").on("operation").columns(["object_name", "seq"]).execute();
        await db.schema.createIndex("operation_initiator_idx").on("operation").columns(["initiator", "seq"]).execute();
        await db.schema.createIndex("operation_state_idx").on("operation").columns(["state"]).execute();
      },
    },
    // The controller that runs an operation: on PostgreSQL, another controller ends the running
    // ones of a controller whose lease expired (src/server/operations.ts, failOrphanedOperations).
    "0008-operation-controller": {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema.alterTable("operation").addColumn("controller", "text").execute();
      },
    },
    // A host pair's fitted time per zero page (src/core/migration/link-learning.ts); null: the
    // driver's own figure (pairs learned before, and drivers that charge zero pages none).
    "0009-link-zero-page": {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema.alterTable("link_rate").addColumn("zero_page_ms", dialect === "postgres" ? "double precision" : "real").execute();
      },
    },
    // A host pair's stop-and-copy scale: QEMU's own downtime over the model's (link-learning.ts);
    // null: 1 (pairs learned before, and drivers that report no downtime of their own).
    "0010-link-stop-copy-scale": {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema.alterTable("link_rate").addColumn("stop_copy_scale", dialect === "postgres" ? "double precision" : "real").execute();
      },
    },
  };
}

export function migrationProvider(dialect: Dialect): MigrationProvider {
  return {
    getMigrations: () => Promise.resolve(migrations(dialect)),
  };
}
