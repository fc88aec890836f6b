// Ferry's tiny test guest, as the lab and the QEMU tests see it: where scripts/build-guest.sh
// puts the kernel and initramfs (and boot.iso, the same guest booted through firmware), the
// kernel command line its init reads (scripts/guest/init), and the ready line it prints on the
// serial console.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { checkLabAddress } from "./netns.ts";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

const defaultOutDir = join(repoRoot, ".cache", "guest");

/**
 * The guest's boot files: an ELF vmlinux (booted through PVH) and a gzip cpio initramfs; and,
 * where the build made it, `iso`: a CD image whose isolinux boots Debian's bzImage with the same
 * initramfs, for a VM started through SeaBIOS with no -kernel (it takes its address by DHCP).
 * Optional because images copied for the kernel-boot guest alone (a lab datastore) carry none.
 */
export interface GuestImages {
  readonly kernel: string;
  readonly initrd: string;
  readonly iso?: string;
}

/** Where the build script puts the kernel-boot images in `outDir` (default `.cache/guest` in the repository). */
export function guestImages(outDir: string = defaultOutDir): GuestImages {
  return { kernel: join(outDir, "vmlinux"), initrd: join(outDir, "initrd.gz") };
}

/** Where the build script puts boot.iso in `outDir` (default `.cache/guest` in the repository). */
export function guestIso(outDir: string = defaultOutDir): string {
  return join(outDir, "boot.iso");
}

/** All three images in `outDir`, `iso` included. */
export function allGuestImages(outDir: string = defaultOutDir): Required<GuestImages> {
  return { ...guestImages(outDir), iso: guestIso(outDir) };
}

/** What the guest's init is told on the kernel command line. */
export interface GuestConfig {
  /** eth0's address with prefix, inside 198.18.0.0/16 (the lab's VM networks). */
  readonly ip: string;
  /** TCP port of the sequence-echo service. */
  readonly port?: number;
  /** MiB of memory rewritten per second; 0 or absent: idle. */
  readonly dirtyMiBPerSecond?: number;
  /** Working set the writer cycles over, in MiB; must fit beside the kernel in guest RAM. */
  readonly dirtyWorkingSetMiB?: number;
}

const defaults = { port: 7000, dirtyMiBPerSecond: 0, dirtyWorkingSetMiB: 32 } as const;

function checkWhole(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new FerryError(ErrorCode.invalidInput, `Guest ${name} ${value} must be a whole number from ${min} to ${max}.`);
  }
}

/** The kernel command line (`-append`) for `config`, serial console on ttyS0. */
export function guestKernelCommandLine(config: GuestConfig): string {
  checkLabAddress(config.ip);
  const port = config.port ?? defaults.port;
  const rate = config.dirtyMiBPerSecond ?? defaults.dirtyMiBPerSecond;
  const ws = config.dirtyWorkingSetMiB ?? defaults.dirtyWorkingSetMiB;
  checkWhole("port", port, 1, 65535);
  checkWhole("dirty rate (MiB/s)", rate, 0, 65536);
  checkWhole("dirty working set (MiB)", ws, 1, 65536);
  return [
    "console=ttyS0",
    "quiet",
    `ferry.ip=${config.ip}`,
    `ferry.port=${port}`,
    `ferry.dirty_mib_s=${rate}`,
    `ferry.dirty_ws_mib=${ws}`,
  ].join(" ");
}

/** What the guest's ready line says it is running with. */
export interface GuestReady {
  readonly ip: string | null;
  readonly port: number;
  readonly dirtyMiBPerSecond: number;
  readonly dirtyWorkingSetMiB: number;
}

const readyPattern = /ferry-guest: ready ip=(\S+) port=(\d+) dirty_mib_s=(\d+) dirty_ws_mib=(\d+)/;

/** Finds the ready line in serial console output; null until the guest has printed it. */
export function parseGuestReady(serial: string): GuestReady | null {
  const match = readyPattern.exec(serial);
  if (match === null) return null;
  const [, ip = "none", port = "0", rate = "0", ws = "0"] = match;
  return { ip: ip === "none" ? null : ip, port: Number(port), dirtyMiBPerSecond: Number(rate), dirtyWorkingSetMiB: Number(ws) };
}

/**
 * Runs scripts/build-guest.sh (a no-op when the images are up to date) and returns their
 * paths, boot.iso's included. As root on Debian the script installs missing packages; otherwise its error names
 * the apt-get command, and that sentence becomes this FerryError's message.
 */
export function buildGuest(outDir?: string): Promise<Required<GuestImages>> {
  const args = [join(repoRoot, "scripts", "build-guest.sh"), ...(outDir === undefined ? [] : [outDir])];
  return new Promise((resolve, reject) => {
    execFile("bash", args, { encoding: "utf8", timeout: 600_000 }, (error, _stdout, stderr) => {
      if (error === null) {
        resolve(allGuestImages(outDir));
        return;
      }
      const reason = stderr.trim().split("\n").pop() ?? error.message;
      reject(new FerryError(ErrorCode.io, `Building the test guest failed: ${reason}`, { cause: error, details: { command: ["bash", ...args].join(" "), stderr } }));
    });
  });
}
