// Port groups: a (bridge, VLAN) pair under a case-sensitive name, kept in the mapping. Linux has
// nothing to create for one; a VLAN port group needs VLAN filtering on its bridge and its VLAN
// let through the uplinks tagged. Changing a port group's VLAN moves the access ports already on
// it (VM taps, VMkernel veth ends) along, as ESX does when a port group's VLAN ID is edited.
import type { HostNetworkMapping, NetworkOp } from "../network-config.ts";
import { bridgeNames, ferryPeerOf, uplinksOf, type HostLink } from "./host-view.ts";
import { quoteList } from "./names.ts";
import { accessVlanCommands } from "./vlans.ts";
import { bridge, ip, lookup, refuse, type Plan, type PlanInput, type Step } from "./step.ts";

type SetPortGroup = Extract<NetworkOp, { op: "setPortGroup" }>;
type RenamePortGroup = Extract<NetworkOp, { op: "renamePortGroup" }>;
type RemovePortGroup = Extract<NetworkOp, { op: "removePortGroup" }>;

/** The VMkernel ports and plugged taps on port group `name`, as words, e.g. `VMkernel port vmk1, VM NIC tap t12…`. */
export function usersOf(name: string, input: Pick<PlanInput, "mapping" | "plugged">): string[] {
  const vmks = Object.entries(input.mapping.vmkernelPorts).filter(([, m]) => m.portGroup === name).map(([port]) => `VMkernel port ${port}`);
  const taps = [...input.plugged].filter(([, group]) => group === name).map(([tap]) => `VM NIC tap ${tap}`);
  return [...vmks, ...taps];
}

/** The access ports Ferry put on port group `name`: plugged taps and its VMkernel ports' veth ends. */
function accessPortsOf(name: string, input: PlanInput): HostLink[] {
  const taps = [...input.plugged].filter(([, group]) => group === name).map(([tap]) => input.host.links.get(tap));
  const ends = Object.entries(input.mapping.vmkernelPorts).filter(([, m]) => m.portGroup === name).map(([port]) => ferryPeerOf(input.host, port));
  return [...taps, ...ends].filter((l): l is HostLink => l !== undefined);
}

function setPortGroupRefusal(op: SetPortGroup, input: PlanInput): string | undefined {
  const link = input.host.links.get(op.vswitch);
  if (link?.bridge === undefined) return `this host has no vSwitch ${op.vswitch} (vSwitches: ${quoteList(bridgeNames(input.host))})`;
  if (op.vlan !== 0 && link.bridge.defaultPvid === undefined) {
    return `this host's kernel cannot filter VLANs on bridges (built without CONFIG_BRIDGE_VLAN_FILTERING), so port group "${op.name}" cannot carry VLAN ${op.vlan}; use VLAN 0 or a kernel with VLAN filtering`;
  }
  const old = lookup(input.mapping.portGroups, op.name);
  const users = usersOf(op.name, input);
  if (old !== undefined && old.bridge !== op.vswitch && users.length > 0) {
    return `port group "${op.name}" cannot move from ${old.bridge} to ${op.vswitch} while ${users.join(", ")} use${users.length > 1 ? "" : "s"} it`;
  }
  return undefined;
}

function trunkSteps(op: SetPortGroup, input: PlanInput, link: HostLink): Step[] {
  if (op.vlan === 0) return [];
  const steps: Step[] = [];
  if (link.bridge?.vlanFiltering === false) {
    steps.push({ does: `VLAN filtering on for ${op.vswitch}`, run: ip("link", "set", op.vswitch, "type", "bridge", "vlan_filtering", "1"), undo: [ip("link", "set", op.vswitch, "type", "bridge", "vlan_filtering", "0")] });
  }
  for (const uplink of uplinksOf(input.host, op.vswitch)) {
    if (uplink.vlans.some((v) => v.vid === op.vlan)) continue;
    const vid = String(op.vlan);
    steps.push({ does: `VLAN ${op.vlan} tagged on uplink ${uplink.name}`, run: bridge("vlan", "add", "dev", uplink.name, "vid", vid), undo: [bridge("vlan", "del", "dev", uplink.name, "vid", vid)] });
  }
  return steps;
}

/** Steps that move the access ports of a port group from VLAN `from` to `to`. */
function retagSteps(ports: readonly HostLink[], from: number, to: number, defaultPvid: number | undefined): Step[] {
  return ports.flatMap((port) => {
    const [first, ...rest] = accessVlanCommands(port.name, from, to, defaultPvid);
    if (first === undefined) return [];
    // Undo: the old VLAN as PVID again before the new one goes, so the port never sits untagged nowhere.
    const back = accessVlanCommands(port.name, to, from, defaultPvid);
    return [
      { does: `${port.name} moved to VLAN ${to}`, run: first, undo: back },
      ...rest.map((command) => ({ run: command, undo: back.slice(0, 1) })),
    ];
  });
}

export function planSetPortGroup(op: SetPortGroup, input: PlanInput): Plan {
  const refusal = setPortGroupRefusal(op, input);
  const link = input.host.links.get(op.vswitch);
  if (refusal !== undefined || link === undefined) return refuse(refusal ?? `this host has no vSwitch ${op.vswitch}`);
  const old = lookup(input.mapping.portGroups, op.name);
  const retag = old !== undefined && old.bridge === op.vswitch && old.vlan !== op.vlan ? retagSteps(accessPortsOf(op.name, input), old.vlan, op.vlan, link.bridge?.defaultPvid) : [];
  const words = `port group "${op.name}" on ${op.vswitch}, ${op.vlan === 0 ? "no VLAN" : `VLAN ${op.vlan}`}`;
  const mapping: HostNetworkMapping = { ...input.mapping, portGroups: { ...input.mapping.portGroups, [op.name]: { bridge: op.vswitch, vlan: op.vlan } } };
  return { steps: [...trunkSteps(op, input, link), ...retag, { does: old === undefined ? words : `${words} (was ${old.bridge}, VLAN ${old.vlan})`, undo: [] }], mapping };
}

export function planRenamePortGroup(op: RenamePortGroup, input: PlanInput): Plan {
  const group = lookup(input.mapping.portGroups, op.name);
  if (group === undefined) return refuse(`this host has no port group "${op.name}" (port groups: ${quoteList(Object.keys(input.mapping.portGroups))})`);
  if (lookup(input.mapping.portGroups, op.to) !== undefined) return refuse(`port group "${op.to}" already exists (names are case-sensitive)`);
  const portGroups = Object.fromEntries(Object.entries(input.mapping.portGroups).map(([name, g]) => [name === op.name ? op.to : name, g]));
  const vmkernelPorts = Object.fromEntries(Object.entries(input.mapping.vmkernelPorts).map(([port, m]) => [port, m.portGroup === op.name ? { ...m, portGroup: op.to } : m]));
  const plugged = new Map([...input.plugged].map(([tap, g]) => [tap, g === op.name ? op.to : g]));
  return { steps: [{ does: `renamed port group "${op.name}" to "${op.to}"`, undo: [] }], mapping: { portGroups, vmkernelPorts }, plugged };
}

export function planRemovePortGroup(op: RemovePortGroup, input: PlanInput): Plan {
  const group = lookup(input.mapping.portGroups, op.name);
  if (group === undefined) return refuse(`this host has no port group "${op.name}" (port groups: ${quoteList(Object.keys(input.mapping.portGroups))})`);
  const users = usersOf(op.name, input);
  if (users.length > 0) return refuse(`port group "${op.name}" is in use by ${users.join(", ")}`);
  const portGroups = Object.fromEntries(Object.entries(input.mapping.portGroups).filter(([name]) => name !== op.name));
  // The VLAN stays on the uplinks: it may carry traffic Ferry does not know of (a management
  // VLAN interface of the admin's), and an unused VLAN on a trunk costs nothing.
  return { steps: [{ does: `removed port group "${op.name}"`, undo: [] }], mapping: { ...input.mapping, portGroups } };
}
