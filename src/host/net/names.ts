// Names of the links Ferry makes on a host. Linux takes at most 15 bytes (IFNAMSIZ 16 with the
// terminating NUL) and refuses ".", "..", "/", ":" and white space (the kernel's dev_valid_name).
// Links named after something longer (a VM, a VMkernel port's other end) take a hash, so the same
// input always gives the same link and a crash leaves a name the next start recognises.
import { createHash } from "node:crypto";

export const MAX_LINK_NAME_BYTES = 15;

/** Why `name` cannot name a Linux link, in words; undefined when it can. */
export function linkNameProblem(name: string): string | undefined {
  if (name === "" || name === "." || name === "..") return `"${name}" is not a link name`;
  const bytes = Buffer.byteLength(name);
  if (bytes > MAX_LINK_NAME_BYTES) return `"${name}" is ${bytes} bytes, longer than Linux's ${MAX_LINK_NAME_BYTES} for a link name`;
  if (/[/:\s]/.test(name)) return `"${name}" holds a "/", ":" or white space, which Linux refuses in a link name`;
  return undefined;
}

/** The bridge-side end of VMkernel port `port`'s veth pair: `k` and 12 hex digits of sha256(port). */
export function vmkernelPeerName(port: string): string {
  return `k${createHash("sha256").update(port).digest("hex").slice(0, 12)}`;
}

/** Quotes names for a message: `"a", "b"`, or `none`. */
export function quoteList(names: Iterable<string>): string {
  const quoted = [...names].map((n) => `"${n}"`);
  return quoted.length === 0 ? "none" : quoted.join(", ");
}

/** A tap name of at most 15 bytes, the same for the same (vm, nic, tag) and distinct otherwise. */
export function tapName(vm: string, nic: string, tag: string): string {
  const digest = createHash("sha256").update(`${vm}\u0000${nic}\u0000${tag}`).digest("hex");
  return `t${digest.slice(0, 12)}`;
}
