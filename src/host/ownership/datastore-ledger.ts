// Ownership records on a datastore both hosts mount, the way VMFS keeps a VM's lock on the
// volume that holds its files. Each generation is its own file, `<generation>.json`, in
// `.ferry/owners/<vm>/`; a claim writes the next one with link(2), which fails when the name
// exists, atomically on local file systems and on NFS (the classic NFS lock-file idiom: the
// content is complete before the name appears, so a reader never sees half a record). The
// highest generation is the record. A claim is won only once it is durable: the record's bytes
// are synced before the link and the directory after it, so a datastore server or host that
// loses power after the winner resumed the VM cannot come back with the loser's record (the
// winner would run the VM while the record names the other host).
import { randomBytes } from "node:crypto";
import { link, mkdir, readdir, readFile, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { OwnershipSchema, type Ownership } from "../../core/ownership.ts";
import { syncDirectory, writeNewFileSynced } from "../durable.ts";
import { claimWith, type OwnershipLedger } from "./ledger.ts";

export const OWNERS_DIR = join(".ferry", "owners");
/** Generations kept behind the newest, for the record's history. */
const KEEP = 8;

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

  const create = async (record: Ownership): Promise<"created" | "exists"> => {
    const dir = dirOf(record.vm);
    const temp = join(dir, `.claim-${randomBytes(8).toString("hex")}`);
    try {
      const made = await mkdir(dir, { recursive: true, mode: 0o700 });
      if (made !== undefined) await syncMade(made, dir);
      await writeNewFileSynced(temp, `${JSON.stringify(record)}\n`, 0o600);
      await link(temp, join(dir, `${record.generation}.json`));
      await syncDirectory(dir);
      return "created";
    } catch (error) {
      if (errnoCode(error) === "EEXIST") return "exists";
      throw unavailable(record.vm, error);
    } finally {
      await rm(temp, { force: true }).catch(() => undefined);
    }
  };

  const prune = async (vm: string): Promise<void> => {
    const old = (await generations(vm)).slice(KEEP + 1);
    await Promise.all(old.map((g) => rm(join(dirOf(vm), `${g}.json`), { force: true }).catch(() => undefined)));
  };

  return {
    where,
    read,
    async claim(vm, expected, owner, migrationId) {
      const result = await claimWith(vm, expected, owner, migrationId, () => read(vm), create, now);
      if (result.won) await prune(vm).catch(() => undefined);
      return result;
    },
  };
}
