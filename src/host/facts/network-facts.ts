// The host's NICs and vSwitches in the inventory's words, put together from what Linux says
// (links, addresses, routes, link speeds) and what only the agent's mapping knows (which
// bridge and VLAN a port group is, which interface a VMkernel port is). Pure: no I/O.
// Whatever the mapping names and Linux does not have is left out and said in `problems`.
import type { PhysicalNic, PortGroup, VmkernelPort, VSwitch } from "../../core/inventory/schema.ts";
import { FERRY_LINK_ALIAS_PREFIX, type HostNetworkMapping, type VmkernelMapping } from "../network-config.ts";
import { formatCidr, type InterfaceAddress } from "./ip-addr.ts";
import { LinkKind, Operstate, type Link } from "./ip-link.ts";
import { parseSysfsSpeed } from "./proc.ts";

/** Everything read from the host that the network facts are made of. */
export interface NetworkReadings {
  readonly links: readonly Link[];
  readonly addresses: ReadonlyMap<string, readonly InterfaceAddress[]>;
  /** Per interface, its gateway from the routing table. */
  readonly gateways: ReadonlyMap<string, string>;
  /** Per NIC, the text of /sys/class/net/NIC/speed; absent when unreadable or not read (down). */
  readonly speeds: ReadonlyMap<string, string>;
}

export interface NetworkFacts {
  readonly nics: PhysicalNic[];
  readonly vswitches: VSwitch[];
  readonly problems: string[];
}

/**
 * Kinds that can be a NIC. A veth is one: in a lab (and in containers) it stands for the
 * cable of a NIC. Bridges, taps (VM NIC backends), VLAN sub-interfaces and the rest of
 * Linux's virtual devices (ifb, dummy, vxlan, ...) are not.
 */
const nicKinds: ReadonlySet<LinkKind> = new Set([LinkKind.physical, LinkKind.veth, LinkKind.bond]);

/**
 * The links that are the host's NICs: `nicNames` exactly when given (the configuration
 * names them), else every physical, veth or bond link except loopback, Ferry's own links
 * (alias FERRY_LINK_ALIAS_PREFIX) and the interfaces of VMkernel ports.
 */
export function selectNicLinks(links: readonly Link[], mapping: HostNetworkMapping, nicNames?: readonly string[]): { nics: Link[]; problems: string[] } {
  if (nicNames !== undefined) {
    const byName = new Map(links.map((l) => [l.name, l]));
    const missing = nicNames.filter((n) => !byName.has(n));
    return {
      nics: nicNames.flatMap((n) => byName.get(n) ?? []),
      problems: missing.map((n) => `NIC ${n} is named in the configuration but does not exist on this host.`),
    };
  }
  const vmkInterfaces = new Set(Object.values(mapping.vmkernelPorts).map((p) => p.interface));
  const nics = links.filter(
    (l) => l.name !== "lo" && nicKinds.has(l.kind) && !(l.alias?.startsWith(FERRY_LINK_ALIAS_PREFIX) ?? false) && !vmkInterfaces.has(l.name),
  );
  return { nics, problems: [] };
}

/** A NIC with its speed: sysfs's, and 0 whenever the link is not up (the schema's "down"). */
function toNic(link: Link, speeds: ReadonlyMap<string, string>, problems: string[]): PhysicalNic {
  if (link.operstate !== Operstate.up) return { name: link.name, speedMbps: 0 };
  const speedMbps = parseSysfsSpeed(speeds.get(link.name));
  if (speedMbps === 0) problems.push(`NIC ${link.name} is up but its driver reports no link speed; it counts as 0 Mb/s.`);
  return { name: link.name, speedMbps };
}

/** The mapped port groups whose bridge exists; the others are explained in `problems`. */
function livePortGroups(mapping: HostNetworkMapping, bridges: ReadonlySet<string>, links: readonly Link[], problems: string[]): Map<string, string> {
  const live = new Map<string, string>();
  const names = new Set(links.map((l) => l.name));
  for (const [name, group] of Object.entries(mapping.portGroups)) {
    if (bridges.has(group.bridge)) {
      live.set(name, group.bridge);
      continue;
    }
    const what = names.has(group.bridge) ? "is not a bridge" : "does not exist on this host";
    problems.push(`Port group "${name}" is left out: its bridge ${group.bridge} ${what}.`);
  }
  return live;
}

/** The VMkernel port as Linux shows it now, or why it is left out (a clause). */
function toVmkernelPort(name: string, port: VmkernelMapping, live: ReadonlyMap<string, string>, readings: NetworkReadings, mapping: HostNetworkMapping): VmkernelPort | string {
  if (!Object.hasOwn(mapping.portGroups, port.portGroup)) return `its port group "${port.portGroup}" is not in the mapping`;
  if (!live.has(port.portGroup)) return `its port group "${port.portGroup}" is left out`;
  const link = readings.links.find((l) => l.name === port.interface);
  if (link === undefined) return `its interface ${port.interface} does not exist`;
  const address = readings.addresses.get(port.interface)?.[0];
  if (address === undefined) return `its interface ${port.interface} has no IPv4 address`;
  // The mapping's gateway is the administrator's word; the routing table's is Linux's reading.
  const gateway = port.gateway ?? readings.gateways.get(port.interface);
  return { name, portGroup: port.portGroup, ip: formatCidr(address), mtu: link.mtu, vmotion: port.vmotion, ...(gateway === undefined ? {} : { gateway }) };
}

function toVSwitch(bridge: Link, nics: readonly Link[], live: ReadonlyMap<string, string>, ports: ReadonlyMap<string, VmkernelPort>, mapping: HostNetworkMapping): VSwitch {
  const portGroups: PortGroup[] = Object.entries(mapping.portGroups)
    .filter(([name]) => live.get(name) === bridge.name)
    .map(([name, group]) => ({ name, vlan: group.vlan }));
  const onThisBridge = new Set(portGroups.map((g) => g.name));
  return {
    name: bridge.name,
    uplinks: nics.filter((n) => n.master === bridge.name).map((n) => n.name),
    mtu: bridge.mtu,
    portGroups,
    vmkernelPorts: [...ports.values()].filter((p) => onThisBridge.has(p.portGroup)),
  };
}

/** The host's NICs and vSwitches, from its readings and the agent's mapping. */
export function assembleNetwork(readings: NetworkReadings, mapping: HostNetworkMapping, nicNames?: readonly string[]): NetworkFacts {
  const selected = selectNicLinks(readings.links, mapping, nicNames);
  const problems = [...selected.problems];
  const nics = selected.nics.map((l) => toNic(l, readings.speeds, problems));
  const bridges = readings.links.filter((l) => l.kind === LinkKind.bridge);
  const live = livePortGroups(mapping, new Set(bridges.map((b) => b.name)), readings.links, problems);
  const ports = new Map<string, VmkernelPort>();
  for (const [name, mapped] of Object.entries(mapping.vmkernelPorts)) {
    const port = toVmkernelPort(name, mapped, live, readings, mapping);
    if (typeof port === "string") problems.push(`VMkernel port ${name} is left out: ${port}.`);
    else ports.set(name, port);
  }
  const vswitches = bridges.map((b) => toVSwitch(b, selected.nics, live, ports, mapping));
  return { nics, vswitches, problems };
}
