// VM NICs on a real host: a persistent tap per NIC on its port group's bridge, an access port of
// the port group's VLAN. QEMU opens it with `-netdev tap,ifname=NAME,script=no,downscript=no`.
import { ErrorCode, FerryError } from "../../core/errors.ts";
import type { VmNic } from "../../drivers/qemu/host-network.ts";
import type { CommandRunner } from "../command.ts";
import type { HostNetworkMapping } from "../network-config.ts";
import type { HostView } from "./host-view.ts";
import { quoteList } from "./names.ts";
import { HostTransaction } from "./transaction.ts";
import { accessVlanCommands } from "./vlans.ts";
import { ip, lookup, type Step } from "./step.ts";

/** A bridge port's MAC for a VM NIC: the guest's MAC with its first byte fe (fa when it is fe already). */
export function bridgePortMac(guestMac: string): string {
  const [first = "", ...rest] = guestMac.toLowerCase().split(":");
  return [first === "fe" ? "fa" : "fe", ...rest].join(":");
}

/** The steps making tap `tap` on the bridge of `nic`'s port group; INVALID_INPUT when the host has no such port group. */
export function tapSteps(view: HostView, mapping: HostNetworkMapping, vm: string, nic: VmNic, tap: string): Step[] {
  const group = lookup(mapping.portGroups, nic.portGroup);
  const details = { vm, nic: nic.name, portGroup: nic.portGroup };
  if (group === undefined) {
    throw new FerryError(ErrorCode.invalidInput, `This host has no port group "${nic.portGroup}" for NIC ${nic.name} of ${vm} (port groups: ${quoteList(Object.keys(mapping.portGroups))}).`, { details });
  }
  const bridge = view.links.get(group.bridge);
  if (bridge?.bridge === undefined) {
    throw new FerryError(ErrorCode.invalidInput, `Port group "${nic.portGroup}" for NIC ${nic.name} of ${vm} sits on vSwitch ${group.bridge}, which is not on this host.`, { details });
  }
  return [
    { run: ip("tuntap", "add", "dev", tap, "mode", "tap"), undo: [ip("link", "delete", tap)] },
    // As libvirt does: the host side of a VM NIC gets a MAC starting fe:, above any NIC's, so a
    // bridge that takes its lowest port's MAC never takes a tap's (its address would move).
    { run: ip("link", "set", tap, "address", bridgePortMac(nic.mac)), undo: [] },
    // The tap takes the bridge's MTU: a smaller port would pull down the MTU of a bridge whose MTU the kernel sets itself.
    { run: ip("link", "set", tap, "mtu", String(bridge.mtu)), undo: [] },
    { run: ip("link", "set", tap, "master", group.bridge), undo: [] },
    ...accessVlanCommands(tap, 0, group.vlan, bridge.bridge.defaultPvid).map((run) => ({ run, undo: [] })),
    { run: ip("link", "set", tap, "up"), undo: [] },
  ];
}

/** Runs `steps`; on a failure deletes the half-made tap and rethrows. */
export async function makeTap(run: CommandRunner, steps: readonly Step[]): Promise<void> {
  const tx = new HostTransaction(run);
  try {
    for (const step of steps) await tx.do(step);
  } catch (error) {
    await tx.rollback();
    throw error;
  }
}

function isMissing(error: unknown): boolean {
  const stderr = (error as { details?: { stderr?: unknown } }).details?.stderr;
  return typeof stderr === "string" && (stderr.includes("Cannot find device") || stderr.includes("does not exist"));
}

/** Deletes tap `tap`; nothing when it is gone already (a host reboot, an admin's cleanup). */
export async function deleteTap(run: CommandRunner, tap: string): Promise<void> {
  try {
    await run("ip", ["link", "delete", tap]);
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
}
