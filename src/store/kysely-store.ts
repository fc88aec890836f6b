// The one Store implementation, over Kysely: SQLite and PostgreSQL differ only in the
// dialect handed in (sqlite.ts, postgres.ts) and a column type in the first migration. One
// Store object, assembled from a part per table or role: inventory objects, tasks, task
// events, coordination (claims, admissions, leases), link rates, tokens, audit.
import { Migrator, type Generated, type Kysely, type Selectable } from "kysely";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { migrationProvider, type Dialect } from "./migrations.ts";
import { eventLog } from "./event-log.ts";
import type { Store, TaskRecord } from "./store.ts";
import { coordination } from "./coordination.ts";
import { linkRates } from "./link-rates.ts";
import { inventoryObjects } from "./inventory-objects.ts";
import { taskTable } from "./task-table.ts";
import { apiTokens } from "./api-tokens.ts";
import { auditLog } from "./audit-log.ts";
import { operationLog } from "./operations.ts";

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
  link_rate: { source: string; destination: string; rate_bytes_per_sec: number; samples: number; fixed_ms: number; switchover_extra_ms: number; zero_page_ms: number | null; stop_copy_scale: number | null; safety_margin_ms: number; updated_at: number | string };
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
  operation: {
    seq: Generated<number | string>;
    id: string;
    kind: string;
    title: string;
    object_kind: string | null;
    object_name: string | null;
    initiator: string | null;
    state: string;
    started_at: number | string;
    ended_at: number | string | null;
    result: string | null;
    error_code: string | null;
    request_id: string | null;
    controller: string | null;
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

export function kyselyStore(db: Kysely<Database>, dialect: Dialect, now: () => number): Store {
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

    ...inventoryObjects(db, now),
    ...taskTable(db, now),
    // Task events: append, read after, bounds, pruning (event-log.ts).
    ...eventLog(db, dialect),
    ...apiTokens(db),
    ...auditLog(db),
    ...operationLog(db),
  };
}
