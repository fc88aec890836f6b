// How much of a guest's RAM is not zero pages, measured by sampling the QEMU process's guest
// RAM mapping through /proc/PID/mem: what the pre-copy model needs to know what the first pass
// sends in full (QEMU 7.2 sends a zero page as an 8-byte header and one byte, migration/ram.c
// save_zero_page; every other page whole). QEMU has no QMP command that says it
// (query-memory-size-summary gives the size only; the migration's own `duplicate` count comes
// after the fact). The agent runs as root and is QEMU's parent, so it may read the process's memory.
import { open, readFile } from "node:fs/promises";
import { randomInt } from "node:crypto";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { PowerStatus } from "../driver.ts";
import { MiB, type QemuHost } from "./host.ts";

const PAGE = 4096;
/** Pages read per measurement: the share's standard error is at most 0.8% (√(0.25/4096)). */
export const SAMPLE_PAGES = 4096;
const BATCH = 64;

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

/** Bytes of `name`'s RAM that are not zero pages, from SAMPLE_PAGES pages read at random. */
export async function measureTouchedBytes(host: QemuHost, name: string): Promise<number> {
  const vm = host.mustGet(name);
  const pid = vm.child?.pid;
  if (pid === undefined || vm.power === PowerStatus.off) throw new FerryError(ErrorCode.conflict, `${name} is ${vm.power} on ${host.name}; only a running VM has touched memory`, { details: { vm: name } });
  const memoryBytes = vm.spec.memoryMB * MiB;
  const ram = guestRamMapping(await readFile(`/proc/${pid}/maps`, "utf8"), memoryBytes);
  if (ram === undefined) throw new FerryError(ErrorCode.unavailable, `no ${vm.spec.memoryMB} MiB guest RAM mapping in QEMU's /proc/${pid}/maps for ${name}`, { details: { vm: name } });
  const pages = Math.floor(memoryBytes / PAGE);
  const file = await open(`/proc/${pid}/mem`, "r");
  try {
    let nonZero = 0;
    const n = Math.min(SAMPLE_PAGES, pages);
    for (let done = 0; done < n; done += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, n - done) }, async () => {
        const buffer = new Uint8Array(PAGE);
        const { bytesRead } = await file.read(buffer, 0, PAGE, ram.start + randomInt(pages) * PAGE);
        return bytesRead === PAGE && !isZeroPage(buffer);
      });
      nonZero += (await Promise.all(batch)).filter(Boolean).length;
    }
    return Math.round((nonZero / n) * pages) * PAGE;
  } finally {
    await file.close();
  }
}
