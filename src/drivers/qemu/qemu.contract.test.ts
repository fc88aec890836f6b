// The driver contract against two qemu drivers in one process: esx01 on 127.0.1.1 and esx02 on
// 127.0.1.2, real QEMU processes and QEMU's own migration stream over loopback. The VM has no
// NIC: taps need root and a bridge (the lab's tests cover them); without one, QEMU needs
// nothing but the test guest's kernel and initramfs. Fails, saying what to install, when QEMU
// or the guest is missing.
//
// Twice: with one stream (what tuning.ts chooses on QEMU 7.2, trap 18, and on a link one
// thread fills), and with QEMU's multifd over 2 channels (what it chooses on 2-CPU hosts from
// QEMU 9.0, and the driver's `multifdChannels` option sets on 7.2), each channel over the
// stream's TLS. The second run keeps the cases that move a stream.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { driverContract } from "../contract.ts";
import { systemClock } from "../clock.ts";
import { IncomingState, type HypervisorDriver, type IncomingMigration } from "../driver.ts";
import { simHost } from "../sim/testing.ts";
import { createQemuDriver, type QemuDriver } from "./driver.ts";
import { printVmExit } from "./testing/exits.ts";
import { guestBooted } from "./testing/guest-console.ts";
import { requireQemu } from "./testing/requirements.ts";

const skips = {
  wrongToken:
    "QEMU's migration stream carries no token: the agent checks the token before it hands out the endpoint, and QEMU listens only on the VMotion IP (the agent's tests cover the token); with encrypted VMotion the stream's one-time secret is the migration's client key, and stream-tls.test.ts shows a source holding another one refused",
};

/** The cases that do not depend on how the stream is carried: the one-stream run covers them. */
const streamIndependent = "does not depend on how the stream is carried; the one-stream run of this contract covers it";
const multifdSkips = {
  ...skips,
  lifecycle: streamIndependent,
  outOfMemory: `${streamIndependent} (refused before any stream)`,
  prepareAbort: streamIndependent,
  poweredOff: `${streamIndependent} (refused before any stream)`,
  busy: streamIndependent,
  usage: streamIndependent,
};

function qemuContract(multifdChannels: number): Parameters<typeof driverContract>[1] {
  return async () => {
    const images = requireQemu();
    const drivers = new Map<string, QemuDriver>();
    const runDirs = new Map<HypervisorDriver, string>();
    const byIp = (target: IncomingMigration): QemuDriver | undefined => drivers.get(target.host);
    const make = async (name: string, ip: string): Promise<QemuDriver> => {
      const runDir = await mkdtemp(join(tmpdir(), `ferry-contract-${name}-`));
      const driver = createQemuDriver({
        host: simHost(name, ip, 1024),
        runDir,
        boot: { kernel: images.kernel, initrd: images.initrd, prefixLength: 16 },
        clock: systemClock,
        onVmExit: (exit) => {
          printVmExit(name, exit);
        },
        multifdChannels,
        destinationName: (target) => (byIp(target) === undefined ? undefined : name === "esx01" ? "esx02" : "esx01"),
        destinationReason: (target) => Promise.resolve(byIp(target)?.incomingFailure(target.migrationId)),
        destinationState: async (target) => (await byIp(target)?.incomingState(target.migrationId)) ?? IncomingState.unknown,
      });
      runDirs.set(driver, runDir);
      return driver;
    };
    const source = await make("esx01", "127.0.1.1");
    const destination = await make("esx02", "127.0.1.2");
    drivers.set("127.0.1.1", source);
    drivers.set("127.0.1.2", destination);
    return {
      source,
      destination,
      spec: { name: "web01", memoryMB: 128, vcpus: 1, nics: [], workload: undefined },
      booted: (driver: HypervisorDriver, vm: string) => guestBooted(runDirs.get(driver) ?? "", vm),
      async cleanup() {
        await Promise.all([source.close(), destination.close()]);
        await Promise.all([...runDirs.values()].map((dir) => rm(dir, { recursive: true, force: true })));
      },
    };
  };
}

driverContract("qemu", qemuContract(0), skips);
driverContract("qemu, multifd 2 channels", qemuContract(2), multifdSkips);
