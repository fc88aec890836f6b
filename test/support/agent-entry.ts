// `ferry agent` alone, for the integration tests until the command is registered with the
// others in src/cli/commands/index.ts (see agents.ts): the same command, the same flags.
import { Command, CommanderError } from "@commander-js/extra-typings";
import { isFerryError } from "../../src/core/errors.ts";
import { registerAgentCommand } from "../../src/cli/commands/agent.ts";
import { exitStatusFor, processIo } from "../../src/cli/io.ts";

let status = 0;
const program = new Command().name("ferry").exitOverride();
registerAgentCommand(program, processIo, (code) => {
  status = code;
});
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    status = error.exitCode === 0 ? 0 : 2;
  } else {
    status = isFerryError(error) ? exitStatusFor(error.code) : 1;
    processIo.err(`ferry: ${error instanceof Error ? error.message : String(error)}`);
  }
}
process.exitCode = status;
