// `ferry baseline`: the EVC decision made visible. The highest CPU baseline every host of a
// cluster shares, what each running VM would lose under it, and what adding or removing a
// host would change.
import type { Command } from "@commander-js/extra-typings";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { baselineWhatIf, checkBaseline, clusterBaseline, featuresLostUnderBaseline, type ClusterBaselineReport, type HostCpu } from "../../core/cpu/baseline.ts";
import { guestCpu } from "../../core/cpu/guest.ts";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { indexInventory } from "../../core/inventory/index.ts";
import { HostSchema } from "../../core/inventory/schema.ts";
import { loadInventoryFile } from "../inventory-file.ts";
import { ExitStatus, printJson, type CliIo } from "../io.ts";
import type { SetStatus } from "./index.ts";

/** A host file for --add-host: one host as in the inventory's `hosts:` list. */
async function readHostFile(path: string, io: CliIo): Promise<HostCpu> {
  const text = await io.readText(path);
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (cause) {
    throw new FerryError(ErrorCode.invalidInput, `${path}: not valid YAML: ${cause instanceof Error ? cause.message.split("\n")[0] ?? "" : String(cause)}`, { cause });
  }
  const result = HostSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? "" : `${issue.path.join(".")}: `;
    throw new FerryError(ErrorCode.invalidInput, `${path}: ${where}${issue?.message ?? z.prettifyError(result.error)} (expected one host, as in the inventory's hosts list)`);
  }
  return { name: result.data.name, cpu: result.data.cpu };
}

function describe(report: ClusterBaselineReport): string {
  if (report.model !== undefined) return `${report.model.name} (${report.model.vendor}, ${report.baseline?.flags.size ?? 0} guest features)`;
  if (report.baseline !== undefined) return `no named model fits; a custom baseline of the ${report.intersection.length} features all hosts share`;
  return `none: ${report.reason?.message ?? "no hosts"}`;
}

export function registerBaselineCommand(program: Command, io: CliIo, setStatus: SetStatus): void {
  program
    .command("baseline")
    .description("the highest CPU baseline a cluster's hosts share (EVC), and what it costs each VM")
    .requiredOption("-i, --inventory <file>", "inventory YAML file")
    .requiredOption("--cluster <name>", "the cluster")
    .option("--add-host <file>", "what if this host (a YAML file with one host) joined the cluster")
    .option("--remove-host <name>", "what if this host left the cluster")
    .option("--json", "print the report as JSON")
    .action(async (opts) => {
      const index = indexInventory(await loadInventoryFile(opts.inventory, io));
      const cluster = index.clusters.get(opts.cluster);
      if (cluster === undefined) throw new FerryError(ErrorCode.notFound, `no cluster named "${opts.cluster}" in the inventory`);
      const views = [...index.hosts.values()].filter((view) => view.host.cluster === cluster.name);
      const hosts: HostCpu[] = views.map((view) => ({ name: view.host.name, cpu: view.host.cpu }));
      const add = opts.addHost === undefined ? [] : [await readHostFile(opts.addHost, io)];
      const remove = opts.removeHost === undefined ? [] : [opts.removeHost];
      const whatIf = add.length > 0 || remove.length > 0 ? baselineWhatIf(hosts, { add, remove }) : undefined;
      const report = clusterBaseline(hosts);
      const configured = cluster.baseline === undefined ? undefined : checkBaseline(hosts, cluster.baseline);

      // What each running VM's guest uses today that the recommended baseline would hide.
      const vms = views.flatMap((view) =>
        (index.vmsByHost.get(view.host.name) ?? [])
          .filter((vm) => vm.power !== "off")
          .map((vm) => {
            const guest = guestCpu(vm, view.host, view.cluster, index.templates);
            const loses = guest.ok && report.baseline !== undefined ? featuresLostUnderBaseline(guest.cpu.flags, report.baseline) : [];
            return { vm: vm.name, host: view.host.name, loses, note: guest.ok ? undefined : `unknown baseline model ${guest.unknownModel}` };
          }),
      );

      if (opts.json === true) {
        printJson(io, {
          cluster: cluster.name,
          hosts: report.hosts,
          recommended: report.model?.name ?? null,
          reason: report.reason ?? null,
          baseline: report.baseline === undefined ? null : { name: report.baseline.name, vendor: report.baseline.vendor, flags: [...report.baseline.flags] },
          intersection: report.intersection,
          next: report.next ?? null,
          configured: configured === undefined ? null : configured.ok ? { name: configured.baseline.name, hosts: configured.hosts } : { unknownModel: configured.unknownModel },
          vms,
          whatIf:
            whatIf === undefined
              ? null
              : { before: whatIf.before.model?.name ?? null, after: whatIf.after.model?.name ?? null, modelChanged: whatIf.modelChanged, gained: whatIf.gained, lost: whatIf.lost, reason: whatIf.after.reason ?? null },
        });
      } else {
        const lines = [`Cluster ${cluster.name}: ${hosts.length} host${hosts.length === 1 ? "" : "s"}`, `Highest shared baseline: ${describe(report)}`];
        for (const host of report.hosts) {
          lines.push(`  ${host.name}: ${host.vendor} family ${host.family}, can present up to ${host.highestModel ?? "no named model"}${host.givesUp.length > 0 ? `; under the baseline it hides ${host.givesUp.join(" ")}` : ""}`);
        }
        if (report.next !== undefined) {
          lines.push(`Next model up, ${report.next.model}, is held back by: ${report.next.blockedBy.map((b) => `${b.host} (lacks ${b.missing.join(" ")})`).join(", ")}`);
        }
        if (configured !== undefined) {
          if (!configured.ok) lines.push(`Configured baseline: unknown model "${configured.unknownModel}"`);
          else {
            const misfits = configured.hosts.filter((h) => !h.ok);
            lines.push(`Configured baseline: ${configured.baseline.name}; ${misfits.length === 0 ? "every host supports it" : `not supported by ${misfits.map((h) => `${h.name} (${h.vendorMismatch ? "other vendor" : `lacks ${h.missing.join(" ")}`})`).join(", ")}`}`);
          }
        }
        lines.push("Running VMs under the highest shared baseline:");
        for (const vm of vms) lines.push(`  ${vm.vm} on ${vm.host}: ${vm.note ?? (vm.loses.length === 0 ? "loses nothing" : `loses ${vm.loses.join(" ")} (after a power cycle)`)}`);
        if (vms.length === 0) lines.push("  (none)");
        if (whatIf !== undefined) {
          const change = [...add.map((h) => `adding ${h.name}`), ...remove.map((h) => `removing ${h}`)].join(" and ");
          lines.push(
            `What if: ${change}: ${describe(whatIf.before)} → ${describe(whatIf.after)}`,
            `  guests would gain: ${whatIf.gained.join(" ") || "nothing"}; lose: ${whatIf.lost.join(" ") || "nothing"}`,
          );
        }
        io.out(lines.join("\n"));
      }
      setStatus(report.baseline === undefined && hosts.length > 0 ? ExitStatus.refused : ExitStatus.ok);
    });
}
