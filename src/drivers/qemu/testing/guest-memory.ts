// A guest's memory, page by page, read from its QEMU's guest RAM mapping through
// /proc/PID/mem (as touched-memory.ts samples it): a digest per 4 KiB page, so a test can
// compare a guest's memory before and after a migration. Root, as the QEMU tests run.
import { createHash } from "node:crypto";
import { open, readFile } from "node:fs/promises";
import { guestRamMapping, isZeroPage } from "../touched-memory.ts";

const PAGE = 4096;
const CHUNK = 1024 * 1024;

/** One digest per page of the guest's RAM ("" for a zero page). */
export async function guestPageDigests(pid: number, memoryBytes: number): Promise<string[]> {
  const ram = guestRamMapping(await readFile(`/proc/${pid}/maps`, "utf8"), memoryBytes);
  if (ram === undefined) throw new Error(`no ${memoryBytes} byte guest RAM mapping in /proc/${pid}/maps`);
  const file = await open(`/proc/${pid}/mem`, "r");
  const digests: string[] = [];
  try {
    const buffer = new Uint8Array(CHUNK);
    for (let offset = 0; offset < memoryBytes; offset += CHUNK) {
      const { bytesRead } = await file.read(buffer, 0, CHUNK, ram.start + offset);
      for (let p = 0; p + PAGE <= bytesRead; p += PAGE) {
        const page = buffer.subarray(p, p + PAGE);
        digests.push(isZeroPage(page) ? "" : createHash("sha1").update(page).digest("base64"));
      }
    }
  } finally {
    await file.close();
  }
  return digests;
}

/** The pages that did not change between two reads of a running guest and are not zero: its steady memory (kernel text, data at rest). */
export function steadyPages(first: readonly string[], second: readonly string[]): Map<number, string> {
  const steady = new Map<number, string>();
  first.forEach((digest, i) => {
    if (digest !== "" && second[i] === digest) steady.set(i, digest);
  });
  return steady;
}
