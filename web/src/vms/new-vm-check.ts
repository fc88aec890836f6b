// The New virtual machine wizard's form and its one check: a pure function of the form and the
// inventory that returns each step's errors and warnings (values, never exceptions) and the
// POST /api/vms body once nothing is wrong. It mirrors the API schema's limits and the host's
// datastores and port groups; what only the controller or the host can tell (a name already
// taken, a missing image) is left to their refusal.
import type { z } from "zod";
import type { VmCreateSchema } from "../../../src/api/schemas.ts";
import type { Host, Inventory } from "../types.ts";

/** The body of POST /api/vms as the UI sends it (the server fills its defaults). */
export type VmCreateRequest = z.input<typeof VmCreateSchema>;

export const DiskSource = { new: "new", existing: "existing" } as const;
export type DiskSource = (typeof DiskSource)[keyof typeof DiskSource];

export const CdromChoice = { none: "none", iso: "iso", host: "host" } as const;
export type CdromChoice = (typeof CdromChoice)[keyof typeof CdromChoice];

type SizeUnit = "MiB" | "GiB";
type DiskFormat = "raw" | "qcow2";

export interface DiskRow {
  readonly key: number;
  readonly datastore: string;
  readonly path: string;
  readonly source: DiskSource;
  readonly size: string;
  readonly unit: SizeUnit;
  readonly format: DiskFormat;
}

export interface NicRow {
  readonly key: number;
  readonly portGroup: string;
  readonly mac: string;
}

export interface CdromForm {
  readonly choice: CdromChoice;
  readonly datastore: string;
  readonly path: string;
  readonly device: string;
}

export interface NewVmForm {
  readonly name: string;
  readonly host: string;
  readonly vcpus: string;
  readonly memoryMB: string;
  readonly disks: readonly DiskRow[];
  readonly cdrom: CdromForm;
  readonly nics: readonly NicRow[];
}

// Step ids are element ids too: apart from the fields' ids ("newvm-name" is the name's input).
export const NewVmStep = { name: "newvm-step-name", hardware: "newvm-step-hardware", disks: "newvm-step-disks", cdrom: "newvm-step-cdrom", network: "newvm-step-network" } as const;
export type NewVmStep = (typeof NewVmStep)[keyof typeof NewVmStep];

export interface StepCheck {
  readonly errors: readonly string[];
  readonly warnings: readonly string[];
}

export interface NewVmCheck {
  readonly steps: Readonly<Record<NewVmStep, StepCheck>>;
  /** The request to send; null while any step has an error. */
  readonly request: VmCreateRequest | null;
}

const MAX_NAME = 200;
export const MAX_VCPUS = 64;
export const MIN_MEMORY_MB = 16;
const MAX_MEMORY_MB = 1024 * 1024;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const HOST_DEVICE = /^\/dev\/\S+$/;

/** A whole number from the text, or null ("2", not "2.5", "", "two"). */
function wholeNumber(text: string): number | null {
  const t = text.trim();
  return /^\d+$/.test(t) ? Number(t) : null;
}

/** Why a path inside a datastore is refused, or null: the agent takes only plain relative paths. */
function pathProblem(path: string): string | null {
  const p = path.trim();
  if (p === "") return "enter the file's path inside the datastore";
  if (p.startsWith("/") || p.split(/[\\/]+/).includes("..")) return `the path "${p}" must be relative to its datastore, without ".."`;
  return null;
}

export function portGroupsOf(host: Host): string[] {
  return host.vswitches.flatMap((v) => v.portGroups.map((p) => p.name));
}

/** A disk's size in MiB, or null when the text is not a whole, positive size. */
function sizeMBOf(disk: DiskRow): number | null {
  const n = wholeNumber(disk.size);
  if (n === null || n <= 0) return null;
  return disk.unit === "GiB" ? n * 1024 : n;
}

function checkName(form: NewVmForm, host: Host | undefined): StepCheck {
  const errors: string[] = [];
  const name = form.name.trim();
  if (name === "") errors.push("Enter a name for the VM.");
  else if (name.length > MAX_NAME) errors.push(`A VM name has at most ${String(MAX_NAME)} characters.`);
  // The VM's configuration lives in a folder named after it on its datastore.
  else if (name.includes("/")) errors.push("A VM name cannot contain “/”: it names the VM's folder on its datastore.");
  if (host === undefined) errors.push(form.host === "" ? "Choose the host the VM is created on." : `There is no host named “${form.host}”.`);
  else if (host.datastores.length === 0) errors.push(`${host.name} mounts no datastore: a VM's disks and configuration need one.`);
  return { errors, warnings: [] };
}

function checkHardware(form: NewVmForm, host: Host | undefined): StepCheck {
  const errors: string[] = [];
  const warnings: string[] = [];
  const vcpus = wholeNumber(form.vcpus);
  const memory = wholeNumber(form.memoryMB);
  if (vcpus === null || vcpus < 1 || vcpus > MAX_VCPUS) errors.push(`vCPUs is a whole number from 1 to ${String(MAX_VCPUS)}.`);
  else if (host !== undefined && vcpus > host.cpu.cores) warnings.push(`${String(vcpus)} vCPUs is more than ${host.name}'s ${String(host.cpu.cores)} cores: the guest's CPUs will share them.`);
  if (memory === null || memory < MIN_MEMORY_MB || memory > MAX_MEMORY_MB) errors.push(`Memory is a whole number of MiB from ${String(MIN_MEMORY_MB)} to ${String(MAX_MEMORY_MB)}.`);
  else if (host !== undefined && memory > host.memoryMB) warnings.push(`${String(memory)} MiB is more than ${host.name} has (${String(host.memoryMB)} MB): it will not power on there.`);
  return { errors, warnings };
}

function checkDisks(form: NewVmForm, host: Host | undefined): StepCheck {
  const errors: string[] = [];
  const warnings: string[] = [];
  const seen = new Set<string>();
  form.disks.forEach((disk, i) => {
    const label = `Disk ${String(i + 1)}`;
    if (disk.datastore === "") errors.push(`${label}: choose a datastore.`);
    else if (host !== undefined && !host.datastores.includes(disk.datastore)) errors.push(`${label}: ${host.name} does not mount datastore “${disk.datastore}”; choose one it does.`);
    const problem = pathProblem(disk.path);
    if (problem !== null) errors.push(`${label}: ${problem}.`);
    if (disk.source === DiskSource.new && sizeMBOf(disk) === null) errors.push(`${label}: a new disk needs a size, a whole number of ${disk.unit} above 0.`);
    const file = `${disk.datastore}:${disk.path.trim()}`;
    // QEMU's image lock lets only one writer open a file.
    if (problem === null && seen.has(file)) errors.push(`${label}: another disk already uses ${disk.path.trim()} on ${disk.datastore}.`);
    seen.add(file);
    const ext = /\.(qcow2|raw|img)$/i.exec(disk.path.trim())?.[1]?.toLowerCase();
    if (ext !== undefined && (ext === "qcow2") !== (disk.format === "qcow2")) warnings.push(`${label}: the file is named .${ext} but its format is ${disk.format}.`);
  });
  return { errors, warnings };
}

function checkCdrom(form: NewVmForm, host: Host | undefined): StepCheck {
  const { cdrom } = form;
  const errors: string[] = [];
  const warnings: string[] = [];
  switch (cdrom.choice) {
    case CdromChoice.none:
      break;
    case CdromChoice.iso: {
      if (cdrom.datastore === "") errors.push("Choose the datastore that holds the ISO.");
      else if (host !== undefined && !host.datastores.includes(cdrom.datastore)) errors.push(`${host.name} does not mount datastore “${cdrom.datastore}”; choose one it does.`);
      const problem = pathProblem(cdrom.path);
      if (problem !== null) errors.push(`ISO: ${problem}.`);
      break;
    }
    case CdromChoice.host:
      if (!HOST_DEVICE.test(cdrom.device.trim())) errors.push("The host's drive is a device like /dev/sr0.");
      // The seed: a VM connected to a device only one host has cannot move with VMotion.
      warnings.push(`A connected host device ties the VM to ${host?.name ?? "its host"}: VMotion refuses to migrate it while the drive is connected. Clear its Connected box in Edit settings before a migration.`);
      break;
  }
  return { errors, warnings };
}

function checkNetwork(form: NewVmForm, host: Host | undefined): StepCheck {
  const errors: string[] = [];
  const groups = host === undefined ? [] : portGroupsOf(host);
  const macs = new Set<string>();
  form.nics.forEach((nic, i) => {
    const label = `Network adapter ${String(i + 1)}`;
    if (nic.portGroup === "") errors.push(`${label}: choose a port group.`);
    else if (host !== undefined && !groups.includes(nic.portGroup)) errors.push(`${label}: ${host.name} has no port group named “${nic.portGroup}” (names are case-sensitive).`);
    const mac = nic.mac.trim().toLowerCase();
    if (mac !== "" && !MAC.test(mac)) errors.push(`${label}: a MAC address looks like 52:54:00:01:02:03; leave it empty to have one made.`);
    else if (mac !== "" && macs.has(mac)) errors.push(`${label}: another adapter already has MAC ${mac}.`);
    if (mac !== "") macs.add(mac);
  });
  return { errors, warnings: [] };
}

function requestOf(form: NewVmForm): VmCreateRequest {
  const { cdrom } = form;
  return {
    name: form.name.trim(),
    host: form.host,
    vcpus: wholeNumber(form.vcpus) ?? 1,
    memoryMB: wholeNumber(form.memoryMB) ?? 0,
    disks: form.disks.map((d) => {
      const sizeMB = sizeMBOf(d);
      return { datastore: d.datastore, path: d.path.trim(), format: d.format, ...(d.source === DiskSource.new && sizeMB !== null ? { sizeMB } : {}) };
    }),
    cdroms: cdrom.choice === CdromChoice.iso ? [{ datastore: cdrom.datastore, path: cdrom.path.trim() }] : cdrom.choice === CdromChoice.host ? [{ hostDevice: cdrom.device.trim() }] : [],
    nics: form.nics.map((n) => ({ portGroup: n.portGroup, ...(n.mac.trim() === "" ? {} : { mac: n.mac.trim().toLowerCase() }) })),
  };
}

/** Every step's errors and warnings, and the request when there are no errors. */
export function checkNewVm(form: NewVmForm, inventory: Inventory): NewVmCheck {
  const host = inventory.hosts.find((h) => h.name === form.host);
  const steps = {
    [NewVmStep.name]: checkName(form, host),
    [NewVmStep.hardware]: checkHardware(form, host),
    [NewVmStep.disks]: checkDisks(form, host),
    [NewVmStep.cdrom]: checkCdrom(form, host),
    [NewVmStep.network]: checkNetwork(form, host),
  };
  const ok = Object.values(steps).every((s) => s.errors.length === 0);
  return { steps, request: ok ? requestOf(form) : null };
}
