// Bearer-token authentication for the agent's API. The presented token and the expected one
// are both hashed first, so timingSafeEqual always compares two 32-byte digests: neither the
// token's length nor its first differing byte shows in the response time.
import { createHash, timingSafeEqual } from "node:crypto";
import { ErrorCode, FerryError } from "../core/errors.ts";

const digest = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();

export type TokenCheck = (authorization: string | undefined) => boolean;

/** A checker for `Authorization` header values against `token`. */
export function bearerTokenCheck(token: string): TokenCheck {
  if (token.length === 0) throw new FerryError(ErrorCode.usage, "the agent needs a non-empty API token");
  const expected = digest(token);
  return (authorization) => {
    const match = authorization === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    // Hash and compare even when the header is malformed, so every refusal costs the same.
    const presented = digest(match?.[1] ?? "");
    return timingSafeEqual(presented, expected) && match !== null;
  };
}
