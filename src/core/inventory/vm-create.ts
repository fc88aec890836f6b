// A new VM defined by Ferry (`ferry vm create`, POST /api/vms, the UI's New virtual machine):
// its record, built as a pure edit on a draft. The machine type is chosen here, once, and
// kept for the VM's life (vSphere's virtual hardware version): the host's concrete i440FX
// type when none is asked for, never an alias like `pc`, which means a different machine on
// every QEMU version.
import { ErrorCode, FerryError } from "../errors.ts";
import { deriveMac, findHost, findVm, type Draft } from "./edits.ts";
import type { Device, Disk, Vm } from "./schema.ts";

export interface NewVmDisk {
  readonly datastore: string;
  /** The file inside the datastore; an existing image is imported, a new one needs a size. */
  readonly path: string;
  readonly sizeMB?: number | undefined;
  readonly format?: "raw" | "qcow2" | undefined;
}

export type NewVmCdrom = { readonly datastore: string; readonly path: string } | { readonly hostDevice: string };

export interface NewVmNic {
  readonly portGroup: string;
  readonly mac?: string | undefined;
  readonly ip?: string | undefined;
}

export interface NewVm {
  readonly name: string;
  readonly host: string;
  readonly vcpus: number;
  readonly memoryMB: number;
  readonly disks: readonly NewVmDisk[];
  readonly cdroms: readonly NewVmCdrom[];
  readonly nics: readonly NewVmNic[];
  readonly machine?: string | undefined;
  readonly pool?: string | undefined;
  /** Where the VM's configuration lives when it has no disk. */
  readonly datastore?: string | undefined;
}

/** The machine type QEMU 7.2 builds for `pc`, Ferry's default when the host does not say. */
export const FALLBACK_MACHINE = "pc-i440fx-7.2";

/** The newest concrete i440FX type a host offers (`pc-i440fx-8.0` over `pc-i440fx-7.2`); the fallback when it says nothing. */
export function defaultMachineType(machineTypes: readonly string[] | undefined): string {
  const versioned = (machineTypes ?? []).flatMap((m) => {
    const match = /^pc-i440fx-(\d+)\.(\d+)$/.exec(m);
    return match === null ? [] : [{ m, major: Number(match[1]), minor: Number(match[2]) }];
  });
  versioned.sort((a, b) => b.major - a.major || b.minor - a.minor);
  return versioned[0]?.m ?? FALLBACK_MACHINE;
}

function diskOf(disk: NewVmDisk, index: number): Disk {
  return { name: `disk${index}`, datastore: disk.datastore, path: disk.path, format: disk.format ?? (disk.path.endsWith(".qcow2") ? "qcow2" : "raw"), sizeGB: (disk.sizeMB ?? 1024) / 1024 } satisfies Disk;
}

function cdromOf(cdrom: NewVmCdrom, index: number): Device {
  const name = `cd${index}`;
  return "hostDevice" in cdrom ? { name, kind: "cdrom", backing: "host", path: cdrom.hostDevice, connected: true } : { name, kind: "cdrom", backing: "file", datastore: cdrom.datastore, path: cdrom.path, connected: true };
}

/** Adds the new VM, powered off, to the draft and returns it. */
export function createVm(draft: Draft, spec: NewVm): Vm {
  const host = findHost(draft, spec.host);
  if (draft.vms.some((vm) => vm.name === spec.name)) throw new FerryError(ErrorCode.conflict, `a VM named "${spec.name}" already exists`, { details: { vm: spec.name } });
  const configStore = spec.disks[0]?.datastore ?? spec.datastore ?? host.datastores[0];
  if (configStore === undefined) throw new FerryError(ErrorCode.invalidInput, `${spec.name} needs a datastore for its configuration: give it a disk or a datastore (${host.name} mounts none)`);
  const machine = spec.machine ?? defaultMachineType(host.hypervisor?.machineTypes);
  const taken = new Set(draft.vms.flatMap((vm) => vm.nics.map((n) => n.mac.toLowerCase())));
  const vm: Vm = {
    name: spec.name,
    guest: { os: "other", bits: 64 },
    vcpus: spec.vcpus,
    memoryMB: spec.memoryMB,
    reservation: { cpuMhz: 0, memoryMB: 0 },
    cpuAffinity: [],
    files: { config: { datastore: configStore, path: `${spec.name}/${spec.name}.json` } },
    disks: spec.disks.map((d, i) => diskOf(d, i)),
    nics: spec.nics.map((nic, i) => {
      const mac = (nic.mac ?? deriveMac(spec.name, i, taken)).toLowerCase();
      if (taken.has(mac)) throw new FerryError(ErrorCode.conflict, `MAC ${mac} is already used by another VM`, { details: { mac } });
      taken.add(mac);
      return { name: `nic${i}`, portGroup: nic.portGroup, mac, connected: true, ...(nic.ip === undefined ? {} : { ip: nic.ip }) };
    }),
    devices: spec.cdroms.map(cdromOf),
    host: host.name,
    power: "off",
    machine,
  };
  if (spec.pool !== undefined) vm.pool = spec.pool;
  draft.vms.push(vm);
  return vm;
}

/**
 * Records where a powered-off VM's disk file is now: the administrator moved it (say from a
 * host's local datastore to a shared one, so the VM can migrate). A running VM keeps its files
 * open where they are, so it is refused.
 */
export function setDiskLocation(draft: Draft, vmName: string, diskName: string, datastore: string, path: string): void {
  const vm = findVm(draft, vmName);
  if (vm.power !== "off") throw new FerryError(ErrorCode.conflict, `${vmName} is ${vm.power}: move a disk only while the VM is powered off`, { details: { vm: vmName } });
  const disk = vm.disks.find((d) => d.name === diskName);
  if (disk === undefined) throw new FerryError(ErrorCode.notFound, `${vmName} has no disk named "${diskName}" (it has ${vm.disks.map((d) => d.name).join(", ") || "none"})`);
  disk.datastore = datastore;
  disk.path = path;
  // The configuration follows its first disk, as `createVm` placed it.
  if (vm.disks[0] === disk) vm.files.config = { datastore, path: `${vmName}/${vmName}.json` };
}
