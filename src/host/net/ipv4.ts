// IPv4 addresses as VMkernel ports and probes take them: dotted quads, nothing else.

/** The address as a 32-bit number, or undefined when `text` is not a dotted quad. */
export function ipv4ToNumber(text: string): number | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (match === null) return undefined;
  const octets = match.slice(1).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  return octets.reduce((n, o) => n * 256 + o, 0);
}

export function isIpv4(text: string): boolean {
  return ipv4ToNumber(text) !== undefined;
}

/** Whether `other` lies in the subnet `ip`/`prefix` (both valid addresses). */
export function inSubnet(ip: string, prefix: number, other: string): boolean {
  const a = ipv4ToNumber(ip);
  const b = ipv4ToNumber(other);
  if (a === undefined || b === undefined) return false;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}
