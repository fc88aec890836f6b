// The api_token table: tokens by name and role, found by the hash of their secret (never the
// secret itself), revoked by setting revoked_at.
import type { Kysely, Selectable } from "kysely";
import { guardWrite } from "./store-errors.ts";
import { num, type Database } from "./kysely-store.ts";
import type { ApiToken, Role, Store } from "./store.ts";

type ApiTokens = Pick<Store, "addToken" | "findTokenByHash" | "listTokens" | "revokeToken">;

function toToken(row: Selectable<Database["api_token"]>): ApiToken {
  return { id: row.id, name: row.name, role: row.role as Role, createdAt: num(row.created_at), revokedAt: row.revoked_at === null ? undefined : num(row.revoked_at), expiresAt: row.expires_at === null ? undefined : num(row.expires_at) };
}

export function apiTokens(db: Kysely<Database>): ApiTokens {
  return {
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
  };
}
