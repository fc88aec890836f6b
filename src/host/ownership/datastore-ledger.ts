// Ownership records on a datastore both hosts mount, the way VMFS keeps a VM's lock on the
// volume that holds its files. Each generation is its own file, `<generation>.json`, in
// `.ferry/owners/<vm>/`; a claim writes the next one with link(2), which fails when the name
// exists, atomically on local file systems and on NFS (the classic NFS lock-file idiom: the
// content is complete before the name appears, so a reader never sees half a record). The
// highest generation is the record. A claim is won only once it is durable: the record's bytes
// are synced before the link and the directory after it, so a datastore server or host that
// loses power after the winner resumed the VM cannot come back with the loser's record (the
// winner would run the VM while the record names the other host).
// A migration's destination readies its claim while the stream runs (`prepare`): the record
// written and synced under its temporary name, so that inside the VM's downtime the claim only
// reads the record, links that file and syncs the directory. The temporary file is no record
// (readers look at `<generation>.json` only); one a migration left behind is swept after an hour.
import { randomBytes } from "node:crypto";
import { link, mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { OwnershipSchema, type Ownership } from "../../core/ownership.ts";
import { syncDirectory, writeNewFileSynced } from "../durable.ts";
import { claimWith, nextRecord, type OwnershipLedger } from "./ledger.ts";

export const OWNERS_DIR = join(".ferry", "owners");
/** Generations kept behind the newest, for the record's history. */
const KEEP = 8;
/** A readied claim's file this old belongs to a migration that ended without its claim. */
export const STALE_PREPARED_MS = 60 * 60_000;
const PREPARED_PREFIX = ".claim-";

/** A claim readied by `prepare`: its record, synced under the temporary name `temp`. */
interface Prepared {
  readonly record: Ownership;
  readonly temp: string;
}

function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** A VM name as one path component: no `/`, no `..`, whatever the name holds. */
function component(vm: string): string {
  return encodeURIComponent(vm).replace(/\./g, "%2E");
}

/** Directories mkdir made, `first` (the outermost) down to `last`, durable in their parents: every parent from first's to last's, synced. */
async function syncMade(first: string, last: string): Promise<void> {
  const parents: string[] = [];
  for (let p = dirname(last); p.length >= dirname(first).length && p !== dirname(p); p = dirname(p)) parents.push(p);
  for (const p of parents) await syncDirectory(p);
}

export function datastoreLedger(mountPath: string, datastoreName: string, now: () => number = Date.now): OwnershipLedger {
  const where = `datastore ${datastoreName}`;
  const dirOf = (vm: string): string => join(mountPath, OWNERS_DIR, component(vm));
  const unavailable = (vm: string, error: unknown): FerryError =>
    new FerryError(ErrorCode.unavailable, `the ownership record of ${vm} on ${where} (${mountPath}) cannot be reached: ${errnoCode(error) ?? String(error)}`, { cause: error, retryable: true, details: { vm, datastore: datastoreName } });

  const generations = async (vm: string): Promise<number[]> => {
    try {
      const names = await readdir(dirOf(vm));
      return names.flatMap((n) => (/^[1-9][0-9]*\.json$/.test(n) ? [Number(n.slice(0, -5))] : [])).sort((a, b) => b - a);
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return [];
      throw unavailable(vm, error);
    }
  };

  const read = async (vm: string): Promise<Ownership | undefined> => {
    const newest = (await generations(vm))[0];
    if (newest === undefined) return undefined;
    try {
      return OwnershipSchema.parse(JSON.parse(await readFile(join(dirOf(vm), `${newest}.json`), "utf8")));
    } catch (error) {
      if (error instanceof SyntaxError || (error as { name?: unknown }).name === "ZodError") {
        throw new FerryError(ErrorCode.internal, `the ownership record ${join(dirOf(vm), `${newest}.json`)} is damaged; an operator must decide where ${vm} runs`, { details: { vm } });
      }
      throw unavailable(vm, error);
    }
  };

  /** The record synced under a temporary name in its VM's directory (made durable when new). */
  const writeTemp = async (record: Ownership): Promise<string> => {
    const dir = dirOf(record.vm);
    const temp = join(dir, `${PREPARED_PREFIX}${randomBytes(8).toString("hex")}`);
    const made = await mkdir(dir, { recursive: true, mode: 0o700 });
    if (made !== undefined) await syncMade(made, dir);
    await writeNewFileSynced(temp, `${JSON.stringify(record)}\n`, 0o600);
    return temp;
  };

  /** Takes the generation: links a readied file when there is one, else writes the record whole first. */
  const create = async (record: Ownership, prepared: Prepared | undefined): Promise<"created" | "exists"> => {
    const named = join(dirOf(record.vm), `${record.generation}.json`);
    let temp = prepared?.record === record ? prepared.temp : undefined;
    try {
      temp ??= await writeTemp(record);
      try {
        await link(temp, named);
      } catch (error) {
        // The readied file was swept meanwhile: write it whole after all.
        if (errnoCode(error) !== "ENOENT" || temp !== prepared?.temp) throw error;
        temp = await writeTemp(record);
        await link(temp, named);
      }
      await syncDirectory(dirOf(record.vm));
      return "created";
    } catch (error) {
      if (errnoCode(error) === "EEXIST") return "exists";
      throw unavailable(record.vm, error);
    } finally {
      // Its name is no longer needed whatever happened: removed after the answer, outside the claim's time.
      if (temp !== undefined) void rm(temp, { force: true }).catch(() => undefined);
    }
  };

  /** Old generations beyond KEEP, and readied files older than STALE_PREPARED_MS. */
  const prune = async (vm: string): Promise<void> => {
    const dir = dirOf(vm);
    const old = (await generations(vm)).slice(KEEP + 1);
    const prepared = (await readdir(dir)).filter((n) => n.startsWith(PREPARED_PREFIX));
    const cutoff = now() - STALE_PREPARED_MS;
    const stale = await Promise.all(prepared.map((n) => stat(join(dir, n)).then((s) => (s.mtimeMs < cutoff ? [n] : []), () => [])));
    await Promise.all([...old.map((g) => `${g}.json`), ...stale.flat()].map((n) => rm(join(dir, n), { force: true }).catch(() => undefined)));
  };

  /** Claims readied by `prepare`, by what they claim. */
  const readied = new Map<string, Promise<Prepared | undefined>>();
  const keyOf = (vm: string, expected: number, owner: string, migrationId: string | undefined): string => JSON.stringify([vm, expected, owner, migrationId ?? null]);

  return {
    where,
    read,
    async claim(vm, expected, owner, migrationId) {
      const key = keyOf(vm, expected, owner, migrationId);
      const prepared = await readied.get(key);
      readied.delete(key);
      const result = await claimWith(vm, expected, owner, migrationId, () => read(vm), (record) => create(record, prepared), now, prepared?.record);
      // After the answer: the VM may run meanwhile.
      if (result.won) void prune(vm).catch(() => undefined);
      return result;
    },
    prepare(vm, expected, owner, migrationId) {
      const key = keyOf(vm, expected, owner, migrationId);
      if (!readied.has(key)) {
        const record = nextRecord(vm, expected, owner, migrationId, now());
        // Nothing is decided here: a prepare that fails leaves the claim to write the record whole.
        readied.set(key, writeTemp(record).then((temp) => ({ record, temp }), () => undefined));
      }
      return readied.get(key)?.then(() => undefined) ?? Promise.resolve();
    },
  };
}
