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

export async function createToken(store: Store, name: string, role: Role, now: number): Promise<{ token: ApiToken; secret: string }> {
  const secret = newSecret();
  const token = await store.addToken({ id: randomBytes(8).toString("hex"), name, role, hash: hashToken(secret), createdAt: now });
  return { token, secret };
}

/** The token behind an Authorization header, or UNAUTHORIZED. Lookup is by hash: no secret is compared in the clear. */
export async function authenticate(store: Store, header: string | undefined): Promise<ApiToken> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (match?.[1] === undefined) throw new FerryError(ErrorCode.unauthorized, "this API needs a token: send Authorization: Bearer <token>");
  const token = await store.findTokenByHash(hashToken(match[1]));
  if (token === undefined) throw new FerryError(ErrorCode.unauthorized, "the token is not valid (unknown or revoked)");
  return token;
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
