// The one error a client of the controller's API gets, in the CLI's client (client.ts) and the
// web UI (web/src/api.ts) alike: a FerryError with the server's code, message and details, and
// the HTTP status it came with (0 when the controller could not be reached). Pure: no Node I/O.
import { ErrorCode, FerryError, type FerryErrorOptions } from "../core/errors.ts";

export class ApiError extends FerryError {
  /** The answer's HTTP status; 0 when there was no answer (network error). */
  readonly status: number;

  constructor(status: number, code: ErrorCode, message: string, options: FerryErrorOptions = {}) {
    super(code, message, options);
    this.name = "ApiError";
    this.status = status;
  }
}

const CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && CODES.has(value);
}

/** The code of an answer that does not carry one of Ferry's (a proxy's page, an old controller). */
function codeOfStatus(status: number): ErrorCode {
  if (status === 0 || status >= 500) return ErrorCode.unavailable;
  if (status === 401) return ErrorCode.unauthorized;
  if (status === 403) return ErrorCode.forbidden;
  if (status === 404) return ErrorCode.notFound;
  if (status === 409) return ErrorCode.conflict;
  if (status === 410) return ErrorCode.gone;
  return ErrorCode.invalidInput;
}

/** The error of a failed answer: its `{ code, message, details }` body when it has one, else words for its status. */
export function apiErrorOf(status: number, body: unknown, fallback = `the controller answered ${String(status)}`): ApiError {
  const fields = typeof body === "object" && body !== null ? (body as Readonly<Record<string, unknown>>) : {};
  const code = isErrorCode(fields["code"]) ? fields["code"] : codeOfStatus(status);
  const message = typeof fields["message"] === "string" ? fields["message"] : fallback;
  return new ApiError(status, code, message, { details: fields["details"], retryable: code === ErrorCode.unavailable });
}

/** The error of a failed answer given as text (parsed as JSON when it is). */
export function apiErrorOfText(status: number, text: string, fallback?: string): ApiError {
  let body: unknown;
  try {
    body = text.length === 0 ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  return apiErrorOf(status, body, fallback);
}
