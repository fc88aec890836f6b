// `ip -j addr show`: the IPv4 addresses of every interface, with their prefix lengths. A
// VMkernel port's `ip` is read from here. IPv6 is left out: Ferry's VMotion network is IPv4.
import { z } from "zod";
import { parseIpJson } from "./ip-json.ts";

/** One IPv4 address of an interface, `198.19.0.11` with prefix 16. */
export interface InterfaceAddress {
  readonly address: string;
  readonly prefix: number;
}

const IpAddrSchema = z.looseObject({
  ifname: z.string().min(1),
  addr_info: z
    .array(z.looseObject({ family: z.string().optional(), local: z.string().optional(), prefixlen: z.number().int().optional() }))
    .default([]),
});

/**
 * Each interface's IPv4 addresses in the order ip prints them: the primary address of a
 * subnet first, then its secondaries. Interfaces without one map to an empty list.
 */
export function parseIpAddrs(text: string): Map<string, InterfaceAddress[]> {
  const out = new Map<string, InterfaceAddress[]>();
  for (const link of parseIpJson(text, IpAddrSchema, "ip -j addr show")) {
    const v4: InterfaceAddress[] = [];
    for (const info of link.addr_info) {
      if (info.family !== "inet" || info.local === undefined || info.prefixlen === undefined) continue;
      v4.push({ address: info.local, prefix: info.prefixlen });
    }
    out.set(link.ifname, v4);
  }
  return out;
}

/** "A.B.C.D/len", the form a VmkernelPort's `ip` takes. */
export function formatCidr(address: InterfaceAddress): string {
  return `${address.address}/${address.prefix}`;
}
