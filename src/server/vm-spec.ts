// The one mapping from a VM's inventory record to the spec its host's agent runs it from:
// memory, vCPUs, NICs (MAC and IP kept), the CPU features the guest will see, and for real
// VMs the machine type, the disks on datastores and the CD-ROM drives. Used when a VM is
// created, powered on, and predicted from the inventory.
import type { Vm } from "../core/inventory/schema.ts";
import type { VmCdromSpec, VmDiskSpec, VmSpec } from "../drivers/driver.ts";

const MB_PER_GB = 1024;

/** Disks with a file: a VM's real disks (sim inventories describe disks without one). */
function disksOf(vm: Vm): VmDiskSpec[] {
  return vm.disks.flatMap((d) => (d.path === undefined ? [] : [{ name: d.name, datastore: d.datastore, path: d.path, format: d.format ?? "raw", sizeMB: Math.max(1, Math.round(d.sizeGB * MB_PER_GB)) }]));
}

function cdromsOf(vm: Vm): VmCdromSpec[] {
  return vm.devices.flatMap((d): VmCdromSpec[] => {
    if (d.kind !== "cdrom") return [];
    // A client-side drive is the console's: the host sees an empty drive.
    const backing = d.backing === "file" || d.backing === "host" ? d.backing : "none";
    return [{ name: d.name, backing, datastore: d.datastore, path: d.path, connected: d.connected && backing !== "none" }];
  });
}

/** The agent's spec of `vm`, with `cpuFlags` the features its guest gets at this power-on. */
export function vmSpecOf(vm: Vm, cpuFlags: readonly string[] | undefined): VmSpec {
  const disks = disksOf(vm);
  const cdroms = cdromsOf(vm);
  // SeaBIOS tries the disk first and falls through to the CD-ROM while the disk is blank,
  // as a new VM with an installer ISO does; a VM without either is Ferry's built-in guest.
  const firmware = disks.length > 0 || cdroms.length > 0;
  return {
    name: vm.name,
    memoryMB: vm.memoryMB,
    vcpus: vm.vcpus,
    nics: vm.nics.map((n) => ({ name: n.name, mac: n.mac, ip: n.ip, portGroup: n.portGroup })),
    cpuFlags,
    ...(vm.machine === undefined ? {} : { machine: vm.machine }),
    ...(firmware ? { boot: "disk" as const, disks, cdroms } : {}),
  };
}

/** The part of a spec that says what the VM boots and where its files are. */
export function storageOf(spec: VmSpec): Pick<VmSpec, "machine" | "boot" | "disks" | "cdroms"> {
  return {
    ...(spec.machine === undefined ? {} : { machine: spec.machine }),
    ...(spec.boot === undefined ? {} : { boot: spec.boot }),
    ...(spec.disks === undefined ? {} : { disks: spec.disks }),
    ...(spec.cdroms === undefined ? {} : { cdroms: spec.cdroms }),
  };
}
