// State tokens of incoming migrations. When this host prepares an incoming migration it mints
// a random token for it; the controller hands it (inside the target) to the source, which
// presents it to read this migration's incoming state — QEMU's stream carries no answer back.
// A state token opens GET /v1/migrations/incoming/{its migration} and nothing else, until the
// migration ends here: aborted, forgotten by the driver, or a grace period (for the source's
// last questions, e.g. the guest check after the switchover) after it ran or failed; or until
// many newer ones pushed it out. Only digests are kept, compared in constant time; the token is
// never logged.
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
  /** The migration ran or failed here: its token lasts the grace period more. */
  ended(migrationId: string): void;
  /** Migrations with a live token (tests: nothing outlives its migration). */
  size(): number;
}

const digest = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();

/** The one route a state token opens; ids use MigrationIdSchema's alphabet, so no decoding. */
const STATE_ROUTE = new RegExp(`^${API_PREFIX}/migrations/incoming/([A-Za-z0-9][A-Za-z0-9._:-]*)$`);

/** How long a token outlives its migration's end: longer than a source's guest check waits. */
export const STATE_TOKEN_GRACE_MS = 5 * 60_000;

export interface MigrationTokenOptions {
  /** A monotonic clock reading in ms (the agent's clock). */
  readonly now: () => number;
  readonly graceMs?: number;
  /** How many tokens are kept at most; the oldest go first. */
  readonly keep?: number;
}

interface Entry {
  readonly digest: Buffer;
  endedAt?: number;
}

export function createMigrationTokens(options: MigrationTokenOptions): MigrationTokens {
  const keep = options.keep ?? 256;
  const graceMs = options.graceMs ?? STATE_TOKEN_GRACE_MS;
  // Insertion order is issue order: the oldest go first past `keep`.
  const tokens = new Map<string, Entry>();
  const live = (migrationId: string): Entry | undefined => {
    const entry = tokens.get(migrationId);
    if (entry?.endedAt === undefined || options.now() - entry.endedAt <= graceMs) return entry;
    tokens.delete(migrationId);
    return undefined;
  };
  return {
    issue(migrationId) {
      const token = randomBytes(32).toString("base64url");
      tokens.delete(migrationId);
      tokens.set(migrationId, { digest: digest(token) });
      for (const oldest of tokens.keys()) {
        if (tokens.size <= keep) break;
        tokens.delete(oldest);
      }
      return token;
    },
    grants(method, path, authorization) {
      if (method !== "GET") return undefined;
      const migrationId = STATE_ROUTE.exec(path)?.[1];
      const expected = migrationId === undefined ? undefined : live(migrationId)?.digest;
      const match = authorization === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
      if (expected === undefined || match?.[1] === undefined) return undefined;
      return timingSafeEqual(digest(match[1]), expected) ? migrationId : undefined;
    },
    revoke(migrationId) {
      tokens.delete(migrationId);
    },
    ended(migrationId) {
      const entry = tokens.get(migrationId);
      if (entry !== undefined) entry.endedAt ??= options.now();
    },
    size: () => [...tokens.keys()].filter((id) => live(id) !== undefined).length,
  };
}
