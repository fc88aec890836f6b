// The qemu lab's hardware, for `ferry lab up --driver qemu`: network namespaces that stand for
// physical hosts, and the cables between them. Everything above the hardware is Ferry's
// production code: each host's agent runs INSIDE its namespace (`ip netns exec`), sees the
// namespace's links as its whole machine, observes its facts and changes its network through
// the real-host backend, exactly as on a physical host.
//
//   ferry-<id>-phys     bridge `seg` (the physical L2 segment: hosts' eth0, the controller, the
//                       client, DHCP), bridge `vmotion` (the VMotion network: hosts' eth1)
//   ferry-<id>-esxNN    eth0 (cabled to seg), eth1 (cabled to vmotion); what the host's OS
//                       installer would set up: bridge vSwitch0 on eth0 with the management
//                       address 198.18.254.N/16. Ferry adds the rest through its API: the VM
//                       port group, vSwitch1 on eth1 with VMkernel port vmk1 (198.19.0.N/16).
//   ferry-<id>-mgmt     eth0 on seg, 198.18.254.200/16: the controller, and the DHCP server
//                       that gives guests their addresses (static leases by MAC)
//   ferry-<id>-client   eth0 on seg, 198.18.0.100/16: reaches the guests on their VM IPs
//
// Datastores are directories under the lab's own directory: one shared by every host (the
// NFS share of a real site) and one local per host. No address outside 198.18.0.0/15 and no
// route are ever added.
import { ErrorCode, FerryError } from "../core/errors.ts";
import { execRunner, type LabNetwork } from "./netns.ts";
import { LAB_CPUS, QEMU_LAB_MAX_HOSTS, checkLabCpus } from "./qemu-lab.ts";

export const HOST_LAB_PREFIX = 16;
export const MGMT_BRIDGE = "vSwitch0";
export const MGMT_PORT_GROUP = "Management Network";
export const VM_PORT_GROUP = "VM Network";
export const VMOTION_PORT_GROUP = "VMotion";
export const SHARED_DATASTORE = "lab-shared";
export const CONTROLLER_IP = "198.18.254.200";
export const CONTROLLER_PORT = 8080;
export const AGENT_PORT = 7001;
export const LAB_CLIENT_IP = "198.18.0.100";
export const HOST_LAB_CLUSTER = "Lab";
/** Default CPUs: Westmere and Nehalem hosts under a Nehalem cluster baseline (EVC). */
const DEFAULT_CPUS = ["Westmere", "Nehalem"] as const;
const DEFAULT_BASELINE = "Nehalem";

export interface HostLabHost {
  readonly name: string;
  readonly index: number;
  readonly namespace: string;
  /** The management address on vSwitch0: the agent's API listens there. */
  readonly mgmtIp: string;
  /** The VMotion VMkernel port Ferry creates on eth1. */
  readonly vmotionIp: string;
  /** The phys ends of eth0 and eth1. */
  readonly physEnds: { readonly eth0: string; readonly eth1: string };
  /** The QEMU CPU model this TCG host presents. */
  readonly cpuModel: string;
  readonly localDatastore: string;
}

export interface HostLabLayout {
  readonly labId: string;
  readonly baseline: string | undefined;
  readonly physNamespace: string;
  readonly mgmtNamespace: string;
  readonly clientNamespace: string;
  readonly hosts: readonly HostLabHost[];
}

export function hostLabLayout(lab: LabNetwork, hosts: number, cpus?: readonly string[]): HostLabLayout {
  if (!Number.isInteger(hosts) || hosts < 1 || hosts > QEMU_LAB_MAX_HOSTS) {
    throw new FerryError(ErrorCode.usage, `--hosts must be a whole number from 1 to ${QEMU_LAB_MAX_HOSTS}, got ${String(hosts)}`);
  }
  if (cpus !== undefined) checkLabCpus(cpus);
  const models = cpus ?? DEFAULT_CPUS;
  const list: HostLabHost[] = [];
  for (let i = 1; i <= hosts; i++) {
    const name = `esx${String(i).padStart(2, "0")}`;
    const cpuModel = models[(i - 1) % models.length] ?? DEFAULT_CPUS[0];
    if (!Object.hasOwn(LAB_CPUS, cpuModel)) throw new FerryError(ErrorCode.internal, `no lab CPU ${cpuModel}`);
    list.push({ name, index: i, namespace: lab.ns(name), mgmtIp: `198.18.254.${i}`, vmotionIp: `198.19.0.${i}`, physEnds: { eth0: `u-${name}`, eth1: `v-${name}` }, cpuModel, localDatastore: `${name}-local` });
  }
  return {
    labId: lab.labId,
    baseline: cpus === undefined ? DEFAULT_BASELINE : undefined,
    physNamespace: lab.ns("phys"),
    mgmtNamespace: lab.ns("mgmt"),
    clientNamespace: lab.ns("client"),
    hosts: list,
  };
}

/** Gives bridge `bridge` in `ns` the MAC of its port `port`, for good. */
async function pinMac(ns: string, bridge: string, port: string): Promise<void> {
  const [link] = JSON.parse(await execRunner("ip", ["-n", ns, "-j", "link", "show", port])) as { address?: string }[];
  if (link?.address === undefined) throw new FerryError(ErrorCode.io, `${port} in ${ns} has no MAC address to give ${bridge}`);
  await execRunner("ip", ["-n", ns, "link", "set", bridge, "address", link.address]);
}

/** Cables a namespace's eth0 to the segment with `cidr`. */
async function onSegment(lab: LabNetwork, layout: HostLabLayout, name: string, physEnd: string, cidr: string): Promise<string> {
  const ns = await lab.addNamespace(name);
  await lab.addVeth({ name: "eth0", namespace: ns }, { name: physEnd, namespace: layout.physNamespace });
  await lab.attach(layout.physNamespace, physEnd, "seg");
  await lab.addAddress(ns, "eth0", cidr);
  return ns;
}

/**
 * Builds the hardware and what a host's OS install leaves (vSwitch0 with the management
 * address). Rejects on the first failure; the caller tears down by prefix.
 */
export async function buildHostLab(lab: LabNetwork, layout: HostLabLayout): Promise<void> {
  const phys = await lab.addNamespace("phys");
  await lab.addBridge(phys, "seg");
  await lab.addBridge(phys, "vmotion");
  for (const host of layout.hosts) {
    const ns = await lab.addNamespace(host.name);
    await lab.addVeth({ name: "eth0", namespace: ns }, { name: host.physEnds.eth0, namespace: phys });
    await lab.attach(phys, host.physEnds.eth0, "seg");
    await lab.addVeth({ name: "eth1", namespace: ns }, { name: host.physEnds.eth1, namespace: phys });
    await lab.attach(phys, host.physEnds.eth1, "vmotion");
    await lab.setUp(ns, "eth1");
    await lab.addBridge(ns, MGMT_BRIDGE);
    await lab.attach(ns, "eth0", MGMT_BRIDGE);
    // As an OS install pins a management bridge to its NIC (systemd-networkd, ifupdown's
    // bridge_hw): the bridge would otherwise take its lowest port's MAC, which VM taps change.
    await pinMac(ns, MGMT_BRIDGE, "eth0");
    await lab.addAddress(ns, MGMT_BRIDGE, `${host.mgmtIp}/${HOST_LAB_PREFIX}`);
  }
  await onSegment(lab, layout, "mgmt", "m-mgmt", `${CONTROLLER_IP}/${HOST_LAB_PREFIX}`);
  await onSegment(lab, layout, "client", "p-client", `${LAB_CLIENT_IP}/${HOST_LAB_PREFIX}`);
  for (const ns of [phys, layout.mgmtNamespace, layout.clientNamespace, ...layout.hosts.map((h) => h.namespace)]) await lab.assertNoDefaultRoute(ns);
}
