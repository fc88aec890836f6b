// The link_rate table: one row per VMotion host pair with what its migrations taught
// (src/core/migration/link-learning.ts). The fold runs inside the transaction that writes its
// result; on PostgreSQL the pair's row is locked (SELECT ... FOR UPDATE) and a first insert
// that loses a race is retried once, so concurrent folds on one pair are serial.
import type { Kysely, Selectable, Transaction } from "kysely";
import type { LinkRecord } from "../core/migration/link-learning.ts";
import { guardWrite } from "./store-errors.ts";
import { num, type Database } from "./kysely-store.ts";
import type { Store } from "./store.ts";

function toLink(row: Selectable<Database["link_rate"]>): LinkRecord {
  return {
    source: row.source,
    destination: row.destination,
    rateBytesPerSec: row.rate_bytes_per_sec,
    samples: row.samples,
    fixedMs: row.fixed_ms,
    switchoverExtraMs: row.switchover_extra_ms,
    ...(row.zero_page_ms === null ? {} : { zeroPageMs: row.zero_page_ms }),
    ...(row.stop_copy_scale === null ? {} : { stopCopyScale: row.stop_copy_scale }),
    safetyMarginMs: row.safety_margin_ms,
    updatedAt: num(row.updated_at),
  };
}

function toRow(r: LinkRecord): Database["link_rate"] {
  return { source: r.source, destination: r.destination, rate_bytes_per_sec: r.rateBytesPerSec, samples: r.samples, fixed_ms: r.fixedMs, switchover_extra_ms: r.switchoverExtraMs, zero_page_ms: r.zeroPageMs ?? null, stop_copy_scale: r.stopCopyScale ?? null, safety_margin_ms: r.safetyMarginMs, updated_at: r.updatedAt };
}

type LinkRates = Pick<Store, "learnLinkRate" | "getLinkRate" | "listLinkRates">;

async function foldIn(trx: Transaction<Database>, source: string, destination: string, fold: (previous: LinkRecord | undefined) => LinkRecord | undefined, postgres: boolean): Promise<LinkRecord | undefined> {
  let q = trx.selectFrom("link_rate").selectAll().where("source", "=", source).where("destination", "=", destination);
  if (postgres) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  const previous = row === undefined ? undefined : toLink(row);
  const next = fold(previous);
  if (next === undefined) return previous;
  const values = toRow({ ...next, source, destination });
  if (row === undefined) await trx.insertInto("link_rate").values(values).execute();
  else await trx.updateTable("link_rate").set(values).where("source", "=", source).where("destination", "=", destination).execute();
  return { ...next, source, destination };
}

export function linkRates(db: Kysely<Database>, postgres: boolean): LinkRates {
  return {
    async learnLinkRate(source, destination, fold) {
      const once = (): Promise<LinkRecord | undefined> => guardWrite(() => db.transaction().execute((trx) => foldIn(trx, source, destination, fold, postgres)));
      try {
        return await once();
      } catch (error) {
        // Two first folds on one pair: one inserted; the other reads that row now.
        if ((error as { code?: unknown }).code !== "CONFLICT") throw error;
        return once();
      }
    },
    async getLinkRate(source, destination) {
      const row = await db.selectFrom("link_rate").selectAll().where("source", "=", source).where("destination", "=", destination).executeTakeFirst();
      return row === undefined ? undefined : toLink(row);
    },
    async listLinkRates() {
      const rows = await db.selectFrom("link_rate").selectAll().orderBy("source").orderBy("destination").execute();
      return rows.map(toLink);
    },
  };
}
