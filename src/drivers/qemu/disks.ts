// A VM's disks and CD-ROMs on one host: where its image files and ISOs are (a datastore's
// mount path, which the agent knows and may differ per host), whether the datastore takes
// O_DIRECT, creating and deleting disk files with qemu-img. The command line (command-line.ts)
// gets only resolved files; this is the one place that touches them.
//
// Shared storage and live migration: both QEMUs open the same image file. The page cache of
// the destination's host may hold pages of that file from before the source wrote them, so
// images are opened with O_DIRECT (QEMU's cache=none) wherever the filesystem allows it.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { mkdir, open, rm, stat, unlink } from "node:fs/promises";
import { dirname, isAbsolute, join, relative as relativePath, resolve } from "node:path";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { CdromBacking, type VmDiskSpec, type VmSpec } from "../driver.ts";
import { checkVmHardware, type QemuCdromMedium, type QemuDiskFile } from "./command-line.ts";

/** The host's mount path of a datastore, undefined when this host does not have it. */
export type DatastorePath = (datastore: string) => string | undefined;

export interface ResolvedStorage {
  readonly disks: readonly QemuDiskFile[];
  readonly cdroms: readonly QemuCdromMedium[];
}

export interface VmStorageOptions {
  /** This host's name, for messages. */
  readonly host: string;
  readonly datastorePath?: DatastorePath | undefined;
  /** Whether a directory's filesystem takes O_DIRECT; default `probeDirectIo`. */
  readonly probeDirectIo?: ((directory: string) => Promise<boolean>) | undefined;
  /** Each warning once, as it is found (the agent's log). */
  readonly onWarning?: ((message: string) => void) | undefined;
  /** Default `qemu-img` from PATH (Debian package qemu-utils). */
  readonly qemuImg?: string | undefined;
}

export interface VmStorage {
  /**
   * Where this host opens `spec`'s disks and CD-ROM media, for a start or an incoming
   * migration. Refuses (INVALID_INPUT, naming the VM, the file and the datastore) a datastore
   * this host does not have, a file that is not there, a host drive it lacks.
   */
  resolve(spec: VmSpec): Promise<ResolvedStorage>;
  /**
   * At create: makes each missing disk file that has a size (`qemu-img create -f FORMAT`),
   * refuses one without, and refuses an existing file whose format is not the declared one.
   */
  provision(spec: VmSpec): Promise<void>;
  /** The disk files (never ISOs) of `spec` on this host; refuses what `resolve` refuses. */
  diskFiles(spec: VmSpec): readonly string[];
  /** Deletes files `diskFiles` named; a file already gone is fine. */
  remove(files: readonly string[]): Promise<void>;
  /** What this host's storage does that an operator should know (O_DIRECT fallbacks). */
  warnings(): readonly string[];
}

function invalid(message: string, details: unknown): FerryError {
  return new FerryError(ErrorCode.invalidInput, message, { details });
}

/**
 * `relative` inside the datastore mounted at `mount`. Refuses an absolute path or one with a
 * `..` segment (even one that would stay inside: a path names one file, plainly).
 */
export function datastoreFile(mount: string, relative: string, what: string): string {
  const segments = relative.split(/[\\/]+/);
  if (relative === "" || isAbsolute(relative) || relative.includes("\0") || segments.includes("..")) {
    throw invalid(`${what}: path ${JSON.stringify(relative)} must be relative to its datastore, without ".."`, { path: relative });
  }
  const root = resolve(mount);
  const file = resolve(root, relative);
  const inside = relativePath(root, file);
  if (inside === "" || inside.startsWith("..") || isAbsolute(inside)) throw invalid(`${what}: path ${JSON.stringify(relative)} names no file inside its datastore`, { path: relative });
  return file;
}

/**
 * Whether files in `directory` can be opened with O_DIRECT: a probe file is created with it,
 * then removed. EINVAL is the filesystem's "no" (tmpfs before Linux 6.6, some FUSE mounts);
 * any other error says nothing about O_DIRECT, so the answer stays yes and QEMU reports it.
 */
export async function probeDirectIo(directory: string): Promise<boolean> {
  const probe = join(directory, `.ferry-direct-io-${randomBytes(4).toString("hex")}`);
  try {
    const handle = await open(probe, constants.O_CREAT | constants.O_EXCL | constants.O_RDWR | constants.O_DIRECT, 0o600);
    await handle.close();
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "EINVAL";
  } finally {
    await unlink(probe).catch(() => undefined);
  }
}

async function kindOf(path: string): Promise<"file" | "device" | "other" | undefined> {
  try {
    const info = await stat(path);
    if (info.isFile()) return "file";
    return info.isBlockDevice() ? "device" : "other";
  } catch {
    return undefined;
  }
}

function run(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, [...args], { encoding: "utf8", timeout: 60_000 }, (error, stdout, stderr) => {
      if (error === null) {
        resolve(stdout);
        return;
      }
      if ((error as NodeJS.ErrnoException).code === "ENOENT") {
        reject(new FerryError(ErrorCode.unavailable, `${command} is not installed: apt-get install -y qemu-utils`, { cause: error }));
        return;
      }
      const reason = stderr.trim().split("\n").pop() ?? error.message;
      reject(new FerryError(ErrorCode.io, `${command} ${args[0] ?? ""} failed: ${reason.replace(/^qemu-img:\s*/, "")}`, { cause: error, details: { args, stderr } }));
    });
  });
}

/** The mount path of `datastore` on this host; refuses a VM's file on a datastore the host does not have. */
function mountOf(options: VmStorageOptions, vm: string, datastore: string, what: string, path: string): string {
  const mount = options.datastorePath?.(datastore);
  if (mount === undefined) throw invalid(`${options.host} does not have datastore "${datastore}", which holds ${what} (${path})`, { vm, datastore, path });
  return mount;
}

function diskFile(options: VmStorageOptions, vm: string, disk: VmDiskSpec): { readonly mount: string; readonly path: string } {
  const what = `disk ${disk.name} of ${vm}`;
  const mount = mountOf(options, vm, disk.datastore, what, disk.path);
  return { mount, path: datastoreFile(mount, disk.path, `${what} on datastore "${disk.datastore}"`) };
}

/** Where this host finds each CD-ROM's medium: an ISO on a datastore, its own drive, or none. */
async function resolveCdroms(options: VmStorageOptions, spec: VmSpec): Promise<QemuCdromMedium[]> {
  const { host } = options;
  const media: QemuCdromMedium[] = [];
  for (const cdrom of spec.cdroms ?? []) {
    const what = `CD-ROM ${cdrom.name} of ${spec.name}`;
    // A disconnected drive is empty: its ISO's datastore need not be here.
    if (!cdrom.connected) {
      media.push({ kind: "none" });
      continue;
    }
    switch (cdrom.backing) {
      case CdromBacking.none:
        media.push({ kind: "none" });
        break;
      case CdromBacking.file: {
        const datastore = cdrom.datastore ?? "";
        const relative = cdrom.path ?? "";
        const path = datastoreFile(mountOf(options, spec.name, datastore, what, relative), relative, `${what} on datastore "${datastore}"`);
        if ((await kindOf(path)) !== "file") throw invalid(`${what}: ISO ${relative} is not a file on datastore "${datastore}" of ${host} (${path})`, { vm: spec.name, datastore, path: relative });
        media.push({ kind: "file", path });
        break;
      }
      case CdromBacking.host: {
        const device = cdrom.path ?? "";
        if ((await kindOf(device)) !== "device") throw invalid(`${what}: ${host} has no CD-ROM drive ${device}`, { vm: spec.name, device });
        media.push({ kind: "host", device });
        break;
      }
    }
  }
  return media;
}

/** A disk file provision() makes. */
interface MissingDisk {
  readonly path: string;
  readonly disk: VmDiskSpec;
  readonly sizeMB: number;
}

/**
 * provision()'s check of every disk, before anything is made: an existing file must have the
 * declared format, a missing one a size. Returns the files to make.
 */
async function disksToMake(options: VmStorageOptions, spec: VmSpec, formatOf: (path: string) => Promise<string>): Promise<MissingDisk[]> {
  const missing: MissingDisk[] = [];
  const seen = new Set<string>();
  for (const disk of spec.disks ?? []) {
    const { path } = diskFile(options, spec.name, disk);
    if (seen.has(path)) throw invalid(`disks of ${spec.name} share one file, ${path}: QEMU's lock lets only one of them write`, { vm: spec.name, path });
    seen.add(path);
    const kind = await kindOf(path);
    if (kind === "file") {
      // A raw disk that is really a qcow2 image would show the guest qcow2's metadata; a
      // qcow2 disk that is raw data would not start.
      const format = await formatOf(path);
      if (format !== disk.format) throw invalid(`disk ${disk.name} of ${spec.name}: ${disk.path} on datastore "${disk.datastore}" is a ${format} image, not ${disk.format}`, { vm: spec.name, path: disk.path, format });
    } else if (kind !== undefined) {
      throw invalid(`disk ${disk.name} of ${spec.name}: ${disk.path} on datastore "${disk.datastore}" is not a regular file`, { vm: spec.name, path: disk.path });
    } else if (disk.sizeMB === undefined) {
      throw invalid(`disk ${disk.name} of ${spec.name}: ${disk.path} does not exist on datastore "${disk.datastore}" of ${options.host}, and without sizeMB Ferry does not create it`, { vm: spec.name, datastore: disk.datastore, path: disk.path });
    } else {
      missing.push({ path, disk, sizeMB: disk.sizeMB });
    }
  }
  return missing;
}

/** Makes each disk file with qemu-img; on a failure the ones made are removed again. */
async function makeDisks(qemuImg: string, missing: readonly MissingDisk[]): Promise<void> {
  const made: string[] = [];
  try {
    for (const { path, disk, sizeMB } of missing) {
      await mkdir(dirname(path), { recursive: true });
      await run(qemuImg, ["create", "-q", "-f", disk.format, path, `${sizeMB}M`]);
      made.push(path);
    }
  } catch (error) {
    await Promise.all(made.map((path) => rm(path, { force: true })));
    throw error;
  }
}

export function createVmStorage(options: VmStorageOptions): VmStorage {
  const { host } = options;
  const qemuImg = options.qemuImg ?? "qemu-img";
  const probe = options.probeDirectIo ?? probeDirectIo;
  const directIo = new Map<string, Promise<boolean>>();
  const warnings: string[] = [];

  /** Once per datastore mount path: O_DIRECT, else a warning that says when that is safe. */
  const directIoOn = (mount: string, datastore: string): Promise<boolean> => {
    let answer = directIo.get(mount);
    if (answer === undefined) {
      answer = probe(mount).then((yes) => {
        if (!yes) {
          // cache.direct=off keeps the file in this host's page cache. That is safe only when
          // every QEMU that opens it shares that one page cache (the lab: all hosts on one
          // machine); between machines the destination could read pages older than the
          // source's last writes.
          const warning = `datastore "${datastore}" on ${host} (${mount}) does not take O_DIRECT: its disks run with cache.direct=off, safe for migration only between hosts that share one page cache (one machine)`;
          warnings.push(warning);
          options.onWarning?.(warning);
        }
        return yes;
      });
      directIo.set(mount, answer);
    }
    return answer;
  };

  const resolveDisks = async (spec: VmSpec): Promise<QemuDiskFile[]> => {
    const files: QemuDiskFile[] = [];
    for (const disk of spec.disks ?? []) {
      const { mount, path } = diskFile(options, spec.name, disk);
      if (files.some((f) => f.path === path)) throw invalid(`disks of ${spec.name} share one file, ${path}: QEMU's lock lets only one of them write`, { vm: spec.name, path });
      if ((await kindOf(path)) !== "file") {
        throw invalid(`disk ${disk.name} of ${spec.name}: ${disk.path} is not a file on datastore "${disk.datastore}" of ${host} (${path})`, { vm: spec.name, datastore: disk.datastore, path: disk.path });
      }
      files.push({ path, directIo: await directIoOn(mount, disk.datastore) });
    }
    return files;
  };

  /** The format qemu-img reads in `path` (-U: another QEMU may hold the image's lock). */
  const formatOf = async (path: string): Promise<string> => {
    const info = JSON.parse(await run(qemuImg, ["info", "-U", "--output=json", path])) as { format?: unknown };
    return typeof info.format === "string" ? info.format : "unknown";
  };

  return {
    async resolve(spec) {
      checkVmHardware(spec);
      return { disks: await resolveDisks(spec), cdroms: await resolveCdroms(options, spec) };
    },
    async provision(spec) {
      checkVmHardware(spec);
      // Check every disk first, so a refusal creates nothing.
      await makeDisks(qemuImg, await disksToMake(options, spec, formatOf));
    },
    diskFiles: (spec) => (spec.disks ?? []).map((disk) => diskFile(options, spec.name, disk).path),
    async remove(files) {
      await Promise.all(files.map((path) => rm(path, { force: true })));
    },
    warnings: () => [...warnings],
  };
}

/** One guest drive as QMP `query-block` shows it. */
export interface BlockDevice {
  /** The guest device's id (disk0, cd0). */
  readonly device: string;
  /** The image or medium open in it; undefined for an empty drive. */
  readonly file: string | undefined;
  /** The format node's driver (raw, qcow2). */
  readonly format: string | undefined;
  readonly readOnly: boolean;
  /** QEMU's cache.direct (O_DIRECT) of the device's top node. */
  readonly directIo: boolean | undefined;
}

/** `query-block`'s answer as BlockDevices; entries it cannot read are left out. */
export function parseQueryBlock(result: unknown): BlockDevice[] {
  if (!Array.isArray(result)) return [];
  const devices: BlockDevice[] = [];
  for (const entry of result as unknown[]) {
    if (typeof entry !== "object" || entry === null) continue;
    const { qdev, inserted } = entry as { qdev?: unknown; inserted?: unknown };
    if (typeof qdev !== "string") continue;
    // "/machine/peripheral/disk0/virtio-backend" for virtio-blk, "/machine/peripheral/cd0" or "cd0" for ide-cd.
    const device = /\/machine\/peripheral\/([^/]+)/.exec(qdev)?.[1] ?? qdev;
    const medium = typeof inserted === "object" && inserted !== null ? (inserted as { file?: unknown; drv?: unknown; ro?: unknown; cache?: { direct?: unknown } }) : undefined;
    devices.push({
      device,
      file: typeof medium?.file === "string" ? medium.file : undefined,
      format: typeof medium?.drv === "string" ? medium.drv : undefined,
      readOnly: medium?.ro === true,
      directIo: typeof medium?.cache?.direct === "boolean" ? medium.cache.direct : undefined,
    });
  }
  return devices;
}
