// The wire test's namespace: one network namespace of its own whose loopback holds both hosts'
// VMotion addresses (198.19.77.0/24), so the stream crosses that loopback, where tcpdump reads
// it, and nothing else runs there.
import { execFileSync } from "node:child_process";
import type { VmSpec } from "../../src/drivers/driver.ts";

export const WIRE_IPS = { source: "198.19.77.1", destination: "198.19.77.2" } as const;

/** A 32 MiB VM with 8 MiB of seeded boot image: the pages the capture is searched for. */
export const WIRE_SPEC: VmSpec = { name: "wire01", memoryMB: 32, vcpus: 1, nics: [], touchedBytes: 8 * 1024 * 1024, workload: undefined };

export function createWireNamespace(name: string): void {
  const ip = (...args: string[]): void => {
    execFileSync("ip", args, { stdio: "pipe" });
  };
  ip("netns", "add", name);
  ip("-n", name, "link", "set", "lo", "up");
  ip("-n", name, "addr", "add", `${WIRE_IPS.source}/32`, "dev", "lo");
  ip("-n", name, "addr", "add", `${WIRE_IPS.destination}/32`, "dev", "lo");
}

export function deleteWireNamespace(name: string): void {
  try {
    execFileSync("ip", ["netns", "del", name], { stdio: "pipe" });
  } catch {
    // Already gone.
  }
}
