// One end of a pre-copy stream: frames out with socket back-pressure honoured, frames in
// through the decoder, the host's fault rules applied, and one failure that every pending
// wait sees at once. Both the source and the destination side use it.
import type { Socket } from "node:net";
import type { Clock } from "../../core/clock.ts";
import { MigrationFailureCode } from "../../core/migration/types.ts";
import type { SimFaults } from "./faults.ts";
import { FrameDecoder, ProtocolError, encodeFrame, type FrameSink } from "./protocol.ts";

/** A migration failure with its code; what both sides turn into a report or an ERROR frame. */
export class MigrationError extends Error {
  override readonly name = "MigrationError";
  readonly code: MigrationFailureCode;

  constructor(code: MigrationFailureCode, message: string) {
    super(message);
    this.code = code;
  }
}

const FAILURE_CODES: ReadonlySet<string> = new Set(Object.values(MigrationFailureCode));

export function asFailureCode(code: string, fallback: MigrationFailureCode): MigrationFailureCode {
  return FAILURE_CODES.has(code) ? (code as MigrationFailureCode) : fallback;
}

export interface FrameStreamOptions {
  readonly clock: Clock;
  readonly sink: FrameSink;
  readonly faults: () => SimFaults;
  /** Who is at the other end, for messages: "esx02 (127.0.1.2:40123)". */
  readonly peer: string;
  /** Send the peer an ERROR frame when a frame it sent cannot be handled (the destination does). */
  readonly tellPeer?: boolean;
  /** Called once, with the stream's first failure. */
  readonly onFail?: (error: MigrationError) => void;
}

export class FrameStream {
  readonly socket: Socket;
  private readonly options: FrameStreamOptions;
  private readonly decoder = new FrameDecoder();
  private failure: MigrationError | undefined;
  private readonly failedPromise: Promise<never>;
  private rejectFailed!: (error: MigrationError) => void;
  private closing = false;
  private stalled = false;
  private readonly closedPromise: Promise<void>;
  bytesWritten = 0;
  bytesRead = 0;
  /** When a byte last moved either way (monotonic ms): the stall watchdog reads it. */
  lastProgressAt: number;

  constructor(socket: Socket, options: FrameStreamOptions) {
    this.socket = socket;
    this.options = options;
    this.lastProgressAt = options.clock.monotonic();
    this.failedPromise = new Promise<never>((_, reject) => {
      this.rejectFailed = reject;
    });
    // Nobody may be waiting when the stream fails; the failure is read from `failure` then.
    this.failedPromise.catch(() => undefined);
    this.closedPromise = new Promise<void>((resolve) => socket.once("close", () => { resolve(); }));
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => { this.onData(chunk); });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      this.fail(new MigrationError(MigrationFailureCode.streamBroken, `the migration stream with ${options.peer} broke: ${error.code ?? error.message}`));
    });
    socket.on("close", () => {
      if (!this.closing) this.fail(new MigrationError(MigrationFailureCode.streamBroken, `${options.peer} closed the migration stream`));
    });
  }

  get failed(): MigrationError | undefined {
    return this.failure;
  }

  /**
   * Records the stream's first failure and wakes every wait. The socket is destroyed, after
   * `farewell` (an ERROR frame telling the peer why) when one is given.
   */
  fail(error: MigrationError, farewell?: Buffer): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    this.closing = true;
    this.rejectFailed(error);
    this.options.onFail?.(error);
    if (farewell !== undefined && this.socket.writable) {
      this.socket.end(farewell);
      // The peer may not read it (a stalled stream): do not hold the socket open for it.
      setTimeout(() => this.socket.destroy(), 1000).unref();
    } else {
      this.socket.destroy();
    }
  }

  /** Throws the failure, if any. */
  check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Waits for `promise` unless the stream fails first. */
  async until<T>(promise: Promise<T>): Promise<T> {
    if (this.failure !== undefined) {
      // Nobody will wait for it now; its own rejection (a cancelled sleep) must not go unheard.
      promise.catch(() => undefined);
      throw this.failure;
    }
    return Promise.race([promise, this.failedPromise]);
  }

  /** Writes buffers as one batch (corked), then waits for 'drain' if the socket asked for it. */
  async write(buffers: readonly Buffer[]): Promise<void> {
    this.check();
    const faults = this.options.faults();
    if (faults.stallAfterBytes !== undefined && this.moved() >= faults.stallAfterBytes) {
      this.stalled = true;
      await this.failedPromise;
    }
    let ok = true;
    this.socket.cork();
    for (const b of buffers) {
      ok = this.socket.write(b);
      this.bytesWritten += b.length;
    }
    this.socket.uncork();
    if (faults.cutStreamAfterBytes !== undefined && this.moved() >= faults.cutStreamAfterBytes) {
      this.fail(new MigrationError(MigrationFailureCode.streamBroken, `the migration stream with ${this.options.peer} was cut after ${this.moved()} bytes (fault rule)`));
      this.check();
    }
    if (!ok) {
      await this.until(
        new Promise<void>((resolve) => {
          this.socket.once("drain", resolve);
        }),
      );
    }
    this.lastProgressAt = this.options.clock.monotonic();
  }

  /** Ends the stream on purpose (after the last frame): no failure is recorded. */
  async end(timeoutMs: number): Promise<void> {
    this.closing = true;
    if (this.socket.destroyed) return;
    this.socket.end();
    await this.closed(timeoutMs);
  }

  /** Waits until the peer has closed too (it has read everything), at most `timeoutMs`; then the socket is gone. */
  async closed(timeoutMs: number): Promise<void> {
    if (this.socket.destroyed) return;
    const timer = new AbortController();
    try {
      await Promise.race([this.closedPromise, this.options.clock.sleep(timeoutMs, timer.signal).catch(() => undefined)]);
    } finally {
      timer.abort();
      this.socket.destroy();
    }
  }

  /** Closes without a failure and without waiting. */
  destroy(): void {
    this.closing = true;
    this.socket.destroy();
  }

  private moved(): number {
    return this.bytesWritten + this.bytesRead;
  }

  private onData(chunk: Buffer): void {
    if (this.failure !== undefined || this.stalled) return;
    this.bytesRead += chunk.length;
    this.lastProgressAt = this.options.clock.monotonic();
    try {
      this.decoder.push(chunk, this.options.sink);
    } catch (error) {
      const failure =
        error instanceof MigrationError
          ? error
          : error instanceof ProtocolError
            ? new MigrationError(MigrationFailureCode.protocolError, `${this.options.peer} broke the protocol: ${error.message}`)
            : new MigrationError(MigrationFailureCode.internal, `handling a frame from ${this.options.peer} failed: ${error instanceof Error ? error.message : String(error)}`);
      this.fail(failure, this.options.tellPeer === true ? encodeFrame({ type: "error", code: failure.code, message: failure.message }) : undefined);
      return;
    }
    const faults = this.options.faults();
    if (faults.cutStreamAfterBytes !== undefined && this.moved() >= faults.cutStreamAfterBytes) {
      this.fail(new MigrationError(MigrationFailureCode.streamBroken, `the migration stream with ${this.options.peer} was cut after ${this.moved()} bytes (fault rule)`));
    } else if (faults.stallAfterBytes !== undefined && this.moved() >= faults.stallAfterBytes) {
      // Stop reading: the sender's writes back up, nothing moves, its watchdog fires.
      this.stalled = true;
      this.socket.pause();
    }
  }
}
