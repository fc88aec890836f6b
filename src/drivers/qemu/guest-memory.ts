// What the pre-copy model needs to know of a guest's memory, measured by reading the QEMU
// process's guest RAM mapping through /proc/PID/mem: how much of it is not zero pages (what the
// first pass sends whole: QEMU 7.2 sends a zero page as an 8-byte header and one byte,
// migration/ram.c save_zero_page), and how fast the guest writes and over how much memory (what
// the later passes send again). The same pages are read again at a quarter, half and the end of
// the window: the share that changed since the first read is the distinct memory the guest
// dirtied in that time, and where that stops growing with time, the guest writes over a working
// set it has covered.
// QEMU has no QMP command for the first (query-memory-size-summary gives the size only), and its
// `calc-dirty-rate` reads 512 pages per GiB once at each end of its window: on a 512 MiB guest
// writing 48 MiB/s over 64 MiB it read 24 to 58 MiB/s, and it says nothing of the working set
// (its dirty-bitmap mode crashes 7.2 under TCG, trap 8). The agent runs as root and is QEMU's
// parent, so it may read the process's memory. Like QEMU's page sampling, a page rewritten with
// the bytes it held reads as unchanged.
import { open, readFile, type FileHandle } from "node:fs/promises";
import { randomInt } from "node:crypto";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { PowerStatus, type GuestMemoryProfile } from "../driver.ts";
import { MiB, type QemuHost } from "./host.ts";

const PAGE = 4096;
/** Pages read per measurement: a share's standard error is at most 0.8% (√(0.25/4096)). */
export const SAMPLE_PAGES = 4096;
const BATCH = 64;
/** When, as shares of the window, the sampled pages are read again. */
const CHECKPOINTS = [0.25, 0.5, 1] as const;
/**
 * A curve levelled off when its second half grew by less than this share of its first half, and
 * by more than sampling noise (3 standard deviations of the pages expected).
 */
const LEVELLED = 0.8;

/** The share of the sampled pages that changed between the first read and one `ms` later. */
export interface DirtyPoint {
  readonly ms: number;
  readonly changedShare: number;
}

/** Whether the curve grew from `from` to `to` as its line through the origin says (beyond sampling noise below it), or levelled off. */
function levelledBetween(from: { ms: number; share: number }, to: { ms: number; share: number }, samples: number): boolean {
  const expected = from.share * (to.ms / from.ms - 1) * samples;
  const grew = (to.share - from.share) * samples;
  return expected > 0 && grew < Math.min(LEVELLED * expected, expected - 3 * Math.sqrt(expected));
}

/**
 * The rate of a curve that levelled off, from the part that still ran along its line through
 * the origin: its last point before the first step that levelled. undefined when no step did
 * (a writer that wrote its working set in a burst before the first read: the whole window's
 * average is its rate, not the burst's pace).
 */
function rateAlongLine(curve: readonly { ms: number; share: number }[], samples: number): { ms: number; share: number } | undefined {
  let along: { ms: number; share: number } | undefined;
  for (let i = 1; i < curve.length; i++) {
    const from = curve[i - 1];
    const to = curve[i];
    if (from === undefined || to === undefined || from.share <= 0 || levelledBetween(from, to, samples)) break;
    along = to;
  }
  return along;
}

/**
 * The guest's dirty rate and working set from the curve of distinct memory changed over time,
 * read from `samples` pages. A curve still growing along its line says its rate from the whole
 * window (its end point: the most pages, the least noise) and only a lower bound of the working
 * set: undefined. One that levelled off says the working set it covered (its end point), and its
 * rate from where it still ran along its line: a 48 MiB/s writer over 64 MiB covers its working
 * set in 1.3 s, and the 2 s window's average (32 MiB/s) would understate what it dirties between
 * two of QEMU's syncs, tens to hundreds of ms apart. A writer that writes in bursts shorter than
 * the first read's delay (each second, as the test guest's does) has no such part: the window's
 * average, not its burst's pace.
 */
export function dirtyProfile(memoryBytes: number, samples: number, points: readonly DirtyPoint[]): { dirtyRateBytesPerSec: number; workingSetBytes: number | undefined } {
  const curve = points.filter((p) => p.ms > 0).map((p) => ({ ms: p.ms, share: p.changedShare })).sort((a, b) => a.ms - b.ms);
  const last = curve.at(-1);
  if (last === undefined || last.share <= 0) return { dirtyRateBytesPerSec: 0, workingSetBytes: undefined };
  const mid = curve.reduce((best, p) => (Math.abs(p.ms - last.ms / 2) < Math.abs(best.ms - last.ms / 2) ? p : best));
  const dirtied = last.share * memoryBytes;
  if (mid === last || !levelledBetween(mid, last, samples)) return { dirtyRateBytesPerSec: dirtied / (last.ms / 1000), workingSetBytes: undefined };
  const line = rateAlongLine(curve, samples) ?? last;
  return { dirtyRateBytesPerSec: (line.share * memoryBytes) / (line.ms / 1000), workingSetBytes: dirtied };
}

/**
 * The guest RAM mapping in /proc/PID/maps: QEMU 7.2 maps a `-m N` pc.ram block as one anonymous
 * read-write mapping of exactly N MiB (qemu_ram_mmap; its guard page is a mapping of its own).
 * The nearest larger anonymous mapping when none is exact (a machine that splits nothing but
 * rounds up). Undefined when none is large enough.
 */
export function guestRamMapping(maps: string, memoryBytes: number): { start: number; size: number } | undefined {
  let best: { start: number; size: number } | undefined;
  for (const row of maps.split("\n")) {
    const [range, perms, , , inode, path] = row.trim().split(/\s+/);
    if (range === undefined || perms === undefined || !perms.startsWith("rw") || inode !== "0" || (path !== undefined && path !== "")) continue;
    const [a, b] = range.split("-").map((x) => Number.parseInt(x, 16));
    if (a === undefined || b === undefined || !Number.isSafeInteger(a) || !Number.isSafeInteger(b)) continue;
    const size = b - a;
    if (size >= memoryBytes && (best === undefined || size < best.size)) best = { start: a, size };
  }
  return best;
}

/** Whether a page read back is all zero bytes. */
export function isZeroPage(page: Uint8Array): boolean {
  for (const byte of page) if (byte !== 0) return false;
  return true;
}

/** `count` distinct page numbers below `pages`, at random (all of them when there are no more). */
function pickPages(pages: number, count: number): number[] {
  if (count >= pages) return Array.from({ length: pages }, (_, i) => i);
  const picked = new Set<number>();
  while (picked.size < count) picked.add(randomInt(pages));
  return [...picked];
}

/** Reads the picked pages of the mapping at `base` into `into` (page i at i × 4 KiB). */
async function readPages(file: FileHandle, base: number, picks: readonly number[], into: Uint8Array): Promise<void> {
  for (let done = 0; done < picks.length; done += BATCH) {
    await Promise.all(
      picks.slice(done, done + BATCH).map(async (page, i) => {
        const at = (done + i) * PAGE;
        const { bytesRead } = await file.read(into, at, PAGE, base + page * PAGE);
        if (bytesRead < PAGE) into.fill(0, at + bytesRead, at + PAGE);
      }),
    );
  }
}

function countPages(pages: number, test: (at: number) => boolean): number {
  let n = 0;
  for (let i = 0; i < pages; i++) if (test(i * PAGE)) n++;
  return n;
}

/** `name`'s touched memory, dirty rate and working set, from SAMPLE_PAGES pages read over `seconds`. */
export async function measureGuestMemory(host: QemuHost, name: string, seconds: number): Promise<GuestMemoryProfile> {
  const vm = host.mustGet(name);
  const pid = vm.child?.pid;
  if (pid === undefined || vm.power !== PowerStatus.running) throw new FerryError(ErrorCode.conflict, `${name} is ${vm.power} on ${host.name}; only a running VM's memory is measured`, { details: { vm: name } });
  const memoryBytes = vm.spec.memoryMB * MiB;
  const ram = guestRamMapping(await readFile(`/proc/${pid}/maps`, "utf8"), memoryBytes);
  if (ram === undefined) throw new FerryError(ErrorCode.unavailable, `no ${vm.spec.memoryMB} MiB guest RAM mapping in QEMU's /proc/${pid}/maps for ${name}`, { details: { vm: name } });
  const picks = pickPages(Math.floor(memoryBytes / PAGE), SAMPLE_PAGES);
  const first = new Uint8Array(picks.length * PAGE);
  const again = new Uint8Array(picks.length * PAGE);
  const windowMs = Math.min(10, Math.max(1, Math.round(seconds))) * 1000;
  const file = await open(`/proc/${pid}/mem`, "r");
  try {
    const start = host.clock.monotonic();
    await readPages(file, ram.start, picks, first);
    const touched = countPages(picks.length, (at) => !isZeroPage(first.subarray(at, at + PAGE)));
    const points: DirtyPoint[] = [];
    for (const share of CHECKPOINTS) {
      await host.clock.sleep(Math.max(0, start + share * windowMs - host.clock.monotonic()));
      const readAt = host.clock.monotonic();
      await readPages(file, ram.start, picks, again);
      const changed = countPages(picks.length, (at) => Buffer.compare(first.subarray(at, at + PAGE), again.subarray(at, at + PAGE)) !== 0);
      points.push({ ms: readAt - start, changedShare: changed / picks.length });
    }
    const profile = dirtyProfile(memoryBytes, picks.length, points);
    // Kept for the next migration's tuning (tuning.ts: xbzrle only when the dirty rate makes it pay).
    vm.dirtyRate = { bytesPerSec: profile.dirtyRateBytesPerSec, at: host.clock.monotonic() };
    return { touchedBytes: Math.round((touched / picks.length) * (memoryBytes / PAGE)) * PAGE, ...profile };
  } finally {
    await file.close();
  }
}
