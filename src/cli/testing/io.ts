// An in-memory CliIo for running commands in-process: captured output, files from a map
// (falling back to the real file system for paths not in it).
import { readTextFile, type CliIo } from "../io.ts";
import { main } from "../main.ts";

export interface Captured {
  readonly status: number;
  readonly out: string;
  readonly err: string;
}

export async function runFerry(args: readonly string[], files: ReadonlyMap<string, string> = new Map()): Promise<Captured> {
  let out = "";
  let err = "";
  const io: CliIo = {
    out: (text) => { out += text.endsWith("\n") ? text : `${text}\n`; },
    err: (text) => { err += text.endsWith("\n") ? text : `${text}\n`; },
    readText: async (path) => files.get(path) ?? (await readTextFile(path)),
    isTty: false,
  };
  const status = await main(["node", "ferry", ...args], io);
  return { status, out, err };
}
