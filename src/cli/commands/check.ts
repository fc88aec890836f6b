// `ferry check` and `ferry where`: the operator's first questions. "Can web01 move to esx02,
// and if not, exactly why and how do I fix it?" and "Which hosts could take web01?"
import { Option, type Command } from "@commander-js/extra-typings";
import { styleText } from "node:util";
import Table from "cli-table3";
import { createChecker, Priority, type CheckOptions } from "../../core/check/checker.ts";
import type { CheckResult, Finding } from "../../core/check/findings.ts";
import { indexInventory } from "../../core/inventory/index.ts";
import { loadInventoryFile } from "../inventory-file.ts";
import { controllerClient } from "../controller.ts";
import type { WhereResult } from "../../core/check/checker.ts";
import { ExitStatus, printJson, type CliIo } from "../io.ts";
import type { SetStatus } from "./index.ts";

const priorityOption = () =>
  new Option("--priority <priority>", "migration priority: high reserves resources or refuses, low always proceeds").choices(["high", "low"] as const).default("high" as const);

function paint(io: CliIo, style: Parameters<typeof styleText>[0], text: string): string {
  return io.isTty ? styleText(style, text) : text;
}

function subjectText(f: Finding): string {
  const where = f.subject.host !== undefined ? ` on ${f.subject.host}` : f.subject.vm !== undefined ? ` of ${f.subject.vm}` : "";
  return `${f.subject.kind} ${f.subject.name}${where}`;
}

/** A check result as lines a person reads: verdict, then each finding with its fix. */
export function renderCheck(io: CliIo, result: CheckResult): string {
  const e = result.errors.length;
  const w = result.warnings.length;
  const counts = `${e} error${e === 1 ? "" : "s"}, ${w} warning${w === 1 ? "" : "s"}`;
  const verdict = !result.ok
    ? paint(io, "red", `cannot migrate (${counts})`)
    : w > 0
      ? paint(io, "yellow", `can migrate once the warnings are accepted (${w} warning${w === 1 ? "" : "s"})`)
      : paint(io, "green", "can migrate: every VMotion requirement is met");
  const lines = [`${result.vm} → ${result.host}: ${verdict}`];
  for (const f of [...result.errors, ...result.warnings]) {
    const tag = f.severity === "error" ? paint(io, "red", "ERROR  ") : paint(io, "yellow", "WARNING");
    lines.push("", `${tag} ${f.code}  (${subjectText(f)})`, `  ${f.message}`, `  fix: ${f.fix}`);
  }
  return lines.join("\n");
}

function summary(result: CheckResult): string {
  const first = result.errors[0] ?? result.warnings[0];
  if (first === undefined) return "";
  const more = result.errors.length + result.warnings.length - 1;
  return `${first.code}: ${first.message}${more > 0 ? ` (+${more} more)` : ""}`;
}

export function registerCheckCommands(program: Command, io: CliIo, setStatus: SetStatus): void {
  program
    .command("check")
    .description("check whether a VM can move to a host, with every reason and fix")
    .option("-i, --inventory <file>", "inventory YAML file (default: ask the controller)")
    .requiredOption("--vm <name>", "the VM to migrate")
    .requiredOption("--to <host>", "the destination host")
    .option("--pool <pool>", "target resource pool (default: the VM's pool when it belongs to the destination)")
    .addOption(priorityOption())
    .option("--json", "print {vm, host, ok, errors, warnings} as JSON")
    .option("--controller <url>", "the controller (default: FERRY_URL, or the one `ferry up` started)")
    .option("--token <token>", "API token (default: FERRY_TOKEN, or the one `ferry up` saved)")
    .action(async (opts) => {
      const options: CheckOptions = { pool: opts.pool, priority: opts.priority === "low" ? Priority.low : Priority.high };
      const result =
        opts.inventory === undefined
          ? await controllerClient(opts).post<CheckResult>("/check", { vm: opts.vm, host: opts.to, pool: opts.pool, priority: opts.priority })
          : createChecker(indexInventory(await loadInventoryFile(opts.inventory, io))).check(opts.vm, opts.to, options);
      if (opts.json === true) printJson(io, result);
      else io.out(renderCheck(io, result));
      setStatus(result.ok ? ExitStatus.ok : ExitStatus.refused);
    });

  program
    .command("where")
    .description("every host a VM could move to, and why not for the others")
    .option("-i, --inventory <file>", "inventory YAML file (default: ask the controller)")
    .requiredOption("--vm <name>", "the VM to place")
    .option("--pool <pool>", "target resource pool for every host")
    .addOption(priorityOption())
    .option("--json", "print {vm, current, hosts: [{host, ok, errors, warnings}]} as JSON")
    .option("--controller <url>", "the controller (default: FERRY_URL, or the one `ferry up` started)")
    .option("--token <token>", "API token (default: FERRY_TOKEN, or the one `ferry up` saved)")
    .action(async (opts) => {
      const options: CheckOptions = { pool: opts.pool, priority: opts.priority === "low" ? Priority.low : Priority.high };
      let where: WhereResult;
      let clusterOf: (host: string) => string;
      if (opts.inventory === undefined) {
        const client = controllerClient(opts);
        const query = new URLSearchParams({ priority: opts.priority, ...(opts.pool === undefined ? {} : { pool: opts.pool }) });
        where = await client.get<WhereResult>(`/vms/${encodeURIComponent(opts.vm)}/where?${query.toString()}`);
        const hosts = await client.get<{ name: string; cluster: string | null }[]>("/hosts");
        const clusters = new Map(hosts.map((h) => [h.name, h.cluster ?? "-"]));
        clusterOf = (host) => clusters.get(host) ?? "-";
      } else {
        const index = indexInventory(await loadInventoryFile(opts.inventory, io));
        where = createChecker(index).where(opts.vm, options);
        clusterOf = (host) => index.hosts.get(host)?.host.cluster ?? "-";
      }
      const movable = where.hosts.filter((h) => h.ok);
      if (opts.json === true) printJson(io, where);
      else {
        // Compatible hosts first (clean before warnings), then blocked ones, each in inventory order.
        const rank = (h: CheckResult): number => (h.ok ? (h.warnings.length === 0 ? 0 : 1) : 2);
        const rows = [...where.hosts].sort((a, b) => rank(a) - rank(b));
        const table = new Table({
          head: ["host", "cluster", "verdict", "reasons"],
          colWidths: [14, 12, 24, 90],
          wordWrap: true,
          style: { head: io.isTty ? ["cyan"] : [], border: io.isTty ? ["grey"] : [] },
        });
        for (const h of rows) {
          const verdict = !h.ok ? `blocked (${h.errors.length})` : h.warnings.length > 0 ? `warnings (${h.warnings.length})` : "compatible";
          table.push([h.host, clusterOf(h.host), verdict, summary(h)]);
        }
        io.out(`${where.vm} (on ${where.current}): ${movable.length} of ${where.hosts.length} other hosts can take it`);
        io.out(table.toString());
        if (movable.length < where.hosts.length) io.out(`Details and fixes: ferry check${opts.inventory === undefined ? "" : ` -i ${opts.inventory}`} --vm ${where.vm} --to HOST`);
      }
      setStatus(movable.length > 0 ? ExitStatus.ok : ExitStatus.refused);
    });
}
