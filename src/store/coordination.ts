// What lets several controllers share one store (issue 17), by the database's own means:
// a VM claimed by one migration at a time (its primary key), tasks owned under a lease that
// another controller may take only once it expired, and admissions every controller counts
// inside one serialised transaction (PostgreSQL: a transaction-level advisory lock; SQLite:
// one controller per file, its transactions already serial).
import { sql, type Kysely, type Selectable, type Transaction } from "kysely";
import { guardWrite } from "./store-errors.ts";
import { num, toTask, type Database } from "./kysely-store.ts";
import type { Dialect } from "./migrations.ts";
import type { AdmissionRecord, ClaimOutcome, ControllerLease, ObjectKind, ObjectVersion, Store, VmClaimRecord } from "./store.ts";

/** The advisory lock key that serialises admissions across controllers ("ferry-admission"). */
const ADMISSION_LOCK = 0x66_65_72_72;

function toClaim(row: Selectable<Database["vm_claim"]>): VmClaimRecord {
  return { vm: row.vm, taskId: row.task_id, source: row.source, destination: row.destination, controller: row.controller, at: num(row.at) };
}

function toAdmission(row: Selectable<Database["admission"]>): AdmissionRecord {
  return {
    taskId: row.task_id,
    source: row.source,
    destination: row.destination,
    datastores: JSON.parse(row.datastores) as string[],
    priority: row.priority,
    controller: row.controller,
    admittedAt: num(row.admitted_at),
    releasedAt: row.released_at === null ? undefined : num(row.released_at),
  };
}

function toLease(row: Selectable<Database["controller_lease"]>): ControllerLease {
  return { id: row.id, address: row.address, startedAt: num(row.started_at), leaseUntil: num(row.lease_until) };
}

type Coordination = Pick<Store, "claimVm" | "releaseClaim" | "listClaims" | "admit" | "releaseAdmission" | "listAdmissions" | "renewLease" | "listControllers" | "removeController" | "takeTask" | "objectsChangedSince">;

export function coordination(db: Kysely<Database>, dialect: Dialect, now: () => number): Coordination {
  const serialised = async (trx: Transaction<Database>): Promise<void> => {
    if (dialect === "postgres") await sql`select pg_advisory_xact_lock(${ADMISSION_LOCK})`.execute(trx);
  };
  return {
    async claimVm(claim): Promise<ClaimOutcome> {
      // Insert-or-nothing, then read who holds it: one statement decides, whatever the dialect.
      const row = { vm: claim.vm, task_id: claim.taskId, source: claim.source, destination: claim.destination, controller: claim.controller, at: claim.at };
      const inserted = await guardWrite(() => db.insertInto("vm_claim").values(row).onConflict((oc) => oc.column("vm").doNothing()).executeTakeFirst());
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 1) return { claimed: true };
      const holder = await db.selectFrom("vm_claim").selectAll().where("vm", "=", claim.vm).executeTakeFirst();
      // Released between the two statements: try again (rare; bounded by the caller's request).
      if (holder === undefined) return this.claimVm(claim);
      return holder.task_id === claim.taskId ? { claimed: true } : { claimed: false, holder: toClaim(holder) };
    },

    async releaseClaim(vm, taskId) {
      const result = await guardWrite(() => db.deleteFrom("vm_claim").where("vm", "=", vm).where("task_id", "=", taskId).executeTakeFirst());
      return Number(result.numDeletedRows) > 0;
    },

    async listClaims() {
      return (await db.selectFrom("vm_claim").selectAll().orderBy("vm").execute()).map(toClaim);
    },

    async admit(controller, decide) {
      return guardWrite(() => db.transaction().execute(async (trx) => {
        await serialised(trx);
        const running = (await trx.selectFrom("admission").selectAll().where("released_at", "is", null).execute()).map(toAdmission);
        const admitted = decide(running);
        const at = now();
        for (const a of admitted) {
          await trx.insertInto("admission").values({ task_id: a.taskId, source: a.source, destination: a.destination, datastores: JSON.stringify(a.datastores), priority: a.priority, controller, admitted_at: at, released_at: null }).execute();
        }
        return admitted;
      }));
    },

    async releaseAdmission(taskId) {
      await guardWrite(() => db.updateTable("admission").set({ released_at: now() }).where("task_id", "=", taskId).where("released_at", "is", null).execute());
    },

    async listAdmissions(query = {}) {
      let q = db.selectFrom("admission").selectAll();
      if (query.open === true) q = q.where("released_at", "is", null);
      return (await q.orderBy("admitted_at", "desc").limit(query.limit ?? 10_000).execute()).map(toAdmission);
    },

    async renewLease(controller, until, open) {
      await guardWrite(() => db.transaction().execute(async (trx) => {
        const row = { id: controller.id, address: controller.address, started_at: controller.startedAt, lease_until: until };
        await trx.insertInto("controller_lease").values(row).onConflict((oc) => oc.column("id").doUpdateSet({ address: row.address, lease_until: until })).execute();
        if (open.length > 0) await trx.updateTable("task").set({ lease_until: until }).where("owner", "=", controller.id).where("state", "in", [...open]).execute();
      }));
    },

    async listControllers() {
      return (await db.selectFrom("controller_lease").selectAll().orderBy("started_at").execute()).map(toLease);
    },

    async removeController(id) {
      await guardWrite(() => db.deleteFrom("controller_lease").where("id", "=", id).execute());
    },

    async objectsChangedSince(since) {
      const count = await db.selectFrom("inventory_object").select((eb) => eb.fn.countAll<number | string>().as("n")).executeTakeFirstOrThrow();
      const rows = await db.selectFrom("inventory_object").select(["kind", "name", "version"]).where("updated_at", ">=", since).execute();
      const changed = rows.map((row): ObjectVersion => ({ kind: row.kind as ObjectKind, name: row.name, version: row.version }));
      return { count: num(count.n), changed };
    },

    async takeTask(id, controller, at, until, open) {
      if (open.length === 0) return undefined;
      // One UPDATE with the condition in its WHERE: of two controllers, one sees a row changed.
      const result = await guardWrite(() =>
        db
          .updateTable("task")
          .set((eb) => ({ owner: controller, lease_until: until, version: eb("version", "+", 1) }))
          .where("id", "=", id)
          .where("state", "in", [...open])
          .where((eb) => eb.or([eb("owner", "is", null), eb("owner", "=", controller), eb("lease_until", "is", null), eb("lease_until", "<", at)]))
          .executeTakeFirst(),
      );
      if (Number(result.numUpdatedRows) !== 1) return undefined;
      const row = await db.selectFrom("task").selectAll().where("id", "=", id).executeTakeFirst();
      return row === undefined ? undefined : toTask(row);
    },
  };
}
