// `ferry cluster convergence CLUSTER [POLICY] [--clear]` (issue 16): a cluster's convergence
// policy — auto-converge (the default), post-copy-after=N or fail — read, set or cleared
// through the controller; migrations from its hosts run with it unless they name their own.
import type { Command, CommandUnknownOpts } from "@commander-js/extra-typings";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { convergenceWords, parseConvergencePolicy } from "../../core/migration/postcopy.ts";
import { controllerClient, type ControllerOptions } from "../controller.ts";
import { ExitStatus, printJson, type CliIo } from "../io.ts";
import type { SetStatus } from "./index.ts";
import { api } from "./manage.ts";

interface ClusterMigration {
  readonly convergence: string | null;
}

export function registerClusterMigrationCommand(program: Command, io: CliIo, setStatus: SetStatus): void {
  const cluster: CommandUnknownOpts = program.commands.find((c) => c.name() === "cluster") ?? program.command("cluster").description("cluster-wide settings");
  api(
    cluster
      .command("convergence")
      .description("a cluster's convergence policy for its migrations; with a policy or --clear, change it")
      .argument("<cluster>", "the cluster")
      .argument("[policy]", "auto-converge, post-copy-after=N (N from 1 to 30) or fail")
      .option("--clear", "remove the cluster's policy (the default, auto-converge, applies)"),
  ).action(async (name: string, policy: string | undefined, opts: ControllerOptions & { json?: boolean; clear?: boolean }) => {
    if (policy !== undefined && opts.clear === true) throw new FerryError(ErrorCode.invalidInput, "give a policy or --clear, not both");
    // Checked here too, so a typo is one line before any request.
    const words = policy === undefined ? undefined : convergenceWords(parseConvergencePolicy(policy));
    const client = controllerClient(opts);
    const path = `/clusters/${encodeURIComponent(name)}/migration`;
    const answer = words === undefined && opts.clear !== true ? await client.get<ClusterMigration>(path) : await client.put<ClusterMigration>(path, { convergence: words ?? null });
    if (opts.json === true) printJson(io, answer);
    else io.out(`cluster ${name}: convergence ${answer.convergence ?? "auto-converge (the default: none set)"}`);
    setStatus(ExitStatus.ok);
  });
}
