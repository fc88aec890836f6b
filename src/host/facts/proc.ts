// Texts of /proc and /sys that the facts need, parsed. Reading them is the caller's business:
// inside a network namespace sysfs must be read through `ip netns exec`, which remounts it.
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { Operstate, toOperstate } from "./ip-link.ts";

/** The host's memory in MB (MiB, as vSphere counts it) from /proc/meminfo's MemTotal line. */
export function parseMeminfo(text: string): number {
  const match = /^MemTotal:\s+(\d+)\s*kB\s*$/m.exec(text);
  if (match?.[1] === undefined) {
    throw new FerryError(ErrorCode.invalidInput, "this is not Linux /proc/meminfo: it has no `MemTotal: N kB` line");
  }
  return Math.floor(Number(match[1]) / 1024);
}

/**
 * A NIC's speed in Mb/s from /sys/class/net/IF/speed. Linux prints -1 (or 4294967295 from
 * older kernels, SPEED_UNKNOWN as unsigned) when the driver does not know it, and the read
 * fails with EINVAL on a link that is down: all of them are 0 here, the schema's "down".
 */
export function parseSysfsSpeed(text: string | undefined): number {
  if (text === undefined) return 0;
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) return 0;
  const mbps = Number(trimmed);
  return mbps >= 0xffffffff ? 0 : mbps;
}

/** A link's state from /sys/class/net/IF/operstate. */
export function parseSysfsOperstate(text: string | undefined): Operstate {
  return text === undefined ? Operstate.unknown : toOperstate(text);
}
