// Where a reachability probe leaves from: the host's own address on the port group's segment,
// the way a vSphere host's VMkernel sees the VM network from the destination's side.
import type { HostNetworkMapping } from "../network-config.ts";
import type { HostView } from "./host-view.ts";
import { lookup } from "./step.ts";

/**
 * An IPv4 address this host holds on port group `portGroup`: a VMkernel port's on it, else (VLAN 0
 * only: the bridge itself sits on the untagged segment) one on the bridge. Undefined: the kernel's
 * routing picks.
 */
export function probeSource(view: HostView, mapping: HostNetworkMapping, portGroup: string): string | undefined {
  const group = lookup(mapping.portGroups, portGroup);
  if (group === undefined) return undefined;
  for (const port of Object.values(mapping.vmkernelPorts)) {
    if (port.portGroup !== portGroup) continue;
    const address = view.links.get(port.interface)?.ipv4[0];
    if (address !== undefined) return address.ip;
  }
  return group.vlan === 0 ? view.links.get(group.bridge)?.ipv4[0]?.ip : undefined;
}
