// Every command of `ferry`, registered in one place.
import type { Command } from "@commander-js/extra-typings";
import type { CliIo } from "../io.ts";

/** Commands report their exit status through `setStatus`; thrown FerryErrors map to 1 or 2. */
export type SetStatus = (status: number) => void;

export function registerCommands(program: Command, io: CliIo, setStatus: SetStatus): void {
  void program;
  void io;
  void setStatus;
}
