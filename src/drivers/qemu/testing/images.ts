// Disk images in the QEMU tests, read and written from outside the VM with Debian's qemu-utils
// (qemu-img, qemu-io). A machine without them FAILS these tests saying what to install.
import { execFile, spawnSync } from "node:child_process";

/** Throws (failing the calling test) with the fix when qemu-img or qemu-io is missing. */
export function requireQemuImg(): void {
  for (const tool of ["qemu-img", "qemu-io"]) {
    if (spawnSync(tool, ["--version"], { stdio: "ignore" }).status !== 0) throw new Error(`disk tests cannot run: ${tool} is not installed: run \`apt-get install -y qemu-utils\` as root (or bash scripts/setup-system.sh)`);
  }
}

export interface ToolResult {
  readonly ok: boolean;
  readonly output: string;
}

/** Runs a qemu-utils tool; never rejects, says whether it exited 0 and what it printed. */
export function runTool(command: string, args: readonly string[]): Promise<ToolResult> {
  return new Promise((resolve) => {
    execFile(command, [...args], { encoding: "utf8", timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ ok: error === null, output: `${stdout}${stderr}` });
    });
  });
}

/**
 * One qemu-io command on `file` (`write -P 0x5a 0 64k`, `read -P 0x5a 0 64k`). Like any
 * opener it takes the image's lock, so it fails while a QEMU holds the file for writing.
 */
export function qemuIo(file: string, format: "raw" | "qcow2", command: string, readOnly = false): Promise<ToolResult> {
  return runTool("qemu-io", [...(readOnly ? ["-r"] : []), "-f", format, "-c", command, file]);
}

/** The format and virtual size qemu-img reads (-U: whoever holds the lock). */
export async function imageInfo(file: string): Promise<{ readonly format: string; readonly virtualSize: number }> {
  const { ok, output } = await runTool("qemu-img", ["info", "-U", "--output=json", file]);
  if (!ok) throw new Error(`qemu-img info ${file}: ${output}`);
  const info = JSON.parse(output) as { format: string; "virtual-size": number };
  return { format: info.format, virtualSize: info["virtual-size"] };
}

/**
 * Whether some QEMU holds `file` for writing: `qemu-img info` without -U needs the other
 * openers to share "write", and a writing QEMU does not (QEMU's image locking).
 */
export async function heldForWriting(file: string): Promise<boolean> {
  const { ok, output } = await runTool("qemu-img", ["info", file]);
  if (ok) return false;
  if (/Failed to get shared "write" lock/.test(output)) return true;
  throw new Error(`qemu-img info ${file} failed for another reason: ${output}`);
}
