// A typed client of the controller's REST API, for the CLI (and scripts). It speaks only
// what src/api/schemas.ts defines; errors come back as ApiErrors (src/api/errors.ts, the web's
// too): FerryErrors with the server's code and the answer's status.
import { ErrorCode, isFerryError } from "../core/errors.ts";
import type { z } from "zod";
import { API_BASE, EVENT_SEQUENCE_HEADER, IMPORT_PROGRESS_TYPE, ImportProgressSchema, type ImportProgress, type ImportResultSchema } from "./schemas.ts";
import { ApiError, apiErrorOfText } from "./errors.ts";

export { ApiError } from "./errors.ts";
import { parseSseFrames } from "./sse.ts";

type ImportResult = z.infer<typeof ImportResultSchema>;

/** How far an import is: the client's own steps (the upload), then the controller's lines. */
export type ImportStep = { readonly phase: "uploading"; readonly sent: number; readonly total: number } | { readonly phase: "validating" } | ImportProgress;

/** The upload goes in pieces of this size, so its progress shows. */
const UPLOAD_CHUNK = 1024 * 1024;

/**
 * A body's chunks as they arrive (a reader: the same with Node's and the DOM's stream types). A
 * caller that stops early cancels the body, as for-await over the stream itself would: an event
 * stream is otherwise left open.
 */
async function* chunksOf(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  let ended = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        ended = true;
        return;
      }
      yield value;
    }
  } finally {
    if (!ended) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/** The lines of a newline-delimited body, without their newlines; empty lines skipped. */
async function* ndjsonLines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of chunksOf(body)) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let end = buffer.indexOf("\n"); end >= 0; end = buffer.indexOf("\n")) {
      const line = buffer.slice(0, end).trim();
      buffer = buffer.slice(end + 1);
      if (line.length > 0) yield line;
    }
  }
  if (buffer.trim().length > 0) yield buffer.trim();
}

export interface ControllerAddress {
  /** http://127.0.0.1:8080 */
  readonly url: string;
  readonly token: string;
  /** The fetch to use: the CLI's trusts the controller's CA (src/pki/tls-fetch.ts); default the global one. */
  readonly fetch?: ((input: string, init: RequestInit) => Promise<Response>) | undefined;
}

export interface SseEvent {
  readonly id: string;
  readonly event: string;
  readonly data: string;
}

/** A JSON answer's body, or its error body as an ApiError with the server's code. */
function parseAnswer(status: number, ok: boolean, text: string): unknown {
  if (!ok) throw apiErrorOfText(status, text);
  try {
    return text.length === 0 ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

export class ApiClient {
  readonly #address: ControllerAddress;
  readonly #timeoutMs: number;

  constructor(address: ControllerAddress, timeoutMs = 30_000) {
    this.#address = address;
    this.#timeoutMs = timeoutMs;
  }

  get url(): string {
    return this.#address.url;
  }

  #send(input: string, init: RequestInit): Promise<Response> {
    return this.#address.fetch === undefined ? fetch(input, init) : this.#address.fetch(input, init);
  }

  async #fetch(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#address.token}` };
    let payload: string | undefined;
    if (typeof body === "string") {
      payload = body;
      headers["content-type"] = "application/yaml";
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers["content-type"] = "application/json";
    }
    const signals = [AbortSignal.timeout(this.#timeoutMs), ...(signal === undefined ? [] : [signal])];
    try {
      return await this.#send(`${this.#address.url}${API_BASE}${path}`, { method, headers, signal: AbortSignal.any(signals), ...(payload === undefined ? {} : { body: payload }) });
    } catch (cause) {
      if (signal?.aborted === true) throw cause;
      throw new ApiError(0, ErrorCode.unavailable, `cannot reach the controller at ${this.#address.url} (is \`ferry up\` running?)`, { cause, retryable: true });
    }
  }

  async #json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.#fetch(method, path, body);
    return parseAnswer(response.status, response.ok, await response.text()) as T;
  }

  /**
   * A GET (or POST) and the event sequence its answer is current at (0 when the controller
   * does not say): follow events after it (list-then-watch).
   */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the answer's type, as with get<T>
  async sequenced<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<{ body: T; sequence: number }> {
    const response = await this.#fetch(method, path, body);
    const header = response.headers.get(EVENT_SEQUENCE_HEADER);
    const answer = parseAnswer(response.status, response.ok, await response.text()) as T;
    return { body: answer, sequence: header !== null && /^\d+$/.test(header) ? Number(header) : 0 };
  }

  /** A non-JSON answer (the YAML export), as text. */
  async text(path: string): Promise<string> {
    const response = await this.#fetch("GET", path);
    const text = await response.text();
    if (!response.ok) throw apiErrorOfText(response.status, text);
    return text;
  }

  get<T>(path: string): Promise<T> {
    return this.#json<T>("GET", path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.#json<T>("POST", path, body);
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.#json<T>("PATCH", path, body);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.#json<T>("PUT", path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.#json<T>("DELETE", path);
  }

  /**
   * PUT /inventory, saying how far it is: `uploading` as the file leaves, `validating` once it
   * all left (the controller parses and checks it), then the controller's own lines (writing N
   * objects, done). A refusal is the controller's error, as an ApiError. No client timeout cuts
   * an import the controller is still working on; a connection that drops says so, and that
   * the import may still complete.
   */
  async importInventory(text: string, query: string, onStep: (step: ImportStep) => void): Promise<ImportResult> {
    const bytes = new TextEncoder().encode(text);
    let sent = 0;
    // Pulled as the connection takes it: the last pull is the end of the upload.
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= bytes.length) {
          controller.close();
          onStep({ phase: "validating" });
          return;
        }
        const chunk = bytes.subarray(sent, sent + UPLOAD_CHUNK);
        sent += chunk.length;
        controller.enqueue(chunk);
        onStep({ phase: "uploading", sent, total: bytes.length });
      },
    });
    const headers = { authorization: `Bearer ${this.#address.token}`, "content-type": "application/yaml", accept: `${IMPORT_PROGRESS_TYPE}, application/json` };
    let response: Response;
    try {
      // A streamed body needs duplex "half" (Node's fetch); the DOM's RequestInit does not name it.
      const init: RequestInit & { duplex: "half" } = { method: "PUT", headers, body, duplex: "half" };
      response = await this.#send(`${this.#address.url}${API_BASE}/inventory${query}`, init);
    } catch (cause) {
      throw this.#dropped(cause, sent >= bytes.length ? "validating" : "uploading");
    }
    if (response.headers.get("content-type")?.startsWith(IMPORT_PROGRESS_TYPE) !== true || response.body === null) {
      return parseAnswer(response.status, response.ok, await response.text()) as ImportResult;
    }
    let last: ImportProgress | undefined;
    try {
      for await (const line of ndjsonLines(response.body)) {
        last = ImportProgressSchema.parse(JSON.parse(line));
        onStep(last);
      }
    } catch (cause) {
      throw this.#dropped(cause, last?.phase ?? "validating");
    }
    if (last?.phase === "done") return last.result;
    if (last?.phase === "failed") return parseAnswer(last.status, false, JSON.stringify(last.error)) as ImportResult;
    throw this.#dropped(undefined, last?.phase ?? "validating");
  }

  #dropped(cause: unknown, phase: string): ApiError {
    return new ApiError(0, ErrorCode.unavailable, `the connection to the controller at ${this.#address.url} dropped during the import (${phase}); the controller may still complete it: compare \`ferry inventory export\` with the file`, { cause, retryable: true });
  }

  /**
   * Follows a server-sent event stream after sequence `after` (the one a list answered),
   * reconnecting with Last-Event-ID when the connection drops, until `onEvent` returns "stop"
   * or `signal` aborts. A `resync` event (events after `after` were pruned) goes to `onEvent`
   * like the others; the stream goes on after its id.
   */
  async follow(path: string, onEvent: (event: SseEvent) => "stop" | undefined, signal: AbortSignal, after?: number): Promise<void> {
    let lastId: string | undefined = after === undefined ? undefined : String(after);
    let failures = 0;
    // Read through a function: the signal flips while we await, which flow analysis cannot see.
    const stopped = (): boolean => signal.aborted;
    while (!signal.aborted) {
      try {
        const headers: Record<string, string> = { authorization: `Bearer ${this.#address.token}`, accept: "text/event-stream" };
        if (lastId !== undefined) headers["last-event-id"] = lastId;
        const response = await this.#send(`${this.#address.url}${API_BASE}${path}`, { headers, signal });
        if (!response.ok || response.body === null) {
          const error = apiErrorOfText(response.status, await response.text().catch(() => ""), `event stream answered ${response.status}`);
          // Only a refused token ends the watch; anything else is retried.
          throw error.code === ErrorCode.unauthorized ? error : new ApiError(error.status, ErrorCode.unavailable, error.message, { details: error.details, retryable: true });
        }
        failures = 0;
        const decoder = new TextDecoder();
        let buffer = "";
        for await (const chunk of chunksOf(response.body)) {
          buffer += decoder.decode(chunk, { stream: true });
          const { frames, rest } = parseSseFrames(buffer);
          buffer = rest;
          for (const frame of frames) {
            lastId = frame.id ?? lastId;
            if (onEvent({ id: lastId ?? "", event: frame.event, data: frame.data }) === "stop") return;
          }
        }
      } catch (error) {
        if (stopped()) return;
        if (isFerryError(error) && error.code === ErrorCode.unauthorized) throw error;
        failures += 1;
        if (failures > 20) throw new ApiError(0, ErrorCode.unavailable, `lost the controller's event stream at ${this.#address.url}`, { cause: error });
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 200 * failures)));
      }
    }
  }
}
