// Ferry's closed catalogue of error codes. Errors carry a stable string code, a message in
// one sentence, optional details, whether retrying may help, and a cause. Callers compare
// codes, never classes; the CLI maps them to exit statuses and the server to HTTP at the edge.
// An error about a migration also carries its failure code, a typed field (not a detail).
import type { MigrationFailureCode } from "./migration/types.ts";

export const ErrorCode = {
  /** Input that does not parse or validate: bad YAML, a schema violation, a dangling reference. */
  invalidInput: "INVALID_INPUT",
  /** A named object (VM, host, pool, cluster, file) that does not exist. */
  notFound: "NOT_FOUND",
  /** A usage error: missing or conflicting options. */
  usage: "USAGE",
  /** The operation was refused: the checker found errors, or a precondition failed. */
  refused: "REFUSED",
  /** Something outside Ferry failed (a file could not be read or written). */
  io: "IO",
  /** The caller did not present valid credentials (an agent's or the controller's token). */
  unauthorized: "UNAUTHORIZED",
  /** The caller is known but its role does not allow this (a read-only token asking to migrate). */
  forbidden: "FORBIDDEN",
  /** The request clashes with the current state: a name or migration id already in use, a VM already migrating. */
  conflict: "CONFLICT",
  /** What was asked for is no longer kept: task events pruned after the client's sequence (reload the lists, then watch from the sequence given). */
  gone: "GONE",
  /** A peer (agent, controller) could not be reached or did not answer in time; retrying may help. */
  unavailable: "UNAVAILABLE",
  /** A bug: an invariant of Ferry's own was broken. */
  internal: "INTERNAL",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface FerryErrorOptions {
  readonly details?: unknown;
  readonly retryable?: boolean;
  readonly cause?: unknown;
  /** Why the migration this error is about failed (DESTINATION_OUT_OF_MEMORY beside a bare REFUSED). */
  readonly failureCode?: MigrationFailureCode | undefined;
}

export class FerryError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  readonly retryable: boolean;
  readonly failureCode: MigrationFailureCode | undefined;

  constructor(code: ErrorCode, message: string, options: FerryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "FerryError";
    this.code = code;
    this.details = options.details;
    this.retryable = options.retryable ?? false;
    this.failureCode = options.failureCode;
  }

  /** The JSON body every edge (CLI --json, HTTP) uses: `{ code, message, details }`, and `failureCode` when there is one. */
  toJSON(): { code: ErrorCode; message: string; details: unknown; failureCode?: MigrationFailureCode } {
    return { code: this.code, message: this.message, details: this.details, ...(this.failureCode === undefined ? {} : { failureCode: this.failureCode }) };
  }
}

/** Whether `value` is a FerryError, by shape (codes cross module and realm boundaries). */
export function isFerryError(value: unknown): value is FerryError {
  if (typeof value !== "object" || value === null) return false;
  const code = (value as { code?: unknown }).code;
  return typeof code === "string" && (Object.values(ErrorCode) as string[]).includes(code) && value instanceof Error;
}
