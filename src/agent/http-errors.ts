// FerryError codes ↔ HTTP statuses. The only place they meet (STYLE.md lesson 4): the agent
// answers with `statusFor(code)` and a `{ code, message, details }` body; its client reads
// the code from the body, never from the status, so the status only serves other tools.
import { ErrorCode, type FerryError } from "../core/errors.ts";
import type { ErrorBody } from "./api.ts";

export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 410 | 422 | 500 | 502 | 503;

export function statusFor(code: ErrorCode): ErrorStatus {
  switch (code) {
    case ErrorCode.invalidInput:
    case ErrorCode.usage:
      return 400;
    case ErrorCode.unauthorized:
      return 401;
    case ErrorCode.forbidden:
      return 403;
    case ErrorCode.notFound:
      return 404;
    case ErrorCode.conflict:
      return 409;
    case ErrorCode.gone:
      return 410;
    // Understood and well-formed, but the host cannot do it (no memory, VM not running).
    case ErrorCode.refused:
      return 422;
    case ErrorCode.io:
      return 502;
    case ErrorCode.unavailable:
      return 503;
    case ErrorCode.internal:
      return 500;
  }
}

export function errorBody(error: FerryError): ErrorBody {
  return { code: error.code, message: error.message, details: error.details ?? null };
}
