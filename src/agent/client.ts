// A typed client for a host agent's API: what the engine and the controller use to reach
// agents. Errors come back as FerryErrors with the agent's own code (read from the JSON
// body, not guessed from the status); an agent that cannot be reached, or answers too late,
// is UNAVAILABLE and retryable. The outgoing migration stream is an async iterator of events.
import type { Fence, Ownership } from "../core/ownership.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import type { MigrationReport, VmotionEncryption } from "../core/migration/types.ts";
import type { AgentPort, CallOptions } from "../engine/agent-port.ts";
import type { NetworkOp } from "../host/network-config.ts";
import {
  API_PREFIX,
  ErrorBodySchema,
  legacyFailureCodeOf,
  type AgentFacts,
  type AgentVm,
  type DirtyRateView,
  type HealthView,
  type IncomingStateView,
  type NetworkApplyView,
  type OutgoingEvent,
  type OutgoingView,
  type PreparedIncoming,
  type ReservationView,
  type SettleView,
  type UsageView,
} from "./api.ts";

export interface AgentClientOptions {
  readonly baseUrl: string;
  readonly token: string;
  /** The host's name, for messages and reports; default: the URL's host. */
  readonly name?: string | undefined;
  /** How long a request may take before it counts as unanswered. Default 10 s. */
  readonly timeoutMs?: number | undefined;
  /** How long an outgoing stream may stay silent (agents send heartbeats every second). Default 5 s. */
  readonly streamIdleMs?: number | undefined;
  /** The fetch to use; tests pass one that calls a Hono app in-process. */
  readonly fetch?: ((input: string, init: RequestInit) => Promise<Response>) | undefined;
}

export type { CallOptions };

/**
 * The whole agent API as a client: the engine's port (src/engine/agent-port.ts) and what the
 * controller asks besides (health, network changes, the guest's dirty rate, faults).
 */
export interface AgentClient extends AgentPort {
  /** The heartbeat (GET /v1/health): who answers and what runs there; abort `signal` to bound it. */
  health(options?: CallOptions): Promise<HealthView>;
  /** Facts observed on the host now (a real host reads them again; a declared one answers as facts). */
  refreshFacts(options?: CallOptions): Promise<AgentFacts>;
  /** Changes a real host's network as one transaction (POST /v1/network/apply). */
  applyNetwork(ops: readonly NetworkOp[], options?: CallOptions): Promise<NetworkApplyView>;
  /** The guest's dirty rate, measured over `seconds` where the hypervisor can (qemu), else its spec's. */
  dirtyRate(name: string, seconds: number, options?: CallOptions): Promise<DirtyRateView>;
  setFaults(rules: readonly Record<string, unknown>[], options?: CallOptions): Promise<void>;
  /** What the host's VMs use now (GET /v1/usage): the controller's usage sampler asks it. */
  usage(options?: CallOptions): Promise<UsageView>;
}

const KNOWN_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/** The reason of a failed fetch, as short words: "ECONNREFUSED", "socket hang up". */
function networkReason(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code === "string") return code;
  if (cause instanceof Error) return cause.message;
  return error instanceof Error ? error.message : String(error);
}

async function errorFrom(response: Response, what: string, host: string): Promise<FerryError> {
  const text = await response.text().catch(() => "");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const parsed = ErrorBodySchema.safeParse(body);
  if (parsed.success && KNOWN_CODES.has(parsed.data.code)) {
    const { code, message, details } = parsed.data;
    const failureCode = parsed.data.failureCode ?? legacyFailureCodeOf(details);
    return new FerryError(code as ErrorCode, message, { details: details ?? null, failureCode, retryable: code === ErrorCode.unavailable });
  }
  // Not an agent's error body: a proxy or a crash answered.
  const unavailable = response.status === 502 || response.status === 503 || response.status === 504;
  return new FerryError(unavailable ? ErrorCode.unavailable : ErrorCode.internal, `${host} answered ${what} with HTTP ${response.status}${text === "" ? "" : `: ${text.slice(0, 200)}`}`, {
    details: { status: response.status },
    retryable: unavailable,
  });
}

/** How the client reaches one agent: its address, name, limits, and one request at a time. */
interface Transport {
  readonly name: string;
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly streamIdleMs: number;
  /** Sends one request; `timeout` covers everything up to the response headers. */
  send(method: string, path: string, body: unknown, call: CallOptions | undefined, timeout: number | undefined): Promise<Response>;
}

function transportOf(options: AgentClientOptions): Transport {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const name = options.name ?? new URL(baseUrl).host;
  const doFetch = options.fetch ?? ((input: string, init: RequestInit) => fetch(input, init));
  const authorization = `Bearer ${options.token}`;
  const send = async (method: string, path: string, body: unknown, call: CallOptions | undefined, timeout: number | undefined): Promise<Response> => {
    const what = `${method} ${path}`;
    call?.signal?.throwIfAborted();
    const timer = new AbortController();
    const signals = [timer.signal, ...(call?.signal === undefined ? [] : [call.signal])];
    const handle = timeout === undefined ? undefined : setTimeout(() => { timer.abort(); }, timeout);
    const headers: Record<string, string> = { Authorization: authorization, Accept: "application/json, application/x-ndjson" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const attempt = (): Promise<Response> => doFetch(`${baseUrl}${API_PREFIX}${path}`, { method, headers, signal: AbortSignal.any(signals), ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    try {
      try {
        return await attempt();
      } catch (error) {
        // A GET changes nothing: one more try when the connection broke under it (a reused
        // keep-alive connection the other side had just closed), never after a timeout or abort.
        if (method !== "GET" || timer.signal.aborted || call?.signal?.aborted === true) throw error;
        return await attempt();
      }
    } catch (error) {
      if (call?.signal?.aborted === true) throw call.signal.reason;
      if (timer.signal.aborted) {
        throw new FerryError(ErrorCode.unavailable, `${name} did not answer ${what} within ${timeout ?? 0} ms`, { retryable: true, details: { host: name, timeoutMs: timeout }, cause: error });
      }
      throw new FerryError(ErrorCode.unavailable, `cannot reach the agent of ${name} at ${baseUrl}: ${networkReason(error)} (${what})`, { retryable: true, details: { host: name, call: what }, cause: error });
    } finally {
      if (handle !== undefined) clearTimeout(handle);
    }
  };
  return { name, baseUrl, timeoutMs: options.timeoutMs ?? 10_000, streamIdleMs: options.streamIdleMs ?? 5_000, send };
}

async function jsonOf<T>(t: Transport, method: string, path: string, body?: unknown, call?: CallOptions): Promise<T> {
  const response = await t.send(method, path, body, call, t.timeoutMs);
  if (!response.ok) throw await errorFrom(response, `${method} ${path}`, t.name);
  try {
    return (await response.json()) as T;
  } catch (cause) {
    if (call?.signal?.aborted === true) throw call.signal.reason;
    throw new FerryError(ErrorCode.unavailable, `${t.name} broke off its answer to ${method} ${path}`, { retryable: true, cause });
  }
}

/** An outgoing migration's NDJSON stream as events; the last is the report. */
async function* eventsOf(t: Transport, method: string, path: string, body: unknown, call: CallOptions | undefined): AsyncGenerator<OutgoingEvent> {
  const { name, streamIdleMs } = t;
  const reading = new AbortController();
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const stop = (): void => {
    reading.abort();
    // Cancelling the reader too: not every fetch ends a body's read when its signal aborts.
    reader?.cancel().catch(() => undefined);
  };
  call?.signal?.addEventListener("abort", stop, { once: true });
  let idle: ReturnType<typeof setTimeout> | undefined;
  const watch = { silent: false };
  const arm = (): void => {
    if (idle !== undefined) clearTimeout(idle);
    idle = setTimeout(() => {
      watch.silent = true;
      stop();
    }, streamIdleMs);
  };
  const broken = (why: string, cause?: unknown): FerryError => {
    if (call?.signal?.aborted === true) throw call.signal.reason;
    if (watch.silent) return new FerryError(ErrorCode.unavailable, `the migration stream from ${name} went silent for ${streamIdleMs} ms`, { retryable: true, details: { host: name }, cause });
    return new FerryError(ErrorCode.unavailable, `the migration stream from ${name} ${why}`, { retryable: true, details: { host: name }, cause });
  };
  try {
    call?.signal?.throwIfAborted();
    const response = await t.send(method, path, body, { signal: reading.signal }, t.timeoutMs);
    if (!response.ok) throw await errorFrom(response, `${method} ${path}`, name);
    if (response.body === null) throw new FerryError(ErrorCode.unavailable, `${name} answered ${method} ${path} without a stream`, { retryable: true });
    reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let buffered = "";
    arm();
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (cause) {
        throw broken(`broke: ${networkReason(cause)}`, cause);
      }
      if (chunk.done || reading.signal.aborted) break;
      arm();
      buffered += decoder.decode(chunk.value, { stream: true });
      for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line === "") continue;
        let event: OutgoingEvent;
        try {
          event = JSON.parse(line) as OutgoingEvent;
        } catch (cause) {
          throw new FerryError(ErrorCode.internal, `${name} sent a line that is not JSON on the migration stream`, { cause, details: { line: line.slice(0, 200) } });
        }
        yield event;
        if (event.type === "report") return;
      }
    }
    throw broken("ended before its report");
  } finally {
    if (idle !== undefined) clearTimeout(idle);
    call?.signal?.removeEventListener("abort", stop);
    stop();
  }
}

export function createAgentClient(options: AgentClientOptions): AgentClient {
  const t = transportOf(options);
  const { name, baseUrl } = t;
  const json = <T>(method: string, path: string, body?: unknown, call?: CallOptions): Promise<T> => jsonOf<T>(t, method, path, body, call);
  const events = (method: string, path: string, body: unknown, call: CallOptions | undefined): AsyncGenerator<OutgoingEvent> => eventsOf(t, method, path, body, call);

  const enc = encodeURIComponent;
  return {
    name,
    baseUrl,
    facts: (call) => json<AgentFacts>("GET", "/facts", undefined, call),
    health: (call) => json<HealthView>("GET", "/health", undefined, call),
    refreshFacts: (call) => json<AgentFacts>("GET", "/facts?refresh=true", undefined, call),
    applyNetwork: (ops, call) => json<NetworkApplyView>("POST", "/network/apply", { ops }, call),
    listVms: (call) => json<AgentVm[]>("GET", "/vms", undefined, call),
    getVm: (vm, call) => json<AgentVm>("GET", `/vms/${enc(vm)}`, undefined, call),
    createVm: (spec, call) => json<AgentVm>("POST", "/vms", spec, call),
    powerOn: (vm, call) => json<AgentVm>("POST", `/vms/${enc(vm)}/power-on`, {}, call),
    powerOff: (vm, call) => json<AgentVm>("POST", `/vms/${enc(vm)}/power-off`, {}, call),
    usage: (call) => json<UsageView>("GET", "/usage", undefined, call),
    dirtyRate: (vm, seconds, call) => json<DirtyRateView>("GET", `/vms/${enc(vm)}/dirty-rate?seconds=${String(seconds)}`, undefined, call),
    destroyVm: async (vm, call) => {
      const query = [...(call?.removeDisks === true ? ["disks=remove"] : []), ...(call?.onlyIfOff === true ? ["power=off"] : [])];
      await json<unknown>("DELETE", `/vms/${enc(vm)}${query.length === 0 ? "" : `?${query.join("&")}`}`, undefined, call);
    },
    listReservations: (call) => json<ReservationView[]>("GET", "/reservations", undefined, call),
    reserve: (id, request, call) => json<ReservationView>("POST", `/reservations/${enc(id)}`, request, call),
    release: async (id, call) => (await json<{ released: boolean }>("DELETE", `/reservations/${enc(id)}`, undefined, call)).released,
    prepareIncoming: (migrationId, spec, call) =>
      json<PreparedIncoming>("POST", "/migrations/incoming", { migrationId, spec, ...(call?.encryption === undefined ? {} : { encryption: call.encryption }), ...(call?.fence === undefined ? {} : { fence: call.fence }), ...(call?.postcopy === true ? { postcopy: true } : {}), ...(call?.sourceHypervisorVersion === undefined ? {} : { sourceHypervisorVersion: call.sourceHypervisorVersion }) }, call),
    incomingState: (id, call) => json<IncomingStateView>("GET", `/migrations/incoming/${enc(id)}`, undefined, call),
    abortIncoming: (id, call) => json<IncomingStateView>("DELETE", `/migrations/incoming/${enc(id)}`, undefined, call),
    migrateOut: (request, call) => events("POST", "/migrations/outgoing", request, call),
    followOutgoing: (id, call) => events("GET", `/migrations/outgoing/${enc(id)}/stream`, undefined, call),
    outgoing: (id, call) => json<OutgoingView>("GET", `/migrations/outgoing/${enc(id)}`, undefined, call),
    abortOutgoing: (id, call) => json<OutgoingView>("DELETE", `/migrations/outgoing/${enc(id)}`, undefined, call),
    settleOutgoing: (id, destination, call) => json<SettleView>("POST", `/migrations/outgoing/${enc(id)}/settle`, { destination }, call),
    setFaults: async (rules, call) => {
      await json<unknown>("POST", "/faults", { rules }, call);
    },
    establishOwnership: (vm, ledger, call) =>
      json<Ownership>("POST", "/ownership", { vm, ledger, ...(call?.supersede === undefined ? {} : { supersede: call.supersede }), ...(call?.migrationId === undefined ? {} : { migrationId: call.migrationId }) }, call),
    readOwnership: (vm, ledger, call) => json<Ownership>("POST", "/ownership/read", { vm, ledger }, call),
  };
}

/** Reads a whole outgoing stream, handing progress to `onEvent`, and returns the report. */
export async function reportOf(events: AsyncIterable<OutgoingEvent>, onEvent?: (event: OutgoingEvent) => void): Promise<MigrationReport> {
  for await (const event of events) {
    onEvent?.(event);
    if (event.type === "report") return event.report;
  }
  throw new FerryError(ErrorCode.unavailable, "the migration stream ended before its report", { retryable: true });
}

/**
 * The destination as one migration sees it: its prepareIncoming asks for the stream's
 * encryption setting. The engine prepares the destination with the VM's spec only; the
 * controller, which knows the cluster's setting, hands the engine this client.
 */
export function withStreamEncryption(client: AgentClient, encryption: VmotionEncryption): AgentClient {
  return { ...client, prepareIncoming: (migrationId, spec, call) => client.prepareIncoming(migrationId, spec, { ...call, encryption: call?.encryption ?? encryption }) };
}

/** The destination as a fenced migration sees it: its prepareIncoming carries the VM's ownership fence. */
export function withFence(client: AgentClient, fence: Fence): AgentClient {
  return { ...client, prepareIncoming: (migrationId, spec, call) => client.prepareIncoming(migrationId, spec, { ...call, fence: call?.fence ?? fence }) };
}
