// vSwitches: a Linux bridge each, named like the vSwitch, with VLAN filtering on (port groups
// with a VLAN need it) and its uplink NICs enslaved. The vSwitch's MTU is set on the bridge and
// on every uplink, as ESX sets a standard vSwitch's MTU on its physical NICs.
import type { NetworkOp } from "../network-config.ts";
import { bridgeNames, isFerryLink, portsOf, uplinksOf, type HostLink } from "./host-view.ts";
import { linkNameProblem, quoteList } from "./names.ts";
import { restoreVlanCommands } from "./vlans.ts";
import { ip, refuse, type Command, type Plan, type PlanInput, type Step } from "./step.ts";

type AddVSwitch = Extract<NetworkOp, { op: "addVSwitch" }>;
type RemoveVSwitch = Extract<NetworkOp, { op: "removeVSwitch" }>;

/** Why `name` cannot be an uplink of a new vSwitch, or undefined. */
function uplinkProblem(name: string, input: PlanInput): string | undefined {
  const link = input.host.links.get(name);
  if (link === undefined) return `uplink ${name} does not exist on this host (free NICs: ${quoteList(freeNics(input))})`;
  const vmk = Object.entries(input.mapping.vmkernelPorts).find(([, m]) => m.interface === name)?.[0];
  if (vmk !== undefined || isFerryLink(link)) return `${name} is ${vmk === undefined ? "the other end of a VMkernel port" : `VMkernel port ${vmk}`}, not a NIC`;
  if (link.master !== undefined) return `uplink ${name} is already enslaved to ${link.master}`;
  if (link.kind === "bridge" || link.kind === "tun" || name === "lo") return `${name} is a ${link.kind ?? "loopback"} link, not a NIC`;
  return undefined;
}

/** Links that could become uplinks: not enslaved, not a bridge, tap, loopback or VMkernel port. */
function freeNics(input: PlanInput): string[] {
  const vmks = new Set(Object.values(input.mapping.vmkernelPorts).map((m) => m.interface));
  const free = (l: HostLink): boolean => l.master === undefined && l.kind !== "bridge" && l.kind !== "tun" && l.name !== "lo" && !isFerryLink(l) && !vmks.has(l.name);
  return [...input.host.links.values()].filter(free).map((l) => l.name);
}

function addVSwitchRefusal(op: AddVSwitch, input: PlanInput): string | undefined {
  const nameProblem = linkNameProblem(op.name);
  if (nameProblem !== undefined) return `${nameProblem}; a vSwitch is a bridge of that name`;
  if (input.host.links.has(op.name)) return `a link named ${op.name} already exists on this host`;
  const twice = op.uplinks.find((u, i) => op.uplinks.indexOf(u) !== i);
  if (twice !== undefined) return `uplink ${twice} is listed twice`;
  for (const uplink of op.uplinks) {
    const problem = uplinkProblem(uplink, input);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

function uplinkSteps(link: HostLink, bridge: string, mtu: number): Step[] {
  const steps: Step[] = [];
  if (link.mtu !== mtu) steps.push({ does: `MTU ${mtu} on uplink ${link.name} (was ${link.mtu})`, run: ip("link", "set", link.name, "mtu", String(mtu)), undo: [ip("link", "set", link.name, "mtu", String(link.mtu))] });
  steps.push({ does: `uplink ${link.name} enslaved to ${bridge}`, run: ip("link", "set", link.name, "master", bridge), undo: [ip("link", "set", link.name, "nomaster")] });
  if (!link.up) steps.push({ does: `${link.name} up`, run: ip("link", "set", link.name, "up"), undo: [ip("link", "set", link.name, "down")] });
  return steps;
}

export function planAddVSwitch(op: AddVSwitch, input: PlanInput): Plan {
  const refusal = addVSwitchRefusal(op, input);
  if (refusal !== undefined) return refuse(refusal);
  const steps: Step[] = [
    {
      does: `created bridge ${op.name} (vSwitch, VLAN filtering on)`,
      run: ip("link", "add", op.name, "type", "bridge", "vlan_filtering", "1"),
      undo: [ip("link", "delete", op.name)],
      unsupported: { run: ip("link", "add", op.name, "type", "bridge"), does: `created bridge ${op.name} (vSwitch; this kernel cannot filter VLANs: VLAN 0 port groups only)` },
    },
    { does: `MTU ${op.mtu} on ${op.name}`, run: ip("link", "set", op.name, "mtu", String(op.mtu)), undo: [] },
  ];
  for (const uplink of op.uplinks) {
    const link = input.host.links.get(uplink);
    if (link !== undefined) steps.push(...uplinkSteps(link, op.name, op.mtu));
  }
  // A bridge takes the lowest MAC of its ports and changes it as ports come and go (a tap per
  // VM NIC): the address of a VMkernel port on the bridge itself would then move to another
  // MAC under its neighbours' ARP caches. Pinned to the first uplink's, it stays.
  const first = op.uplinks[0] === undefined ? undefined : input.host.links.get(op.uplinks[0])?.mac;
  if (first !== undefined) steps.push({ does: `${op.name} keeps ${op.uplinks[0] ?? ""}'s MAC ${first}`, run: ip("link", "set", op.name, "address", first), undo: [] });
  steps.push({ does: `${op.name} up`, run: ip("link", "set", op.name, "up"), undo: [] });
  return { steps, mapping: input.mapping };
}

function removeVSwitchRefusal(op: RemoveVSwitch, input: PlanInput): string | undefined {
  const link = input.host.links.get(op.name);
  if (link?.kind !== "bridge") return `this host has no vSwitch ${op.name} (vSwitches: ${quoteList(bridgeNames(input.host))})`;
  const groups = Object.entries(input.mapping.portGroups).filter(([, g]) => g.bridge === op.name).map(([name]) => name);
  if (groups.length > 0) return `vSwitch ${op.name} still has port group${groups.length > 1 ? "s" : ""} ${quoteList(groups)}; remove ${groups.length > 1 ? "them" : "it"} first`;
  const vmk = Object.entries(input.mapping.vmkernelPorts).find(([, m]) => m.interface === op.name)?.[0];
  if (vmk !== undefined) return `VMkernel port ${vmk} is the bridge ${op.name} itself; remove the port first`;
  if (link.ipv4.length > 0) return `bridge ${op.name} holds ${link.ipv4.map((a) => `${a.ip}/${a.prefix}`).join(", ")}: Ferry does not take a host's own address away`;
  const others = portsOf(input.host, op.name).filter((p) => p.kind === "tun" || isFerryLink(p)).map((p) => p.name);
  if (others.length > 0) return `vSwitch ${op.name} still has VM NICs or VMkernel ends on it (${others.join(", ")})`;
  return undefined;
}

/** Commands that make bridge `link` again as it was (its ports come back by their own undos). */
function recreateBridge(link: HostLink): Command[] {
  const filtering = link.bridge?.defaultPvid === undefined ? [] : ["vlan_filtering", link.bridge.vlanFiltering ? "1" : "0"];
  return [
    ip("link", "add", link.name, "type", "bridge", ...filtering),
    ip("link", "set", link.name, "mtu", String(link.mtu)),
    ...restoreVlanCommands(link.name, link.vlans, link.bridge?.defaultPvid).map((c) => ({ ...c, args: [...c.args, "self"] })),
    ...(link.up ? [ip("link", "set", link.name, "up")] : []),
  ];
}

export function planRemoveVSwitch(op: RemoveVSwitch, input: PlanInput): Plan {
  const refusal = removeVSwitchRefusal(op, input);
  const link = input.host.links.get(op.name);
  if (refusal !== undefined || link === undefined) return refuse(refusal ?? `this host has no vSwitch ${op.name}`);
  const defaultPvid = link.bridge?.defaultPvid;
  const steps: Step[] = uplinksOf(input.host, op.name).map((u) => ({
    does: `released uplink ${u.name} from ${op.name}`,
    run: ip("link", "set", u.name, "nomaster"),
    undo: [ip("link", "set", u.name, "master", op.name), ...restoreVlanCommands(u.name, u.vlans, defaultPvid)],
  }));
  steps.push({ does: `deleted bridge ${op.name}`, run: ip("link", "delete", op.name), undo: recreateBridge(link) });
  return { steps, mapping: input.mapping };
}
