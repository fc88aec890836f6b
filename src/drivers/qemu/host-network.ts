// How the qemu driver reaches a host's network. A QEMU host plugs each VM NIC into a tap on
// its port group's bridge, may run QEMU inside the host's network namespace (the lab: one
// namespace per host), and checks after a migration that the guest answers on the VM network
// from the destination's side. The lab implements it with namespaces (src/lab); a bare host
// would implement it with its own bridges. The driver only calls it.
import type { VmSpec } from "../driver.ts";

export type VmNic = VmSpec["nics"][number];

export interface QemuHostNetwork {
  /**
   * Words put before QEMU's command to run it where the host's network is, e.g.
   * `["ip", "netns", "exec", "ferry-lab1-esx01"]` (which execs, so QEMU keeps the PID the
   * driver sees). Empty: QEMU runs in the agent's own namespace.
   */
  readonly wrap: readonly string[];
  /**
   * Creates a tap for `nic` of `vm` on the bridge of `nic.portGroup`, up, and returns its
   * name (at most 15 bytes). `tag` tells two copies of one VM apart (a migration's source and
   * destination may run on one host in tests). Refuses (INVALID_INPUT) when the host has no
   * such port group.
   */
  plug(vm: string, nic: VmNic, tag: string): Promise<string>;
  /** Removes a tap made by `plug`; nothing when it is already gone. */
  unplug(tap: string): Promise<void>;
  /**
   * Whether `ip` answers on the VM network, seen from this host's bridge of `portGroup`: a
   * TCP connection attempt that gets any answer (accepted or refused) within `timeoutMs`
   * counts; silence does not. Never rejects for an unreachable guest: false.
   */
  reachable(portGroup: string, ip: string, timeoutMs: number): Promise<boolean>;
  /**
   * Whether `ip` answers on the VMotion network from this host (any TCP answer counts).
   * Asked before `migrate`: QEMU 7.2's connect has no timeout of its own, and a
   * `migrate_cancel` during it waits for the kernel's SYN retries (a minute or more).
   */
  vmotionReachable?(ip: string, timeoutMs: number): Promise<boolean>;
  /** Ends what the network keeps running for the driver (a prober); the driver's close calls it. */
  close?(): void;
}

// The guest check is part of what any driver may know of an incoming migration (driver.ts).
export { GuestCheckState, type GuestCheck } from "../driver.ts";
