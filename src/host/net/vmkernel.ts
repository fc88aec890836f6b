// VMkernel ports: a host interface with one IPv4 address on a port group. Ferry makes a new one
// as a veth pair: the end named like the port (vmk1) holds the address and the port's MTU, the
// other end (k + hash, aliased `ferry:vmk1` so facts do not take it for a NIC) is an access port
// of the port group's bridge and VLAN. An interface the admin mapped (the bridge itself holding
// the OS's management address) is only given the address, MTU and up state.
//
// The gateway is recorded in the mapping and never installed as a route: the host already has a
// default route (its management network), and a second one through a VMkernel port would take
// the host's own traffic with it. A routed VMotion network needs the admin's own route
// (docs/deploy.md says how), as ESX needs a TCP/IP stack's gateway for it.
import { createHash } from "node:crypto";
import { FERRY_LINK_ALIAS_PREFIX, type HostNetworkMapping, type NetworkOp, type PortGroupMapping } from "../network-config.ts";
import { ferryPeerOf, holderOf, type HostLink, type HostRoute, type HostView, type Ipv4Address } from "./host-view.ts";
import { inSubnet, isIpv4 } from "./ipv4.ts";
import { linkNameProblem, quoteList, vmkernelPeerName } from "./names.ts";
import { accessVlanCommands, accessVlanOf, restoreVlanCommands } from "./vlans.ts";
import { ip, lookup, refuse, type Command, type Plan, type PlanInput, type Step } from "./step.ts";

type SetVmkernelPort = Extract<NetworkOp, { op: "setVmkernelPort" }>;
type RemoveVmkernelPort = Extract<NetworkOp, { op: "removeVmkernelPort" }>;

/** What a veth VMkernel port is made of: to create one, or to make a deleted one again. */
interface VethSpec {
  readonly port: string;
  readonly peer: string;
  readonly bridge: string | undefined;
  readonly mtu: number;
  readonly peerMtu: number;
  /** Run once the peer is on the bridge (it then holds the bridge's default PVID only). */
  readonly peerVlans: readonly Command[];
  readonly addresses: readonly Ipv4Address[];
  readonly up: boolean;
}

const addrAdd = (dev: string, a: Ipv4Address): Command => ip("addr", "add", `${a.ip}/${a.prefix}`, ...(a.broadcast === undefined ? [] : ["brd", a.broadcast]), "dev", dev);
const cidrs = (link: HostLink): string => link.ipv4.map((a) => `${a.ip}/${a.prefix}`).join(", ");

function vethCommands(s: VethSpec): Command[] {
  return [
    // The peer takes the bridge's MTU: a smaller port would pull down the MTU of a bridge whose MTU the kernel sets itself.
    ip("link", "add", s.port, "mtu", String(s.mtu), "type", "veth", "peer", "name", s.peer, "mtu", String(s.peerMtu)),
    ip("link", "set", s.peer, "alias", `${FERRY_LINK_ALIAS_PREFIX}${s.port}`),
    // Above any NIC's MAC, so the bridge never takes this port's (see taps.ts bridgePortMac).
    ip("link", "set", s.peer, "address", `fe:${createHash("sha256").update(s.port).digest("hex").slice(0, 10).match(/../g)?.join(":") ?? "00:00:00:00:00"}`),
    ...(s.bridge === undefined ? [] : [ip("link", "set", s.peer, "master", s.bridge), ...s.peerVlans]),
    ip("link", "set", s.peer, "up"),
    ...s.addresses.map((a) => addrAdd(s.port, a)),
    ...(s.up ? [ip("link", "set", s.port, "up")] : []),
  ];
}

/** Steps creating a veth port: deleting the pair undoes everything done to it. */
function createSteps(spec: VethSpec, does: string): Step[] {
  const [create, ...rest] = vethCommands(spec);
  return [{ does, run: create, undo: [ip("link", "delete", spec.port)] }, ...rest.map((run) => ({ run, undo: [] }))];
}

/** A step deleting veth port `link` (its peer `end` goes with it), undone by making both again as they were. */
function deleteVethStep(link: HostLink, end: HostLink, view: HostView, does: string): Step {
  const defaultPvid = end.master === undefined ? undefined : view.links.get(end.master)?.bridge?.defaultPvid;
  const spec = { port: link.name, peer: end.name, bridge: end.master, mtu: link.mtu, peerMtu: end.mtu, peerVlans: restoreVlanCommands(end.name, end.vlans, defaultPvid), addresses: link.ipv4, up: link.up };
  return { does, run: ip("link", "delete", link.name), undo: vethCommands(spec) };
}

/** Commands giving `link` its IPv4 addresses back, and the routes through it the flush took. */
function restoreAddressCommands(link: HostLink, routes: readonly HostRoute[]): Command[] {
  const lost = routes.filter((r) => r.dev === link.name && r.protocol !== "kernel");
  return [
    ip("-4", "addr", "flush", "dev", link.name),
    ...link.ipv4.map((a) => addrAdd(link.name, a)),
    ...lost.map((r) =>
      ip("route", "replace", r.dst, ...(r.gateway === undefined ? [] : ["via", r.gateway]), "dev", r.dev, ...(r.protocol === undefined ? [] : ["proto", r.protocol]), ...(r.scope === undefined ? [] : ["scope", r.scope]), ...(r.prefsrc === undefined ? [] : ["src", r.prefsrc]), ...(r.metric === undefined ? [] : ["metric", String(r.metric)])),
    ),
  ];
}

/** Where the port's address goes: an interface that holds it already (in place), or a new veth pair (replacing one of Ferry's that sits elsewhere). */
type Placement = { readonly inPlace: HostLink } | { readonly replacing: HostLink | undefined };

function placement(op: SetVmkernelPort, input: PlanInput, group: PortGroupMapping): Placement {
  const { host } = input;
  const existing = lookup(input.mapping.vmkernelPorts, op.name);
  const end = ferryPeerOf(host, op.name);
  const own = host.links.get(op.name);
  if (end !== undefined && own !== undefined) {
    const defaultPvid = host.links.get(group.bridge)?.bridge?.defaultPvid;
    const placed = existing?.interface === op.name && end.master === group.bridge && accessVlanOf(end.vlans, defaultPvid) === group.vlan;
    return placed ? { inPlace: own } : { replacing: own };
  }
  const current = existing === undefined ? undefined : host.links.get(existing.interface);
  return current === undefined ? { replacing: undefined } : { inPlace: current };
}

function addressRefusal(op: SetVmkernelPort): string | undefined {
  if (!isIpv4(op.ip)) return `"${op.ip}" is not an IPv4 address`;
  if (!Number.isInteger(op.prefix) || op.prefix < 1 || op.prefix > 32) return `prefix /${op.prefix} is outside 1 to 32`;
  if (op.gateway !== undefined && (!isIpv4(op.gateway) || !inSubnet(op.ip, op.prefix, op.gateway))) return `gateway ${op.gateway} is outside ${op.ip}/${op.prefix}, the port's subnet`;
  return undefined;
}

function setRefusal(op: SetVmkernelPort, input: PlanInput): string | undefined {
  const nameProblem = linkNameProblem(op.name);
  if (nameProblem !== undefined) return `${nameProblem}; a VMkernel port is a link of that name`;
  const group = lookup(input.mapping.portGroups, op.portGroup);
  if (group === undefined) return `this host has no port group "${op.portGroup}" (port groups: ${quoteList(Object.keys(input.mapping.portGroups))})`;
  const bridge = input.host.links.get(group.bridge);
  if (bridge?.bridge === undefined) return `port group "${op.portGroup}"'s vSwitch ${group.bridge} is not on this host`;
  if (group.vlan !== 0 && bridge.bridge.defaultPvid === undefined) return `this host's kernel cannot filter VLANs on bridges, so port group "${op.portGroup}" (VLAN ${group.vlan}) cannot be realised`;
  const addressProblem = addressRefusal(op);
  if (addressProblem !== undefined) return addressProblem;
  const place = placement(op, input, group);
  const target = "inPlace" in place ? place.inPlace.name : op.name;
  const holder = holderOf(input.host, op.ip);
  if (holder !== undefined && holder.name !== target) return `${op.ip} is already on ${holder.name} on this host`;
  if ("replacing" in place && place.replacing === undefined && input.host.links.has(op.name)) return `a link named ${op.name} already exists on this host and is not one of Ferry's VMkernel ports`;
  const veth = "replacing" in place || ferryPeerOf(input.host, op.name) !== undefined;
  if (veth && op.mtu > bridge.mtu) return `MTU ${op.mtu} is larger than vSwitch ${group.bridge}'s ${bridge.mtu}`;
  return undefined;
}

function inPlaceSteps(op: SetVmkernelPort, link: HostLink, routes: readonly HostRoute[]): Step[] {
  const cidr = `${op.ip}/${op.prefix}`;
  const steps: Step[] = [];
  const first = link.ipv4[0];
  if (link.ipv4.length !== 1 || first?.ip !== op.ip || first.prefix !== op.prefix) {
    steps.push({ run: ip("-4", "addr", "flush", "dev", link.name), undo: restoreAddressCommands(link, routes) });
    steps.push({ does: `${cidr} on ${link.name}${link.ipv4.length === 0 ? "" : ` (was ${cidrs(link)})`}`, run: ip("addr", "add", cidr, "dev", link.name), undo: [ip("addr", "del", cidr, "dev", link.name)] });
  }
  if (link.mtu !== op.mtu) steps.push({ does: `MTU ${op.mtu} on ${link.name} (was ${link.mtu})`, run: ip("link", "set", link.name, "mtu", String(op.mtu)), undo: [ip("link", "set", link.name, "mtu", String(link.mtu))] });
  if (!link.up) steps.push({ does: `${link.name} up`, run: ip("link", "set", link.name, "up"), undo: [ip("link", "set", link.name, "down")] });
  return steps;
}

function newPortSteps(op: SetVmkernelPort, input: PlanInput, group: PortGroupMapping, replacing: HostLink | undefined): Step[] {
  const bridge = input.host.links.get(group.bridge);
  const peer = vmkernelPeerName(op.name);
  const spec: VethSpec = { port: op.name, peer, bridge: group.bridge, mtu: op.mtu, peerMtu: bridge?.mtu ?? op.mtu, peerVlans: accessVlanCommands(peer, 0, group.vlan, bridge?.bridge?.defaultPvid), addresses: [{ ip: op.ip, prefix: op.prefix }], up: true };
  const does = `created VMkernel port ${op.name} (${op.ip}/${op.prefix}, MTU ${op.mtu}; its other end ${peer} on ${group.bridge}${group.vlan === 0 ? "" : `, VLAN ${group.vlan}`})`;
  const end = ferryPeerOf(input.host, op.name);
  const removal = replacing === undefined || end === undefined ? [] : [deleteVethStep(replacing, end, input.host, `deleted ${op.name} from its old place (${end.master ?? "no bridge"})`)];
  return [...removal, ...createSteps(spec, does)];
}

export function planSetVmkernelPort(op: SetVmkernelPort, input: PlanInput): Plan {
  const refusal = setRefusal(op, input);
  const group = lookup(input.mapping.portGroups, op.portGroup);
  if (refusal !== undefined || group === undefined) return refuse(refusal ?? `this host has no port group "${op.portGroup}"`);
  const place = placement(op, input, group);
  const steps = "inPlace" in place ? inPlaceSteps(op, place.inPlace, input.host.routes) : newPortSteps(op, input, group, place.replacing);
  const entry = { interface: "inPlace" in place ? place.inPlace.name : op.name, portGroup: op.portGroup, vmotion: op.vmotion, ...(op.gateway === undefined ? {} : { gateway: op.gateway }) };
  const gateway = op.gateway === undefined ? "" : `, gateway ${op.gateway} recorded (not installed as a route)`;
  const mapping: HostNetworkMapping = { ...input.mapping, vmkernelPorts: { ...input.mapping.vmkernelPorts, [op.name]: entry } };
  return { steps: [...steps, { does: `VMkernel port ${op.name} on port group "${op.portGroup}", VMotion ${op.vmotion ? "on" : "off"}${gateway}`, undo: [] }], mapping };
}

export function planRemoveVmkernelPort(op: RemoveVmkernelPort, input: PlanInput): Plan {
  const existing = lookup(input.mapping.vmkernelPorts, op.name);
  if (existing === undefined) return refuse(`this host has no VMkernel port ${op.name} (VMkernel ports: ${quoteList(Object.keys(input.mapping.vmkernelPorts))})`);
  const mapping: HostNetworkMapping = { ...input.mapping, vmkernelPorts: Object.fromEntries(Object.entries(input.mapping.vmkernelPorts).filter(([port]) => port !== op.name)) };
  const link = input.host.links.get(existing.interface);
  const end = ferryPeerOf(input.host, op.name);
  const words = `removed VMkernel port ${op.name}`;
  if (link === undefined) return { steps: [{ does: `${words} (its interface ${existing.interface} was already gone)`, undo: [] }], mapping };
  if (end !== undefined && link.name === op.name) return { steps: [deleteVethStep(link, end, input.host, `${words} (deleted veth ${link.name} and ${end.name})`)], mapping };
  if (link.ipv4.length === 0) return { steps: [{ does: words, undo: [] }], mapping };
  // An interface the admin mapped (the bridge itself): only the port's address goes, the link stays.
  return { steps: [{ does: `${words} (took ${cidrs(link)} off ${link.name})`, run: ip("-4", "addr", "flush", "dev", link.name), undo: restoreAddressCommands(link, input.host.routes) }], mapping };
}
