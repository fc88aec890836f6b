// API tokens with roles. Ferry keeps only a token's SHA-256 hash: the secret is shown once
// when it is created and never appears in logs or API responses.
import { createHash, randomBytes } from "node:crypto";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { Role, type ApiToken, type Store } from "../store/store.ts";

export { Role } from "../store/store.ts";

/** What each role may do; a role includes everything of the roles below it. */
const RANK: Record<Role, number> = { agent: -1, "read-only": 0, operator: 1, admin: 2 };

export function hashToken(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** A new secret: `ferry_` and 32 random bytes, base64url. */
export function newSecret(): string {
  return `ferry_${randomBytes(32).toString("base64url")}`;
}

/** A new token; with `ttlSeconds` it stops being accepted that long after `now`. */
export async function createToken(store: Store, name: string, role: Role, now: number, ttlSeconds?: number): Promise<{ token: ApiToken; secret: string }> {
  const secret = newSecret();
  const expiresAt = ttlSeconds === undefined ? undefined : now + ttlSeconds * 1000;
  const token = await store.addToken({ id: randomBytes(8).toString("hex"), name, role, hash: hashToken(secret), createdAt: now, expiresAt });
  return { token, secret };
}

/** Whether a token has passed its expiry at `now`. */
export function tokenExpired(token: ApiToken, now: number): boolean {
  return token.expiresAt !== undefined && token.expiresAt <= now;
}

/**
 * The token behind an Authorization header, or UNAUTHORIZED. Lookup is by hash: no secret is
 * compared in the clear. With `now`, an expired token is refused, saying so.
 */
export async function authenticate(store: Store, header: string | undefined, now?: number): Promise<ApiToken> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (match?.[1] === undefined) throw new FerryError(ErrorCode.unauthorized, "this API needs a token: send Authorization: Bearer <token>");
  const token = await store.findTokenByHash(hashToken(match[1]));
  if (token === undefined) throw new FerryError(ErrorCode.unauthorized, "the token is not valid (unknown or revoked)");
  if (now !== undefined && tokenExpired(token, now)) {
    throw new FerryError(ErrorCode.unauthorized, `the token "${token.name}" expired at ${new Date(token.expiresAt ?? 0).toISOString()}: ask an admin for a new one`);
  }
  return token;
}

/**
 * Failed authentications counted per client address over a sliding window: after `limit`
 * failures within `windowMs`, the address is refused (429) until its oldest failure leaves
 * the window. Time comes from the injected clock. Memory is bounded: at most `maxAddresses`
 * are tracked, the stalest dropped first.
 */
export class AuthThrottle {
  readonly #failures = new Map<string, number[]>();
  readonly #now: () => number;
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #maxAddresses: number;

  constructor(now: () => number, options: { readonly limit?: number; readonly windowMs?: number; readonly maxAddresses?: number } = {}) {
    this.#now = now;
    this.#limit = options.limit ?? 10;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#maxAddresses = options.maxAddresses ?? 10_000;
  }

  #recent(address: string): number[] {
    const since = this.#now() - this.#windowMs;
    const kept = (this.#failures.get(address) ?? []).filter((at) => at > since);
    if (kept.length === 0) this.#failures.delete(address);
    else this.#failures.set(address, kept);
    return kept;
  }

  /** Seconds until `address` may try again; 0 when it may now. */
  retryAfterSeconds(address: string): number {
    const recent = this.#recent(address);
    if (recent.length < this.#limit) return 0;
    const oldest = recent[recent.length - this.#limit] ?? this.#now();
    return Math.max(1, Math.ceil((oldest + this.#windowMs - this.#now()) / 1000));
  }

  /** Counts one failure; returns how many `address` has in the window now. */
  fail(address: string): number {
    const recent = this.#recent(address);
    recent.push(this.#now());
    this.#failures.delete(address);
    this.#failures.set(address, recent.slice(-this.#limit));
    if (this.#failures.size > this.#maxAddresses) {
      const stalest = this.#failures.keys().next().value;
      if (stalest !== undefined) this.#failures.delete(stalest);
    }
    return recent.length;
  }
}

/** An agent's token opens one door: joining (POST /api/agents). */
export function agentMayCall(method: string, path: string): boolean {
  return method === "POST" && path === "/api/agents";
}

export function requireRole(token: ApiToken, needed: Role): void {
  if (RANK[token.role] < RANK[needed]) {
    throw new FerryError(ErrorCode.forbidden, `token "${token.name}" is ${token.role}; this needs ${needed === Role.admin ? "an admin" : needed === Role.operator ? "an operator or admin" : "a read-only, operator or admin"} token`);
  }
}

/**
 * Open event streams by the token that opened them: revoking a token cuts them at once (in
 * this controller), and each stream also ends itself when its token expires or when `sweep`
 * finds it revoked in the store (by another controller sharing it).
 */
export class TokenStreams {
  readonly #open = new Map<string, Set<() => void>>();

  /** `cut` runs once when the token with `tokenId` stops being valid; the returned function forgets it. */
  watch(tokenId: string, cut: () => void): () => void {
    const set = this.#open.get(tokenId) ?? new Set();
    set.add(cut);
    this.#open.set(tokenId, set);
    return () => {
      set.delete(cut);
      if (set.size === 0) this.#open.delete(tokenId);
    };
  }

  /** Cuts every stream of the token. */
  revoked(tokenId: string): void {
    const set = this.#open.get(tokenId);
    this.#open.delete(tokenId);
    for (const cut of set ?? []) cut();
  }

  #sweptAt = Number.NEGATIVE_INFINITY;

  /**
   * Cuts the streams of tokens the store lists as revoked or expired at `now`. Every stream
   * asks on its keep-alive; the store is read at most once per 10 s for all of them.
   */
  async sweep(store: Store, now: number): Promise<void> {
    if (this.#open.size === 0 || now - this.#sweptAt < 10_000) return;
    this.#sweptAt = now;
    for (const token of await store.listTokens()) {
      if (this.#open.has(token.id) && (token.revokedAt !== undefined || tokenExpired(token, now))) this.revoked(token.id);
    }
  }
}
