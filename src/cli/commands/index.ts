// Every command of `ferry`, registered in one place. A module is loaded only when the command
// line names one of its commands (or names none: help, a typo's suggestions): `ferry vms` does
// not load the controller, the store and the QEMU driver first. `index.test.ts` checks that
// each module registers exactly the names listed here.
import type { Command } from "@commander-js/extra-typings";
import type { CliIo } from "../io.ts";

/** Commands report their exit status through `setStatus`; thrown FerryErrors map to 1 or 2. */
export type SetStatus = (status: number) => void;

export type Register = (program: Command, io: CliIo, setStatus: SetStatus) => void;

export interface CommandModule {
  /** The top-level commands the module registers (several modules add subcommands to `host`, `vm`, `cluster`). */
  readonly names: readonly string[];
  readonly load: () => Promise<Register>;
}

/** In registration order: the first module to make a shared parent (`host`) gives its description. */
export const COMMAND_MODULES: readonly CommandModule[] = [
  { names: ["check", "where"], load: async () => (await import("./check.ts")).registerCheckCommands },
  { names: ["host"], load: async () => (await import("./cpuid.ts")).registerCpuidCommands },
  { names: ["baseline"], load: async () => (await import("./baseline.ts")).registerBaselineCommand },
  { names: ["demo"], load: async () => (await import("./demo.ts")).registerDemoCommand },
  { names: ["lab"], load: async () => (await import("./lab.ts")).registerLabCommands },
  { names: ["hosts", "vms", "events", "host", "vm", "cluster", "template", "inventory", "tokens"], load: async () => (await import("./manage.ts")).registerManageCommands },
  { names: ["audit"], load: async () => (await import("./audit.ts")).registerAuditCommand },
  { names: ["host", "datastore"], load: async () => (await import("./real-hosts.ts")).registerRealHostCommands },
  { names: ["vm"], load: async () => (await import("./vm-create.ts")).registerVmCreateCommands },
  { names: ["controller"], load: async () => (await import("./controller.ts")).registerControllerCommand },
  { names: ["migrate", "tasks", "abort"], load: async () => (await import("./migrate.ts")).registerMigrateCommands },
  { names: ["up"], load: async () => (await import("./up.ts")).registerUpCommand },
  { names: ["agent"], load: async () => (await import("./agent.ts")).registerAgentCommand },
  { names: ["ca"], load: async () => (await import("./ca.ts")).registerCaCommands },
  { names: ["drs", "host"], load: async () => (await import("./drs.ts")).registerDrsCommands },
  { names: ["cluster"], load: async () => (await import("./cluster-migration.ts")).registerClusterMigrationCommand },
];

/** The command a command line names: its first word that is not an option (`ferry -V` names none). */
function commandNamed(args: readonly string[]): string | undefined {
  return args.find((arg) => !arg.startsWith("-"));
}

/** `ferry --version` alone needs no command at all. */
const versionOnly = (args: readonly string[]): boolean => args.length === 1 && (args[0] === "--version" || args[0] === "-V");

/**
 * Registers the modules of the command `args` names (the words after `ferry`), or every module
 * when it names none of them (none for `--version` alone); `args` undefined registers every module.
 */
export async function registerCommands(program: Command, io: CliIo, setStatus: SetStatus, args?: readonly string[]): Promise<void> {
  if (args !== undefined && versionOnly(args)) return;
  const name = args === undefined ? undefined : commandNamed(args);
  const named = COMMAND_MODULES.filter((module) => name !== undefined && module.names.includes(name));
  const modules = named.length > 0 ? named : COMMAND_MODULES;
  for (const register of await Promise.all(modules.map((module) => module.load()))) register(program, io, setStatus);
}
