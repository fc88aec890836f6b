// qemu drivers for every host of a lab layout, in one process, wired to each other as their
// agents are (src/agent/destinations.ts, with the destination the controller names): the source
// asks the destination (here found by its VMotion IP) whether it runs the VM, why a stream
// failed, and whether the guest answers. For tests and benchmarks that drive migrations below
// the agents.
import { systemClock } from "../../drivers/clock.ts";
import { IncomingState, type IncomingMigration } from "../../drivers/driver.ts";
import { printVmExit } from "../../drivers/qemu/testing/exits.ts";
import { createQemuDriver, type QemuDriver, type QemuDriverOptions } from "../../drivers/qemu/driver.ts";
import { GuestCheckState } from "../../drivers/qemu/host-network.ts";
import { simHost } from "../../drivers/sim/testing.ts";
import type { GuestImages } from "../guest.ts";
import { labHostNetwork } from "../host-network.ts";
import type { LabNetwork } from "../netns.ts";
import { LAB_DATASTORE, type QemuLabLayout } from "../qemu-lab.ts";

export type LabDriverOptions = Partial<Pick<QemuDriverOptions, "pollMs" | "guestCheckTimeoutMs" | "onControlTiming" | "multifdChannels">> & { readonly memoryMB?: number };

/** One driver per host of `layout`, keyed by host name. Close them all when done. */
export function labDrivers(net: LabNetwork, layout: QemuLabLayout, images: GuestImages, options: LabDriverOptions = {}): Map<string, QemuDriver> {
  const drivers = new Map<string, QemuDriver>();
  const byIp = (target: IncomingMigration): QemuDriver | undefined => drivers.get(layout.hosts.find((h) => h.vmk.ip === target.host)?.name ?? "");
  for (const h of layout.hosts) {
    drivers.set(
      h.name,
      createQemuDriver({
        host: { ...simHost(h.name, h.vmk.ip, options.memoryMB ?? 2048), datastores: [LAB_DATASTORE] },
        boot: { kernel: images.kernel, initrd: images.initrd, prefixLength: 16 },
        network: labHostNetwork(net, h.namespace, h.bridges, { probeFrom: h.probeFrom }),
        clock: systemClock,
        onVmExit: (exit) => {
          printVmExit(h.name, exit);
        },
        ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
        ...(options.guestCheckTimeoutMs === undefined ? {} : { guestCheckTimeoutMs: options.guestCheckTimeoutMs }),
        ...(options.onControlTiming === undefined ? {} : { onControlTiming: options.onControlTiming }),
        ...(options.multifdChannels === undefined ? {} : { multifdChannels: options.multifdChannels }),
        destinationName: (target) => layout.hosts.find((x) => x.vmk.ip === target.host)?.name,
        destinationReason: (target) => Promise.resolve(byIp(target)?.incomingFailure(target.migrationId)),
        destinationState: async (target) => (await byIp(target)?.incomingState(target.migrationId)) ?? IncomingState.unknown,
        destinationGuest: async (target) => (await byIp(target)?.guestCheck(target.migrationId)) ?? { state: GuestCheckState.notApplicable, message: `no lab host has VMotion IP ${target.host}` },
      }),
    );
  }
  return drivers;
}
