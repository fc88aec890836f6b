// Guests with memory writers for the QEMU lab's benchmarks. The lab's VMs boot boot.iso through
// SeaBIOS, whose isolinux passes a fixed kernel command line, so a writer (the guest init's
// `ferry.dirty_mib_s` / `ferry.dirty_ws_mib`, scripts/guest/ferry-dirty) needs an ISO of its own:
// boot.iso's files with the writer's words appended to isolinux.cfg, written next to boot.iso on
// the shared datastore. A bursty writer also gets an initramfs overlay (a second gzip cpio
// appended to initrd.gz, which Linux unpacks over the first) whose /bin/ferry-dirty writes at
// the asked rate for `burst` seconds, then rests as long.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode, FerryError } from "../src/core/errors.ts";

/** One guest's writer: MiB/s over a working set; `burstSec` > 0: on that long, then off as long. */
export interface Writer {
  readonly name: string;
  readonly memoryMB: number;
  readonly mibPerSec: number;
  readonly workingSetMiB: number;
  readonly burstSec: number;
}

function run(cmd: string, args: readonly string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: "utf8", cwd, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout);
      else reject(new FerryError(ErrorCode.io, `${cmd} failed: ${stderr.trim().split("\n").pop() ?? error.message}`, { cause: error }));
    });
  });
}

// The bursty writer: ferry-dirty's loop (1 MiB dd at a time, paced by /proc/uptime), silent for
// every other period of `ferry.burst_s` seconds. Random source data, so page sampling sees it.
const BURSTY_DIRTY = `#!/bin/sh
rate=$1 ws=$2 burst=2
for word in $(cat /proc/cmdline); do case "$word" in ferry.burst_s=*) burst=\${word#ferry.burst_s=} ;; esac; done
file=/dev/shm/ferry-dirty
dd if=/dev/zero of=$file bs=1048576 count="$ws" 2>/dev/null || exit 1
dd if=/dev/urandom of=/dev/shm/ferry-pool bs=1048576 count=4 2>/dev/null || exit 1
centis() { read -r up _ < /proc/uptime; up=\${up%.*}\${up#*.}; while [ "\${#up}" -gt 1 ] && [ "\${up#0}" != "$up" ]; do up=\${up#0}; done; echo "$up"; }
pos=0 src=0 next=$(centis)
while :; do
  now=$(centis)
  if [ $(((now / (burst * 100)) % 2)) -eq 0 ]; then
    i=0
    while [ $i -lt "$rate" ]; do
      dd if=/dev/shm/ferry-pool of=$file bs=4096 count=256 skip=$src seek=$((pos * 256)) conv=notrunc 2>/dev/null
      pos=$(((pos + 1) % ws)); src=$(((src + 7) % 768)); i=$((i + 1))
    done
  fi
  next=$((next + 100)); now=$(centis)
  if [ "$next" -gt "$now" ]; then usleep $(((next - now) * 10000)); else next=$now; fi
done
`;

/** The files of boot.iso, extracted once per directory. */
async function extracted(bootIso: string, into: string): Promise<string> {
  const dir = join(into, "boot-iso");
  rmSync(dir, { recursive: true, force: true });
  await run("xorriso", ["-osirrox", "on", "-indev", bootIso, "-extract", "/", dir]);
  // xorriso extracts read-only files; the copies are edited.
  await run("chmod", ["-R", "u+w", dir]);
  return dir;
}

/** A gzip cpio (newc) holding /bin/ferry-dirty: the bursty writer over the guest's own. */
async function burstyOverlay(work: string): Promise<Buffer> {
  const root = join(work, "overlay");
  mkdirSync(join(root, "bin"), { recursive: true });
  writeFileSync(join(root, "bin", "ferry-dirty"), BURSTY_DIRTY);
  chmodSync(join(root, "bin", "ferry-dirty"), 0o755);
  const list = join(work, "overlay.list");
  writeFileSync(list, "bin\nbin/ferry-dirty\n");
  await run("sh", ["-c", `cpio --quiet -o -H newc -R 0:0 < ${list} | gzip -9 > ${join(work, "overlay.cpio.gz")}`], root);
  return readFileSync(join(work, "overlay.cpio.gz"));
}

/**
 * Writes `<writer.name>.iso` into `datastoreDir` (where boot.iso is) and returns its file name:
 * boot.iso with the writer on isolinux's command line.
 */
export async function writerIso(datastoreDir: string, writer: Writer): Promise<string> {
  const work = mkdtempSync(join(tmpdir(), "ferry-writer-"));
  try {
    const iso = await extracted(join(datastoreDir, "boot.iso"), work);
    const cfg = join(iso, "isolinux", "isolinux.cfg");
    const words = writer.mibPerSec > 0 ? ` ferry.dirty_mib_s=${writer.mibPerSec} ferry.dirty_ws_mib=${writer.workingSetMiB}${writer.burstSec > 0 ? ` ferry.burst_s=${writer.burstSec}` : ""}` : "";
    const text = readFileSync(cfg, "utf8").replace(/^(\s*append .*)$/m, `$1${words}`);
    if (!text.includes("ferry.boot=iso")) throw new FerryError(ErrorCode.internal, "boot.iso's isolinux.cfg has no append line to extend");
    writeFileSync(cfg, text);
    if (writer.burstSec > 0) appendFileSync(join(iso, "isolinux", "initrd.gz"), await burstyOverlay(work));
    const file = `${writer.name}.iso`;
    // The flags scripts/build-guest.sh makes boot.iso with.
    await run("xorriso", ["-as", "mkisofs", "-quiet", "-o", join(datastoreDir, file), "-V", "FERRY_GUEST", "-J", "-r", "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table", iso]);
    return file;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
