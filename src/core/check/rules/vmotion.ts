// The VMotion network: each host needs a VMkernel port with VMotion enabled, on a vSwitch
// with a gigabit uplink; the two hosts' VMotion vSwitches carry the same name (the seed's
// Figure 9.32) and their VMkernel IPs reach each other.
import type { HostView, VmkernelRef } from "../../inventory/index.ts";
import { FindingCode, Severity, SubjectKind, type Emit } from "../findings.ts";
import { places, uiAt, uiWords } from "../ui-fix.ts";
import { inSubnet, parseCidr, subnetText, type Ipv4Interface } from "../../net/ipv4.ts";
import type { VmkernelPort } from "../../inventory/schema.ts";

// Ports are compared with every other host's: parse each address once.
const parsed = new WeakMap<VmkernelPort, Ipv4Interface | undefined>();
function addressOf(port: VmkernelPort): Ipv4Interface | undefined {
  if (!parsed.has(port)) parsed.set(port, parseCidr(port.ip));
  return parsed.get(port);
}

/** vSphere warns below this link speed for VMotion. */
export const VMOTION_MIN_MBPS = 1000;

export type HostRole = "source" | "destination";

/** The VMotion port a host migrates through: the first VMkernel port with VMotion enabled. */
export function vmotionPort(view: HostView): VmkernelRef | undefined {
  return view.vmotionPorts[0];
}

/** The fastest uplink speed of the vSwitch holding `ref`; undefined when it has no uplinks. */
export function uplinkSpeed(view: HostView, ref: VmkernelRef): number | undefined {
  if (ref.vswitch.uplinks.length === 0) return undefined;
  return Math.max(...ref.vswitch.uplinks.map((nic) => view.nicSpeed.get(nic) ?? 0));
}

/** Findings about one host's own VMotion setup. They name the host, never the VM, so they are shared. */
export function hostVmotionRules(view: HostView, role: HostRole, emit: Emit): void {
  const host = view.host.name;
  const subject = { kind: SubjectKind.host, name: host };
  const ref = vmotionPort(view);
  if (ref === undefined) {
    if (view.vmkernelPorts.length === 0) {
      emit(FindingCode.vmotionPortMissing, Severity.error, () => ({
        subject,
        message: `The ${role} host ${host} has no VMkernel port, so it has no VMotion network.`,
        fix: `On ${host}, add a vSwitch with a VMkernel port on a gigabit NIC, tick "Use this port group for VMotion" and give it an IP on the VMotion network.`,
        ui: uiAt(`Add a VMkernel port on a gigabit NIC to ${host}, tick "Use this port group for VMotion" and give it an IP on the VMotion network`, places.addNetworking(host)),
      }));
    } else {
      const names = view.vmkernelPorts.map((r) => `${r.port.name} (${r.port.portGroup} on ${r.vswitch.name})`).join(", ");
      emit(FindingCode.vmotionNotEnabled, Severity.error, () => ({
        subject,
        message: `The ${role} host ${host} has VMkernel ports (${names}) but none is enabled for VMotion.`,
        fix: `On ${host}, tick "Use this port group for VMotion" on the VMkernel port of the VMotion network.`,
        ui: uiAt(`Tick "Use this port for VMotion" on the VMkernel port of the VMotion network`, places.vmkernelPort(host, view.vmkernelPorts[0]?.port.name ?? "", places.vmotionBox)),
      }));
    }
    return;
  }
  const port = { kind: SubjectKind.vmkernelPort, name: ref.port.name, host };
  const speed = uplinkSpeed(view, ref);
  if (speed === undefined) {
    emit(FindingCode.vmotionNoUplink, Severity.error, () => ({
      subject: port,
      message: `VMotion port ${ref.port.name} of the ${role} host ${host} is on vSwitch ${ref.vswitch.name}, which has no physical NIC: it cannot reach any other host.`,
      fix: `Add the physical adapter connected to the VMotion network as an uplink of ${ref.vswitch.name} on ${host}.`,
      ui: uiWords(`Add the physical adapter connected to the VMotion network as an uplink of ${ref.vswitch.name} on ${host}.`),
    }));
  } else if (speed === 0) {
    emit(FindingCode.vmotionLinkDown, Severity.error, () => ({
      subject: port,
      message: `Every uplink of ${ref.vswitch.name} (${ref.vswitch.uplinks.join(", ")}) on the ${role} host ${host} has no link.`,
      fix: `Check the cable and switch port of ${ref.vswitch.uplinks.join(", ")} on ${host}.`,
      ui: uiWords(`Check the cable and switch port of ${ref.vswitch.uplinks.join(", ")} on ${host}.`),
    }));
  } else if (speed < VMOTION_MIN_MBPS) {
    emit(FindingCode.vmotionLinkSlow, Severity.warning, () => ({
      subject: port,
      message: `VMotion on the ${role} host ${host} runs over ${ref.vswitch.uplinks.join(", ")} at ${speed} Mb/s, below the 1 Gb/s VMotion needs: the migration will be slow.`,
      fix: `Give ${ref.vswitch.name} on ${host} a gigabit or faster uplink, preferably dedicated to VMotion.`,
      ui: uiWords(`Give ${ref.vswitch.name} on ${host} a gigabit or faster uplink, preferably dedicated to VMotion.`),
    }));
  }
}

/** Findings about the pair of VMotion ports: names, addresses, MTU. Both hosts must have one. */
export function vmotionPairRules(source: HostView, destination: HostView, emit: Emit): void {
  const a = vmotionPort(source);
  const b = vmotionPort(destination);
  if (a === undefined || b === undefined) return;
  const src = source.host.name;
  const dst = destination.host.name;
  if (a.vswitch.name !== b.vswitch.name) {
    const caseOnly = a.vswitch.name.toLowerCase() === b.vswitch.name.toLowerCase();
    emit(FindingCode.vmotionVswitchMismatch, Severity.error, () => ({
      subject: { kind: SubjectKind.vswitch, name: b.vswitch.name, host: dst },
      message: `The VMotion port of ${src} is on vSwitch "${a.vswitch.name}" but that of ${dst} is on "${b.vswitch.name}"${caseOnly ? " (the names differ only in case, and names are case-sensitive)" : ""}: both hosts need identically named VMotion switches.`,
      fix: `Rename the vSwitch on one host so both are called "${a.vswitch.name}" (or both "${b.vswitch.name}").`,
      ui: uiWords(`Rename the vSwitch on one host so both are called "${a.vswitch.name}" (or both "${b.vswitch.name}").`),
    }));
  }
  const ia = addressOf(a.port);
  const ib = addressOf(b.port);
  if (ia !== undefined && ib !== undefined) {
    if (ia.address === ib.address) {
      emit(FindingCode.vmotionIpConflict, Severity.error, () => ({
        subject: { kind: SubjectKind.vmkernelPort, name: b.port.name, host: dst },
        message: `The VMotion ports of ${src} (${a.port.name}) and ${dst} (${b.port.name}) both have the address ${ia.text}.`,
        fix: `Give the VMotion VMkernel port of ${dst} an address of its own.`,
        ui: uiAt(`Give the VMotion port of ${dst} an address of its own`, places.vmkernelPort(dst, b.port.name, places.portIp)),
      }));
    } else {
      const sameSubnet = inSubnet(ia, ib.address) && inSubnet(ib, ia.address);
      const routed = a.port.gateway !== undefined && b.port.gateway !== undefined;
      if (!sameSubnet && !routed) {
        emit(FindingCode.vmotionUnreachable, Severity.error, () => ({
          subject: { kind: SubjectKind.vmkernelPort, name: b.port.name, host: dst },
          message: `The VMotion IPs cannot reach each other: ${src} has ${a.port.ip} (subnet ${subnetText(ia)}), ${dst} has ${b.port.ip} (subnet ${subnetText(ib)}), and ${a.port.gateway === undefined && b.port.gateway === undefined ? "neither has" : a.port.gateway === undefined ? `${src} has no` : `${dst} has no`} default gateway.`,
          fix: `Put both VMotion ports on one subnet (a non-routed VMotion network needs no gateway), or give both a default gateway that routes between the subnets.`,
          ui: uiAt(`Put the VMotion port of ${dst} on the subnet of ${src}'s, ${a.port.ip}`, places.vmkernelPort(dst, b.port.name, places.portIp), `; a VMotion network that is not routed needs no gateway. Or give both ports a default gateway that routes between the subnets.`),
        }));
      }
    }
  }
  if (a.port.mtu !== b.port.mtu) {
    emit(FindingCode.vmotionMtuMismatch, Severity.warning, () => ({
      subject: { kind: SubjectKind.vmkernelPort, name: b.port.name, host: dst },
      message: `The VMotion port of ${src} has MTU ${a.port.mtu} but that of ${dst} has MTU ${b.port.mtu}: larger frames will be fragmented or dropped.`,
      fix: `Set the same MTU on the VMotion VMkernel ports (and their vSwitches) of ${src} and ${dst}.`,
      ui: uiAt(`Set MTU ${String(a.port.mtu)} on the VMotion port of ${dst}, as on ${src}`, places.vmkernelPort(dst, b.port.name, places.portMtu), `, or set MTU ${String(b.port.mtu)} on ${src}'s (${a.port.name}); their vSwitches' MTU must allow it.`),
    }));
  }
}
