// Waiting for a test guest to boot, from its serial console: the driver writes each QEMU's
// console to `<runDir>/<vm>-<tag>-<random>.serial`, and the guest prints its ready line once
// its services run. A TCG guest migrated in its first second of boot was seen to crash on the
// destination (QEMU-NOTES, trap 14), so tests move booted guests, as users do.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { ErrorCode, FerryError } from "../../../core/errors.ts";
import { systemClock } from "../../clock.ts";
import { parseGuestReady } from "../../../lab/guest.ts";

/** What the consoles of `vm`'s QEMUs in `runDir` said so far, oldest file first. */
export async function consoleText(runDir: string, vm: string): Promise<string> {
  const prefix = `${vm.replace(/[^\w.-]/g, "_")}-`;
  const files = (await readdir(runDir)).filter((f) => f.startsWith(prefix) && f.endsWith(".serial")).sort();
  return (await Promise.all(files.map((f) => readFile(join(runDir, f), "utf8").catch(() => "")))).join("");
}

/** Resolves once `vm`'s guest printed its ready line in `runDir`; fails after `timeoutMs` saying what the console showed. */
export async function guestBooted(runDir: string, vm: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await consoleText(runDir, vm);
    if (parseGuestReady(text) !== null) return;
    if (Date.now() > deadline) {
      const tail = text.trimEnd().split("\n").slice(-5).join(" | ");
      throw new FerryError(ErrorCode.unavailable, `the guest of ${vm} did not print its ready line within ${timeoutMs} ms; its console ends: ${tail === "" ? "(nothing)" : tail}`);
    }
    await systemClock.sleep(200);
  }
}

/** The MD5s of its filled memory a guest printed so far (`ferry.fill_check_s`), oldest first. */
export async function fillChecksums(runDir: string, vm: string): Promise<string[]> {
  return [...(await consoleText(runDir, vm)).matchAll(/ferry-guest: fill n=\d+ md5=([0-9a-f]{32})/g)].flatMap((m) => (m[1] === undefined ? [] : [m[1]]));
}

/** The first filled-memory MD5 `vm`'s guest prints in `runDir` after the `seen` it had printed before. */
export async function nextFillChecksum(runDir: string, vm: string, seen = 0, timeoutMs = 120_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const sums = await fillChecksums(runDir, vm);
    const next = sums[seen];
    if (next !== undefined) return next;
    if (Date.now() > deadline) throw new FerryError(ErrorCode.unavailable, `the guest of ${vm} printed no filled-memory checksum within ${timeoutMs} ms (it had printed ${sums.length})`);
    await systemClock.sleep(200);
  }
}
