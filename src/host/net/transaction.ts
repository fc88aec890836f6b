// Runs planned steps on the host and remembers how to take each back. When a later step (or the
// state file) fails, `rollback` runs every recorded undo, newest first, and keeps going past an
// undo that fails so the host ends as close to before as it can; it reports what it could not undo.
import { isFerryError } from "../../core/errors.ts";
import type { CommandRunner } from "../command.ts";
import { commandText, type Command, type Step } from "./step.ts";

function unsupported(error: unknown): boolean {
  const stderr = isFerryError(error) ? (error.details as { stderr?: unknown } | undefined)?.stderr : undefined;
  return typeof stderr === "string" && stderr.includes("Operation not supported");
}

export class HostTransaction {
  readonly #run: CommandRunner;
  readonly #undos: (readonly Command[])[] = [];

  constructor(run: CommandRunner) {
    this.#run = run;
  }

  /** Runs `step`; returns its words when it has some. A failure leaves nothing recorded for it. */
  async do(step: Step): Promise<string | undefined> {
    if (step.run === undefined) return step.does;
    try {
      await this.#exec(step.run);
    } catch (error) {
      if (step.unsupported === undefined || !unsupported(error)) throw error;
      await this.#exec(step.unsupported.run);
      this.#undos.push(step.undo);
      return step.unsupported.does;
    }
    this.#undos.push(step.undo);
    return step.does;
  }

  /** Undoes every step done, newest first; returns the undo commands that failed, with why. */
  async rollback(): Promise<string[]> {
    const failures: string[] = [];
    for (const undo of this.#undos.splice(0).reverse()) {
      for (const command of undo) {
        try {
          await this.#exec(command);
        } catch (error) {
          failures.push(error instanceof Error ? error.message : `\`${commandText(command)}\` failed`);
        }
      }
    }
    return failures;
  }

  async #exec(command: Command): Promise<void> {
    await this.#run(command.file, command.args);
  }
}
