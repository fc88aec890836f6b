// VLANs on a bridge's ports, the Linux way (bridge VLAN filtering): an uplink carries a port
// group's VLAN tagged (a trunk port on the physical switch); a VM's tap or a VMkernel port's veth
// end is an access port: its port group's VLAN as PVID and egress untagged, so the guest or the
// host sends and receives plain frames. VLAN 0 (the seed's "none") is the bridge's default PVID,
// which every new port gets (1 unless the admin changed it).
import type { PortVlan } from "./host-view.ts";
import { bridge, type Command } from "./step.ts";

/** The bridge VLAN that stands for port group VLAN `vlan` (0 = the default PVID; 0 back = none). */
export function bridgeVid(vlan: number, defaultPvid: number | undefined): number {
  return vlan === 0 ? (defaultPvid ?? 0) : vlan;
}

const accessAdd = (port: string, vid: number): Command => bridge("vlan", "add", "dev", port, "vid", String(vid), "pvid", "untagged");
const vlanDel = (port: string, vid: number): Command => bridge("vlan", "del", "dev", port, "vid", String(vid));

/**
 * Commands that move access port `port` from port-group VLAN `from` to `to` (a new port starts at
 * 0): the new VLAN added as PVID untagged, then the old one removed.
 */
export function accessVlanCommands(port: string, from: number, to: number, defaultPvid: number | undefined): Command[] {
  const a = bridgeVid(from, defaultPvid);
  const b = bridgeVid(to, defaultPvid);
  if (a === b) return [];
  return [...(b === 0 ? [] : [accessAdd(port, b)]), ...(a === 0 ? [] : [vlanDel(port, a)])];
}

/** The VLAN an access port is on now, in port-group words (0 = the default PVID or none). */
export function accessVlanOf(vlans: readonly PortVlan[], defaultPvid: number | undefined): number {
  const pvid = vlans.find((v) => v.pvid)?.vid;
  return pvid === undefined || pvid === defaultPvid ? 0 : pvid;
}

/**
 * Commands that give a port that was just (re-)enslaved, and so holds the default PVID only,
 * exactly the VLANs of `snapshot` again.
 */
export function restoreVlanCommands(port: string, snapshot: readonly PortVlan[], defaultPvid: number | undefined): Command[] {
  if (defaultPvid === undefined) return [];
  const adds = snapshot.map((v) => bridge("vlan", "add", "dev", port, "vid", String(v.vid), ...(v.pvid ? ["pvid"] : []), ...(v.untagged ? ["untagged"] : [])));
  const keepsDefault = defaultPvid === 0 || snapshot.some((v) => v.vid === defaultPvid);
  return keepsDefault ? adds : [...adds, vlanDel(port, defaultPvid)];
}

