// `ferry`: the command line. Each command lives in commands/ and registers itself here;
// this file only wires them and turns errors into one line on stderr and an exit status.
import { Command, CommanderError } from "@commander-js/extra-typings";
import { isFerryError } from "../core/errors.ts";
import { ExitStatus, exitStatusFor, processIo, type CliIo } from "./io.ts";
import { registerCommands } from "./commands/index.ts";

export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  let status: number = ExitStatus.ok;
  const program = new Command()
    .name("ferry")
    .description("Ferry: live migration of virtual machines between QEMU/KVM hosts")
    .version("0.1.0")
    .exitOverride()
    .configureOutput({ writeOut: (s) => { io.out(s); }, writeErr: (s) => { io.err(s); } })
    .showSuggestionAfterError(true);
  try {
    await registerCommands(program, io, (code) => {
      status = code;
    }, argv.slice(2));
    await program.parseAsync([...argv]);
    return status;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are successful exits; everything else is a usage error.
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.code === "commander.help") return ExitStatus.ok;
      return ExitStatus.badInput;
    }
    if (isFerryError(error)) {
      io.err(`ferry: ${error.message}`);
      return exitStatusFor(error.code);
    }
    io.err(`ferry: internal error: ${error instanceof Error ? error.message : String(error)}`);
    if (process.env["FERRY_DEBUG"] !== undefined && error instanceof Error && error.stack !== undefined) io.err(error.stack);
    return ExitStatus.refused;
  }
}
