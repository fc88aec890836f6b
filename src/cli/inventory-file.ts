// Inventory files on disk: reading one into a validated Inventory (every problem of the
// file in one error), and writing files so a reader never sees half of one.
import { randomBytes } from "node:crypto";
import { rename, unlink, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { formatIssue, parseInventory } from "../core/inventory/parse.ts";
import type { Inventory } from "../core/inventory/schema.ts";
import type { CliIo } from "./io.ts";

/**
 * Reads and validates an inventory file. Throws FerryError(invalidInput) whose message is
 * the one issue (`lab.yaml:12:5: ...`) or `N problems in lab.yaml:` and one issue per line;
 * `details.issues` holds them as data for --json.
 */
export async function loadInventoryFile(path: string, io: CliIo): Promise<Inventory> {
  const text = await io.readText(path);
  const result = parseInventory(text, path);
  if (result.ok) return result.inventory;
  const { issues } = result;
  const message =
    issues.length === 1 && issues[0] !== undefined
      ? formatIssue(issues[0])
      : [`${issues.length} problems in ${path}:`, ...issues.map(formatIssue)].join("\n");
  throw new FerryError(ErrorCode.invalidInput, message, { details: { file: path, issues } });
}

/**
 * Writes `text` to `path` through a temporary file in the same directory and a rename, so
 * the file is either the old one or the complete new one (rename within one file system
 * is atomic), never half-written (DESIGN.md's CLI contract).
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await writeFile(temp, text, { encoding: "utf8", flag: "wx" });
    await rename(temp, path);
  } catch (cause) {
    await unlink(temp).catch(() => undefined);
    const code = (cause as { code?: string }).code;
    const why =
      code === "ENOENT" ? "no such directory" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : code === "ENOSPC" ? "no space left on the device" : String(cause);
    throw new FerryError(ErrorCode.io, `cannot write ${path}: ${why}`, { cause });
  }
}
