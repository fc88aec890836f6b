// A fake QEMU monitor for tests that must not need QEMU: a unix socket in a temp dir that
// greets like QEMU 7.2, insists on `qmp_capabilities` first (as QEMU does), answers commands
// from scripted handlers, and can emit events (also before a reply), delay replies, send
// garbage, and close the connection the way QEMU's exit does.
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";

/** What a handler answers: a return value, an error, or nothing at all (the command hangs). */
export type FakeQmpReply =
  | { readonly return: unknown }
  | { readonly error: { readonly class: string; readonly desc: string } }
  | { readonly noReply: true };

export interface FakeQmpRequest {
  readonly execute: string;
  readonly arguments: Readonly<Record<string, unknown>> | undefined;
  readonly id: unknown;
}

/** A handler gets the command's arguments and the session, to emit events or delay first. */
export type FakeQmpHandler = (args: Readonly<Record<string, unknown>> | undefined, session: FakeQmpSession) => FakeQmpReply | Promise<FakeQmpReply>;

/** QEMU 7.2's greeting, as Debian 12's qemu-system-x86 sends it. */
export const QEMU_7_2_GREETING = {
  QMP: { version: { qemu: { micro: 0, minor: 2, major: 7 }, package: "Debian 1:7.2+dfsg-7" }, capabilities: ["oob"] },
} as const;

/** One client connection. */
export class FakeQmpSession {
  readonly #socket: Socket;
  negotiated = false;

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  /** Writes an event now, with QEMU's `timestamp` shape. */
  emit(event: string, data?: Readonly<Record<string, unknown>>): void {
    const now = Date.now();
    const timestamp = { seconds: Math.floor(now / 1000), microseconds: (now % 1000) * 1000 };
    this.sendRaw(JSON.stringify(data === undefined ? { event, timestamp } : { event, data, timestamp }));
  }

  /** Writes one line as is (no validation): garbage, a reply with a made-up id, ... */
  sendRaw(line: string): void {
    if (!this.#socket.destroyed) this.#socket.write(`${line}\r\n`);
  }

  /** Writes `text` without a newline: half a line, to test buffering. */
  sendPartial(text: string): void {
    if (!this.#socket.destroyed) this.#socket.write(text);
  }

  delay(ms: number): Promise<void> {
    return delay(ms);
  }

  /** Ends the connection as QEMU's exit does (trap 3: after a failed incoming migration). */
  close(): void {
    this.#socket.destroy();
  }
}

export interface FakeQmpOptions {
  readonly greeting?: unknown;
  /** Handlers by command name; `qmp_capabilities` has a default, as does every unknown command. */
  readonly handlers?: Readonly<Record<string, FakeQmpHandler>>;
  /** Send no greeting (a socket that is not QEMU's monitor). */
  readonly silent?: boolean;
  /** Listen here instead of a fresh temp dir (the caller removes it). */
  readonly path?: string;
}

export class FakeQmpServer {
  readonly path: string;
  /** Every request received after negotiation, in order. */
  readonly received: FakeQmpRequest[] = [];
  readonly sessions: FakeQmpSession[] = [];
  readonly #server: Server;
  readonly #dir: string | undefined;
  readonly #handlers = new Map<string, FakeQmpHandler>();
  readonly #sockets = new Set<Socket>();
  readonly #connected: ((session: FakeQmpSession) => void)[] = [];

  private constructor(server: Server, dir: string | undefined, options: FakeQmpOptions) {
    this.#server = server;
    this.#dir = dir;
    this.path = options.path ?? join(dir ?? "", "qmp.sock");
    for (const [name, handler] of Object.entries(options.handlers ?? {})) this.#handlers.set(name, handler);
    server.on("connection", (socket) => {
      this.#accept(socket, options);
    });
  }

  static async start(options: FakeQmpOptions = {}): Promise<FakeQmpServer> {
    const dir = options.path === undefined ? await mkdtemp(join(tmpdir(), "ferry-qmp-")) : undefined;
    const server = createServer();
    const fake = new FakeQmpServer(server, dir, options);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(fake.path, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return fake;
  }

  /** Sets (or replaces) the handler of `command`. */
  handle(command: string, handler: FakeQmpHandler): void {
    this.#handlers.set(command, handler);
  }

  /** The latest session, or the next one to connect. */
  session(): Promise<FakeQmpSession> {
    const last = this.sessions.at(-1);
    if (last !== undefined) return Promise.resolve(last);
    return new Promise((resolve) => this.#connected.push(resolve));
  }

  /** Emits an event on every connection. */
  emit(event: string, data?: Readonly<Record<string, unknown>>): void {
    for (const session of this.sessions) session.emit(event, data);
  }

  /** Drops every connection (QEMU exiting), keeping the listener. */
  dropClients(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.dropClients();
    await new Promise<void>((resolve) => this.#server.close(() => {
      resolve();
    }));
    if (this.#dir !== undefined) await rm(this.#dir, { recursive: true, force: true });
  }

  #accept(socket: Socket, options: FakeQmpOptions): void {
    this.#sockets.add(socket);
    socket.on("close", () => this.#sockets.delete(socket));
    socket.on("error", () => undefined);
    const session = new FakeQmpSession(socket);
    this.sessions.push(session);
    for (const resolve of this.#connected.splice(0)) resolve(session);
    if (options.silent !== true) session.sendRaw(JSON.stringify(options.greeting ?? QEMU_7_2_GREETING));
    socket.setEncoding("utf8");
    let buffer = "";
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      for (let newline = buffer.indexOf("\n"); newline >= 0; newline = buffer.indexOf("\n")) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        void this.#request(line, session);
      }
    });
  }

  async #request(line: string, session: FakeQmpSession): Promise<void> {
    let request: FakeQmpRequest;
    try {
      request = JSON.parse(line) as FakeQmpRequest;
    } catch {
      // QEMU answers an unparsable request with an error that carries no id.
      session.sendRaw(JSON.stringify({ error: { class: "GenericError", desc: "JSON parse error" } }));
      return;
    }
    const answer = (reply: Record<string, unknown>): void => {
      session.sendRaw(JSON.stringify(request.id === undefined ? reply : { ...reply, id: request.id }));
    };
    if (!session.negotiated) {
      // QEMU 7.2, monitor/qmp.c: only qmp_capabilities is allowed in negotiation mode.
      if (request.execute !== "qmp_capabilities") {
        answer({ error: { class: "CommandNotFound", desc: `Expecting capabilities negotiation with 'qmp_capabilities'` } });
        return;
      }
      const custom = this.#handlers.get("qmp_capabilities");
      const reply = custom === undefined ? { return: {} } : await custom(request.arguments, session);
      if ("return" in reply) session.negotiated = true;
      if (!("noReply" in reply)) answer(reply);
      return;
    }
    this.received.push(request);
    const handler = this.#handlers.get(request.execute);
    if (handler === undefined) {
      const desc = request.execute === "qmp_capabilities"
        ? "Capabilities negotiation is already complete, command ignored"
        : `The command ${request.execute} has not been found`;
      answer({ error: { class: "CommandNotFound", desc } });
      return;
    }
    const reply = await handler(request.arguments, session);
    if (!("noReply" in reply)) answer(reply);
  }
}
