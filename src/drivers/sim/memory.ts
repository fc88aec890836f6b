// A simulated guest's RAM: a real Buffer of the configured size. Buffer.alloc maps it lazily
// (calloc), so pages the guest never touched cost neither host memory nor time, exactly as a
// KVM guest's untouched pages do. Bitmaps ride along:
//   - the dirty log, one bit per page, set by every guest write and harvested (read and
//     cleared) once per pre-copy pass, as KVM_GET_DIRTY_LOG does;
//   - `touched`, one bit per page: pages that may hold non-zero bytes; the others are zero
//     for certain, so pass 1 and the digest never read them;
//   - `stale`, one bit per leaf of the digest tree: leaves to hash again before the next digest.
// The digest is a hash tree (leaf of 4 pages → group of 512 leaves → top), cached, so a
// digest costs in proportion to what changed since the last one. That keeps the checksum
// out of the switchover's downtime: both ends hash during pre-copy, and at switchover only
// the leaves holding the last dirty pages are hashed again.
//
// Leaves are hashed with GMAC (AES-128-GCM, no plaintext, the leaf as additional data, its
// index as the IV) under a fixed, public key. It is a checksum against corruption and bugs,
// not a secret: the stream is already authenticated by the migration's token. GMAC runs on
// AES-NI/PCLMULQDQ at several GB/s where SHA-256 manages one, and a 16 KiB leaf balances bulk
// speed (pass 1 of a large guest) against the cost of re-hashing one dirty page at switchover.
import { createCipheriv, createHash, createSecretKey, type KeyObject } from "node:crypto";
import { PageBitmap } from "./bitmap.ts";

export const PAGE_SIZE = 4096;
/** Pages per leaf of the digest tree. */
const LEAF_PAGES = 4;
const LEAF_BYTES = LEAF_PAGES * PAGE_SIZE;
/** Leaves per group of the digest tree: a group's table of leaf tags is 8 KiB. */
const GROUP_LEAVES = 512;
const TAG_BYTES = 16;
/** A shared page of zeros: zero detection is one native memcmp against it. */
const ZERO_PAGE = Buffer.alloc(PAGE_SIZE);
const ZERO_LEAF = Buffer.alloc(LEAF_BYTES);
const ZERO_TAG = Buffer.alloc(TAG_BYTES);
/** The checksum's key: fixed and public on purpose (see above). */
const LEAF_KEY: KeyObject = createSecretKey(createHash("sha256").update("ferry sim memory digest v1").digest().subarray(0, 16));

export class GuestMemory {
  readonly bytes: Buffer;
  readonly pageSize = PAGE_SIZE;
  readonly pageCount: number;
  private readonly leafCount: number;
  private readonly dirtyLog: PageBitmap;
  private readonly touched: PageBitmap;
  private readonly stale: PageBitmap;
  private readonly staleGroups: PageBitmap;
  private readonly leafTags: Buffer;
  private readonly groupHashes: Buffer;
  private readonly iv = Buffer.alloc(12);
  /** Bytes hashed and milliseconds spent, so callers can predict what a digest will cost. */
  private hashedBytes = 0;
  private hashingMs = 0;

  constructor(sizeBytes: number) {
    if (!Number.isInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % PAGE_SIZE !== 0) {
      throw new RangeError(`guest memory must be a positive multiple of ${PAGE_SIZE} bytes, not ${sizeBytes}`);
    }
    this.bytes = Buffer.alloc(sizeBytes);
    this.pageCount = sizeBytes / PAGE_SIZE;
    this.leafCount = Math.ceil(this.pageCount / LEAF_PAGES);
    this.dirtyLog = new PageBitmap(this.pageCount);
    this.touched = new PageBitmap(this.pageCount);
    this.stale = new PageBitmap(this.leafCount);
    const groups = Math.ceil(this.leafCount / GROUP_LEAVES);
    this.staleGroups = new PageBitmap(groups);
    this.leafTags = Buffer.alloc(this.leafCount * TAG_BYTES);
    this.groupHashes = Buffer.alloc(groups * 32);
    // An all-zero memory still needs its group hashes computed once.
    this.staleGroups.setRange(0, groups);
  }

  get sizeBytes(): number {
    return this.bytes.length;
  }

  // ---- guest writes (source side, and a running VM anywhere) ----

  /** A guest store of a 32-bit value: marks the page dirty. */
  writeUInt32(offset: number, value: number): void {
    this.bytes.writeUInt32LE(value >>> 0, offset);
    const page = Math.floor(offset / PAGE_SIZE);
    this.dirtyLog.set(page);
    this.touched.set(page);
    this.markStale(page, 1);
  }

  /**
   * Fills pages [first, first + count) with `block` repeated (the boot image of a VM that
   * has touched part of its memory), stamping each page's index in its first 4 bytes so no
   * two pages are alike. Not logged as dirty: pass 1 sends every non-zero page anyway.
   */
  fillPages(first: number, count: number, block: Buffer): void {
    const end = Math.min(this.pageCount, first + count);
    if (end <= first) return;
    this.bytes.fill(block, first * PAGE_SIZE, end * PAGE_SIZE);
    for (let page = first; page < end; page++) this.bytes.writeUInt32LE((page + 1) >>> 0, page * PAGE_SIZE);
    this.touched.setRange(first, end - first);
    this.markStale(first, end - first);
  }

  /** Pages that may hold non-zero bytes: what the guest really touched (its usage on the host). */
  get touchedPages(): number {
    return this.touched.count;
  }

  // ---- the dirty log ----

  get dirtyCount(): number {
    return this.dirtyLog.count;
  }

  /** The pages written since the last harvest, ascending; the log starts empty again. */
  harvestDirty(): Uint32Array {
    return this.dirtyLog.harvest();
  }

  /** Clears the dirty log without reading it (the start of pass 1, which sends everything). */
  clearDirty(): void {
    this.dirtyLog.clearAll();
  }

  // ---- pages ----

  /** The page's bytes, a view (no copy). */
  page(page: number): Buffer {
    return this.bytes.subarray(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
  }

  isZeroPage(page: number): boolean {
    if (!this.touched.has(page)) return true;
    const at = page * PAGE_SIZE;
    return this.bytes.compare(ZERO_PAGE, 0, PAGE_SIZE, at, at + PAGE_SIZE) === 0;
  }

  /** Pages that hold non-zero bytes now: the page map of pass 1. Untouched pages are not read. */
  nonZeroPages(): PageBitmap {
    const map = new PageBitmap(this.pageCount);
    this.touched.forEach((page) => {
      if (!this.isZeroPage(page)) map.set(page);
    });
    return map;
  }

  // ---- loading (destination side) ----

  /**
   * Commits host memory for `pages` before they arrive: each page is written once (with the
   * zeros it holds anyway), so the kernel maps it now rather than in the middle of the
   * stream. The destination's shell "reserves memory" in the prepare phase, as the seed has
   * it (QEMU's -mem-prealloc does the same for a whole guest); only pages the page map says
   * will come are committed, so untouched memory still costs nothing.
   */
  commit(pages: PageBitmap): void {
    let page = 0;
    while (page < this.pageCount) {
      if (!pages.has(page)) {
        page++;
        continue;
      }
      let end = page;
      while (end < this.pageCount && pages.has(end)) end++;
      if (!this.touched.has(page)) this.bytes.fill(0, page * PAGE_SIZE, end * PAGE_SIZE);
      page = end;
    }
  }

  /** Copies received bytes to `offset`; the leaves they cover must be hashed again. */
  load(offset: number, data: Uint8Array): void {
    if (data.length === 0) return;
    if (offset < 0 || offset + data.length > this.bytes.length) {
      throw new RangeError(`load of ${data.length} bytes at ${offset} is outside ${this.bytes.length} bytes of guest memory`);
    }
    this.bytes.set(data, offset);
    const first = Math.floor(offset / PAGE_SIZE);
    const last = Math.floor((offset + data.length - 1) / PAGE_SIZE);
    this.touched.setRange(first, last - first + 1);
    this.markStale(first, last - first + 1);
  }

  /** Makes pages [first, first + count) zero (a zero-page marker). Untouched pages already are. */
  zeroPages(first: number, count: number): void {
    const end = first + count;
    if (first < 0 || count < 0 || end > this.pageCount) throw new RangeError(`zero pages ${first}+${count} are outside ${this.pageCount} pages`);
    for (let page = first; page < end; page++) {
      if (!this.touched.has(page)) continue;
      this.bytes.fill(0, page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
      this.touched.clear(page);
      this.markStale(page, 1);
    }
  }

  // ---- the digest ----

  /** Bytes the next digest has to hash, plus (with `dirty`) those the dirty pages would add. */
  pendingHashBytes(dirty = false): number {
    let leaves = this.stale.count;
    if (dirty) {
      const seen = new PageBitmap(this.leafCount);
      this.dirtyLog.forEach((page) => {
        const leaf = Math.floor(page / LEAF_PAGES);
        if (!this.stale.has(leaf) && seen.set(leaf)) leaves++;
      });
    }
    return leaves * LEAF_BYTES;
  }

  /** Hashing speed measured so far, bytes per millisecond (a conservative guess before any). */
  get hashBytesPerMs(): number {
    return this.hashingMs > 5 ? this.hashedBytes / this.hashingMs : 500_000;
  }

  /**
   * Hashes stale leaves, ascending, until none are left or `deadline` (a `now()` reading)
   * passes; returns how many it hashed. Used in the idle moments of a migration.
   */
  hashStale(now?: () => number, deadline?: number): number {
    const start = performance.now();
    let hashed = 0;
    const limited = now !== undefined && deadline !== undefined;
    this.stale.forEachWhile((leaf) => {
      if (limited && (hashed & 15) === 15 && now() >= deadline) return false;
      this.stale.clear(leaf);
      this.setLeafTag(leaf, this.leafTag(leaf));
      hashed++;
      return true;
    });
    this.hashedBytes += hashed * LEAF_BYTES;
    this.hashingMs += performance.now() - start;
    return hashed;
  }

  /**
   * Hashes what is stale now in slices of `sliceMs`, yielding to the event loop between
   * them, so a stream's frames (a PASS_ACK, the next pass) keep moving meanwhile. Leaves
   * that go stale while it runs (a guest still writing) are left for later.
   */
  async hashInSlices(now: () => number, sliceMs: number, keepGoing: () => boolean = () => true): Promise<void> {
    let left = this.stale.count;
    while (left > 0 && this.stale.count > 0 && keepGoing()) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      left -= this.hashStale(now, now() + sliceMs);
    }
  }

  /** A hash of all of memory: equal on two memories exactly when their bytes are equal. */
  contentDigest(): Buffer {
    this.hashStale();
    this.staleGroups.forEach((group) => {
      const table = this.leafTags.subarray(group * GROUP_LEAVES * TAG_BYTES, Math.min(this.leafCount, (group + 1) * GROUP_LEAVES) * TAG_BYTES);
      createHash("sha256").update(table).digest().copy(this.groupHashes, group * 32);
    });
    this.staleGroups.clearAll();
    return createHash("sha256").update(this.groupHashes).digest();
  }

  private leafTag(leaf: number): Buffer {
    const firstPage = leaf * LEAF_PAGES;
    const endPage = Math.min(this.pageCount, firstPage + LEAF_PAGES);
    let touched = false;
    for (let p = firstPage; p < endPage && !touched; p++) touched = this.touched.has(p);
    if (!touched) return ZERO_TAG;
    const from = firstPage * PAGE_SIZE;
    const to = endPage * PAGE_SIZE;
    if (this.bytes.compare(ZERO_LEAF, 0, to - from, from, to) === 0) return ZERO_TAG;
    this.iv.writeUInt32LE(leaf, 0);
    const gmac = createCipheriv("aes-128-gcm", LEAF_KEY, this.iv);
    gmac.setAAD(this.bytes.subarray(from, to));
    gmac.final();
    return gmac.getAuthTag();
  }

  private markStale(firstPage: number, pages: number): void {
    const firstLeaf = Math.floor(firstPage / LEAF_PAGES);
    const lastLeaf = Math.floor((firstPage + pages - 1) / LEAF_PAGES);
    if (firstLeaf === lastLeaf) {
      if (this.stale.set(firstLeaf)) this.staleGroups.set(Math.floor(firstLeaf / GROUP_LEAVES));
      return;
    }
    this.stale.setRange(firstLeaf, lastLeaf - firstLeaf + 1);
    const firstGroup = Math.floor(firstLeaf / GROUP_LEAVES);
    this.staleGroups.setRange(firstGroup, Math.floor(lastLeaf / GROUP_LEAVES) - firstGroup + 1);
  }

  private setLeafTag(leaf: number, tag: Buffer): void {
    const at = leaf * TAG_BYTES;
    if (this.leafTags.compare(tag, 0, TAG_BYTES, at, at + TAG_BYTES) === 0) return;
    tag.copy(this.leafTags, at);
    this.staleGroups.set(Math.floor(leaf / GROUP_LEAVES));
  }
}
