// A page bitmap: one bit per guest page, in 32-bit words so that scans skip 32 clean pages
// at a time. KVM's dirty log (KVM_GET_DIRTY_LOG) has the same shape, and for the same reason:
// a 1 GiB guest has 262,144 pages, and a pass must find the few dirty ones fast.

export class PageBitmap {
  readonly size: number;
  private readonly words: Uint32Array;
  private setCount = 0;

  constructor(size: number) {
    this.size = size;
    this.words = new Uint32Array(Math.ceil(size / 32));
  }

  /** Pages whose bit is set. */
  get count(): number {
    return this.setCount;
  }

  has(page: number): boolean {
    return ((this.words[page >>> 5] ?? 0) & (1 << (page & 31))) !== 0;
  }

  /** Sets the bit; returns whether it was clear before. */
  set(page: number): boolean {
    const w = page >>> 5;
    const bit = 1 << (page & 31);
    const word = this.words[w] ?? 0;
    if ((word & bit) !== 0) return false;
    this.words[w] = word | bit;
    this.setCount++;
    return true;
  }

  /** Clears the bit; returns whether it was set before. */
  clear(page: number): boolean {
    const w = page >>> 5;
    const bit = 1 << (page & 31);
    const word = this.words[w] ?? 0;
    if ((word & bit) === 0) return false;
    this.words[w] = word & ~bit;
    this.setCount--;
    return true;
  }

  /** Sets pages [first, first + count). */
  setRange(first: number, count: number): void {
    const end = Math.min(this.size, first + count);
    let page = first;
    // Head and tail bit by bit, whole words in between.
    while (page < end && (page & 31) !== 0) this.set(page++);
    while (page + 32 <= end) {
      const w = page >>> 5;
      const word = this.words[w] ?? 0;
      this.setCount += 32 - popcount(word);
      this.words[w] = 0xffffffff;
      page += 32;
    }
    while (page < end) this.set(page++);
  }

  clearAll(): void {
    this.words.fill(0);
    this.setCount = 0;
  }

  /** Calls `fn` for every set page, ascending. */
  forEach(fn: (page: number) => void): void {
    const words = this.words;
    for (let w = 0; w < words.length; w++) {
      let word = words[w] ?? 0;
      while (word !== 0) {
        const low = word & -word;
        fn((w << 5) + 31 - Math.clz32(low));
        word ^= low;
      }
    }
  }

  /** Calls `fn` for set pages, ascending, until it returns false. `fn` may clear the page it is given. */
  forEachWhile(fn: (page: number) => boolean): void {
    const words = this.words;
    for (let w = 0; w < words.length; w++) {
      let word = words[w] ?? 0;
      while (word !== 0) {
        const low = word & -word;
        if (!fn((w << 5) + 31 - Math.clz32(low))) return;
        word ^= low;
      }
    }
  }

  /** The set pages, ascending. */
  toArray(): Uint32Array {
    const out = new Uint32Array(this.setCount);
    let i = 0;
    this.forEach((page) => {
      out[i++] = page;
    });
    return out;
  }

  /** The set pages, ascending, and clears them: one harvest of a dirty log. */
  harvest(): Uint32Array {
    const out = this.toArray();
    this.clearAll();
    return out;
  }

  /** The bitmap as bytes, least significant bit first (bit i of byte i>>3 is page i). */
  toBytes(): Buffer {
    const bytes = Buffer.alloc(Math.ceil(this.size / 8));
    for (let w = 0; w < this.words.length; w++) {
      const word = this.words[w] ?? 0;
      if (word === 0) continue;
      const at = w * 4;
      for (let b = 0; b < 4 && at + b < bytes.length; b++) bytes[at + b] = (word >>> (b * 8)) & 0xff;
    }
    return bytes;
  }

  static fromBytes(size: number, bytes: Uint8Array): PageBitmap {
    const bitmap = new PageBitmap(size);
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i] ?? 0;
      if (byte === 0) continue;
      for (let b = 0; b < 8; b++) if ((byte & (1 << b)) !== 0 && i * 8 + b < size) bitmap.set(i * 8 + b);
    }
    return bitmap;
  }
}

function popcount(word: number): number {
  let v = word - ((word >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}
