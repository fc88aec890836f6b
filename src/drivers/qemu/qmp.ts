// Ferry's QMP client: the QEMU Machine Protocol over a unix socket, as QEMU's
// docs/interop/qmp-spec.rst describes it. One JSON object per line; the server speaks first
// with a greeting, the client leaves capabilities negotiation with `qmp_capabilities`, then
// sends commands carrying an `id` that the reply echoes. Asynchronous events may arrive at
// any time, including between a command and its reply (QEMU 7.2 sends MIGRATION
// {status: setup} before the reply to `migrate`), so replies are matched by id, never by order.
import { createConnection, type Socket } from "node:net";
import type { Clock } from "../../core/clock.ts";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { systemClock } from "../clock.ts";

/** The server's greeting: `{"QMP": {"version": ..., "capabilities": [...]}}`. */
export interface QmpGreeting {
  readonly version: {
    readonly qemu: { readonly major: number; readonly minor: number; readonly micro: number };
    readonly package: string;
  };
  /** Capabilities the server offers (QEMU 7.2: `["oob"]`); the client enables what it wants. */
  readonly capabilities: readonly string[];
}

/** An asynchronous event (`MIGRATION`, `MIGRATION_PASS`, `STOP`, `RESUME`, `SHUTDOWN`, ...). */
export interface QmpEvent {
  readonly event: string;
  readonly data: Readonly<Record<string, unknown>>;
  /** When QEMU emitted it, by the host's wall clock. */
  readonly timestamp: { readonly seconds: number; readonly microseconds: number };
}

/**
 * A command's error reply `{"error": {"class", "desc"}}`. Its Ferry code is REFUSED: QEMU
 * understood and declined. `qmpClass` is QEMU's ErrorClass (GenericError, CommandNotFound,
 * DeviceNotActive, DeviceNotFound, KVMMissingCap); QEMU says to rely on `desc` for humans only.
 */
export class QmpError extends FerryError {
  readonly qmpClass: string;
  readonly desc: string;
  readonly command: string;

  constructor(command: string, qmpClass: string, desc: string) {
    super(ErrorCode.refused, `QEMU refused ${command}: ${desc}`, { details: { command, class: qmpClass, desc } });
    this.name = "QmpError";
    this.qmpClass = qmpClass;
    this.desc = desc;
    this.command = command;
  }
}

/** Why a command did not get its reply, in `FerryError.details.failure` (code UNAVAILABLE). */
export const QmpFailure = {
  /** The socket closed first: QEMU exited (trap 3: it does so after a failed incoming migration) or was killed. */
  closed: "closed",
  /** No reply within the command's timeout. */
  timeout: "timeout",
  /** The connection never became usable: connect failed, or no valid greeting. */
  handshake: "handshake",
} as const;
export type QmpFailure = (typeof QmpFailure)[keyof typeof QmpFailure];

/** How the connection ended; `closed` resolves with it and never rejects. */
export interface QmpClosed {
  /** `local`: this client's close(); `eof`: the peer closed or reset it (QEMU exited); `error`: another socket error. */
  readonly reason: "local" | "eof" | "error";
  readonly error?: Error;
}

export interface QmpCommandOptions {
  /** Overrides the client's default; 0 waits forever. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface QmpConnectOptions {
  /** The unix socket of `-qmp unix:PATH,server=on,wait=off`. */
  readonly path: string;
  /** For connect, greeting and negotiation together. Default 5000 ms. */
  readonly handshakeTimeoutMs?: number;
  /** Default per-command timeout. Default 10000 ms; `migrate_cancel` and queries answer at once. */
  readonly commandTimeoutMs?: number;
  /** Capabilities to enable in `qmp_capabilities` (e.g. `oob`); none by default. */
  readonly enable?: readonly string[];
  readonly signal?: AbortSignal;
  readonly clock?: Clock;
}

type Json = Record<string, unknown>;

interface Pending {
  readonly command: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

function unavailable(failure: QmpFailure, message: string, details: Json = {}, cause?: unknown): FerryError {
  return new FerryError(ErrorCode.unavailable, message, { details: { failure, ...details }, retryable: failure !== QmpFailure.closed, cause });
}

/**
 * A reset is QEMU going away too: after `quit`, QEMU 7.2 sometimes closes the socket with
 * unread input, and the kernel answers with RST (ECONNRESET) rather than FIN.
 */
function peerGone(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  return code === "ECONNRESET" || code === "EPIPE";
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The signal's reason, as AbortSignal.timeout() and clock.sleep give it: an Error. */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const error = new Error("The operation was aborted", { cause: reason });
  error.name = "AbortError";
  return error;
}

/** Runs `work` against a timeout and a signal; `cleanup` runs however it ends. */
function guard<T>(
  clock: Clock,
  work: Promise<T>,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  onTimeout: () => Error,
  cleanup: () => void,
): Promise<T> {
  if (signal?.aborted === true) {
    cleanup();
    return Promise.reject(abortReason(signal));
  }
  const stop = new AbortController();
  return new Promise<T>((resolve, reject) => {
    const finish = (): void => {
      stop.abort();
      signal?.removeEventListener("abort", onAbort);
      cleanup();
    };
    const onAbort = (): void => {
      finish();
      reject(abortReason(signal ?? stop.signal));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    if (timeoutMs > 0) {
      clock.sleep(timeoutMs, stop.signal).then(
        () => {
          finish();
          reject(onTimeout());
        },
        () => undefined,
      );
    }
    work.then(
      (value) => {
        finish();
        resolve(value);
      },
      (error: unknown) => {
        finish();
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** Line-delimited JSON over one socket. Use `connectQmp`, which returns a negotiated client. */
export class QmpClient {
  /** Resolves once when the connection ends, whoever ended it. */
  readonly closed: Promise<QmpClosed>;
  #greeting: QmpGreeting | undefined;
  readonly #socket: Socket;
  readonly #clock: Clock;
  readonly #commandTimeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Set<(event: QmpEvent) => void>();
  readonly #protocolListeners = new Set<(line: string, problem: string) => void>();
  readonly #closeListeners = new Set<() => void>();
  #greetingWaiter: ((greeting: QmpGreeting | Error) => void) | undefined;
  #nextId = 1;
  #buffer = "";
  #ended: QmpClosed | undefined;
  #closing = false;
  #resolveClosed!: (closed: QmpClosed) => void;

  private constructor(socket: Socket, clock: Clock, commandTimeoutMs: number) {
    this.#socket = socket;
    this.#clock = clock;
    this.#commandTimeoutMs = commandTimeoutMs;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      this.#onData(chunk);
    });
    let socketError: Error | undefined;
    socket.on("error", (error) => (socketError = error));
    socket.on("close", () => {
      let closed: QmpClosed;
      if (this.#closing) closed = { reason: "local" };
      else if (socketError === undefined) closed = { reason: "eof" };
      else closed = { reason: peerGone(socketError) ? "eof" : "error", error: socketError };
      this.#onClose(closed);
    });
  }

  /** The greeting QEMU sent; set once connectQmp resolves. */
  get greeting(): QmpGreeting {
    if (this.#greeting === undefined) throw new FerryError(ErrorCode.internal, "QMP greeting read before the handshake finished");
    return this.#greeting;
  }

  /** The QEMU behind this connection, "major.minor.micro" (its greeting); undefined when the greeting had no number triple. */
  get qemuVersion(): string | undefined {
    const qemu: Partial<Record<string, unknown>> | undefined = this.#greeting?.version.qemu;
    const parts = [qemu?.["major"], qemu?.["minor"], qemu?.["micro"]];
    return parts.every((n) => typeof n === "number" && Number.isInteger(n)) ? parts.join(".") : undefined;
  }

  /** Whether the connection has ended. */
  get isClosed(): boolean {
    return this.#ended !== undefined;
  }

  /** Opens the socket, reads the greeting and leaves negotiation mode. */
  static async connect(options: QmpConnectOptions): Promise<QmpClient> {
    const clock = options.clock ?? systemClock;
    const socket = createConnection({ path: options.path });
    const client = new QmpClient(socket, clock, options.commandTimeoutMs ?? 10_000);
    const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 5000;
    const handshake = async (): Promise<void> => {
      const greeting = await new Promise<QmpGreeting>((resolve, reject) => {
        client.#greetingWaiter = (value) => {
          if (value instanceof Error) reject(value);
          else resolve(value);
        };
        // A connect error also ends in "close", which fails the waiter with the cause.
      });
      client.#greeting = greeting;
      const enable = options.enable ?? [];
      await client.execute("qmp_capabilities", enable.length === 0 ? undefined : { enable: [...enable] }, { timeoutMs: 0 });
    };
    try {
      await guard(
        clock,
        handshake(),
        handshakeTimeoutMs,
        options.signal,
        () => unavailable(QmpFailure.handshake, `QMP handshake on ${options.path} took longer than ${handshakeTimeoutMs} ms`, { path: options.path }),
        () => undefined,
      );
    } catch (error) {
      await client.close();
      if (error instanceof QmpError) {
        throw unavailable(QmpFailure.handshake, `QMP negotiation on ${options.path} failed: ${error.desc}`, { path: options.path }, error);
      }
      throw error;
    }
    return client;
  }

  /**
   * Sends a command and resolves with its `return` value. Rejects with QmpError on an error
   * reply, FerryError UNAVAILABLE (details.failure `timeout` or `closed`) when no reply
   * comes, or the signal's reason on abort. A command that timed out or was aborted may still
   * take effect in QEMU: QMP has no way to withdraw one.
   */
  execute(command: string, args?: Json, options: QmpCommandOptions = {}): Promise<unknown> {
    if (this.#ended !== undefined) {
      return Promise.reject(unavailable(QmpFailure.closed, `QMP connection closed before ${command}`, { command, reason: this.#ended.reason }));
    }
    const id = this.#nextId++;
    const reply = new Promise<unknown>((resolve, reject) => {
      this.#pending.set(id, { command, resolve, reject });
    });
    const message: Json = args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
    this.#socket.write(`${JSON.stringify(message)}\n`);
    const timeoutMs = options.timeoutMs ?? this.#commandTimeoutMs;
    return guard(
      this.#clock,
      reply,
      timeoutMs,
      options.signal,
      () => unavailable(QmpFailure.timeout, `QEMU did not answer ${command} within ${timeoutMs} ms`, { command, timeoutMs }),
      // A late reply to a forgotten id is dropped in #onMessage.
      () => this.#pending.delete(id),
    );
  }

  /** Calls `listener` for every event (or only those named in `names`); returns the unsubscribe. */
  onEvent(listener: (event: QmpEvent) => void, names?: readonly string[]): () => void {
    const wrapped = names === undefined ? listener : (event: QmpEvent): void => {
      if (names.includes(event.event)) listener(event);
    };
    this.#listeners.add(wrapped);
    return () => this.#listeners.delete(wrapped);
  }

  /** Lines that are not QMP (bad JSON, a reply without a known id): for logs; they are skipped. */
  onProtocolError(listener: (line: string, problem: string) => void): () => void {
    this.#protocolListeners.add(listener);
    return () => this.#protocolListeners.delete(listener);
  }

  /**
   * The next event named `name` for which `match` holds. Subscribe before sending the command
   * that causes it: the event may precede the command's reply.
   */
  waitForEvent(name: string, options: QmpCommandOptions & { readonly match?: (event: QmpEvent) => boolean } = {}): Promise<QmpEvent> {
    if (this.#ended !== undefined) {
      return Promise.reject(unavailable(QmpFailure.closed, `QMP connection closed before event ${name}`, { event: name }));
    }
    let unsubscribe = (): void => undefined;
    const seen = new Promise<QmpEvent>((resolve, reject) => {
      const off = this.onEvent((event) => {
        if (options.match === undefined || options.match(event)) resolve(event);
      }, [name]);
      const onClosed = (): void => {
        reject(unavailable(QmpFailure.closed, `QMP connection closed while waiting for ${name}`, { event: name }));
      };
      this.#closeListeners.add(onClosed);
      unsubscribe = () => {
        off();
        this.#closeListeners.delete(onClosed);
      };
    });
    const timeoutMs = options.timeoutMs ?? 0;
    return guard(
      this.#clock,
      seen,
      timeoutMs,
      options.signal,
      () => unavailable(QmpFailure.timeout, `no ${name} event within ${timeoutMs} ms`, { event: name, timeoutMs }),
      () => {
        unsubscribe();
      },
    );
  }

  /** Closes the socket; pending commands fail with `closed`. Resolves once it is closed. */
  async close(): Promise<void> {
    if (this.#ended === undefined) {
      this.#closing = true;
      this.#socket.destroy();
    }
    await this.closed;
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    // A read may end mid-line; keep the tail for the next chunk.
    for (let newline = this.#buffer.indexOf("\n"); newline >= 0; newline = this.#buffer.indexOf("\n")) {
      const line = this.#buffer.slice(0, newline).trim();
      this.#buffer = this.#buffer.slice(newline + 1);
      if (line !== "") this.#onLine(line);
    }
  }

  #onLine(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      this.#protocolError(line, "not JSON");
      return;
    }
    if (!isObject(message)) {
      this.#protocolError(line, "not a JSON object");
      return;
    }
    if (this.#greetingWaiter !== undefined) {
      const waiter = this.#greetingWaiter;
      const qmp = message["QMP"];
      if (!isObject(qmp)) {
        this.#protocolError(line, "expected the QMP greeting");
        return;
      }
      this.#greetingWaiter = undefined;
      const capabilities = Array.isArray(qmp["capabilities"]) ? qmp["capabilities"].filter((c): c is string => typeof c === "string") : [];
      waiter({ version: qmp["version"] as QmpGreeting["version"], capabilities });
      return;
    }
    if (typeof message["event"] === "string") {
      const event: QmpEvent = {
        event: message["event"],
        data: isObject(message["data"]) ? message["data"] : {},
        timestamp: isObject(message["timestamp"])
          ? { seconds: Number(message["timestamp"]["seconds"]), microseconds: Number(message["timestamp"]["microseconds"]) }
          : { seconds: 0, microseconds: 0 },
      };
      for (const listener of [...this.#listeners]) listener(event);
      return;
    }
    const id = message["id"];
    const pending = typeof id === "number" ? this.#pending.get(id) : undefined;
    if (pending === undefined) {
      // QEMU answers without an id only when it could not parse the request at all.
      this.#protocolError(line, "reply to no pending command");
      return;
    }
    this.#pending.delete(id as number);
    const error = message["error"];
    if (isObject(error)) {
      pending.reject(new QmpError(pending.command, String(error["class"]), String(error["desc"])));
    } else if ("return" in message) {
      pending.resolve(message["return"]);
    } else {
      pending.reject(new FerryError(ErrorCode.internal, `QMP reply to ${pending.command} has neither return nor error`, { details: { line } }));
    }
  }

  #protocolError(line: string, problem: string): void {
    for (const listener of [...this.#protocolListeners]) listener(line, problem);
  }

  #onClose(closed: QmpClosed): void {
    if (this.#ended !== undefined) return;
    this.#ended = closed;
    const detail = closed.error === undefined ? closed.reason : `${closed.reason}: ${closed.error.message}`;
    if (this.#greetingWaiter !== undefined) {
      this.#greetingWaiter(unavailable(QmpFailure.handshake, `QMP socket closed before the greeting (${detail})`, {}, closed.error));
      this.#greetingWaiter = undefined;
    }
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      pending.reject(unavailable(QmpFailure.closed, `QMP connection closed before QEMU answered ${pending.command} (${detail})`, { command: pending.command, reason: closed.reason }, closed.error));
    }
    for (const listener of [...this.#closeListeners]) listener();
    this.#closeListeners.clear();
    this.#resolveClosed(closed);
  }
}

/** Connects to QEMU's QMP socket and negotiates capabilities. */
export function connectQmp(options: QmpConnectOptions): Promise<QmpClient> {
  return QmpClient.connect(options);
}
