// A typed client of the controller's REST API, for the CLI (and scripts). It speaks only
// what src/api/schemas.ts defines; errors come back as FerryErrors with the server's code.
import { ErrorCode, FerryError, isFerryError } from "../core/errors.ts";
import { API_BASE, type ErrorBody } from "./schemas.ts";

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
      throw new FerryError(ErrorCode.unavailable, `cannot reach the controller at ${this.#address.url} (is \`ferry up\` running?)`, { cause, retryable: true });
    }
  }

  async #json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.#fetch(method, path, body);
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text.length === 0 ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const error = parsed as Partial<ErrorBody> | undefined;
      const code = typeof error?.code === "string" && (Object.values(ErrorCode) as string[]).includes(error.code) ? (error.code as ErrorCode) : response.status >= 500 ? ErrorCode.unavailable : ErrorCode.invalidInput;
      throw new FerryError(code, error?.message ?? `the controller answered ${response.status}`, { details: error?.details });
    }
    return parsed as T;
  }

  /** A non-JSON answer (the YAML export), as text. */
  async text(path: string): Promise<string> {
    const response = await this.#fetch("GET", path);
    const text = await response.text();
    if (!response.ok) {
      const error = (() => {
        try {
          return JSON.parse(text) as Partial<ErrorBody>;
        } catch {
          return undefined;
        }
      })();
      throw new FerryError(ErrorCode.unavailable, error?.message ?? `the controller answered ${response.status}`);
    }
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
   * Follows a server-sent event stream, reconnecting with Last-Event-ID when the connection
   * drops, until `onEvent` returns "stop" or `signal` aborts.
   */
  async follow(path: string, onEvent: (event: SseEvent) => "stop" | undefined, signal: AbortSignal): Promise<void> {
    let lastId: string | undefined;
    let failures = 0;
    // Read through a function: the signal flips while we await, which flow analysis cannot see.
    const stopped = (): boolean => signal.aborted;
    while (!signal.aborted) {
      try {
        const headers: Record<string, string> = { authorization: `Bearer ${this.#address.token}`, accept: "text/event-stream" };
        if (lastId !== undefined) headers["last-event-id"] = lastId;
        const response = await this.#send(`${this.#address.url}${API_BASE}${path}`, { headers, signal });
        if (!response.ok || response.body === null) {
          const body = (await response.json().catch(() => undefined)) as Partial<ErrorBody> | undefined;
          throw new FerryError(response.status === 401 ? ErrorCode.unauthorized : ErrorCode.unavailable, body?.message ?? `event stream answered ${response.status}`);
        }
        failures = 0;
        const decoder = new TextDecoder();
        let buffer = "";
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const fields = new Map<string, string>();
            for (const line of block.split("\n")) {
              if (line.startsWith(":")) continue;
              const colon = line.indexOf(":");
              if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
            }
            const data = fields.get("data");
            if (data === undefined) continue;
            lastId = fields.get("id") ?? lastId;
            if (onEvent({ id: lastId ?? "", event: fields.get("event") ?? "message", data }) === "stop") return;
          }
        }
      } catch (error) {
        if (stopped()) return;
        if (isFerryError(error) && error.code === ErrorCode.unauthorized) throw error;
        failures += 1;
        if (failures > 20) throw new FerryError(ErrorCode.unavailable, `lost the controller's event stream at ${this.#address.url}`, { cause: error });
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 200 * failures)));
      }
    }
  }
}
