// Every command of `ferry`, registered in one place.
import type { Command } from "@commander-js/extra-typings";
import type { CliIo } from "../io.ts";
import { registerAgentCommand } from "./agent.ts";
import { registerAuditCommand } from "./audit.ts";
import { registerBaselineCommand } from "./baseline.ts";
import { registerCaCommands } from "./ca.ts";
import { registerCheckCommands } from "./check.ts";
import { registerControllerCommand } from "./controller.ts";
import { registerCpuidCommands } from "./cpuid.ts";
import { registerDemoCommand } from "./demo.ts";
import { registerClusterMigrationCommand } from "./cluster-migration.ts";
import { registerDrsCommands } from "./drs.ts";
import { registerLabCommands } from "./lab.ts";
import { registerManageCommands } from "./manage.ts";
import { registerMigrateCommands } from "./migrate.ts";
import { registerRealHostCommands } from "./real-hosts.ts";
import { registerUpCommand } from "./up.ts";
import { registerVmCreateCommands } from "./vm-create.ts";

/** Commands report their exit status through `setStatus`; thrown FerryErrors map to 1 or 2. */
export type SetStatus = (status: number) => void;

export function registerCommands(program: Command, io: CliIo, setStatus: SetStatus): void {
  registerCheckCommands(program, io, setStatus);
  registerCpuidCommands(program, io, setStatus);
  registerBaselineCommand(program, io, setStatus);
  registerDemoCommand(program, io, setStatus);
  registerLabCommands(program, io, setStatus);
  registerManageCommands(program, io, setStatus);
  registerAuditCommand(program, io, setStatus);
  registerRealHostCommands(program, io, setStatus);
  registerVmCreateCommands(program, io, setStatus);
  registerControllerCommand(program, io, setStatus);
  registerMigrateCommands(program, io, setStatus);
  registerUpCommand(program, io, setStatus);
  registerAgentCommand(program, io, setStatus);
  registerCaCommands(program, io, setStatus);
  registerDrsCommands(program, io, setStatus);
  registerClusterMigrationCommand(program, io, setStatus);
}
