// A datastore on a Linux host: a directory (in real life an NFS or other shared mount) that
// holds Ferry's identity file. Hosts recognise the same datastore by its uuid, whatever path
// each mounts it at, the way vSphere recognises a VMFS/NFS volume by its UUID and not by a
// host's mount point. The name is what people and inventories call it.
import { randomBytes, randomUUID } from "node:crypto";
import { constants } from "node:fs";
import { open, readFile, rename, rm, stat } from "node:fs/promises";
import { isAbsolute, join, relative as relativePath, resolve } from "node:path";
import { z } from "zod";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { writeNewFileSynced } from "./durable.ts";

export const DATASTORE_IDENTITY_FILE = ".ferry-datastore.json";
const PROBE_PREFIX = ".ferry-write-probe-";

export const DatastoreIdentitySchema = z.object({
  version: z.literal(1),
  uuid: z.uuid(),
  name: z.string().min(1),
  createdAt: z.iso.datetime({ offset: true }),
});
export type DatastoreIdentity = z.output<typeof DatastoreIdentitySchema>;

export type DatastoreReading =
  | { readonly ok: true; readonly identity: DatastoreIdentity; readonly path: string }
  | { readonly ok: false; readonly path: string; readonly reason: string };

/** Creates and removes a file in `dir`; rejects when that is not possible. */
export type WriteProbe = (dir: string) => Promise<void>;

function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function reasonOf(error: unknown): string {
  return errnoCode(error) ?? (error instanceof Error ? error.message : String(error));
}

/**
 * The real write check: create a file with a random name, then remove it. access(W_OK) is
 * not enough: on NFS with root_squash it answers from the mode bits while the server refuses.
 */
export const probeWrite: WriteProbe = async (dir) => {
  const probe = join(dir, `${PROBE_PREFIX}${randomBytes(6).toString("hex")}`);
  const handle = await open(probe, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  await handle.close();
  await rm(probe, { force: true });
};

/** Refuses a datastore name that is empty or holds `/` or `:` (datastore paths are written `name:file`). */
export function checkDatastoreName(name: string): void {
  if (name.trim() === "" || /[/:]/.test(name)) {
    throw new FerryError(ErrorCode.invalidInput, `Datastore name "${name}" must not be empty or contain '/' or ':'.`);
  }
}

/** Why `path` cannot be a datastore directory, or undefined when it is a directory. */
async function directoryProblem(path: string): Promise<{ readonly code: ErrorCode; readonly reason: string } | undefined> {
  try {
    const info = await stat(path);
    return info.isDirectory() ? undefined : { code: ErrorCode.invalidInput, reason: `${path} is not a directory.` };
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return { code: ErrorCode.notFound, reason: `${path} does not exist (is the share mounted?).` };
    return { code: ErrorCode.io, reason: `${path} cannot be read (${reasonOf(error)}).` };
  }
}

/** The identity file's contents, or the sentence saying why there is none. */
async function readIdentity(path: string): Promise<DatastoreIdentity | string> {
  const file = join(path, DATASTORE_IDENTITY_FILE);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return `${path} is not a Ferry datastore: run \`ferry datastore init ${path} --name NAME\`.`;
    return `${file} cannot be read (${reasonOf(error)}).`;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return `${file} is not valid JSON.`;
  }
  const parsed = DatastoreIdentitySchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  return `${file} is not a Ferry datastore identity (${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}).`;
}

/**
 * Reads the datastore at `path`: its identity, and whether this host can write there. Never
 * throws: every problem is one sentence in `reason`.
 */
export async function readDatastore(path: string, options: { probe?: WriteProbe } = {}): Promise<DatastoreReading> {
  const notDirectory = await directoryProblem(path);
  if (notDirectory !== undefined) return { ok: false, path, reason: notDirectory.reason };
  const identity = await readIdentity(path);
  if (typeof identity === "string") return { ok: false, path, reason: identity };
  try {
    await (options.probe ?? probeWrite)(path);
  } catch (error) {
    return { ok: false, path, reason: `${path} is not writable by this host (${reasonOf(error)}): check the export's permissions and root squashing.` };
  }
  return { ok: true, identity, path };
}

async function refuseExisting(path: string, force: boolean): Promise<void> {
  const problem = await directoryProblem(path);
  if (problem !== undefined) throw new FerryError(problem.code, problem.reason);
  if (force) return;
  const existing = await readIdentity(path);
  if (typeof existing !== "string") {
    throw new FerryError(ErrorCode.conflict, `${path} is already Ferry datastore "${existing.name}" (${existing.uuid}); pass --force to give it a new identity.`, {
      details: existing,
    });
  }
}

/** Writes `text` to `file` through a temporary file and a rename, so a reader sees all or nothing. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const temporary = `${file}.tmp-${randomBytes(6).toString("hex")}`;
  try {
    // Exactly 0644 whatever the umask: every host must read the identity.
    await writeNewFileSynced(temporary, text, 0o644);
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw new FerryError(ErrorCode.io, `Cannot write ${file} (${reasonOf(error)}).`, { cause: error });
  }
}

/**
 * Makes the directory `path` a datastore named `name` with a new uuid. Refuses a directory
 * that already is one unless `force` (which gives it a new uuid: hosts then see a new datastore).
 */
export async function initDatastore(path: string, name: string, options: { force?: boolean } = {}): Promise<DatastoreIdentity> {
  checkDatastoreName(name);
  await refuseExisting(path, options.force ?? false);
  const identity: DatastoreIdentity = { version: 1, uuid: randomUUID(), name, createdAt: new Date().toISOString() };
  await writeAtomically(join(path, DATASTORE_IDENTITY_FILE), `${JSON.stringify(identity, null, 2)}\n`);
  return identity;
}

/**
 * The absolute path of a datastore-relative file (`vms/web01/disk0.qcow2`). Refuses an
 * absolute path and any path that `..` takes outside the datastore. The check is lexical:
 * a symlink inside the datastore is the administrator's to answer for.
 */
export function resolveOnDatastore(mountPath: string, relative: string): string {
  if (relative === "" || relative.includes("\0")) {
    throw new FerryError(ErrorCode.invalidInput, `"${relative}" is not a file path on a datastore.`);
  }
  if (isAbsolute(relative)) {
    throw new FerryError(ErrorCode.invalidInput, `"${relative}" is absolute; a file on a datastore is named relative to it.`);
  }
  const root = resolve(mountPath);
  const full = resolve(root, relative);
  const inside = relativePath(root, full);
  if (inside === "" || inside === ".." || inside.startsWith("../") || isAbsolute(inside)) {
    throw new FerryError(ErrorCode.invalidInput, `"${relative}" leaves the datastore at ${mountPath}.`);
  }
  return full;
}
