// The source side of a sim migration: Ferry's pre-copy over one TCP stream.
//
//   preparing  0–10%  connect to the destination's VMotion IP, HELLO with the token, wait
//                     for ACCEPTED, send the page map (the pages pass 1 will carry)
//   precopy   10–90%  pass 1 sends every non-zero page; each later pass sends the pages the
//                     guest dirtied meanwhile (harvested from the dirty log). After each pass
//                     the destination acknowledges, the link and dirty rates are measured and
//                     decideAfterPass says: another pass, throttle the guest, switch over, or
//                     give up (NOT_CONVERGING)
//   switchover 90–100% pause the guest, send the last dirty pages, the device state and the
//                     digest; the destination verifies and answers READY; COMMIT; it resumes
//                     and answers RUNNING; the source copy is released
//
// The rule never broken: until RUNNING arrives the source owns the VM. Any failure before
// COMMIT resumes the VM here, untouched (it still holds every byte), and the destination,
// seeing the stream end before COMMIT, destroys its shell.
//
// The one window where the source cannot know: COMMIT sent, then the stream breaks before
// RUNNING. The destination may have resumed (COMMIT arrived) or not (it did not). Resuming
// here could run the VM twice; releasing it could lose it. So the VM stays paused here,
// still holding its full state, the report says the outcome is uncertain (DESTINATION_LOST,
// `runningOn` empty), and whoever can reach the destination settles it: it asks the
// destination's incomingState and calls `settle` on this driver, which releases the paused
// copy when the destination says running and resumes it otherwise. The destination never
// resumes without COMMIT on the live stream, so "failed", "aborted" or "unknown" there
// means it never ran, and resuming here is safe.
import { connect, type Socket } from "node:net";
import { connect as connectTls, type ConnectionOptions, type PeerCertificate } from "node:tls";
import { decideAfterPass, type PassStats } from "../../core/migration/convergence.ts";
import type { SourceProgress } from "../../core/migration/progress.ts";
import {
  MigrationFailureCode,
  Phase,
  VmotionEncryption,
  type MigrateOptions,
  type MigrationFailure,
  type MigrationReport,
} from "../../core/migration/types.ts";
import { certificateFingerprint } from "../../pki/ephemeral.ts";
import type { IncomingMigration, IncomingTls, MigrationHooks } from "../driver.ts";
import type { SimFaults } from "./faults.ts";
import type { LinkFlow } from "./link.ts";
import type { PageBitmap } from "./bitmap.ts";
import { PAGE_SIZE } from "./memory.ts";
import {
  MAX_PAGES_PER_FRAME,
  PROTOCOL_MAGIC,
  PROTOCOL_VERSION,
  encodeFrame,
  encodePageList,
  encodePagesHead,
  type Frame,
} from "./protocol.ts";
import { FrameStream, MigrationError, asFailureCode } from "./stream.ts";
import { stateDigest, type SimVm } from "./vm.ts";

export interface SourceContext {
  readonly hostName: string;
  readonly vm: SimVm;
  readonly target: IncomingMigration;
  readonly options: MigrateOptions;
  readonly hooks: MigrationHooks;
  readonly flow: LinkFlow;
  readonly faults: () => SimFaults;
  /** The destination runs the VM: drop the source copy. */
  readonly release: () => void;
}

/** Largest batch: 1 MiB of pages per frame keeps writes few without hurting pacing. */
const MAX_BATCH_PAGES = 256;
/** Progress events at most this often within a pass. */
const PROGRESS_EVERY_MS = 100;
/**
 * Fixed cost of a switchover beyond moving bytes and hashing: frames, pause, resume (about
 * 2 ms measured on loopback), plus 5 ms kept for the host's own jitter (timers firing late,
 * a GC pause, a busy CPU), so that a switchover predicted to fit the limit does.
 */
export const SWITCHOVER_FIXED_MS = 7;
/** Hashing between passes goes in slices of this length. */
const HASH_SLICE_MS = 10;

type Outcome = MigrationReport["outcome"];

export async function runPrecopySource(ctx: SourceContext): Promise<MigrationReport> {
  return new PrecopySource(ctx).run();
}

class PrecopySource {
  private readonly ctx: SourceContext;
  private readonly clock: MigrationHooks["clock"];
  private readonly startedAt: number;
  private phase: Phase = Phase.preparing;
  private pass = 0;
  private stream: FrameStream | undefined;
  private readonly inbox: Frame[] = [];
  private inboxWaiter: (() => void) | undefined;
  private destinationName: string;
  private committed = false;
  private paused = false;
  private pausedAt = 0;
  private verified = false;
  /** The stream runs over TLS with the migration's own keys. */
  private encrypted = false;
  private pagesSent = 0;
  private zeroPages = 0;
  private throttleMax = 0;
  private linkBytes = 0;
  private linkMs = 0;
  private linkRate = 0;
  private dirtyRate = 0;
  private expectedDowntimeMs: number | undefined;
  private downtimeMs = 0;
  /** The pass under way: the link rate shown while it runs includes it. */
  private passStart: { readonly at: number; readonly bytes: number } | undefined;
  private lastProgressEmit = -Infinity;
  private pendingBytes = 0;
  private readonly watchdog = new AbortController();

  constructor(ctx: SourceContext) {
    this.ctx = ctx;
    this.clock = ctx.hooks.clock;
    this.startedAt = this.clock.monotonic();
    this.destinationName = ctx.target.host;
  }

  async run(): Promise<MigrationReport> {
    const { vm, hooks } = this.ctx;
    const onAbort = (): void => {
      // Past COMMIT an abort is too late: the destination may already run the VM.
      if (this.committed) return;
      const reason = abortReason(hooks.signal);
      // ABORT first, so the destination destroys its shell as aborted rather than broken.
      this.stream?.fail(new MigrationError(MigrationFailureCode.aborted, reason), encodeFrame({ type: "abort", reason }));
    };
    hooks.signal.addEventListener("abort", onAbort, { once: true });
    try {
      if (hooks.signal.aborted) throw new MigrationError(MigrationFailureCode.aborted, abortReason(hooks.signal));
      await this.prepare();
      await this.precopy();
      await this.switchover();
      return this.report(Phase.completed, undefined, this.destinationName);
    } catch (error) {
      const failure = this.toFailure(error);
      if (this.committed) {
        // The split-brain window (see the top of this file): keep the VM paused, say so.
        this.stream?.destroy();
        const message = `COMMIT was sent to ${this.destinationName} but its confirmation never came (${failure.message}); the outcome is uncertain, so ${vm.name} stays paused on ${this.ctx.hostName} with its full state until settle() is called with the destination's incomingState`;
        this.emitFinal(Phase.failed, message);
        return this.report(Phase.failed, { code: MigrationFailureCode.destinationLost, message, phase: Phase.switchover }, "");
      }
      await this.giveBack(failure);
      const outcome = failure.code === MigrationFailureCode.aborted ? Phase.cancelled : Phase.failed;
      this.emitFinal(outcome, failure.message);
      return this.report(outcome, failure, this.ctx.hostName);
    } finally {
      hooks.signal.removeEventListener("abort", onAbort);
      this.watchdog.abort();
      this.ctx.flow.close();
    }
  }

  // ---------------------------------------------------------------- phases

  private async prepare(): Promise<void> {
    const { target, vm, options } = this.ctx;
    if (target.tls === undefined && options.vmotionEncryption === VmotionEncryption.required) {
      throw new MigrationError(MigrationFailureCode.encryptionUnavailable, `${target.host} offers no encrypted stream and encryption is required; nothing was sent`);
    }
    this.progress(0, `connecting to ${target.host}:${target.port}${target.tls === undefined ? " (in clear)" : " over TLS"}`);
    const socket = await this.connect();
    this.encrypted = target.tls !== undefined;
    const stream = new FrameStream(socket, {
      clock: this.clock,
      faults: this.ctx.faults,
      peer: `${target.host}:${target.port}`,
      sink: {
        frame: (frame) => { this.onFrame(frame); },
        pageData: () => {
          throw new MigrationError(MigrationFailureCode.protocolError, "the destination sent page data");
        },
      },
    });
    this.stream = stream;
    if (this.ctx.hooks.signal.aborted) stream.fail(new MigrationError(MigrationFailureCode.aborted, abortReason(this.ctx.hooks.signal)));
    void this.watch(stream);
    this.progress(0.3, `connected to ${target.host}:${target.port}, presenting the migration's token`);
    await stream.write([
      encodeFrame({
        type: "hello",
        hello: {
          magic: PROTOCOL_MAGIC,
          version: PROTOCOL_VERSION,
          migrationId: target.migrationId,
          token: target.token,
          source: this.ctx.hostName,
          memoryBytes: vm.memoryBytes,
          pageSize: PAGE_SIZE,
          spec: vm.spec,
          stallTimeoutMs: options.stallTimeoutMs,
        },
      }),
    ]);
    const accepted = await this.expect("accepted");
    this.destinationName = accepted.host;
    this.progress(0.6, `${accepted.host} accepted the stream and holds the shell; gathering the page map`);
  }

  private async precopy(): Promise<void> {
    const { vm, options } = this.ctx;
    const memory = vm.memory;
    const stream = this.mustStream();
    // The dirty log starts now: a write after this point is caught by a later pass.
    memory.clearDirty();
    let harvestedAt = this.clock.monotonic();
    const map = memory.nonZeroPages();
    await stream.write([encodeFrame({ type: "pageMap", pageCount: map.size, bitmap: map.toBytes() })]);
    this.progress(0.8, `page map sent: ${map.count} of ${memory.pageCount} pages hold data; ${this.destinationName} reserves memory for them`);
    await this.expect("passAck");
    this.progress(1, `${this.destinationName} holds memory for ${map.count} pages; pre-copy starts`);
    this.phase = Phase.precopy;

    let pages: Uint32Array | PageBitmap = map;
    for (;;) {
      this.pass++;
      const passStart = this.clock.monotonic();
      const bytesBefore = stream.bytesWritten;
      this.passStart = { at: passStart, bytes: bytesBefore };
      const count = pages instanceof Uint32Array ? pages.length : pages.count;
      this.pendingBytes = count * PAGE_SIZE;
      this.progressPrecopy(true);
      if (pages instanceof Uint32Array) await this.sendPageList(pages);
      else await this.sendPass1(pages);
      await stream.write([encodeFrame({ type: "passEnd", pass: this.pass, pages: count })]);
      await this.expect("passAck");
      const passMs = Math.max(0.1, this.clock.monotonic() - passStart);
      this.linkBytes += stream.bytesWritten - bytesBefore;
      this.linkMs += passMs;
      this.linkRate = (this.linkBytes / this.linkMs) * 1000;
      this.passStart = undefined;

      // Both ends hash what this pass moved while the guest runs, so the digest at switchover
      // only hashes the last dirty pages. In slices: in one process the two take turns.
      await stream.until(
        memory.hashInSlices(
          () => this.clock.monotonic(),
          HASH_SLICE_MS,
          () => {
            stream.lastProgressAt = this.clock.monotonic();
            return stream.failed === undefined;
          },
        ),
      );
      await this.expect("passHashed");

      const now = this.clock.monotonic();
      const dirtyPages = memory.dirtyCount;
      this.dirtyRate = ((dirtyPages * PAGE_SIZE) / Math.max(1, now - harvestedAt)) * 1000;
      const stats: PassStats = {
        pass: this.pass,
        memoryBytes: vm.memoryBytes,
        bytesSentTotal: stream.bytesWritten,
        remainingBytes: dirtyPages * PAGE_SIZE,
        linkRateBytesPerSec: this.linkRate,
        dirtyRateBytesPerSec: this.dirtyRate,
        throttlePercent: vm.workload.throttlePercent,
      };
      // The downtime limit also has to cover hashing the last pages on both ends and the
      // frames of the handshake: decide with what is left of it for moving bytes.
      const overheadMs = this.switchoverOverheadMs();
      const decision = decideAfterPass(stats, { ...options, downtimeLimitMs: Math.max(0, options.downtimeLimitMs - overheadMs) });
      this.expectedDowntimeMs = decision.expectedDowntimeMs + overheadMs;
      this.pendingBytes = 0;
      switch (decision.action) {
        case "switchover":
          // Pause in the same turn as the decision: the dirty set is exactly what was weighed.
          vm.pause();
          this.paused = true;
          this.pausedAt = this.clock.monotonic();
          return;
        case "continue":
          break;
        case "throttle":
          vm.workload.setThrottle(decision.throttlePercent);
          this.throttleMax = Math.max(this.throttleMax, decision.throttlePercent);
          break;
        case "fail":
          throw new MigrationError(MigrationFailureCode.notConverging, decision.message);
      }
      this.progressPrecopy(true);
      pages = memory.harvestDirty();
      harvestedAt = this.clock.monotonic();
    }
  }

  private async switchover(): Promise<void> {
    const { vm } = this.ctx;
    const memory = vm.memory;
    const stream = this.mustStream();
    this.phase = Phase.switchover;
    this.progress(0, `${vm.name} paused on ${this.ctx.hostName}; sending the last dirty pages and the device state`);
    const last = memory.harvestDirty();
    this.pendingBytes = last.length * PAGE_SIZE;
    await this.sendPageList(last);
    const device = vm.deviceState();
    await stream.write([encodeFrame({ type: "deviceState", state: device })]);
    // The destination hashes what it received while this end hashes its own copy.
    const digest = stateDigest(memory, device);
    await stream.write([encodeFrame({ type: "digest", digest })]);
    this.pendingBytes = 0;
    this.progress(0.3, `state sent; ${this.destinationName} is verifying the digest`);
    await this.expect("ready");
    this.verified = true;
    this.progress(0.6, `${this.destinationName} verified memory and device state; committing`);
    this.committed = true;
    await stream.write([encodeFrame({ type: "commit" })]);
    this.progress(0.8, `committed; waiting for ${this.destinationName} to resume ${vm.name}`);
    await this.expect("running");
    const downtime = this.clock.monotonic() - this.pausedAt;
    this.downtimeMs = downtime;
    await stream.end(1000);
    this.ctx.release();
    this.phase = Phase.completed;
    this.emit(1, `${vm.name} runs on ${this.destinationName}; downtime ${downtime.toFixed(1)} ms`);
  }

  // ---------------------------------------------------------------- sending pages

  /** Pass 1: runs of non-zero pages straight from guest memory; zero ranges as markers. */
  private async sendPass1(map: PageBitmap): Promise<void> {
    const memory = this.ctx.vm.memory;
    const stream = this.mustStream();
    let page = 0;
    const total = map.size;
    while (page < total) {
      if (!map.has(page)) {
        // A zero range. The destination's memory starts zeroed; the marker tells it they are zero, not missing.
        let end = page;
        while (end < total && !map.has(end)) end++;
        await stream.write([encodeFrame({ type: "zeroPages", first: page, count: end - page })]);
        this.zeroPages += end - page;
        page = end;
        continue;
      }
      let end = page;
      const batch = this.batchPages();
      while (end < total && end - page < batch && map.has(end)) end++;
      const count = end - page;
      await this.pace(count * PAGE_SIZE);
      await stream.write([encodePagesHead(page, count), memory.bytes.subarray(page * PAGE_SIZE, end * PAGE_SIZE)]);
      this.pagesSent += count;
      this.pendingBytes -= count * PAGE_SIZE;
      page = end;
      this.progressPrecopy(false);
    }
  }

  /** Later passes and the switchover: scattered dirty pages, batched; zero pages as markers. */
  private async sendPageList(pages: Uint32Array): Promise<void> {
    const memory = this.ctx.vm.memory;
    const stream = this.mustStream();
    const data: number[] = [];
    const flush = async (): Promise<void> => {
      if (data.length === 0) return;
      await this.pace(data.length * PAGE_SIZE);
      await stream.write([encodePageList(data, (p) => memory.page(p))]);
      this.pagesSent += data.length;
      this.pendingBytes -= data.length * PAGE_SIZE;
      data.length = 0;
      if (this.phase === Phase.precopy) this.progressPrecopy(false);
    };
    let zeroFirst = -1;
    let zeroCount = 0;
    const flushZeros = async (): Promise<void> => {
      if (zeroCount === 0) return;
      await stream.write([encodeFrame({ type: "zeroPages", first: zeroFirst, count: zeroCount })]);
      this.zeroPages += zeroCount;
      this.pendingBytes -= zeroCount * PAGE_SIZE;
      zeroCount = 0;
    };
    for (const page of pages) {
      if (memory.isZeroPage(page)) {
        if (zeroCount > 0 && zeroFirst + zeroCount === page) zeroCount++;
        else {
          await flushZeros();
          zeroFirst = page;
          zeroCount = 1;
        }
        continue;
      }
      data.push(page);
      if (data.length >= Math.min(MAX_PAGES_PER_FRAME, this.batchPages())) await flush();
    }
    await flushZeros();
    await flush();
  }

  /** Pages per batch: 1 MiB, or about 20 ms of the flow's rate when that is smaller. */
  private batchPages(): number {
    const rate = this.ctx.flow.rate();
    if (rate === undefined) return MAX_BATCH_PAGES;
    return Math.max(1, Math.min(MAX_BATCH_PAGES, Math.floor((rate * 0.02) / PAGE_SIZE)));
  }

  /** Waits for the link; while waiting (a slow link), hashes pages for the digest. */
  private async pace(bytes: number): Promise<void> {
    const memory = this.ctx.vm.memory;
    const stream = this.mustStream();
    await stream.until(
      this.ctx.flow.take(bytes, this.watchdog.signal, (deadline) => {
        if (memory.pendingHashBytes() > 0) memory.hashStale(() => this.clock.monotonic(), deadline);
      }),
    );
  }

  /** What a switchover costs beyond moving the bytes: hashing them on both ends, the handshake. */
  private switchoverOverheadMs(): number {
    const memory = this.ctx.vm.memory;
    return (2 * memory.pendingHashBytes(true)) / memory.hashBytesPerMs + SWITCHOVER_FIXED_MS;
  }

  // ---------------------------------------------------------------- stream plumbing

  /**
   * Opens the stream: TLS 1.3 when the destination offered it, trusting only the migration's
   * issuer and accepting only the exact certificate the destination's agent announced.
   */
  private async connect(): Promise<Socket> {
    const { target, options } = this.ctx;
    const tls = target.tls;
    const socket = tls === undefined ? connect({ host: target.host, port: target.port }) : connectTls({ host: target.host, port: target.port, ...pinnedTls(tls) });
    let tcpConnected = false;
    const timeoutMs = Math.max(1, options.stallTimeoutMs);
    const timer = new AbortController();
    try {
      await new Promise<void>((resolve, reject) => {
        const fail = (message: string): void => {
          socket.destroy();
          reject(new MigrationError(MigrationFailureCode.destinationUnreachable, message));
        };
        socket.once("connect", () => {
          tcpConnected = true;
          if (tls === undefined) resolve();
        });
        socket.once("secureConnect", () => { resolve(); });
        socket.once("error", (error: NodeJS.ErrnoException) => {
          // Reached, but the TLS handshake failed: whoever listens there did not prove it holds the migration's key.
          if (tls !== undefined && tcpConnected) {
            socket.destroy();
            reject(new MigrationError(MigrationFailureCode.streamUntrusted, `the TLS handshake with ${target.host}:${target.port} failed (${error.message}); nothing was sent`));
            return;
          }
          fail(`cannot reach ${target.host}:${target.port}: ${error.code ?? error.message}`);
        });
        this.clock.sleep(timeoutMs, timer.signal).then(
          () => { fail(`no answer from ${target.host}:${target.port} within ${timeoutMs} ms`); },
          () => undefined,
        );
        const onAbort = (): void => {
          socket.destroy();
          reject(new MigrationError(MigrationFailureCode.aborted, abortReason(this.ctx.hooks.signal)));
        };
        if (this.ctx.hooks.signal.aborted) onAbort();
        else this.ctx.hooks.signal.addEventListener("abort", onAbort, { once: true, signal: timer.signal });
      });
    } finally {
      timer.abort();
    }
    return socket;
  }

  private onFrame(frame: Frame): void {
    if (frame.type === "error") {
      const code = asFailureCode(frame.code, MigrationFailureCode.rejectedByDestination);
      this.stream?.fail(new MigrationError(code, `${this.destinationName}: ${frame.message}`));
      return;
    }
    this.inbox.push(frame);
    this.inboxWaiter?.();
  }

  /** The next frame from the destination, which must be of `type`. */
  private async expect<T extends Frame["type"]>(type: T): Promise<Extract<Frame, { type: T }>> {
    const stream = this.mustStream();
    for (;;) {
      stream.check();
      const frame = this.inbox.shift();
      if (frame !== undefined) {
        if (frame.type !== type) throw new MigrationError(MigrationFailureCode.protocolError, `expected ${type} from ${this.destinationName}, got ${frame.type}`);
        return frame as Extract<Frame, { type: T }>;
      }
      await stream.until(
        new Promise<void>((resolve) => {
          this.inboxWaiter = resolve;
        }),
      );
      this.inboxWaiter = undefined;
    }
  }

  /** The stall watchdog: fails the stream when no byte has moved for stallTimeoutMs. */
  private async watch(stream: FrameStream): Promise<void> {
    const limit = this.ctx.options.stallTimeoutMs;
    const tick = Math.max(5, Math.min(250, limit / 4));
    while (stream.failed === undefined) {
      try {
        await this.clock.sleep(tick, this.watchdog.signal);
      } catch {
        return;
      }
      const quiet = this.clock.monotonic() - stream.lastProgressAt;
      if (quiet > limit) {
        stream.fail(new MigrationError(MigrationFailureCode.stalled, `no progress for ${Math.round(quiet)} ms (the stall watchdog allows ${limit} ms) in ${this.phase}`));
        return;
      }
    }
  }

  private mustStream(): FrameStream {
    if (this.stream === undefined) throw new MigrationError(MigrationFailureCode.internal, "the stream is not open");
    return this.stream;
  }

  /** Before COMMIT: the VM resumes here and the destination is told (or sees the stream end). */
  private async giveBack(failure: MigrationFailure): Promise<void> {
    const { vm } = this.ctx;
    const stream = this.stream;
    if (stream !== undefined) {
      // Giving up on our own (not converging, a bug): tell the destination why.
      if (stream.failed === undefined) stream.fail(new MigrationError(failure.code, failure.message), encodeFrame({ type: "abort", reason: failure.message }));
      // After an ABORT the destination destroys its shell, then closes: wait for that, so
      // that when the report is out the destination is clean too.
      await stream.closed(1000);
    }
    if (this.paused) {
      vm.resume(this.clock);
      this.paused = false;
    }
    vm.workload.setThrottle(0);
    vm.migratingOut = undefined;
  }

  private toFailure(error: unknown): MigrationFailure {
    const e = error instanceof MigrationError ? error : this.stream?.failed;
    if (e !== undefined) return { code: e.code, message: e.message, phase: this.phase };
    return { code: MigrationFailureCode.internal, message: error instanceof Error ? error.message : String(error), phase: this.phase };
  }

  // ---------------------------------------------------------------- progress and report

  private progressPrecopy(force: boolean): void {
    const now = this.clock.monotonic();
    if (!force && now - this.lastProgressEmit < PROGRESS_EVERY_MS) return;
    // Pre-copy's position is the engine's tracker's to work out from the pass and the bytes.
    this.emit(undefined, `pass ${this.pass}`);
  }

  private bytesRemaining(): number {
    if (this.phase === Phase.completed) return 0;
    const memory = this.ctx.vm.memory;
    return Math.max(0, this.pendingBytes) + memory.dirtyCount * PAGE_SIZE;
  }

  /** A step of preparing or switchover: `fraction` of the phase done (the tracker places it on the bar). */
  private progress(fraction: number, message: string): void {
    this.emit(fraction, message);
  }

  private emit(fraction: number | undefined, message: string, phase: Phase = this.phase): void {
    this.lastProgressEmit = this.clock.monotonic();
    const remaining = this.phase === Phase.completed || phase !== this.phase ? 0 : this.safeRemaining();
    const linkRate = this.liveLinkRate();
    const event: SourceProgress = {
      migrationId: this.ctx.target.migrationId,
      vm: this.ctx.vm.name,
      phase,
      fraction,
      pass: this.pass,
      bytesSent: this.stream?.bytesWritten ?? 0,
      bytesRemaining: remaining,
      dirtyRateBytesPerSec: this.dirtyRate,
      linkRateBytesPerSec: linkRate,
      expectedDowntimeMs: this.expectedDowntimeMs,
      throttlePercent: this.safeThrottle(),
      message,
      committed: this.committed,
      at: this.clock.now(),
    };
    try {
      this.ctx.hooks.onProgress(event);
    } catch {
      // A listener's failure must not change the migration's course.
    }
  }

  /** The measured link rate, counting the pass under way once it has moved enough to say. */
  private liveLinkRate(): number {
    const pass = this.passStart;
    if (pass === undefined) return this.linkRate;
    const ms = this.clock.monotonic() - pass.at;
    const bytes = (this.stream?.bytesWritten ?? pass.bytes) - pass.bytes;
    if (ms < 20) return this.linkRate;
    return ((this.linkBytes + bytes) / (this.linkMs + ms)) * 1000;
  }

  private emitFinal(phase: Phase, message: string): void {
    this.emit(undefined, message, phase);
  }

  private safeRemaining(): number {
    try {
      return this.bytesRemaining();
    } catch {
      return 0;
    }
  }

  private safeThrottle(): number {
    try {
      return this.ctx.vm.workload.throttlePercent;
    } catch {
      return 0;
    }
  }

  private report(outcome: Outcome, failure: MigrationFailure | undefined, runningOn: string): MigrationReport {
    return {
      migrationId: this.ctx.target.migrationId,
      vm: this.ctx.vm.name,
      source: this.ctx.hostName,
      destination: this.destinationName,
      outcome,
      failure,
      runningOn,
      downtimeMs: this.downtimeMs,
      totalMs: this.clock.monotonic() - this.startedAt,
      bytesSent: this.stream?.bytesWritten ?? 0,
      passes: this.pass,
      pagesSent: this.pagesSent,
      zeroPages: this.zeroPages,
      throttlePercentMax: this.throttleMax,
      prediction: undefined,
      verified: this.verified,
      encrypted: this.encrypted,
    };
  }
}

/**
 * TLS 1.3 trusting only the migration's issuer and accepting only the certificate the
 * destination's agent announced (its SHA-256 pin): no CA, no name lookup.
 */
function pinnedTls(tls: IncomingTls): ConnectionOptions {
  let pinned: string;
  try {
    pinned = certificateFingerprint(tls.certificate);
  } catch (error) {
    throw new MigrationError(MigrationFailureCode.streamUntrusted, `the destination announced a certificate that does not parse (${error instanceof Error ? error.message : String(error)}); nothing was sent`);
  }
  return {
    ca: tls.issuer,
    minVersion: "TLSv1.3",
    checkServerIdentity: (_host: string, cert: PeerCertificate) => (cert.fingerprint256 === pinned ? undefined : new Error(`it presented certificate ${cert.fingerprint256}, not the migration's ${pinned}`)),
  };
}

function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name !== "AbortError") return `aborted: ${reason.message}`;
  if (typeof reason === "string" && reason !== "") return `aborted: ${reason}`;
  return "aborted";
}
