// Reading the JSON iproute2 prints with `-j`: an array of objects, one per link (or route).
// Fields Ferry does not use are let through untouched, so a newer iproute2 that adds some
// still parses; a field Ferry needs with the wrong type is a clear error, not a guess.
import { z } from "zod";
import { ErrorCode, FerryError } from "../../core/errors.ts";

/** The array `command` printed, each element checked against `item`. */
export function parseIpJson<T extends z.ZodType>(text: string, item: T, command: string): z.output<T>[] {
  let value: unknown;
  try {
    // `ip -j` prints nothing at all (not `[]`) when a filter matches nothing.
    value = text.trim() === "" ? [] : JSON.parse(text);
  } catch (cause) {
    throw new FerryError(ErrorCode.invalidInput, `\`${command}\` did not print JSON: is iproute2 older than 4.13?`, { cause });
  }
  const parsed = z.array(item).safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first === undefined ? "" : ` at ${first.path.join(".")}: ${first.message}`;
    throw new FerryError(ErrorCode.invalidInput, `\`${command}\` printed JSON Ferry does not understand${where}.`, { details: parsed.error.issues });
  }
  return parsed.data;
}
