// What the inventory search finds: objects by name, and by what an administrator has in hand
// when looking for one — a guest's IP or MAC address, a port group, a datastore, a VMkernel
// port's IP. A pure function of the inventory and the text, so the tree only draws its answer.
import type { Host, Inventory, Template, Vm } from "../types.ts";

/** Why an object matched, in the UI's words ("IP 198.18.0.22", "port group DMZ"); null: by its name. */
export type MatchReason = string | null;

export interface InventoryMatches {
  /** The text searched for is empty: everything is shown. */
  readonly all: boolean;
  readonly vms: ReadonlyMap<string, MatchReason>;
  readonly hosts: ReadonlyMap<string, MatchReason>;
  readonly templates: ReadonlyMap<string, MatchReason>;
  readonly clusters: ReadonlySet<string>;
}

/** Lower case, and a MAC's separators dropped: "00-50-56-00-01-0C" finds 00:50:56:00:01:0c. */
const fold = (text: string): string => text.trim().toLowerCase();
const macDigits = (text: string): string => text.toLowerCase().replace(/[^0-9a-f]/g, "");
const looksLikeMac = (needle: string): boolean => /^[0-9a-f]{2}([:.-]?[0-9a-f]{2}){2,5}$/i.test(needle);

type Candidate = readonly [reason: string, value: string];

/** The first candidate whose value contains the needle (a MAC compared by its hex digits), as its reason. */
function firstMatch(needle: string, candidates: readonly Candidate[]): MatchReason | undefined {
  const asMac = looksLikeMac(needle) ? macDigits(needle) : null;
  for (const [reason, value] of candidates) {
    if (fold(value).includes(needle)) return reason;
    if (asMac !== null && reason.startsWith("MAC ") && macDigits(value).includes(asMac)) return reason;
  }
  return undefined;
}

function guestCandidates(vm: Vm | Template): Candidate[] {
  const out: Candidate[] = [];
  for (const nic of vm.nics) {
    if (nic.ip !== undefined) out.push([`IP ${nic.ip}`, nic.ip]);
    out.push([`MAC ${nic.mac}`, nic.mac]);
    out.push([`port group ${nic.portGroup}`, nic.portGroup]);
  }
  const datastores = new Set([...vm.disks.map((d) => d.datastore), ...Object.values(vm.files).map((f) => f?.datastore), ...vm.devices.map((d) => d.datastore)]);
  for (const ds of datastores) if (ds !== undefined) out.push([`datastore ${ds}`, ds]);
  return out;
}

function hostCandidates(host: Host): Candidate[] {
  const out: Candidate[] = [];
  for (const vswitch of host.vswitches) {
    for (const vmk of vswitch.vmkernelPorts) out.push([`${vmk.name} ${vmk.ip}`, vmk.ip]);
    for (const pg of vswitch.portGroups) out.push([`port group ${pg.name}`, pg.name]);
    for (const vmk of vswitch.vmkernelPorts) out.push([`port group ${vmk.portGroup}`, vmk.portGroup]);
  }
  for (const ds of host.datastores) out.push([`datastore ${ds}`, ds]);
  return out;
}

/** Which objects the search text finds, each with why when it is not its name. */
export function searchInventory(inventory: Inventory, text: string): InventoryMatches {
  const needle = fold(text);
  const match = (name: string, candidates: () => readonly Candidate[]): MatchReason | undefined => (fold(name).includes(needle) ? null : firstMatch(needle, candidates()));
  const collect = <T extends { name: string }>(objects: readonly T[], candidates: (o: T) => readonly Candidate[]): Map<string, MatchReason> => {
    const found = new Map<string, MatchReason>();
    for (const o of objects) {
      const reason = needle === "" ? null : match(o.name, () => candidates(o));
      if (reason !== undefined) found.set(o.name, reason);
    }
    return found;
  };
  return {
    all: needle === "",
    vms: collect(inventory.vms, guestCandidates),
    hosts: collect(inventory.hosts, hostCandidates),
    templates: collect(inventory.templates, guestCandidates),
    clusters: new Set(inventory.clusters.filter((c) => needle === "" || fold(c.name).includes(needle)).map((c) => c.name)),
  };
}
