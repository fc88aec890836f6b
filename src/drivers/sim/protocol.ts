// Ferry's pre-copy protocol: length-prefixed binary frames over one TCP connection from the
// source agent to the destination agent's VMotion IP.
//
//   frame  = length:u32be  type:u8  payload[length]
//
// Source → destination: HELLO (who, which migration, the one-time token, memory size, spec),
// PAGE_MAP (the non-zero pages pass 1 will send), PAGES (a run of contiguous pages, the
// bulk of pass 1, written straight from guest memory), PAGE_LIST (scattered dirty pages,
// batched), ZERO_PAGES (a range of pages that are zero: a marker, not 4 KiB of zeros),
// PASS_END, DEVICE_STATE, DIGEST, COMMIT, ABORT.
// Destination → source: ACCEPTED (token good, shell ready), PASS_ACK (the pass arrived: the
// source measures the link with it), PASS_HASHED (the pass is hashed for the digest, so the
// switchover will only hash what comes after it), READY (full state received, digest verified), RUNNING
// (resumed), ERROR {code, message}.
//
// Control frames carry JSON; page frames are binary. The decoder takes chunks as the socket
// delivers them, split anywhere, and hands page bytes over as views of those chunks (the
// destination copies them once, into guest memory). Anything that is not this protocol
// (an unknown type, an impossible length, bad JSON) is a ProtocolError.
import { PAGE_SIZE } from "./memory.ts";

export const PROTOCOL_MAGIC = "ferry-precopy";
export const PROTOCOL_VERSION = 1;

export const FrameType = {
  hello: 1,
  accepted: 2,
  pageMap: 3,
  pages: 4,
  pageList: 5,
  zeroPages: 6,
  passEnd: 7,
  passAck: 8,
  deviceState: 9,
  digest: 10,
  ready: 11,
  commit: 12,
  running: 13,
  error: 14,
  abort: 15,
  passHashed: 16,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const HEADER_BYTES = 5;
/** A control frame larger than this is garbage (the biggest real one, a 4 GiB VM's page map, is 128 KiB). */
export const MAX_CONTROL_BYTES = 4 * 1024 * 1024;
/** Pages per page frame at most: 16 MiB. */
export const MAX_PAGES_PER_FRAME = 4096;

export interface Hello {
  readonly magic: string;
  readonly version: number;
  readonly migrationId: string;
  readonly token: string;
  readonly source: string;
  readonly memoryBytes: number;
  readonly pageSize: number;
  /** The VM's spec as the source has it (the destination checks it matches its shell). */
  readonly spec: unknown;
  /** The source's stall watchdog: the destination gives up on a silent stream after twice this. */
  readonly stallTimeoutMs: number;
}

/** A frame other than page data. Page data arrives through `PageSink.pageData`. */
export type Frame =
  | { readonly type: "hello"; readonly hello: Hello }
  | { readonly type: "accepted"; readonly host: string }
  | { readonly type: "pageMap"; readonly pageCount: number; readonly bitmap: Buffer }
  /** The end of a PAGES or PAGE_LIST frame: `pages` pages arrived. */
  | { readonly type: "pages"; readonly pages: number }
  | { readonly type: "zeroPages"; readonly first: number; readonly count: number }
  | { readonly type: "passEnd"; readonly pass: number; readonly pages: number }
  | { readonly type: "passAck"; readonly pass: number; readonly receivedBytes: number }
  | { readonly type: "passHashed"; readonly pass: number }
  | { readonly type: "deviceState"; readonly state: unknown }
  | { readonly type: "digest"; readonly digest: string }
  | { readonly type: "ready" }
  | { readonly type: "commit" }
  | { readonly type: "running"; readonly host: string }
  | { readonly type: "error"; readonly code: string; readonly message: string }
  | { readonly type: "abort"; readonly reason: string };

export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
}

// ---------------------------------------------------------------- encoding

function header(type: FrameType, length: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h.writeUInt32BE(length, 0);
  h.writeUInt8(type, 4);
  return h;
}

function json(type: FrameType, body: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(body), "utf8");
  return Buffer.concat([header(type, payload.length), payload]);
}

/** Encodes a control frame (not PAGES / PAGE_LIST, which have their own encoders). */
export function encodeFrame(frame: Exclude<Frame, { type: "pages" }>): Buffer {
  switch (frame.type) {
    case "hello":
      return json(FrameType.hello, frame.hello);
    case "accepted":
      return json(FrameType.accepted, { host: frame.host });
    case "pageMap": {
      const h = header(FrameType.pageMap, 4 + frame.bitmap.length);
      const count = Buffer.allocUnsafe(4);
      count.writeUInt32BE(frame.pageCount, 0);
      return Buffer.concat([h, count, frame.bitmap]);
    }
    case "zeroPages": {
      const b = Buffer.allocUnsafe(HEADER_BYTES + 8);
      header(FrameType.zeroPages, 8).copy(b, 0);
      b.writeUInt32BE(frame.first, HEADER_BYTES);
      b.writeUInt32BE(frame.count, HEADER_BYTES + 4);
      return b;
    }
    case "passEnd":
      return json(FrameType.passEnd, { pass: frame.pass, pages: frame.pages });
    case "passAck":
      return json(FrameType.passAck, { pass: frame.pass, receivedBytes: frame.receivedBytes });
    case "passHashed":
      return json(FrameType.passHashed, { pass: frame.pass });
    case "deviceState":
      return json(FrameType.deviceState, { state: frame.state });
    case "digest":
      return json(FrameType.digest, { digest: frame.digest });
    case "ready":
      return json(FrameType.ready, {});
    case "commit":
      return json(FrameType.commit, {});
    case "running":
      return json(FrameType.running, { host: frame.host });
    case "error":
      return json(FrameType.error, { code: frame.code, message: frame.message });
    case "abort":
      return json(FrameType.abort, { reason: frame.reason });
  }
}

/**
 * The head of a PAGES frame for pages [first, first + count): the caller writes the pages'
 * bytes right after it, straight from guest memory (no copy).
 */
export function encodePagesHead(first: number, count: number, pageSize = PAGE_SIZE): Buffer {
  if (count < 1 || count > MAX_PAGES_PER_FRAME) throw new RangeError(`a PAGES frame carries 1 to ${MAX_PAGES_PER_FRAME} pages, not ${count}`);
  const b = Buffer.allocUnsafe(HEADER_BYTES + 8);
  header(FrameType.pages, 8 + count * pageSize).copy(b, 0);
  b.writeUInt32BE(first, HEADER_BYTES);
  b.writeUInt32BE(count, HEADER_BYTES + 4);
  return b;
}

/** A PAGE_LIST frame: scattered pages copied into one buffer, one write for the batch. */
export function encodePageList(pages: ArrayLike<number>, read: (page: number) => Uint8Array, pageSize = PAGE_SIZE): Buffer {
  const count = pages.length;
  if (count < 1 || count > MAX_PAGES_PER_FRAME) throw new RangeError(`a PAGE_LIST frame carries 1 to ${MAX_PAGES_PER_FRAME} pages, not ${count}`);
  const length = 4 + count * 4 + count * pageSize;
  const b = Buffer.allocUnsafe(HEADER_BYTES + length);
  header(FrameType.pageList, length).copy(b, 0);
  b.writeUInt32BE(count, HEADER_BYTES);
  let at = HEADER_BYTES + 4;
  for (let i = 0; i < count; i++, at += 4) b.writeUInt32BE(pages[i] ?? 0, at);
  for (let i = 0; i < count; i++, at += pageSize) b.set(read(pages[i] ?? 0), at);
  return b;
}

// ---------------------------------------------------------------- decoding

export interface FrameSink {
  frame(frame: Frame): void;
  /** Bytes of guest memory at `byteOffset`; `data` is a view valid only during the call. */
  pageData(byteOffset: number, data: Buffer): void;
}

const TYPE_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(FrameType).map(([name, code]) => [code, name]));

type DecoderState =
  | { readonly kind: "header" }
  | { readonly kind: "control"; readonly type: FrameType; readonly body: Buffer; filled: number }
  | { readonly kind: "pagesHead"; readonly type: FrameType; readonly length: number; readonly head: Buffer; filled: number }
  | { readonly kind: "pagesData"; readonly pages: number; readonly first: number; readonly list: Uint32Array | undefined; readonly total: number; done: number };

export class FrameDecoder {
  private readonly pageSize: number;
  private state: DecoderState = { kind: "header" };
  private readonly headerBuf = Buffer.alloc(HEADER_BYTES);
  private headerFilled = 0;
  private broken: ProtocolError | undefined;
  /** Bytes pushed so far. */
  bytes = 0;

  constructor(pageSize = PAGE_SIZE) {
    this.pageSize = pageSize;
  }

  /** Feeds a chunk; calls the sink for every frame and page piece it completes. Throws ProtocolError on garbage. */
  push(chunk: Buffer, sink: FrameSink): void {
    if (this.broken !== undefined) throw this.broken;
    this.bytes += chunk.length;
    try {
      this.consume(chunk, sink);
    } catch (error) {
      if (error instanceof ProtocolError) this.broken = error;
      throw error;
    }
  }

  /** Whether the decoder sits between frames (a clean place for the stream to end). */
  get idle(): boolean {
    return this.state.kind === "header" && this.headerFilled === 0;
  }

  private consume(chunk: Buffer, sink: FrameSink): void {
    let at = 0;
    while (at < chunk.length) {
      const state = this.state;
      switch (state.kind) {
        case "header": {
          const n = Math.min(HEADER_BYTES - this.headerFilled, chunk.length - at);
          chunk.copy(this.headerBuf, this.headerFilled, at, at + n);
          this.headerFilled += n;
          at += n;
          if (this.headerFilled === HEADER_BYTES) {
            this.headerFilled = 0;
            this.startFrame(this.headerBuf.readUInt32BE(0), this.headerBuf.readUInt8(4), sink);
          }
          break;
        }
        case "control": {
          const n = Math.min(state.body.length - state.filled, chunk.length - at);
          chunk.copy(state.body, state.filled, at, at + n);
          state.filled += n;
          at += n;
          if (state.filled === state.body.length) {
            this.state = { kind: "header" };
            sink.frame(this.parseControl(state.type, state.body));
          }
          break;
        }
        case "pagesHead": {
          const n = Math.min(state.head.length - state.filled, chunk.length - at);
          chunk.copy(state.head, state.filled, at, at + n);
          state.filled += n;
          at += n;
          if (state.filled === state.head.length) this.pagesHeadDone(state);
          break;
        }
        case "pagesData": {
          const n = Math.min(state.total - state.done, chunk.length - at);
          this.deliver(state, chunk.subarray(at, at + n), sink);
          state.done += n;
          at += n;
          if (state.done === state.total) {
            this.state = { kind: "header" };
            sink.frame({ type: "pages", pages: state.pages });
          }
          break;
        }
      }
    }
  }

  private startFrame(length: number, typeCode: number, sink: FrameSink): void {
    const name = TYPE_NAMES.get(typeCode);
    if (name === undefined) throw new ProtocolError(`unknown frame type ${typeCode}`);
    const type = typeCode as FrameType;
    if (type === FrameType.pages || type === FrameType.pageList) {
      const min = type === FrameType.pages ? 8 : 4;
      if (length < min + this.pageSize || length > min + MAX_PAGES_PER_FRAME * (this.pageSize + 4)) throw new ProtocolError(`a ${name} frame of ${length} bytes`);
      // PAGE_LIST's head is its count, then the indices: read the count first.
      this.state = { kind: "pagesHead", type, length, head: Buffer.alloc(min), filled: 0 };
      return;
    }
    if (length > MAX_CONTROL_BYTES) throw new ProtocolError(`a ${name} frame of ${length} bytes (at most ${MAX_CONTROL_BYTES})`);
    if (length === 0) {
      sink.frame(this.parseControl(type, Buffer.alloc(0)));
      return;
    }
    this.state = { kind: "control", type, body: Buffer.alloc(length), filled: 0 };
  }

  private pagesHeadDone(state: Extract<DecoderState, { kind: "pagesHead" }>): void {
    const ps = this.pageSize;
    if (state.type === FrameType.pages) {
      const first = state.head.readUInt32BE(0);
      const count = state.head.readUInt32BE(4);
      if (count < 1 || count > MAX_PAGES_PER_FRAME || state.length !== 8 + count * ps) throw new ProtocolError(`a PAGES frame of ${state.length} bytes claims ${count} pages`);
      this.state = { kind: "pagesData", pages: count, first, list: undefined, total: count * ps, done: 0 };
      return;
    }
    if (state.head.length === 4) {
      const count = state.head.readUInt32BE(0);
      if (count < 1 || count > MAX_PAGES_PER_FRAME || state.length !== 4 + count * 4 + count * ps) throw new ProtocolError(`a PAGE_LIST frame of ${state.length} bytes claims ${count} pages`);
      const head = Buffer.alloc(4 + count * 4);
      state.head.copy(head, 0);
      this.state = { kind: "pagesHead", type: state.type, length: state.length, head, filled: 4 };
      return;
    }
    const count = state.head.readUInt32BE(0);
    const list = new Uint32Array(count);
    for (let i = 0; i < count; i++) list[i] = state.head.readUInt32BE(4 + i * 4);
    this.state = { kind: "pagesData", pages: count, first: 0, list, total: count * ps, done: 0 };
  }

  private deliver(state: Extract<DecoderState, { kind: "pagesData" }>, data: Buffer, sink: FrameSink): void {
    const ps = this.pageSize;
    if (state.list === undefined) {
      sink.pageData(state.first * ps + state.done, data);
      return;
    }
    // Scattered pages: split the piece at page boundaries.
    let at = 0;
    let done = state.done;
    while (at < data.length) {
      const k = Math.floor(done / ps);
      const within = done % ps;
      const n = Math.min(ps - within, data.length - at);
      sink.pageData((state.list[k] ?? 0) * ps + within, data.subarray(at, at + n));
      at += n;
      done += n;
    }
  }

  private parseControl(type: FrameType, body: Buffer): Frame {
    if (type === FrameType.pageMap) {
      if (body.length < 4) throw new ProtocolError("a PAGE_MAP frame without its page count");
      const pageCount = body.readUInt32BE(0);
      if (body.length !== 4 + Math.ceil(pageCount / 8)) throw new ProtocolError(`a PAGE_MAP of ${body.length - 4} bytes for ${pageCount} pages`);
      return { type: "pageMap", pageCount, bitmap: body.subarray(4) };
    }
    if (type === FrameType.zeroPages) {
      if (body.length !== 8) throw new ProtocolError(`a ZERO_PAGES frame of ${body.length} bytes`);
      return { type: "zeroPages", first: body.readUInt32BE(0), count: body.readUInt32BE(4) };
    }
    let value: unknown;
    try {
      value = JSON.parse(body.toString("utf8"));
    } catch {
      throw new ProtocolError(`a ${TYPE_NAMES.get(type) ?? type} frame whose body is not JSON`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ProtocolError(`a ${TYPE_NAMES.get(type) ?? type} frame whose body is not an object`);
    const o = value as Record<string, unknown>;
    const str = (k: string): string => {
      const v = o[k];
      if (typeof v !== "string") throw new ProtocolError(`${TYPE_NAMES.get(type) ?? type}.${k} is not a string`);
      return v;
    };
    const num = (k: string): number => {
      const v = o[k];
      if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new ProtocolError(`${TYPE_NAMES.get(type) ?? type}.${k} is not a non-negative number`);
      return v;
    };
    switch (type) {
      case FrameType.hello: {
        const hello: Hello = {
          magic: str("magic"),
          version: num("version"),
          migrationId: str("migrationId"),
          token: str("token"),
          source: str("source"),
          memoryBytes: num("memoryBytes"),
          pageSize: num("pageSize"),
          spec: o["spec"],
          stallTimeoutMs: num("stallTimeoutMs"),
        };
        if (hello.magic !== PROTOCOL_MAGIC) throw new ProtocolError(`a HELLO with magic "${hello.magic}"`);
        return { type: "hello", hello };
      }
      case FrameType.accepted:
        return { type: "accepted", host: str("host") };
      case FrameType.passEnd:
        return { type: "passEnd", pass: num("pass"), pages: num("pages") };
      case FrameType.passAck:
        return { type: "passAck", pass: num("pass"), receivedBytes: num("receivedBytes") };
      case FrameType.passHashed:
        return { type: "passHashed", pass: num("pass") };
      case FrameType.deviceState:
        return { type: "deviceState", state: o["state"] };
      case FrameType.digest:
        return { type: "digest", digest: str("digest") };
      case FrameType.ready:
        return { type: "ready" };
      case FrameType.commit:
        return { type: "commit" };
      case FrameType.running:
        return { type: "running", host: str("host") };
      case FrameType.error:
        return { type: "error", code: str("code"), message: str("message") };
      case FrameType.abort:
        return { type: "abort", reason: str("reason") };
      case FrameType.pages:
      case FrameType.pageList:
        throw new ProtocolError(`frame type ${type} is not a control frame`);
    }
  }
}
