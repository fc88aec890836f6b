// Rules about the VM alone, whatever the destination: the seed's list of what a VM must
// not have (host-only devices, CPU affinity, an MSCS raw disk mapping, an internal-only
// switch) and its state (powered on; not already migrating, which is the open tasks' word).
// Computed once per VM, except the claim.
import type { VmClaim } from "../../inventory/claims.ts";
import type { HostView } from "../../inventory/index.ts";
import type { Device, Vm } from "../../inventory/schema.ts";
import { FindingCode, Severity, SubjectKind, type Emit } from "../findings.ts";
import { places, uiAt, uiWords } from "../ui-fix.ts";

const deviceWords: Record<Device["kind"], string> = {
  cdrom: "CD-ROM",
  floppy: "floppy drive",
  serial: "serial port",
  parallel: "parallel port",
  usb: "USB device",
};

/** Why a device's backing exists only where the VM runs now; undefined when it moves with the VM. */
function hostOnlyBacking(device: Device, host: string): string | undefined {
  switch (device.backing) {
    case "host":
      return device.path === undefined ? `a physical device of ${host}` : `the host device ${device.path} of ${host}`;
    case "client":
      return "a device of the console client connected to this host";
    case "file":
    case "none":
      return undefined;
  }
}

/**
 * A VM an open migration task holds: read from the task's claim at every check (never
 * memoised with the VM's own rules), since a claim comes and goes without any inventory edit.
 */
export function claimRules(name: string, claim: VmClaim | undefined, emit: Emit): void {
  if (claim === undefined) return;
  emit(FindingCode.vmMigrating, Severity.error, () => ({
    subject: { kind: SubjectKind.vm, name },
    message: `${name} is already being migrated (task ${claim.taskId}, ${claim.source} to ${claim.destination}).`,
    fix: `Wait for the running migration of ${name} to finish, or abort it (\`ferry abort ${claim.taskId}\`).`,
    ui: uiAt(`Wait for the running migration of ${name} to finish, or abort it`, places.abortTask(claim.taskId)),
  }));
}

export function vmRules(vm: Vm, source: HostView | undefined, emit: Emit): void {
  const name = vm.name;
  const here = vm.host;

  switch (vm.power) {
    case "on":
      break;
    case "off":
      // vCenter's cold migration: the VM is registered on the destination, powered off, with
      // its disks where they are; storage, networks and the machine type still apply.
      emit(FindingCode.vmPoweredOff, Severity.warning, () => ({
        subject: { kind: SubjectKind.vm, name },
        message: `${name} is powered off: it moves as a cold migration (registered on the destination, powered off, its disks where they are), not a VMotion. Its guest boots anew where it is next powered on, so CPU and VMotion-network checks do not apply.`,
        fix: `Proceed to move ${name} cold; or power it on first to move it live.`,
        ui: uiAt(`Proceed to move ${name} cold; or power it on first to move it live`, places.vmAction(name, "Power on")),
      }));
      break;
    case "suspended":
      // Ferry does not move a suspended VM's saved state: an error, with the two ways out.
      emit(FindingCode.vmSuspended, Severity.error, () => ({
        subject: { kind: SubjectKind.vm, name },
        message: `${name} is suspended: Ferry does not move a suspended VM's saved state.`,
        fix: `Resume ${name} to move it live, or power it off to move it cold.`,
        ui: uiAt(`Power ${name} off to move it cold`, places.vmAction(name, "Power off"), ", or resume it to move it live."),
      }));
      break;
  }
  if (vm.cpuAffinity.length > 0) {
    emit(FindingCode.cpuAffinity, Severity.error, () => ({
      subject: { kind: SubjectKind.vm, name },
      message: `${name} has CPU affinity set to physical CPU${vm.cpuAffinity.length > 1 ? "s" : ""} ${vm.cpuAffinity.join(", ")} of ${here}; those CPUs mean nothing on another host.`,
      fix: `Clear the CPU affinity of ${name} (\`cpuAffinity: []\` in the inventory).`,
      ui: uiAt(`Clear the CPU scheduling affinity of ${name}`, places.cpuAffinity(name)),
    }));
  }
  for (const disk of vm.disks) {
    if (disk.rdm?.mscs === true) {
      const lun = disk.rdm.lun;
      emit(FindingCode.rdmMscs, Severity.error, () => ({
        subject: { kind: SubjectKind.disk, name: disk.name, vm: name },
        message: `Disk "${disk.name}" of ${name} is a raw device mapping of LUN ${lun} in a Microsoft Cluster Services (MSCS) configuration; VMotion cannot move MSCS nodes.`,
        fix: `Fail the MSCS service over to another node instead of migrating ${name}, or remove it from the MSCS cluster.`,
        ui: uiWords(`VMotion cannot move an MSCS node: fail the MSCS service over to another node instead of migrating ${name}, or remove ${name} from the MSCS cluster.`),
      }));
    }
  }
  for (const device of vm.devices) {
    const backing = hostOnlyBacking(device, here);
    if (backing === undefined) continue;
    const kind = deviceWords[device.kind];
    if (device.connected) {
      emit(FindingCode.deviceHostOnly, Severity.error, () => ({
        subject: { kind: SubjectKind.device, name: device.name, vm: name },
        message: `${kind} "${device.name}" of ${name} is connected to ${backing}, which only the current host has.`,
        fix: `Clear the Connected box of "${device.name}" on ${name} (\`connected: false\` in the inventory).`,
        ui: uiAt(`Clear the Connected box of ${device.name}`, places.connected(name, device.name)),
      }));
    } else {
      emit(FindingCode.deviceHostOnly, Severity.warning, () => ({
        subject: { kind: SubjectKind.device, name: device.name, vm: name },
        message: `${kind} "${device.name}" of ${name} has a mapping to a host-only device that is not active (${backing}).`,
        fix: `Proceed (the mapping will not follow ${name}), or remove the device.`,
        ui: uiWords(`Proceed: the mapping of ${device.name} will not follow ${name}.`),
      }));
    }
  }
  // The seed: "The virtual machine must not be connected to an internal-only switch."
  if (source !== undefined) {
    for (const nic of vm.nics) {
      const ref = source.portGroups.get(nic.portGroup);
      if (ref === undefined || ref.vswitch.uplinks.length > 0) continue;
      emit(FindingCode.internalSwitch, nic.connected ? Severity.error : Severity.warning, () => ({
        subject: { kind: SubjectKind.nic, name: nic.name, vm: name },
        message: nic.connected
          ? `NIC "${nic.name}" of ${name} is connected to port group "${nic.portGroup}" on ${ref.vswitch.name} of ${here}, an internal-only switch (no physical uplink): the VM's peers on it stay behind.`
          : `NIC "${nic.name}" of ${name} is on port group "${nic.portGroup}" of the internal-only switch ${ref.vswitch.name}, but not connected.`,
        fix: nic.connected
          ? `Disconnect NIC "${nic.name}" of ${name}, or move it to a port group on a vSwitch with a physical uplink.`
          : `Proceed, or move NIC "${nic.name}" to a port group on a vSwitch with a physical uplink.`,
        ui: nic.connected
          ? uiAt(`Disconnect network adapter ${nic.name}: clear its Connected box`, places.connected(name, nic.name), `, or move it to a port group on a vSwitch with a physical uplink.`)
          : uiWords(`Proceed, or move network adapter ${nic.name} to a port group on a vSwitch with a physical uplink.`),
      }));
    }
  }
}

/**
 * A host's state as a migration end: connected, and (as a destination) not in maintenance mode.
 * `notResponding`: the controller's heartbeats find the host's agent silent (vCenter's "not
 * responding" host, which takes no VMotion either); it is the same finding as a disconnected host.
 */
export function hostStateRules(view: HostView, role: "source" | "destination", emit: Emit, notResponding = false): void {
  const host = view.host.name;
  if (!view.host.connected) {
    emit(FindingCode.hostDisconnected, Severity.error, () => ({
      subject: { kind: SubjectKind.host, name: host },
      message: `The ${role} host ${host} is not connected.`,
      fix: `Reconnect ${host} (check that its agent runs and can reach the controller).`,
      ui: uiWords(`Reconnect ${host}: check that its agent runs and can reach the controller.`),
    }));
  } else if (notResponding) {
    emit(FindingCode.hostDisconnected, Severity.error, () => ({
      subject: { kind: SubjectKind.host, name: host },
      message: `The ${role} host ${host} is not responding: its agent missed the controller's heartbeats.`,
      fix: `Check that the agent of ${host} runs and that the controller can reach it; the host is connected again at its next answer.`,
      ui: uiWords(`Check that the agent of ${host} runs and that the controller can reach it; the host is connected again at its next answer.`),
    }));
  }
  if (role === "destination" && view.host.maintenance) {
    emit(FindingCode.hostMaintenance, Severity.error, () => ({
      subject: { kind: SubjectKind.host, name: host },
      message: `The destination host ${host} is in maintenance mode and accepts no VMs.`,
      fix: `Exit maintenance mode on ${host}, or choose another host.`,
      ui: uiAt(`Exit maintenance mode on ${host}`, places.hostAction(host, "Exit maintenance mode"), ", or choose another host."),
    }));
  }
}
