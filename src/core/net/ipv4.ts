// IPv4 arithmetic for VMkernel ports: enough to tell whether two VMotion IPs share a subnet.

/** The address as an unsigned 32-bit number; undefined when it is not dotted-quad IPv4. */
export function ipv4ToNumber(address: string): number | undefined {
  const parts = address.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export interface Ipv4Interface {
  readonly address: number;
  readonly prefix: number;
  readonly text: string;
}

/** Parses `198.19.0.11/24`. */
export function parseCidr(text: string): Ipv4Interface | undefined {
  const [addr, prefixText, extra] = text.split("/");
  if (addr === undefined || prefixText === undefined || extra !== undefined || !/^\d{1,2}$/.test(prefixText)) return undefined;
  const address = ipv4ToNumber(addr);
  const prefix = Number(prefixText);
  if (address === undefined || prefix > 32) return undefined;
  return { address, prefix, text: addr };
}

function network(address: number, prefix: number): number {
  if (prefix === 0) return 0;
  // `>>> 0` keeps the 32-bit results unsigned (plain `&` goes signed above 2^31).
  return (address & (~0 << (32 - prefix))) >>> 0;
}

/** Whether `b` lies in `a`'s subnet (as `a` sees it). */
export function inSubnet(a: Ipv4Interface, b: number): boolean {
  return network(a.address, a.prefix) === network(b, a.prefix);
}

/** The subnet of an interface in CIDR notation, for messages. */
export function subnetText(a: Ipv4Interface): string {
  const n = network(a.address, a.prefix);
  return `${[24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".")}/${a.prefix}`;
}
