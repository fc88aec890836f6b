// What a VM asks of any destination, computed once per VM: the datastores its files live
// on, the port groups its NICs use, the CPU its guest sees. The rules read this, never the
// raw inventory, so a profile's `key` captures everything placement depends on and VMs with
// equal keys get equal verdicts (the compatibility matrix relies on that).
import type { HostView, InventoryIndex, PortGroupRef } from "../inventory/index.ts";
import type { Device, PowerState, Vm, VmNic } from "../inventory/schema.ts";
import { guestCpu, guestCpuKey, type GuestCpuResult } from "../cpu/guest.ts";
import { listOf } from "./findings.ts";

export interface StoredFile {
  /** What the file is, in words, with its path when the inventory knows it: `disk "disk0" (web01/disk0.raw)`. */
  readonly what: string;
  readonly kind: "file" | "disk";
  /** The file inside its datastore, when known. */
  readonly path: string | undefined;
  readonly datastore: string;
}

export interface NicNeed {
  readonly nic: VmNic;
  /** The port group on the current host, if it exists there. */
  readonly source: PortGroupRef | undefined;
  /** The port group's name in lower case, to spot names that differ only in case. */
  readonly folded: string;
}

/** The parts of a VM placement depends on; the VM's name is only for messages. */
export interface PlacementNeeds {
  readonly power: PowerState;
  readonly is64: boolean;
  readonly guest: GuestCpuResult;
  /** The QEMU machine type the VM was created with, when known. */
  readonly machine: string | undefined;
  readonly files: readonly StoredFile[];
  /** The files grouped by datastore, worded once: "configuration file, log file and disk \"a.vmdk\"". */
  readonly filesByDatastore: readonly { readonly datastore: string; readonly files: readonly StoredFile[]; readonly words: string }[];
  /** File-backed devices: their image must be on a datastore the destination mounts. */
  readonly fileDevices: readonly Device[];
  readonly nics: readonly NicNeed[];
  readonly reservation: Vm["reservation"];
  /** The VM's current resource pool. */
  readonly pool: string | undefined;
  /** Whether its reservation counts against its current host and pool (powered on). */
  readonly holdsReservation: boolean;
}

export interface VmProfile {
  readonly vm: Vm;
  readonly source: HostView | undefined;
  readonly needs: PlacementNeeds;
  /**
   * Equal keys ⇒ equal verdicts of that group of rules on every host: storage (files and
   * device images vs mounts), VM networks (port groups), CPU (the guest's CPU vs the host's).
   */
  readonly keys: { readonly storage: string; readonly network: string; readonly cpu: string };
}

/** "disk \"disk0\"" and, when the file is known, " (web01/disk0.raw)": names the operator can find on the datastore. */
function withPath(words: string, path: string | undefined): string {
  return path === undefined ? words : `${words} (${path})`;
}

function storedFile(what: string, kind: StoredFile["kind"], datastore: string, path: string | undefined): StoredFile {
  return { what: withPath(what, path), kind, path, datastore };
}

function storedFiles(vm: Vm): StoredFile[] {
  const files: StoredFile[] = [storedFile("configuration file", "file", vm.files.config.datastore, vm.files.config.path)];
  if (vm.files.log !== undefined) files.push(storedFile("log file", "file", vm.files.log.datastore, vm.files.log.path));
  if (vm.files.nvram !== undefined) files.push(storedFile("NVRAM file", "file", vm.files.nvram.datastore, vm.files.nvram.path));
  for (const disk of vm.disks) {
    files.push(storedFile(disk.rdm === undefined ? `disk "${disk.name}"` : `RDM mapping file of disk "${disk.name}"`, "disk", disk.datastore, disk.path));
  }
  return files;
}

function guestKey(guest: GuestCpuResult): string {
  if (!guest.ok) return `?${guest.unknownModel}`;
  return guestCpuKey(guest.cpu);
}

export function vmProfile(index: InventoryIndex, vm: Vm): VmProfile {
  const source = index.hosts.get(vm.host);
  const files = storedFiles(vm);
  const grouped = new Map<string, StoredFile[]>();
  for (const file of files) {
    const list = grouped.get(file.datastore);
    if (list === undefined) grouped.set(file.datastore, [file]);
    else list.push(file);
  }
  const needs: PlacementNeeds = {
    power: vm.power,
    is64: vm.guest.bits === 64,
    guest: guestCpu(vm, source?.host, source?.cluster, index.templates),
    machine: vm.machine,
    files,
    filesByDatastore: [...grouped].map(([datastore, list]) => ({ datastore, files: list, words: listOf(list.map((f) => f.what)) })),
    fileDevices: vm.devices.filter((d) => d.backing === "file"),
    nics: vm.nics.map((nic) => ({ nic, source: source?.portGroups.get(nic.portGroup), folded: nic.portGroup.toLowerCase() })),
    reservation: vm.reservation,
    pool: vm.pool,
    holdsReservation: vm.power !== "off",
  };
  // Each key holds exactly what its rules read (besides the VM's name, used only in words).
  const storageKey = JSON.stringify([
    needs.files.map((f) => f.datastore).sort(),
    needs.fileDevices.map((d) => [d.datastore, d.connected]),
  ]);
  const networkKey = JSON.stringify(
    needs.nics.map((n) => [n.nic.portGroup, n.nic.connected, n.source?.portGroup.vlan ?? -1, n.source === undefined ? -1 : n.source.vswitch.uplinks.length > 0]),
  );
  const cpuKey = `${needs.power}|${String(needs.is64)}|${guestKey(needs.guest)}`;
  return { vm, source, needs, keys: { storage: storageKey, network: networkKey, cpu: cpuKey } };
}
