// The driver contract against two qemu drivers in one process: esx01 on 127.0.1.1 and esx02 on
// 127.0.1.2, real QEMU processes and QEMU's own migration stream over loopback. The VM has no
// NIC: taps need root and a bridge (the lab's tests cover them); without one, QEMU needs
// nothing but the test guest's kernel and initramfs. Skips, with the reason, when QEMU or the
// guest is missing (CI's plain `npm test` has neither).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { guestImages } from "../../lab/guest.ts";
import { driverContract } from "../contract.ts";
import { systemClock } from "../clock.ts";
import { IncomingState, type IncomingMigration } from "../driver.ts";
import { simHost } from "../sim/testing.ts";
import { createQemuDriver, type QemuDriver } from "./driver.ts";

const QEMU = "qemu-system-x86_64";
const images = guestImages(process.env["FERRY_GUEST_DIR"]);
const installed = spawnSync(QEMU, ["--version"], { stdio: "ignore" }).status === 0;
const built = existsSync(images.kernel) && existsSync(images.initrd);
const missing = !installed
  ? `needs ${QEMU} (Debian: apt-get install qemu-system-x86)`
  : !built
    ? "needs the test guest: run `bash scripts/build-guest.sh`"
    : undefined;

const all = {
  lifecycle: missing,
  migrate: missing,
  migrateDirty: missing,
  progress: missing,
  abort: missing,
  outOfMemory: missing,
  unreachable: missing,
  prepareAbort: missing,
  wrongToken:
    "QEMU's migration stream carries no token: the agent checks the token before it hands out the endpoint, and QEMU listens only on the VMotion IP (the agent's tests cover the token)",
};
const skips = Object.fromEntries(Object.entries(all).filter((entry): entry is [string, string] => entry[1] !== undefined));

driverContract(
  "qemu",
  () => {
    const drivers = new Map<string, QemuDriver>();
    const byIp = (target: IncomingMigration): QemuDriver | undefined => drivers.get(target.host);
    const make = (name: string, ip: string): QemuDriver =>
      createQemuDriver({
        host: simHost(name, ip, 1024),
        boot: { kernel: images.kernel, initrd: images.initrd, prefixLength: 16 },
        clock: systemClock,
        pollMs: 100,
        destinationName: (target) => (byIp(target) === undefined ? undefined : name === "esx01" ? "esx02" : "esx01"),
        destinationReason: (target) => Promise.resolve(byIp(target)?.incomingFailure(target.migrationId)),
        destinationState: async (target) => (await byIp(target)?.incomingState(target.migrationId)) ?? IncomingState.unknown,
      });
    const source = make("esx01", "127.0.1.1");
    const destination = make("esx02", "127.0.1.2");
    drivers.set("127.0.1.1", source);
    drivers.set("127.0.1.2", destination);
    return Promise.resolve({
      source,
      destination,
      spec: { name: "web01", memoryMB: 128, vcpus: 1, nics: [], workload: undefined },
      async cleanup() {
        await Promise.all([source.close(), destination.close()]);
      },
    });
  },
  skips,
);
