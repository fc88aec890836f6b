// FerryError codes → HTTP statuses, for both of Ferry's HTTP edges: the controller's API
// (src/server/app.ts) and the host agent's (src/agent/http-errors.ts). The only place they
// meet (STYLE.md lesson 4): clients read the code from the `{ code, message, details }` body,
// never from the status, so the status only serves other tools. Pure: no I/O.
import { ErrorCode } from "../core/errors.ts";

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
