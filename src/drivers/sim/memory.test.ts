import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PageBitmap } from "./bitmap.ts";
import { GuestMemory, PAGE_SIZE } from "./memory.ts";

const MiB = 1024 * 1024;

describe("PageBitmap", () => {
  test("set, clear, count and harvest in ascending order", () => {
    const b = new PageBitmap(100);
    for (const p of [99, 0, 31, 32, 64, 31]) b.set(p);
    assert.equal(b.count, 5);
    assert.ok(b.has(31) && !b.has(30));
    assert.equal(b.clear(31), true);
    assert.equal(b.clear(31), false);
    assert.deepEqual([...b.harvest()], [0, 32, 64, 99]);
    assert.equal(b.count, 0);
    assert.deepEqual([...b.toArray()], []);
  });

  test("setRange across word boundaries counts each page once", () => {
    const b = new PageBitmap(200);
    b.set(40);
    b.setRange(3, 150);
    assert.equal(b.count, 150);
    assert.ok(!b.has(2) && b.has(3) && b.has(152) && !b.has(153));
  });

  test("bytes round trip", () => {
    const b = new PageBitmap(77);
    for (const p of [0, 7, 8, 63, 76]) b.set(p);
    assert.deepEqual([...PageBitmap.fromBytes(77, b.toBytes()).toArray()], [0, 7, 8, 63, 76]);
  });
});

describe("GuestMemory", () => {
  test("an untouched 1 GiB guest costs nothing: no non-zero page, digest in milliseconds", () => {
    const m = new GuestMemory(1024 * MiB);
    assert.equal(m.nonZeroPages().count, 0);
    assert.equal(m.pendingHashBytes(), 0);
    const d = m.contentDigest();
    assert.equal(d.length, 32);
    assert.deepEqual(m.contentDigest(), d);
  });

  test("a guest write marks its page dirty; a harvest reads and clears the log", () => {
    const m = new GuestMemory(MiB);
    m.writeUInt32(5 * PAGE_SIZE + 12, 7);
    m.writeUInt32(2 * PAGE_SIZE, 1);
    m.writeUInt32(5 * PAGE_SIZE + 100, 9);
    assert.equal(m.dirtyCount, 2);
    assert.deepEqual([...m.harvestDirty()], [2, 5]);
    assert.equal(m.dirtyCount, 0);
    assert.deepEqual([...m.nonZeroPages().toArray()], [2, 5]);
  });

  test("zero detection: written pages that hold zeros again are zero pages", () => {
    const m = new GuestMemory(MiB);
    m.writeUInt32(PAGE_SIZE, 0);
    m.writeUInt32(3 * PAGE_SIZE + 4092, 1);
    assert.ok(m.isZeroPage(1));
    assert.ok(!m.isZeroPage(3));
    assert.ok(m.isZeroPage(4));
  });

  test("digests are equal exactly when contents are, wherever the bytes came from", () => {
    const a = new GuestMemory(4 * MiB);
    const b = new GuestMemory(4 * MiB);
    const block = Buffer.alloc(64 * 1024, 0xab);
    a.fillPages(10, 300, block);
    assert.notDeepEqual(a.contentDigest(), b.contentDigest());
    // b receives a's pages the way a destination does: in uneven pieces.
    const from = 10 * PAGE_SIZE;
    const to = 310 * PAGE_SIZE;
    for (let at = from; at < to; at += 10_000) b.load(at, a.bytes.subarray(at, Math.min(to, at + 10_000)));
    assert.deepEqual(b.contentDigest(), a.contentDigest());
    // One byte anywhere changes it, and the cache notices.
    b.load(200 * PAGE_SIZE + 17, Buffer.from([0x00]));
    assert.notDeepEqual(b.contentDigest(), a.contentDigest());
    b.load(200 * PAGE_SIZE + 17, a.bytes.subarray(200 * PAGE_SIZE + 17, 200 * PAGE_SIZE + 18));
    assert.deepEqual(b.contentDigest(), a.contentDigest());
  });

  test("the digest binds a page to its place: swapped pages differ", () => {
    const a = new GuestMemory(MiB);
    const b = new GuestMemory(MiB);
    a.load(0, Buffer.alloc(PAGE_SIZE * 4, 1));
    a.load(PAGE_SIZE * 4, Buffer.alloc(PAGE_SIZE * 4, 2));
    b.load(0, Buffer.alloc(PAGE_SIZE * 4, 2));
    b.load(PAGE_SIZE * 4, Buffer.alloc(PAGE_SIZE * 4, 1));
    assert.notDeepEqual(a.contentDigest(), b.contentDigest());
  });

  test("zero-page markers clear received pages", () => {
    const a = new GuestMemory(MiB);
    const b = new GuestMemory(MiB);
    b.load(8 * PAGE_SIZE, Buffer.alloc(PAGE_SIZE, 9));
    b.zeroPages(0, 256);
    assert.equal(b.nonZeroPages().count, 0);
    assert.deepEqual(b.contentDigest(), a.contentDigest());
    assert.throws(() => { b.zeroPages(250, 10); }, RangeError);
    assert.throws(() => { b.load(MiB - 2, Buffer.alloc(4)); }, RangeError);
  });

  test("hashing in slices: a deadline stops it, the rest waits for the next digest", () => {
    const m = new GuestMemory(8 * MiB);
    m.fillPages(0, 2048, Buffer.alloc(4096, 3));
    const pending = m.pendingHashBytes();
    assert.equal(pending, 8 * MiB);
    let calls = 0;
    const hashed = m.hashStale(() => calls++, 0);
    assert.ok(hashed > 0 && m.pendingHashBytes() < pending && m.pendingHashBytes() > 0);
    m.contentDigest();
    assert.equal(m.pendingHashBytes(), 0);
    m.writeUInt32(0, 5);
    assert.equal(m.pendingHashBytes(), 0 + 16 * 1024);
  });
});
