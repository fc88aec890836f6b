// `ferry host maintenance enter|exit H [--dry-run] [--powered-off leave|move-cold]`: the
// evacuation plan and its ETA printed before anything starts, then the moves' progress until
// the host is in maintenance mode (or why it is not). A VM with nowhere to go refuses entry.
import type { Command, CommandUnknownOpts } from "@commander-js/extra-typings";
import type { EvacuationPlanView, MaintenanceAnswer, MaintenanceStatusView } from "../../api/schemas.ts";
import type { ApiClient } from "../../api/client.ts";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { controllerClient, type ControllerOptions } from "../controller.ts";
import { ExitStatus, printJson, type CliIo } from "../io.ts";
import type { SetStatus } from "./index.ts";
import { api, table } from "./manage.ts";
import { gigabytes, seconds } from "./drs-text.ts";

const POLL_MS = 1000;
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The plan as printed before entry: every move with its predicted cost, blocked VMs with why, powered-off VMs, the ETA. */
export function planText(plan: EvacuationPlanView, poweredOff: string): string {
  const lines = [`evacuation plan for ${plan.host}: ${plan.moves.length} live migration(s), ETA ${seconds(plan.etaMs)}`];
  if (plan.moves.length > 0) lines.push(table(["VM", "to", "GB", "time", "downtime"], plan.moves.map((m) => [m.vm, m.to, gigabytes(m.cost.bytes), seconds(m.cost.totalMs), `${Math.round(m.cost.downtimeMs)} ms`])));
  if (plan.blocked.length > 0) lines.push("blocked (nowhere to go):", table(["VM", "why"], plan.blocked.map((b) => [b.vm, b.reason])));
  if (plan.powerOff.length > 0) lines.push(`powered off: ${plan.powerOff.join(", ")} (${poweredOff === "move-cold" ? "moved cold" : "left registered on the host"})`);
  return lines.join("\n");
}

function parsePoweredOff(text: string): "leave" | "move-cold" {
  if (text === "leave" || text === "move-cold") return text;
  throw new FerryError(ErrorCode.usage, `--powered-off takes leave or move-cold, got "${text}"`);
}

/** Polls the host's maintenance state until it is in, or failed; prints each move's progress as it changes. */
async function follow(client: ApiClient, host: string, io: CliIo | undefined): Promise<MaintenanceStatusView> {
  const seen = new Map<string, string>();
  for (;;) {
    const status = await client.get<MaintenanceStatusView>(`/hosts/${encodeURIComponent(host)}/maintenance`);
    for (const m of status.moves) {
      const words = `${m.state} ${Math.round(m.percent)}%`;
      if (seen.get(m.migration) !== words) io?.out(`  ${m.vm} → ${m.to}: ${words}`);
      seen.set(m.migration, words);
    }
    if (status.state !== "entering") return status;
    await pause(POLL_MS);
  }
}

export function registerMaintenanceCommand(program: Command, io: CliIo, setStatus: SetStatus): void {
  const host: CommandUnknownOpts = program.commands.find((c) => c.name() === "host") ?? program.command("host").description("host facts and checks");
  api(
    host
      .command("maintenance")
      .description("enter maintenance mode (evacuating every powered-on VM by live migration, plan and ETA first) or exit it")
      .argument("<action>", "enter or exit")
      .argument("<host>", "the host")
      .option("--dry-run", "print the evacuation plan and start nothing")
      .option("--powered-off <choice>", "powered-off VMs: leave (registered on the host) or move-cold", parsePoweredOff, "leave" as const),
  ).action(async (action: string, name: string, opts: ControllerOptions & { json?: boolean; dryRun?: boolean; poweredOff: "leave" | "move-cold" }) => {
    if (action !== "enter" && action !== "exit") throw new FerryError(ErrorCode.usage, `ferry host maintenance takes enter or exit, got "${action}"`);
    const client = controllerClient(opts);
    const path = `/hosts/${encodeURIComponent(name)}/maintenance`;
    const json = opts.json === true;
    if (action === "exit") {
      const answer = await client.post<MaintenanceAnswer>(path, { action });
      if (json) printJson(io, answer);
      else io.out(answer.status.message);
      setStatus(ExitStatus.ok);
      return;
    }
    const preview = await client.post<MaintenanceAnswer>(path, { action, dryRun: true, poweredOff: opts.poweredOff });
    if (!json && preview.plan !== undefined) io.out(planText(preview.plan, opts.poweredOff));
    if (opts.dryRun === true) {
      if (json) printJson(io, preview);
      setStatus(preview.plan !== undefined && preview.plan.blocked.length > 0 ? ExitStatus.refused : ExitStatus.ok);
      return;
    }
    const started = await client.post<MaintenanceAnswer>(path, { action, poweredOff: opts.poweredOff });
    if (!json) io.out(started.status.message);
    const final = started.status.state === "entering" ? await follow(client, name, json ? undefined : io) : started.status;
    if (json) printJson(io, { ...started, status: final });
    else io.out(final.message);
    setStatus(final.state === "in" ? ExitStatus.ok : ExitStatus.refused);
  });
}
