// The mapping's state file: JSON, mode 0600 (it names the host's interfaces and addresses),
// replaced whole (temporary file, fsync, rename, fsync of the directory) so a crash leaves the
// old mapping or the new one, never half of one.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { syncDirectory, writeNewFileSynced } from "../durable.ts";
import { HostNetworkMappingSchema, type HostNetworkMapping } from "../network-config.ts";

/** The mapping in `path`, or `initial` (or an empty mapping) when there is no such file yet. */
export function loadMappingFile(path: string, initial: HostNetworkMapping | undefined): HostNetworkMapping {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ENOENT") return HostNetworkMappingSchema.parse(initial ?? {});
    throw new FerryError(ErrorCode.io, `Cannot read the network state file ${path}: ${(cause as Error).message}.`, { cause });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new FerryError(ErrorCode.invalidInput, `The network state file ${path} is not JSON (${(cause as Error).message}); restore it or remove it to start from the config's network section.`, { cause });
  }
  const result = HostNetworkMappingSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? "" : ` at ${issue.path.join(".")}`;
    throw new FerryError(ErrorCode.invalidInput, `The network state file ${path} is not a network mapping${where}: ${issue?.message ?? "invalid"}; restore it or remove it to start from the config's network section.`, { details: { issues: result.error.issues } });
  }
  return result.data;
}

export async function saveMappingFile(path: string, mapping: HostNetworkMapping): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await writeNewFileSynced(temp, `${JSON.stringify(mapping, null, 2)}\n`, 0o600);
    await rename(temp, path);
    await syncDirectory(dirname(path));
  } catch (cause) {
    await unlink(temp).catch(() => undefined);
    throw new FerryError(ErrorCode.io, `Cannot write the network state file ${path}: ${(cause as Error).message}.`, { cause });
  }
}
