// `ferry lab ...`: labs of hosts and VMs to learn and test with. `lab generate` writes a
// realistic inventory from counts and a seed; `lab up --driver qemu` runs real QEMU hosts on
// this machine, one network namespace each (lab-qemu.ts), and `lab down` removes such a lab.
import type { Command, CommandUnknownOpts } from "@commander-js/extra-typings";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { inventoryJson, inventoryYaml } from "../../core/inventory/serialize.ts";
import { GENERATE_LIMITS, generateInventory } from "../../core/lab/generate.ts";
import { writeFileAtomic } from "../inventory-file.ts";
import { ExitStatus, printJson, type CliIo } from "../io.ts";
import { saveControllerAddress, untilSignal } from "./controller.ts";
import type { SetStatus } from "./index.ts";
import { DEFAULT_LAB_ID, labDown, type QemuLabSummary } from "./lab-qemu.ts";
import { startQemuLab } from "./lab-up.ts";
import { checkLabCpus, LAB_CPUS } from "../../lab/qemu-lab.ts";

/** What `ferry lab generate --json --out FILE` prints on stdout. */
export interface LabGenerateSummary {
  readonly hosts: number;
  readonly vms: number;
  readonly clusters: number;
  readonly datastores: number;
  readonly templates: number;
  readonly seed: number;
  /** The file written, or null for standard output. */
  readonly out: string | null;
}

const DEFAULT_SEED = 1;

const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? "" : "s"}`;
const processes = (n: number): string => `${n} process${n === 1 ? "" : "es"}`;

function count(option: string, value: string | undefined, min: number, max: number): number {
  if (value === undefined) throw new FerryError(ErrorCode.usage, `lab generate needs ${option} N (try --hosts 40 --vms 400)`);
  const n = /^\d+$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new FerryError(ErrorCode.usage, `${option} must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

function labIdOf(value: string | undefined): string {
  const id = value ?? DEFAULT_LAB_ID;
  if (!/^[a-z0-9]{1,6}$/.test(id)) throw new FerryError(ErrorCode.usage, `--id takes 1 to 6 lowercase letters or digits (it prefixes Linux interface names), got "${id}"`);
  return id;
}

/** What to do next, for a person at a terminal. */
export function qemuLabText(summary: QemuLabSummary, saved: string): string {
  const guest = summary.guests[0];
  const other = summary.hosts.find((h) => h.name !== guest?.host);
  const lines = [
    `Lab ${summary.labId} is up in ${(summary.startedInMs / 1000).toFixed(1)} s: ${plural(summary.hosts.length, "QEMU host")} (${summary.accelerator}), ${plural(summary.guests.length, "guest")}.`,
    `  controller:  ${summary.controller}  (saved for other ferry commands in ${saved})`,
    ...summary.hosts.map((h) => `  ${h.name}:       namespace ${h.namespace}, VMotion ${h.vmotionIp}, CPU ${h.cpu}, agent ${h.api}`),
    ...summary.guests.map((g) => `  ${g.name}:     on ${g.host}, ${g.ip} (MAC ${g.mac}), sequence-echo service on port 7000`),
    `  client:      namespace ${summary.client.namespace}, ${summary.client.ip}`,
    "",
    "In another terminal:",
  ];
  if (guest !== undefined && other !== undefined) lines.push(`  npx ferry migrate ${guest.name} --to ${other.name} --watch`);
  if (guest !== undefined) {
    lines.push(`  sudo ip netns exec ${summary.client.namespace} busybox nc ${guest.ip} 7000     (type lines: each comes back numbered, across migrations)`);
  }
  lines.push(`  npx ferry lab down --id ${summary.labId}     (if this process is gone without cleaning up)`, "", "Ctrl-C stops everything and removes the lab's namespaces.");
  return lines.join("\n");
}
export function registerLabCommands(program: Command, io: CliIo, setStatus: SetStatus): void {
  const lab = program.command("lab").description("labs of simulated hosts and VMs to learn and test with");
  registerLabGenerate(lab, io, setStatus);
  registerLabUp(lab, io, setStatus);
  registerLabDown(lab, io, setStatus);
}

/** `ferry lab generate`: a realistic inventory, the same for the same seed. */
function registerLabGenerate(lab: CommandUnknownOpts, io: CliIo, setStatus: SetStatus): void {
  lab
    .command("generate")
    .description("write a realistic inventory of N hosts and N VMs (same seed, same inventory)")
    .option("--hosts <n>", `number of hosts, 1 to ${GENERATE_LIMITS.hosts} (required)`)
    .option("--vms <n>", `number of VMs, 0 to ${GENERATE_LIMITS.vms} (required)`)
    .option("--seed <n>", `seed of the generator, 0 to 4294967295 (default ${DEFAULT_SEED})`)
    .option("--out <file>", "write to FILE (atomically) instead of standard output")
    .option("--json", "write JSON instead of YAML (loads much faster for big labs); with --out, print a JSON summary")
    .action(async (opts) => {
      const hosts = count("--hosts", opts.hosts, 1, GENERATE_LIMITS.hosts);
      const vms = count("--vms", opts.vms, 0, GENERATE_LIMITS.vms);
      const seed = opts.seed === undefined ? DEFAULT_SEED : count("--seed", opts.seed, 0, 0xffff_ffff);
      const inventory = generateInventory({ hosts, vms, seed });
      const command = `ferry lab generate --hosts ${hosts} --vms ${vms} --seed ${seed}`;
      const text = opts.json === true ? inventoryJson(inventory) : inventoryYaml(inventory, ` Generated by \`${command}\`; see docs/inventory.md.`);

      if (opts.out === undefined) io.out(text);
      else await writeFileAtomic(opts.out, text);

      const summary: LabGenerateSummary = {
        hosts: inventory.hosts.length,
        vms: inventory.vms.length,
        clusters: inventory.clusters.length,
        datastores: inventory.datastores.length,
        templates: inventory.templates.length,
        seed,
        out: opts.out ?? null,
      };
      if (opts.json === true && opts.out !== undefined) printJson(io, summary);
      else {
        const where = opts.out === undefined ? "standard output" : opts.out;
        io.err(
          `generated ${plural(summary.hosts, "host")} in ${plural(summary.clusters, "cluster")}, ${plural(summary.vms, "VM")}, ${plural(summary.templates, "template")} and ${plural(summary.datastores, "datastore")} (seed ${seed}); written to ${where}`,
        );
      }
      setStatus(ExitStatus.ok);
    });
}

/** `ferry lab up`: a lab of real QEMU hosts in network namespaces, until a signal stops it. */
function registerLabUp(lab: CommandUnknownOpts, io: CliIo, setStatus: SetStatus): void {
  lab
    .command("up")
    .description("run a lab of real QEMU hosts here, one network namespace each, with a controller, an agent per host and a guest (root)")
    .option("--driver <kind>", "hypervisor driver: qemu (for simulated hosts use `ferry up`)", "qemu")
    .option("--hosts <n>", "number of hosts, 1 to 8", "2")
    .option("--guests <n>", "number of guests, booted round-robin from esx01, 0 to 8", "1")
    .option("--dirty-mib-s <n>", "MiB per second each guest rewrites (over 32 MiB), 0 to 64; default 0: idle", "0")
    .option("--cpus <models>", `CPU models the hosts stand for, comma-separated, cycled over the hosts (${Object.keys(LAB_CPUS).join(", ")}); each host is then judged by its own CPU. Default: Westmere and Nehalem under a Nehalem cluster baseline`)
    .option("--id <labid>", `lab id, 1 to 6 lowercase letters or digits (default ${DEFAULT_LAB_ID})`)
    .option("--listen <host:port>", "the controller's API and UI address", "127.0.0.1:8080")
    .option("--json", "print one JSON line with the lab's hosts, guests and addresses when it is ready")
    .action(async (opts) => {
      if (opts.driver !== "qemu") throw new FerryError(ErrorCode.usage, `lab up --driver takes qemu, got "${opts.driver}" (for simulated hosts use \`ferry up\`)`);
      const labId = labIdOf(opts.id);
      const hosts = count("--hosts", opts.hosts, 1, 8);
      const guests = count("--guests", opts.guests, 0, 8);
      const dirtyMiBPerSecond = count("--dirty-mib-s", opts.dirtyMibS, 0, 64);
      const cpus = opts.cpus?.split(",").map((c) => c.trim()).filter((c) => c.length > 0);
      if (cpus !== undefined) checkLabCpus(cpus);
      // Ctrl-C while coming up removes what was started (startQemuLab checks between steps).
      const interrupted = new AbortController();
      const onSignal = (): void => {
        interrupted.abort();
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      let running;
      try {
        running = await startQemuLab({ labId, hosts, guests, dirtyMiBPerSecond, cpus, listen: opts.listen, signal: interrupted.signal }, (line) => {
          io.err(line);
        });
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
      const saved = saveControllerAddress(running.controller.url, running.controller.adminToken, undefined);
      if (opts.json === true) io.out(JSON.stringify(running.summary));
      else io.out(qemuLabText(running.summary, saved));
      await untilSignal(async () => {
        io.err(`stopping lab ${labId}: agents, QEMUs, controller, namespaces...`);
        const report = await running.stop();
        io.err(`stopped: lab ${labId}, ${plural(report.namespaces.length, "namespace")} removed`);
      });
      setStatus(ExitStatus.ok);
    });
}

/** `ferry lab down`: what a qemu lab left behind, removed. */
function registerLabDown(lab: CommandUnknownOpts, io: CliIo, setStatus: SetStatus): void {
  lab
    .command("down")
    .description("remove a qemu lab: its processes (by recorded PID), QEMUs, namespaces and links (root)")
    .option("--id <labid>", `lab id (default ${DEFAULT_LAB_ID})`)
    .option("--json", "print what was removed as JSON")
    .action(async (opts) => {
      const report = await labDown(labIdOf(opts.id));
      if (opts.json === true) printJson(io, report);
      else {
        const what = [
          processes(report.stopped.length),
          ...(report.killedPids.length > 0 ? [`${processes(report.killedPids.length)} left inside its namespaces`] : []),
          plural(report.namespaces.length, "namespace"),
          plural(report.links.length, "root link"),
        ];
        io.out(`lab ${report.labId} is down: ${what.join(", ")} removed${report.stopped.length + report.namespaces.length === 0 ? " (there was nothing to remove)" : ""}`);
      }
      setStatus(ExitStatus.ok);
    });
}
