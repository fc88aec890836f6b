// What the network backend reads of its host before each change: links (with their bridge,
// peer, alias, MTU, state, addresses and VLANs) and the IPv4 routes. Read fresh before every op
// of a transaction, so an op sees what the ops before it did. Parsing is pure (tests build views
// by hand); reading runs `ip -j -d addr show`, `bridge -j vlan show` and `ip -4 -j route show`.
import { z } from "zod";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { FERRY_LINK_ALIAS_PREFIX } from "../network-config.ts";
import type { CommandRunner } from "../command.ts";

export interface Ipv4Address {
  readonly ip: string;
  readonly prefix: number;
  readonly broadcast?: string | undefined;
}

/** One VLAN of a bridge port (or of the bridge itself), as `bridge vlan show` lists it. */
export interface PortVlan {
  readonly vid: number;
  readonly pvid: boolean;
  readonly untagged: boolean;
}

export interface BridgeInfo {
  readonly vlanFiltering: boolean;
  /**
   * The VLAN a new port gets as PVID untagged (1 unless changed; 0 = none). Undefined when the
   * kernel was built without CONFIG_BRIDGE_VLAN_FILTERING: such a bridge carries no VLANs.
   */
  readonly defaultPvid: number | undefined;
}

export interface HostLink {
  readonly name: string;
  /** `bridge`, `veth`, `tun`, ...; undefined for a plain NIC. */
  readonly kind: string | undefined;
  readonly master: string | undefined;
  /** A veth's other end, when it sits in this namespace. */
  readonly peer: string | undefined;
  readonly alias: string | undefined;
  readonly mtu: number;
  /** Its MAC address (`ip`'s "address"), when it has one. */
  readonly mac?: string | undefined;
  /** Administratively up (IFF_UP), whatever the carrier. */
  readonly up: boolean;
  readonly bridge: BridgeInfo | undefined;
  readonly ipv4: readonly Ipv4Address[];
  readonly vlans: readonly PortVlan[];
}

export interface HostRoute {
  readonly dst: string;
  readonly dev: string;
  readonly gateway?: string | undefined;
  readonly protocol?: string | undefined;
  readonly scope?: string | undefined;
  readonly prefsrc?: string | undefined;
  readonly metric?: number | undefined;
}

export interface HostView {
  readonly links: ReadonlyMap<string, HostLink>;
  /** IPv4 routes of the main table. */
  readonly routes: readonly HostRoute[];
}

const AddrJson = z.array(
  z.object({
    ifname: z.string(),
    link: z.string().optional(),
    master: z.string().optional(),
    ifalias: z.string().optional(),
    mtu: z.number(),
    address: z.string().optional(),
    flags: z.array(z.string()).default([]),
    linkinfo: z
      .object({
        info_kind: z.string().optional(),
        info_data: z.object({ vlan_filtering: z.number().optional(), vlan_default_pvid: z.number().optional() }).optional(),
      })
      .optional(),
    addr_info: z
      .array(z.object({ family: z.string(), local: z.string().optional(), prefixlen: z.number().optional(), broadcast: z.string().optional() }))
      .default([]),
  }),
);

const VlanJson = z.array(
  z.object({
    ifname: z.string(),
    vlans: z.array(z.object({ vlan: z.number(), vlanEnd: z.number().optional(), flags: z.array(z.string()).default([]) })).default([]),
  }),
);

const RouteJson = z.array(
  z.object({
    dst: z.string(),
    dev: z.string().optional(),
    gateway: z.string().optional(),
    protocol: z.string().optional(),
    scope: z.string().optional(),
    prefsrc: z.string().optional(),
    metric: z.number().optional(),
  }),
);

function parseJson<T>(schema: z.ZodType<T>, text: string, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text.trim() === "" ? "[]" : text);
  } catch (cause) {
    throw new FerryError(ErrorCode.io, `\`${what}\` printed something that is not JSON.`, { cause });
  }
  const result = schema.safeParse(value);
  if (!result.success) throw new FerryError(ErrorCode.io, `\`${what}\` printed JSON of an unexpected shape: ${result.error.issues[0]?.message ?? "?"}.`);
  return result.data;
}

function vlansByPort(text: string): Map<string, PortVlan[]> {
  const byPort = new Map<string, PortVlan[]>();
  for (const port of parseJson(VlanJson, text, "bridge -j vlan show")) {
    const vlans = port.vlans.flatMap((v) => {
      const entry = { pvid: v.flags.includes("PVID"), untagged: v.flags.includes("Egress Untagged") };
      const end = v.vlanEnd ?? v.vlan;
      return Array.from({ length: end - v.vlan + 1 }, (_, i) => ({ vid: v.vlan + i, ...entry }));
    });
    byPort.set(port.ifname, vlans);
  }
  return byPort;
}

/** Builds a view from the three commands' JSON. */
export function parseHostView(addrJson: string, vlanJson: string, routeJson: string): HostView {
  const vlans = vlansByPort(vlanJson);
  const links = new Map<string, HostLink>();
  for (const l of parseJson(AddrJson, addrJson, "ip -j -d addr show")) {
    const kind = l.linkinfo?.info_kind;
    const data = l.linkinfo?.info_data;
    links.set(l.ifname, {
      name: l.ifname,
      kind,
      master: l.master,
      peer: kind === "veth" ? l.link : undefined,
      alias: l.ifalias,
      mtu: l.mtu,
      mac: l.address,
      up: l.flags.includes("UP"),
      bridge: kind === "bridge" ? { vlanFiltering: data?.vlan_filtering === 1, defaultPvid: data?.vlan_default_pvid } : undefined,
      ipv4: l.addr_info.flatMap((a) => (a.family === "inet" && a.local !== undefined && a.prefixlen !== undefined ? [{ ip: a.local, prefix: a.prefixlen, broadcast: a.broadcast }] : [])),
      vlans: vlans.get(l.ifname) ?? [],
    });
  }
  const routes = parseJson(RouteJson, routeJson, "ip -4 -j route show").flatMap((r) => (r.dev === undefined ? [] : [{ ...r, dev: r.dev }]));
  return { links, routes };
}

export async function readHostView(run: CommandRunner): Promise<HostView> {
  const addr = await run("ip", ["-j", "-d", "addr", "show"]);
  const vlan = await run("bridge", ["-j", "vlan", "show"]);
  const route = await run("ip", ["-4", "-j", "route", "show", "table", "main"]);
  return parseHostView(addr, vlan, route);
}

// ---- Questions the planners ask of a view ----

/** The links enslaved to `bridge`. */
export function portsOf(view: HostView, bridge: string): HostLink[] {
  return [...view.links.values()].filter((l) => l.master === bridge);
}

/** Whether `link` is the bridge-side end of a VMkernel port Ferry made (its alias says so). */
export function isFerryLink(link: HostLink): boolean {
  return link.alias?.startsWith(FERRY_LINK_ALIAS_PREFIX) === true;
}

/**
 * A bridge's uplinks: its ports that are NICs, i.e. not a VM's tap and not the other end of a
 * VMkernel port Ferry made. (What facts call uplinks too; the mapping does not record them.)
 */
export function uplinksOf(view: HostView, bridge: string): HostLink[] {
  return portsOf(view, bridge).filter((l) => l.kind !== "tun" && !isFerryLink(l));
}

/** The bridge-side end of VMkernel port `port` when Ferry made it as a veth, else undefined. */
export function ferryPeerOf(view: HostView, port: string): HostLink | undefined {
  const link = view.links.get(port);
  const peer = link?.kind === "veth" && link.peer !== undefined ? view.links.get(link.peer) : undefined;
  return peer?.alias === `${FERRY_LINK_ALIAS_PREFIX}${port}` ? peer : undefined;
}

/** The link holding IPv4 address `ip`, if any. */
export function holderOf(view: HostView, ip: string): HostLink | undefined {
  return [...view.links.values()].find((l) => l.ipv4.some((a) => a.ip === ip));
}

/** The names of the bridges of this host. */
export function bridgeNames(view: HostView): string[] {
  return [...view.links.values()].filter((l) => l.kind === "bridge").map((l) => l.name);
}
