// How the agent's errors leave: `statusFor(code)` (shared with the controller's edge, in
// src/api/http-status.ts) and a `{ code, message, details }` body (and `failureCode`, a migration's); its client reads the code
// from the body, never from the status.
import type { FerryError } from "../core/errors.ts";
import type { ErrorBody } from "./api.ts";

export { statusFor, type ErrorStatus } from "../api/http-status.ts";

export function errorBody(error: FerryError): ErrorBody {
  return { code: error.code, message: error.message, details: error.details ?? null, ...(error.failureCode === undefined ? {} : { failureCode: error.failureCode }) };
}
