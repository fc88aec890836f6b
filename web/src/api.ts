// The web UI's only way to the controller: typed fetches of the REST API with the session's
// bearer token. Every failure becomes an ApiError (src/api/errors.ts, the CLI's client's too)
// carrying the server's `{ code, message, details }` and the status, so each screen can show
// the server's own words where the call was made.
// This module holds no UI state: the session registers the token and a 401 listener here.
import type { EVENT_SEQUENCE_HEADER as EventSequenceHeader } from "../../src/api/schemas.ts";
import { ApiError, apiErrorOf } from "../../src/api/errors.ts";
import { ErrorCode } from "../../src/core/errors.ts";

export { ApiError } from "../../src/api/errors.ts";

const TOKEN_KEY = "ferry.token";

/** The token lives in sessionStorage: it survives a reload, not the closing of the tab. */
export function storedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function storeToken(token: string | null): void {
  try {
    if (token === null) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Storage disabled: the token lasts as long as the page.
  }
  memoryToken = token;
}

let memoryToken: string | null = null;
function currentToken(): string | null {
  return storedToken() ?? memoryToken;
}

type UnauthorizedListener = (error: ApiError) => void;
const unauthorizedListeners = new Set<UnauthorizedListener>();

/** Called when the server says the token is no longer valid (revoked): the session logs out. */
export function onUnauthorized(listener: UnauthorizedListener): () => void {
  unauthorizedListeners.add(listener);
  return () => {
    unauthorizedListeners.delete(listener);
  };
}

/** `/vms/web01` → `/api/vms/web01`; a path already under /api is kept. */
export function apiUrl(path: string): string {
  return path.startsWith("/api/") || path === "/api" ? path : `/api${path.startsWith("/") ? "" : "/"}${path}`;
}

/** Encodes one path segment (a VM, host or port name). */
export const seg = encodeURIComponent;

export function authHeaders(token: string | null = currentToken()): Record<string, string> {
  return token === null ? {} : { authorization: `Bearer ${token}` };
}

async function errorFrom(response: Response): Promise<ApiError> {
  const body: unknown = await response.json().catch(() => undefined);
  return apiErrorOf(response.status, body, `the controller answered ${String(response.status)} ${response.statusText}`.trim());
}

/** One request; `token` overrides the session's (the login form checks a token before keeping it). */
export async function apiFetch(method: string, path: string, body?: unknown, options: { token?: string | null; signal?: AbortSignal } = {}): Promise<Response> {
  const headers: Record<string, string> = { accept: "application/json", ...authHeaders(options.token === undefined ? currentToken() : options.token) };
  if (body !== undefined) headers["content-type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(apiUrl(path), { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }), ...(options.signal === undefined ? {} : { signal: options.signal }) });
  } catch (cause) {
    if (options.signal?.aborted === true) throw cause;
    throw new ApiError(0, ErrorCode.unavailable, "cannot reach the Ferry controller: is it running? (network error)");
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    // Only the session's own token going bad logs out; a token being tried at login does not.
    if (response.status === 401 && options.token === undefined) for (const listener of unauthorizedListeners) listener(error);
    throw error;
  }
  return response;
}

async function parse<T>(response: Response): Promise<T> {
  const text = await response.text();
  if (text.length === 0) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(response.status, ErrorCode.unavailable, "the controller answered something that is not JSON");
  }
}

export async function apiGet<T>(path: string, options: { token?: string | null; signal?: AbortSignal } = {}): Promise<T> {
  return parse<T>(await apiFetch("GET", path, undefined, options));
}

/** The header a list answers its event sequence in: the schemas' EVENT_SEQUENCE_HEADER (the type checks it is the same). */
const SEQUENCE_HEADER: typeof EventSequenceHeader = "ferry-event-sequence";

/**
 * A list the UI keeps live, and the event sequence it is current at (read by the controller
 * before the list's rows): watch GET /api/events after it, never from 0 (list-then-watch).
 */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names what the list holds, as with apiGet
export async function apiGetSequenced<T>(path: string, options: { signal?: AbortSignal } = {}): Promise<{ body: T; sequence: number }> {
  const response = await apiFetch("GET", path, undefined, options);
  const header = response.headers.get(SEQUENCE_HEADER);
  const body = await parse<T>(response);
  // A controller too old to say: its stream starts from the beginning, as it always did.
  return { body, sequence: header !== null && /^\d+$/.test(header) ? Number(header) : 0 };
}

export async function apiSend<T>(method: "POST" | "PUT" | "PATCH" | "DELETE", path: string, body?: unknown): Promise<T> {
  return parse<T>(await apiFetch(method, path, body));
}

/** A caught value in plain words: the API's message, or the error's. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}
