// `ferry vm create NAME --host H --cpus N --memory MiB --disk DS:path[,size] --cdrom DS:file.iso|host:/dev/sr0 --nic PORTGROUP[,mac[,ip]]`
// and `ferry vm delete NAME [--remove-disks]`: VMs defined by Ferry, booted through firmware
// from their own disk or ISO. A disk without a size is an existing image imported as it is.
import type { Command, CommandUnknownOpts } from "@commander-js/extra-typings";
import type { VmCreated } from "../../api/schemas.ts";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { controllerClient, type ControllerOptions } from "../controller.ts";
import { ExitStatus, printJson, type CliIo } from "../io.ts";
import type { SetStatus } from "./index.ts";
import { api } from "./manage.ts";

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** "512M", "10G", "2048" (MiB) → MiB. */
export function parseSizeMB(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([MG]i?B?)?$/i.exec(text.trim());
  if (match === null) throw new FerryError(ErrorCode.usage, `a disk size is a number of MiB or a number with M or G, like 512M or 10G; got "${text}"`);
  const n = Number(match[1]) * ((match[2] ?? "M").toUpperCase().startsWith("G") ? 1024 : 1);
  if (!Number.isInteger(n) || n <= 0) throw new FerryError(ErrorCode.usage, `a disk size must be a whole, positive number of MiB; got "${text}"`);
  return n;
}

/** "DATASTORE:path[,size]" → a disk. */
export function parseDisk(text: string): { datastore: string; path: string; sizeMB?: number } {
  const [where = "", size] = text.split(",");
  const colon = where.indexOf(":");
  if (colon <= 0 || colon === where.length - 1) throw new FerryError(ErrorCode.usage, `--disk takes DATASTORE:path[,size], like shared:web01/disk0.qcow2,10G; got "${text}"`);
  return { datastore: where.slice(0, colon), path: where.slice(colon + 1), ...(size === undefined ? {} : { sizeMB: parseSizeMB(size) }) };
}

/** "DATASTORE:file.iso" or "host:/dev/sr0" → a CD-ROM. */
export function parseCdrom(text: string): { datastore: string; path: string } | { hostDevice: string } {
  const colon = text.indexOf(":");
  if (colon <= 0 || colon === text.length - 1) throw new FerryError(ErrorCode.usage, `--cdrom takes DATASTORE:file.iso or host:/dev/sr0; got "${text}"`);
  const [left, right] = [text.slice(0, colon), text.slice(colon + 1)];
  return left === "host" ? { hostDevice: right } : { datastore: left, path: right };
}

/** "PORTGROUP[,mac[,ip]]" → a NIC (port group names may hold spaces, not commas). */
export function parseNic(text: string): { portGroup: string; mac?: string; ip?: string } {
  const [portGroup = "", mac, ip] = text.split(",");
  if (portGroup === "") throw new FerryError(ErrorCode.usage, `--nic takes PORTGROUP[,mac[,ip]], like "VM Network,52:54:00:12:34:56"; got "${text}"`);
  return { portGroup, ...(mac === undefined || mac === "" ? {} : { mac }), ...(ip === undefined || ip === "" ? {} : { ip }) };
}

function positiveInt(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new FerryError(ErrorCode.usage, `${flag} takes a whole positive number; got "${value}"`);
    return n;
  };
}

type CreateOptions = ControllerOptions & { json?: boolean; host?: string; cluster?: string; cpus: number; memory: number; disk: string[]; cdrom: string[]; nic: string[]; machine?: string; pool?: string; datastore?: string };

export function registerVmCreateCommands(program: Command, io: CliIo, setStatus: SetStatus): void {
  const vm: CommandUnknownOpts = program.commands.find((c) => c.name() === "vm") ?? program.command("vm").description("a VM's settings");
  api(
    vm
      .command("create")
      .description("define a VM on a host: disks on datastores (new, or an existing image imported), CD-ROMs, NICs; created powered off")
      .argument("<name>", "the VM's name")
      .option("--host <host>", "the host it runs on (absent: DRS places it on the best compatible host of --cluster, and says why)")
      .option("--cluster <cluster>", "without --host: the cluster to place it in (default: the only one)")
      .option("--cpus <n>", "vCPUs", positiveInt("--cpus"), 1)
      .requiredOption("--memory <MiB>", "memory in MiB", positiveInt("--memory"))
      .option("--disk <ds:path[,size]>", "a disk file on a datastore; with a size (512M, 10G) it is created when missing (repeatable)", collect, [])
      .option("--cdrom <ds:file.iso|host:/dev/sr0>", "a CD-ROM: an ISO on a datastore or the host's drive (repeatable)", collect, [])
      .option("--nic <portgroup[,mac[,ip]]>", "a NIC on a port group (repeatable); the MAC is made when absent", collect, [])
      .option("--machine <type>", "QEMU machine type, kept for the VM's life (default: the host's newest pc-i440fx)")
      .option("--pool <pool>", "resource pool")
      .option("--datastore <ds>", "where its configuration lives when it has no disk"),
  ).action(async (name: string, opts: CreateOptions) => {
    const body = {
      name,
      ...(opts.host === undefined ? {} : { host: opts.host }),
      ...(opts.cluster === undefined ? {} : { cluster: opts.cluster }),
      vcpus: opts.cpus,
      memoryMB: opts.memory,
      disks: opts.disk.map(parseDisk),
      cdroms: opts.cdrom.map(parseCdrom),
      nics: opts.nic.map(parseNic),
      ...(opts.machine === undefined ? {} : { machine: opts.machine }),
      ...(opts.pool === undefined ? {} : { pool: opts.pool }),
      ...(opts.datastore === undefined ? {} : { datastore: opts.datastore }),
    };
    const created = await controllerClient(opts).post<VmCreated>("/vms", body);
    if (opts.json === true) printJson(io, created);
    else io.out(`${created.name}: created on ${created.host}, machine ${created.machine}${created.macs.length === 0 ? "" : `, MAC ${created.macs.join(", ")}`}; power it on with \`ferry vm power ${created.name} on\``);
    if (opts.json !== true && created.placement !== undefined) io.out(`placed by DRS in cluster ${created.placement.cluster}: ${created.placement.why}`);
    setStatus(ExitStatus.ok);
  });
  api(vm.command("delete").description("delete a powered-off VM; its disks stay unless --remove-disks").argument("<name>", "the VM").option("--remove-disks", "delete its disk files too (never ISOs)")).action(
    async (name: string, opts: ControllerOptions & { json?: boolean; removeDisks?: boolean }) => {
      const answer = await controllerClient(opts).delete<{ changed: string[]; generation: number }>(`/vms/${encodeURIComponent(name)}?disks=${opts.removeDisks === true ? "remove" : "keep"}`);
      if (opts.json === true) printJson(io, answer);
      else io.out(`${name}: deleted${opts.removeDisks === true ? " with its disks" : "; its disks stay on their datastores"}`);
      setStatus(ExitStatus.ok);
    },
  );
}
