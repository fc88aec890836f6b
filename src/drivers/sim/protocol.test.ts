import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PAGE_SIZE } from "./memory.ts";
import {
  FrameDecoder,
  FrameType,
  MAX_CONTROL_BYTES,
  PROTOCOL_MAGIC,
  PROTOCOL_VERSION,
  ProtocolError,
  encodeFrame,
  encodePageList,
  encodePagesHead,
  type Frame,
  type Hello,
} from "./protocol.ts";

interface Decoded {
  readonly frames: Frame[];
  /** Page bytes as they would land in guest memory. */
  readonly memory: Buffer;
}

function decode(chunks: readonly Buffer[], memoryBytes = 64 * PAGE_SIZE): Decoded {
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  const memory = Buffer.alloc(memoryBytes);
  for (const chunk of chunks) {
    decoder.push(chunk, {
      frame: (f) => frames.push(f),
      pageData: (offset, data) => {
        data.copy(memory, offset);
      },
    });
  }
  assert.ok(decoder.idle, "the stream ends between frames");
  return { frames, memory };
}

const helloBody: Hello = { magic: PROTOCOL_MAGIC, version: PROTOCOL_VERSION, migrationId: "m-1", token: "t0k3n", source: "esx01", memoryBytes: 64 * PAGE_SIZE, pageSize: PAGE_SIZE, spec: { name: "web01" }, stallTimeoutMs: 10_000 };
const hello = { type: "hello", hello: helloBody } as const;

function page(fill: number): Buffer {
  const p = Buffer.alloc(PAGE_SIZE, fill);
  p.writeUInt32LE(fill * 1000, 0);
  return p;
}

/** A stream holding every frame type, with page data. */
function sampleStream(): { bytes: Buffer; expectedMemory: Buffer } {
  const expectedMemory = Buffer.alloc(64 * PAGE_SIZE);
  const run = Buffer.concat([page(1), page(2), page(3)]);
  run.copy(expectedMemory, 4 * PAGE_SIZE);
  const scattered = [9, 40, 41];
  for (const p of scattered) page(p).copy(expectedMemory, p * PAGE_SIZE);
  const bytes = Buffer.concat([
    encodeFrame(hello),
    encodeFrame({ type: "accepted", host: "esx02" }),
    encodeFrame({ type: "pageMap", pageCount: 64, bitmap: Buffer.from([0xf0, 0, 0, 0, 0, 0, 0, 0]) }),
    encodePagesHead(4, 3),
    run,
    encodeFrame({ type: "zeroPages", first: 7, count: 2 }),
    encodePageList(scattered, (p) => page(p)),
    encodeFrame({ type: "passEnd", pass: 1, pages: 6 }),
    encodeFrame({ type: "passAck", pass: 1, receivedBytes: 123 }),
    encodeFrame({ type: "passHashed", pass: 1 }),
    encodeFrame({ type: "deviceState", state: { vcpus: 1 } }),
    encodeFrame({ type: "digest", digest: "abc" }),
    encodeFrame({ type: "ready" }),
    encodeFrame({ type: "commit" }),
    encodeFrame({ type: "running", host: "esx02" }),
    encodeFrame({ type: "error", code: "CHECKSUM_MISMATCH", message: "no" }),
    encodeFrame({ type: "abort", reason: "operator" }),
  ]);
  return { bytes, expectedMemory };
}

const expectedTypes = ["hello", "accepted", "pageMap", "pages", "zeroPages", "pages", "passEnd", "passAck", "passHashed", "deviceState", "digest", "ready", "commit", "running", "error", "abort"];

describe("pre-copy protocol codec", () => {
  test("every frame type round-trips; page bytes land where they belong", () => {
    const { bytes, expectedMemory } = sampleStream();
    const { frames, memory } = decode([bytes]);
    assert.deepEqual(
      frames.map((f) => f.type),
      expectedTypes,
    );
    assert.deepEqual(frames[0], hello);
    assert.deepEqual(frames[3], { type: "pages", pages: 3 });
    assert.deepEqual(frames[4], { type: "zeroPages", first: 7, count: 2 });
    assert.deepEqual(frames[7], { type: "passAck", pass: 1, receivedBytes: 123 });
    assert.ok(memory.equals(expectedMemory));
  });

  test("frames split at every byte boundary decode the same", () => {
    const { bytes, expectedMemory } = sampleStream();
    const whole = decode([bytes]);
    // Two pieces, cut at every position (a page frame's header, its data, a JSON body).
    for (let cut = 1; cut < bytes.length; cut += 97) {
      const split = decode([bytes.subarray(0, cut), bytes.subarray(cut)]);
      assert.deepEqual(split.frames, whole.frames, `cut at ${cut}`);
      assert.ok(split.memory.equals(expectedMemory), `memory, cut at ${cut}`);
    }
    // One byte at a time.
    const bytewise = decode(Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1)));
    assert.deepEqual(bytewise.frames, whole.frames);
    assert.ok(bytewise.memory.equals(expectedMemory));
  });

  const garbage: readonly { readonly name: string; readonly bytes: Buffer }[] = [
    { name: "an unknown frame type", bytes: Buffer.from([0, 0, 0, 0, 99]) },
    { name: "a control frame larger than any real one", bytes: Buffer.from([0xff, 0xff, 0xff, 0xff, FrameType.hello]) },
    { name: "a body that is not JSON", bytes: Buffer.concat([Buffer.from([0, 0, 0, 3, FrameType.digest]), Buffer.from("{no")]) },
    { name: "JSON of the wrong shape", bytes: Buffer.concat([Buffer.from([0, 0, 0, 2, FrameType.digest]), Buffer.from("[]")]) },
    { name: "a HELLO with another magic", bytes: encodeFrame({ type: "hello", hello: { ...helloBody, magic: "HTTP/1.1" } }) },
    { name: "a PAGES frame whose count and length disagree", bytes: (() => { const h = encodePagesHead(0, 2); h.writeUInt32BE(8 + PAGE_SIZE, 0); return h; })() },
    { name: "a PAGES frame of zero pages", bytes: Buffer.from([0, 0, 0, 8, FrameType.pages, 0, 0, 0, 0, 0, 0, 0, 0]) },
    { name: "a page map whose size does not match its count", bytes: encodeFrame({ type: "pageMap", pageCount: 64, bitmap: Buffer.alloc(3) }) },
    { name: "an HTTP request", bytes: Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n") },
  ];
  for (const g of garbage) {
    test(`garbage is a ProtocolError: ${g.name}`, () => {
      const decoder = new FrameDecoder();
      const sink = { frame: () => undefined, pageData: () => undefined };
      assert.throws(() => { decoder.push(g.bytes, sink); }, ProtocolError);
      // A broken decoder stays broken: nothing after garbage is trusted.
      assert.throws(() => { decoder.push(encodeFrame({ type: "ready" }), sink); }, ProtocolError);
    });
  }

  test("limits hold", () => {
    assert.ok(MAX_CONTROL_BYTES >= 128 * 1024, "a 4 GiB guest's page map fits");
    assert.throws(() => encodePagesHead(0, 0), RangeError);
    assert.throws(() => encodePageList([], () => Buffer.alloc(PAGE_SIZE)), RangeError);
  });
});
