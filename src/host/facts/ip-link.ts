// `ip -j -d link show`: every link of the host with the details Ferry sorts NICs, bridges,
// taps and VMkernel ports by. `-d` is what adds `linkinfo` (the link's kind and, for a VLAN
// sub-interface, its VLAN ID); without it every link would look physical.
import { z } from "zod";
import { parseIpJson } from "./ip-json.ts";

/** What a link is, from `linkinfo.info_kind`; a link without linkinfo is a physical NIC. */
export const LinkKind = {
  physical: "physical",
  bridge: "bridge",
  veth: "veth",
  /** A tun or tap device (info_kind `tun`): a VM's NIC backend, never an uplink. */
  tuntap: "tuntap",
  /** An 802.1Q sub-interface (`eth0.20`). */
  vlan: "vlan",
  bond: "bond",
  /** Anything else Linux has (ifb, dummy, vxlan, macvlan, wireguard, ...). */
  other: "other",
} as const;
export type LinkKind = (typeof LinkKind)[keyof typeof LinkKind];

/** The kernel's RFC 2863 operational states, as sysfs spells them (ip prints them upper-case). */
export const Operstate = {
  up: "up",
  down: "down",
  unknown: "unknown",
  dormant: "dormant",
  lowerLayerDown: "lowerlayerdown",
  notPresent: "notpresent",
  testing: "testing",
} as const;
export type Operstate = (typeof Operstate)[keyof typeof Operstate];

/** A link's state from either spelling; anything unrecognised counts as unknown. */
export function toOperstate(text: string): Operstate {
  const lower = text.trim().toLowerCase();
  const known: readonly string[] = Object.values(Operstate);
  return known.includes(lower) ? (lower as Operstate) : Operstate.unknown;
}

/** The other end of a veth pair, as far as this namespace can see it. */
export interface VethPeer {
  /** Set when the peer is in the same namespace (ip prints its name as `link`). */
  readonly name: string | undefined;
  /** Set when the peer is in another namespace (ip prints `link_index` and `link_netnsid`). */
  readonly ifindex: number | undefined;
  readonly inOtherNamespace: boolean;
}

export interface Link {
  readonly name: string;
  readonly ifindex: number;
  readonly kind: LinkKind;
  /** linkinfo.info_kind as Linux named it; undefined for a physical NIC. */
  readonly infoKind: string | undefined;
  /** The bridge (or bond) this link is enslaved to. */
  readonly master: string | undefined;
  readonly operstate: Operstate;
  readonly mtu: number;
  /** `ip link set X alias ...`; Ferry marks the links it creates with FERRY_LINK_ALIAS_PREFIX. */
  readonly alias: string | undefined;
  /** The VLAN ID of a vlan sub-interface. */
  readonly vlanId: number | undefined;
  /** The link a vlan sub-interface sits on (`eth0` for `eth0.20`), when in this namespace. */
  readonly lower: string | undefined;
  readonly peer: VethPeer | undefined;
}

const IpLinkSchema = z.looseObject({
  ifindex: z.number().int(),
  ifname: z.string().min(1),
  // `link` is the lower/peer link's name when it is in this namespace, null when unknown.
  link: z.string().nullable().optional(),
  link_index: z.number().int().optional(),
  link_netnsid: z.number().int().optional(),
  master: z.string().optional(),
  operstate: z.string().default("UNKNOWN"),
  mtu: z.number().int(),
  ifalias: z.string().optional(),
  linkinfo: z
    .looseObject({
      info_kind: z.string().optional(),
      info_data: z.looseObject({ id: z.number().int().optional(), type: z.string().optional() }).optional(),
    })
    .optional(),
});
type IpLink = z.output<typeof IpLinkSchema>;

function kindOf(infoKind: string | undefined): LinkKind {
  switch (infoKind) {
    case undefined:
      return LinkKind.physical;
    case "bridge":
      return LinkKind.bridge;
    case "veth":
      return LinkKind.veth;
    case "tun":
      return LinkKind.tuntap;
    case "vlan":
      return LinkKind.vlan;
    case "bond":
      return LinkKind.bond;
    default:
      return LinkKind.other;
  }
}

function peerOf(raw: IpLink): VethPeer {
  const inOtherNamespace = raw.link_netnsid !== undefined;
  return { name: inOtherNamespace ? undefined : (raw.link ?? undefined), ifindex: raw.link_index, inOtherNamespace };
}

function toLink(raw: IpLink): Link {
  const infoKind = raw.linkinfo?.info_kind;
  const kind = kindOf(infoKind);
  return {
    name: raw.ifname,
    ifindex: raw.ifindex,
    kind,
    infoKind,
    master: raw.master,
    operstate: toOperstate(raw.operstate),
    mtu: raw.mtu,
    alias: raw.ifalias === "" ? undefined : raw.ifalias,
    vlanId: kind === LinkKind.vlan ? raw.linkinfo?.info_data?.id : undefined,
    lower: kind === LinkKind.vlan ? (raw.link ?? undefined) : undefined,
    peer: kind === LinkKind.veth ? peerOf(raw) : undefined,
  };
}

/** The links in the text of `ip -j -d link show`, in ifindex order as ip prints them. */
export function parseIpLinks(text: string): Link[] {
  return parseIpJson(text, IpLinkSchema, "ip -j -d link show").map(toLink);
}
