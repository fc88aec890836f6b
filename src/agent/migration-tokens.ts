// State tokens of incoming migrations. When this host prepares an incoming migration it mints
// a random token for it; the controller hands it (inside the target) to the source, which
// presents it to read this migration's incoming state — QEMU's stream carries no answer back.
// A state token opens GET /v1/migrations/incoming/{its migration} and nothing else, until this
// host's driver forgets the migration, the migration is aborted here, or many newer ones
// pushed it out. Only digests are kept, compared in constant time; the token is never logged.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { API_PREFIX } from "./api.ts";

export interface MigrationTokens {
  /** A new token for `migrationId` (a previous one of the same migration stops working). */
  issue(migrationId: string): string;
  /**
   * The migration whose incoming state `method path` reads, when `authorization` carries that
   * migration's token; undefined for any other request or token.
   */
  grants(method: string, path: string, authorization: string | undefined): string | undefined;
  revoke(migrationId: string): void;
  /** Migrations with a live token (tests: nothing outlives its migration). */
  size(): number;
}

const digest = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();

/** The one route a state token opens; ids use MigrationIdSchema's alphabet, so no decoding. */
const STATE_ROUTE = new RegExp(`^${API_PREFIX}/migrations/incoming/([A-Za-z0-9][A-Za-z0-9._:-]*)$`);

export function createMigrationTokens(options: { readonly keep?: number } = {}): MigrationTokens {
  const keep = options.keep ?? 256;
  // Insertion order is issue order: the oldest go first past `keep`.
  const tokens = new Map<string, Buffer>();
  return {
    issue(migrationId) {
      const token = randomBytes(32).toString("base64url");
      tokens.delete(migrationId);
      tokens.set(migrationId, digest(token));
      for (const oldest of tokens.keys()) {
        if (tokens.size <= keep) break;
        tokens.delete(oldest);
      }
      return token;
    },
    grants(method, path, authorization) {
      if (method !== "GET") return undefined;
      const migrationId = STATE_ROUTE.exec(path)?.[1];
      const expected = migrationId === undefined ? undefined : tokens.get(migrationId);
      const match = authorization === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
      if (expected === undefined || match?.[1] === undefined) return undefined;
      return timingSafeEqual(digest(match[1]), expected) ? migrationId : undefined;
    },
    revoke(migrationId) {
      tokens.delete(migrationId);
    },
    size: () => tokens.size,
  };
}
