// What a command needs from the outside world, passed in so tests run commands in-process.
import { readFile } from "node:fs/promises";
import { FerryError, ErrorCode } from "../core/errors.ts";

export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Reads a file as UTF-8, translating failures into a one-line FerryError. */
  readonly readText: (path: string) => Promise<string>;
  /** Whether stdout is a terminal (tables and colour) or a pipe. */
  readonly isTty: boolean;
}

export async function readTextFile(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : code === "EACCES" ? "permission denied" : String(cause);
    throw new FerryError(ErrorCode.io, `cannot read ${path}: ${why}`, { cause });
  }
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith("\n") ? text : `${text}\n`),
  readText: readTextFile,
  isTty: process.stdout.isTTY,
};

/** Exit statuses shared by every command (DESIGN.md's CLI contract). */
export const ExitStatus = { ok: 0, refused: 1, badInput: 2 } as const;
export type ExitStatus = (typeof ExitStatus)[keyof typeof ExitStatus];

export function exitStatusFor(code: ErrorCode): ExitStatus {
  switch (code) {
    case ErrorCode.invalidInput:
    case ErrorCode.notFound:
    case ErrorCode.usage:
    case ErrorCode.io:
      return ExitStatus.badInput;
    case ErrorCode.refused:
    case ErrorCode.unauthorized:
    case ErrorCode.forbidden:
    case ErrorCode.conflict:
    case ErrorCode.gone:
    case ErrorCode.unavailable:
    case ErrorCode.internal:
      return ExitStatus.refused;
  }
}

export function printJson(io: CliIo, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}
