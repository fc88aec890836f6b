// What an agent knows of its host's network that Linux itself does not record: which bridge
// and VLAN each port group stands for, and which host interface is which VMkernel port (and
// whether it carries VMotion). Everything else (NICs, bridges and their uplinks, addresses,
// MTUs, routes) is read from the host every time (src/host/facts). The agent keeps this
// mapping in a state file it writes itself (0600, replaced atomically); the config's
// `network:` section seeds it on the first start.
//
// Words of the seed, on Linux:
//   vSwitch       a Linux bridge (named like the vSwitch: a valid link name, at most 15 bytes)
//   uplink        a NIC enslaved to that bridge
//   port group    a (bridge, VLAN) pair with a case-sensitive name; VLAN 0 = untagged
//   VMkernel port a host interface with an IPv4 address on a port group (e.g. vmk1, or the
//                 bridge itself for a management address configured by the OS)
import { z } from "zod";

export const PortGroupMappingSchema = z
  .object({
    /** The bridge (vSwitch) the port group lives on. */
    bridge: z.string().min(1).max(15),
    /** 802.1Q VLAN ID; 0 = untagged. */
    vlan: z.number().int().min(0).max(4094).default(0),
  })
  .strict();

export const VmkernelMappingSchema = z
  .object({
    /** The host interface that holds the port's address (Ferry names the ones it creates like the port). */
    interface: z.string().min(1).max(15),
    /** The port group the interface sits on. */
    portGroup: z.string().min(1),
    /** The seed's "Use this port group for VMotion". */
    vmotion: z.boolean().default(false),
    /** Recorded, not installed as a route (docs/deploy.md: a routed VMotion network needs the admin's route). */
    gateway: z.string().optional(),
  })
  .strict();

export const HostNetworkMappingSchema = z
  .object({
    portGroups: z.record(z.string().min(1), PortGroupMappingSchema).default({}),
    vmkernelPorts: z.record(z.string().min(1), VmkernelMappingSchema).default({}),
  })
  .strict();

export type PortGroupMapping = z.output<typeof PortGroupMappingSchema>;
export type VmkernelMapping = z.output<typeof VmkernelMappingSchema>;
export type HostNetworkMapping = z.output<typeof HostNetworkMappingSchema>;

/** A dotted IPv4 address, every octet at most 255. */
const ipv4 = z
  .string()
  .regex(/^\d{1,3}(\.\d{1,3}){3}$/, "must be an IPv4 address, like 198.19.0.11")
  .refine((s) => s.split(".").every((o) => Number(o) <= 255), "has an octet above 255");

/** Alias Ferry sets on links it creates that are not NICs (VMkernel veth ends on a bridge); facts skip them. */
export const FERRY_LINK_ALIAS_PREFIX = "ferry:";

/**
 * One change to a host's network, as the controller asks an agent for it. A list of them is
 * applied as one transaction: all or nothing on the host.
 */
export const NetworkOpSchema = z.discriminatedUnion("op", [
  z.object({ op: z.literal("addVSwitch"), name: z.string().min(1).max(15), uplinks: z.array(z.string().min(1)).default([]), mtu: z.number().int().min(576).max(9216).default(1500) }).strict(),
  z.object({ op: z.literal("removeVSwitch"), name: z.string().min(1) }).strict(),
  z.object({ op: z.literal("setPortGroup"), name: z.string().min(1), vswitch: z.string().min(1), vlan: z.number().int().min(0).max(4094).default(0) }).strict(),
  z.object({ op: z.literal("renamePortGroup"), name: z.string().min(1), to: z.string().min(1) }).strict(),
  z.object({ op: z.literal("removePortGroup"), name: z.string().min(1) }).strict(),
  z
    .object({
      op: z.literal("setVmkernelPort"),
      name: z.string().min(1),
      portGroup: z.string().min(1),
      ip: ipv4,
      prefix: z.number().int().min(1).max(32),
      mtu: z.number().int().min(576).max(9216).default(1500),
      gateway: ipv4.optional(),
      vmotion: z.boolean().default(false),
    })
    .strict(),
  z.object({ op: z.literal("removeVmkernelPort"), name: z.string().min(1) }).strict(),
]);
export type NetworkOp = z.output<typeof NetworkOpSchema>;
