// The destination side of a sim migration. prepareIncoming creates it: the shell VM exists
// (paused, zero memory, its memory counted against the host) and a listener waits on the
// VMotion IP only. The first connection that presents the migration's token, compared in
// constant time, is the stream; others are refused with an ERROR and do not disturb it.
//
// The destination resumes the VM only on COMMIT, and only after it has verified the digest
// of memory and device state and answered READY. Until COMMIT, a stream that breaks (or an
// ABORT, or abortIncoming) destroys the shell: the source still owns the VM. After COMMIT
// the destination claims the VM's ownership record (the fence, src/core/ownership.ts) and
// runs the VM only if that claim won: it is "committing" until the record answers, whatever
// happens to the stream meanwhile (a claim whose answer was lost may have won), and a lost
// claim destroys the shell. From "running" nothing here undoes it.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import type { Clock } from "../../core/clock.ts";
import { MigrationFailureCode } from "../../core/migration/types.ts";
import { ownershipWords } from "../../core/ownership.ts";
import { IncomingState, type OwnershipFence } from "../driver.ts";
import { claimUntilDecided } from "../settle.ts";
import { PageBitmap } from "./bitmap.ts";
import type { SimFaults } from "./faults.ts";
import { PAGE_SIZE } from "./memory.ts";
import { PROTOCOL_VERSION, encodeFrame, type Frame, type Hello } from "./protocol.ts";
import { FrameStream, MigrationError } from "./stream.ts";
import { parseDeviceState, stateDigest, type DeviceState, type SimVm } from "./vm.ts";

export interface IncomingContext {
  readonly hostName: string;
  readonly migrationId: string;
  readonly shell: SimVm;
  readonly clock: Clock;
  readonly faults: () => SimFaults;
  /** The VM's ownership record: claimed after COMMIT, before the VM runs here (absent only in tests of the stream alone). */
  readonly fence?: OwnershipFence | undefined;
  /** COMMIT arrived and the VM runs here now. */
  readonly onResumed: () => void;
  /** The shell was destroyed (failure, abort): forget it. */
  readonly onShellDestroyed: () => void;
}

/** The destination's half of the stream's TLS: its private key and certificate (PEM). */
export interface StreamKey {
  readonly key: string;
  readonly certificate: string;
}

/** A connection that has not presented its HELLO within this long is dropped. */
const HELLO_TIMEOUT_MS = 10_000;
/**
 * Idle hashing: when no byte has moved for IDLE_QUIET_MS (a paced link between batches),
 * hash for at most IDLE_HASH_SLICE_MS, then look again. A stream going full speed is never
 * that quiet, and is left alone: it is hashed at PASS_END.
 */
const IDLE_QUIET_MS = 8;
const IDLE_HASH_SLICE_MS = 4;
/** After a pass, hash in slices of this length. */
const HASH_SLICE_MS = 10;

export class IncomingSession {
  readonly migrationId: string;
  readonly token = randomBytes(24).toString("base64url");
  private readonly ctx: IncomingContext;
  private currentState: IncomingState = IncomingState.waiting;
  private server: Server | undefined;
  private stream: FrameStream | undefined;
  private device: DeviceState | undefined;
  private pagesReceived = 0;
  /** Why it failed, when it did. */
  failure: MigrationError | undefined;
  /** Aborted when the session ends, so its waits (fault delays) do not outlive it. */
  private readonly lifetime = new AbortController();

  constructor(ctx: IncomingContext) {
    this.ctx = ctx;
    this.migrationId = ctx.migrationId;
  }

  get state(): IncomingState {
    return this.currentState;
  }

  /**
   * Listens on `host` (the VMotion IP), port chosen by the kernel. With `tls` (the migration's
   * own key and certificate, src/pki/ephemeral.ts) only TLS 1.3 is spoken: a client in clear
   * fails the handshake and is dropped before a frame is read, so the token never travels in
   * clear to this listener.
   */
  async listen(host: string, tls?: StreamKey): Promise<number> {
    const onConnection = (socket: Socket): void => {
      this.onConnection(socket);
    };
    const server: Server =
      tls === undefined
        ? createServer(onConnection)
        : createTlsServer({ key: tls.key, cert: tls.certificate, minVersion: "TLSv1.3", handshakeTimeout: HELLO_TIMEOUT_MS }, onConnection);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error(`listener on ${host} has no port`);
    return address.port;
  }

  /** abortIncoming: ends a migration that has not committed. A VM that runs here stays. */
  abort(reason: string): void {
    if (!this.active()) return;
    this.currentState = IncomingState.aborted;
    this.failure = new MigrationError(MigrationFailureCode.aborted, reason);
    this.destroyShell();
    this.stream?.destroy();
  }

  /** The host shuts down: ends whatever is left (a shell is destroyed; a VM that runs here is the driver's to stop). */
  close(reason: string): void {
    this.abort(reason);
    this.lifetime.abort();
    this.server?.close();
    this.stream?.destroy();
  }

  /** Before COMMIT: a broken stream or an abort destroys the shell. From COMMIT on, only the ownership record decides. */
  private active(): boolean {
    return this.currentState === IncomingState.waiting || this.currentState === IncomingState.receiving || this.currentState === IncomingState.verified;
  }

  // ---------------------------------------------------------------- connections

  private onConnection(socket: Socket): void {
    const peer = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
    let accepted = false;
    const helloTimer = setTimeout(() => socket.destroy(), HELLO_TIMEOUT_MS);
    helloTimer.unref();
    const stream: FrameStream = new FrameStream(socket, {
      clock: this.ctx.clock,
      faults: this.ctx.faults,
      peer,
      tellPeer: true,
      onFail: (error) => {
        clearTimeout(helloTimer);
        if (accepted) this.onStreamFailed(error);
      },
      sink: {
        frame: (frame) => {
          if (accepted) {
            this.onFrame(frame);
            return;
          }
          if (frame.type !== "hello") throw new MigrationError(MigrationFailureCode.protocolError, `expected HELLO, got ${frame.type}`);
          clearTimeout(helloTimer);
          this.admit(frame.hello);
          accepted = true;
          this.onHello(stream, frame.hello);
        },
        pageData: (offset, data) => {
          if (!accepted) throw new MigrationError(MigrationFailureCode.protocolError, "page data before HELLO");
          this.onPageData(offset, data);
        },
      },
    });
  }

  /** Throws unless this connection may be the stream; it is then refused with an ERROR, and the session goes on waiting. */
  private admit(hello: Hello): void {
    if (hello.migrationId !== this.migrationId || !sameToken(hello.token, this.token)) {
      throw new MigrationError(MigrationFailureCode.rejectedByDestination, `${this.ctx.hostName} refused the stream: wrong migration id or token`);
    }
    if (this.currentState !== IncomingState.waiting) {
      throw new MigrationError(MigrationFailureCode.rejectedByDestination, `${this.ctx.hostName} is not waiting for migration ${this.migrationId} (${this.currentState})`);
    }
  }

  /** The stream of this migration: from here its failure fails the migration. */
  private onHello(stream: FrameStream, hello: Hello): void {
    this.stream = stream;
    this.currentState = IncomingState.receiving;
    // One stream per migration: nobody else may connect now.
    this.server?.close();
    const shell = this.ctx.shell;
    if (hello.version !== PROTOCOL_VERSION || hello.pageSize !== PAGE_SIZE || hello.memoryBytes !== shell.memoryBytes) {
      throw new MigrationError(
        MigrationFailureCode.rejectedByDestination,
        `${this.ctx.hostName} cannot take this stream: protocol ${hello.version}, ${hello.memoryBytes} bytes in ${hello.pageSize}-byte pages; the shell is protocol ${PROTOCOL_VERSION}, ${shell.memoryBytes} bytes in ${PAGE_SIZE}-byte pages`,
      );
    }
    // A source gone silent (partitioned, not closed) must not pin the shell for ever.
    stream.socket.setTimeout(Math.max(1000, 2 * hello.stallTimeoutMs), () => {
      stream.fail(new MigrationError(MigrationFailureCode.stalled, `no byte from ${hello.source} for ${Math.max(1000, 2 * hello.stallTimeoutMs)} ms`));
    });
    void this.hashWhenIdle(stream);
    this.send([encodeFrame({ type: "accepted", host: this.ctx.hostName })]);
  }

  private onPageData(offset: number, data: Buffer): void {
    if (this.currentState !== IncomingState.receiving) throw new MigrationError(MigrationFailureCode.protocolError, `page data while ${this.currentState}`);
    try {
      this.ctx.shell.memory.load(offset, data);
    } catch (error) {
      throw new MigrationError(MigrationFailureCode.protocolError, error instanceof Error ? error.message : String(error));
    }
  }

  private onFrame(frame: Frame): void {
    const shell = this.ctx.shell;
    const fail = (message: string): never => {
      throw new MigrationError(MigrationFailureCode.protocolError, message);
    };
    switch (frame.type) {
      case "pageMap":
        if (frame.pageCount !== shell.memory.pageCount) fail(`a page map of ${frame.pageCount} pages for ${shell.memory.pageCount}`);
        // Reserve the memory the pages will need, then say so: pass 0 is the page map.
        shell.memory.commit(PageBitmap.fromBytes(frame.pageCount, frame.bitmap));
        this.send([encodeFrame({ type: "passAck", pass: 0, receivedBytes: this.stream?.bytesRead ?? 0 })]);
        return;
      case "pages":
        this.pagesReceived += frame.pages;
        // Hash what this frame brought at once, while the source paces the next one: at
        // switchover the digest then waits for the last frame's leaves only, not for every
        // leaf the final copy touched (up to 4 pages hashed per dirty page), inside the downtime.
        shell.memory.hashStale();
        return;
      case "zeroPages":
        if (this.currentState !== IncomingState.receiving || frame.first + frame.count > shell.memory.pageCount) fail(`zero pages ${frame.first}+${frame.count} while ${this.currentState}`);
        shell.memory.zeroPages(frame.first, frame.count);
        return;
      case "passEnd":
        this.send([encodeFrame({ type: "passAck", pass: frame.pass, receivedBytes: this.stream?.bytesRead ?? 0 })]);
        // The source may pause the VM after any pass: the ownership record's connection is
        // opened now, so the claim after COMMIT does not add a TLS handshake to the downtime.
        this.ctx.fence?.warm?.().catch(() => undefined);
        // Hash what arrived while the source measures and decides: at switchover only the
        // last dirty pages are left to hash. In slices, so the acknowledgement is not held up
        // (it measures the link) and the next pass is read meanwhile.
        void this.hashPass(frame.pass);
        return;
      case "deviceState": {
        const device = parseDeviceState(frame.state);
        if (device === undefined) fail("a device state that does not parse");
        this.device = device;
        return;
      }
      case "digest":
        this.verify(frame.digest);
        return;
      case "commit":
        if (this.currentState !== IncomingState.verified) fail(`COMMIT while ${this.currentState}`);
        void this.commit();
        return;
      case "abort":
        this.abort(`the source gave up: ${frame.reason}`);
        return;
      case "hello":
      case "accepted":
      case "passAck":
      case "passHashed":
      case "ready":
      case "running":
      case "error":
        fail(`unexpected ${frame.type} from the source`);
    }
  }

  private async hashPass(pass: number): Promise<void> {
    const receiving = (): boolean => this.currentState === IncomingState.receiving;
    await this.ctx.shell.memory.hashInSlices(() => this.ctx.clock.monotonic(), HASH_SLICE_MS, receiving);
    if (receiving()) this.send([encodeFrame({ type: "passHashed", pass })]);
  }

  private verify(expected: string): void {
    const shell = this.ctx.shell;
    if (this.currentState !== IncomingState.receiving || this.device === undefined) {
      throw new MigrationError(MigrationFailureCode.protocolError, `DIGEST while ${this.currentState}${this.device === undefined ? ", before the device state" : ""}`);
    }
    if (this.ctx.faults().corruptMemory === true) {
      const byte = Buffer.from([shell.memory.bytes[0] === 0xff ? 0 : 0xff]);
      shell.memory.load(0, byte);
    }
    shell.loadDeviceState(this.device);
    const actual = stateDigest(shell.memory, this.device);
    if (actual !== expected) {
      throw new MigrationError(MigrationFailureCode.checksumMismatch, `${this.ctx.hostName} received state whose digest ${actual.slice(0, 16)}… differs from the source's ${expected.slice(0, 16)}…; the VM stays on the source`);
    }
    this.currentState = IncomingState.verified;
    void this.answerReady();
  }

  private async answerReady(): Promise<void> {
    const delay = this.ctx.faults().delayBeforeReadyMs ?? 0;
    if (delay > 0) await this.ctx.clock.sleep(delay, this.lifetime.signal).catch(() => undefined);
    if (this.currentState === IncomingState.verified) this.send([encodeFrame({ type: "ready" })]);
  }

  private async commit(): Promise<void> {
    this.currentState = IncomingState.committing;
    const faults = this.ctx.faults();
    const stream = this.stream;
    // A fault rule's pause between COMMIT and the claim: where a test freezes this agent.
    const pause = faults.holdBeforeClaimMs ?? 0;
    if (pause > 0) await this.ctx.clock.sleep(pause).catch(() => undefined);
    if (faults.dropAfterCommit === "not-running") {
      this.currentState = IncomingState.failed;
      this.failure = new MigrationError(MigrationFailureCode.destinationLost, "the stream was dropped after COMMIT, before resuming (fault rule)");
      this.destroyShell();
      stream?.destroy();
      return;
    }
    if (!(await this.claimOwnership())) return;
    // From here the VM runs on this host; incomingState says so before anyone hears RUNNING.
    this.ctx.shell.resume(this.ctx.clock);
    this.currentState = IncomingState.running;
    this.ctx.onResumed();
    if (faults.dropAfterCommit === "running") {
      stream?.destroy();
      return;
    }
    const hold = faults.holdAfterCommitMs ?? 0;
    if (hold > 0) await this.ctx.clock.sleep(hold, this.lifetime.signal).catch(() => undefined);
    if (stream === undefined || stream.failed !== undefined) return;
    this.send([encodeFrame({ type: "running", host: this.ctx.hostName })]);
    await stream.end(1000);
  }

  /** Claims the VM's record before it runs here; false (the shell destroyed) when the source or another host holds it. */
  private async claimOwnership(): Promise<boolean> {
    const fence = this.ctx.fence;
    if (fence === undefined) return true;
    let words: string;
    try {
      const result = await claimUntilDecided(fence, this.ctx.clock);
      if (result.won) return true;
      words = ownershipWords(result.ownership);
    } catch (error) {
      words = `no claim could be made (${error instanceof Error ? error.message : String(error)})`;
    }
    this.currentState = IncomingState.failed;
    this.failure = new MigrationError(MigrationFailureCode.destinationLost, `${this.ctx.hostName} did not resume ${this.ctx.shell.name} after COMMIT: its ownership record on ${fence.where} says ${words}`);
    this.destroyShell();
    this.stream?.destroy();
    return false;
  }

  private onStreamFailed(error: MigrationError): void {
    this.lifetime.abort();
    if (!this.active()) return;
    this.currentState = IncomingState.failed;
    this.failure = error;
    this.destroyShell();
  }

  private send(frames: Buffer[]): void {
    const stream = this.stream;
    if (stream === undefined || stream.failed !== undefined) return;
    // Answers are a few bytes; the source reads them at once. A failure shows on the stream.
    stream.write(frames).catch(() => undefined);
  }

  private destroyShell(): void {
    this.lifetime.abort();
    this.server?.close();
    this.ctx.shell.shutdown();
    this.ctx.onShellDestroyed();
  }

  /** Hashes received pages in the stream's quiet moments (a paced link leaves many). */
  private async hashWhenIdle(stream: FrameStream): Promise<void> {
    const clock = this.ctx.clock;
    const receiving = (): boolean => this.currentState === IncomingState.receiving && stream.failed === undefined;
    while (receiving()) {
      await clock.sleep(IDLE_HASH_SLICE_MS, this.lifetime.signal).catch(() => undefined);
      if (!receiving()) return;
      const memory = this.ctx.shell.memory;
      const now = clock.monotonic();
      if (memory.pendingHashBytes() > 0 && now - stream.lastProgressAt >= IDLE_QUIET_MS) {
        memory.hashStale(() => clock.monotonic(), now + IDLE_HASH_SLICE_MS);
      }
    }
  }
}

/** Compares tokens in constant time (hashing first makes the lengths equal). */
function sameToken(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}
