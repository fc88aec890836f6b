// The taps of a QEMU that ended are removed before a new QEMU of the VM plugs its own: both
// have the same names, and `ip tuntap add` refuses one that still exists (EBUSY). Seen when a
// failed incoming shell's exit handler was still removing its tap as the next migration's shell
// plugged one.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PowerStatus, type VmSpec } from "../driver.ts";
import { simHost } from "../sim/testing.ts";
import type { QemuHostNetwork } from "./host-network.ts";
import { QemuHost, type HostedVm } from "./host.ts";
import { unplugTaps } from "./vm-process.ts";

const spec: VmSpec = { name: "web01", memoryMB: 128, vcpus: 1, nics: [{ name: "nic0", mac: "52:54:00:00:00:01", portGroup: "VM Network" }], workload: undefined };

/** Whether `promise` has settled, after the microtasks queued so far ran. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

test("a VM's taps being removed hold back the next QEMU of its name until they are gone, whoever asked first", async () => {
  const gates: (() => void)[] = [];
  const unplugged: string[] = [];
  const network: QemuHostNetwork = {
    wrap: [],
    plug: () => Promise.reject(new Error("not used")),
    unplug: (tap) =>
      new Promise((resolve) => {
        gates.push(() => {
          unplugged.push(tap);
          resolve();
        });
      }),
    reachable: () => Promise.resolve(true),
    vmotionReachable: () => Promise.resolve(true),
    close: () => undefined,
  };
  const host = new QemuHost({ host: simHost("esx02", "127.0.1.2", 1024), boot: { kernel: "vmlinux", initrd: "initrd.gz", prefixLength: 16 }, network });
  const vm: HostedVm = { spec, power: PowerStatus.off, child: undefined, qmp: undefined, taps: ["t1", "t2"], incoming: undefined, migratingOut: undefined };

  const byExitHandler = unplugTaps(host, vm);
  // stopVmProcess after the exit handler took the taps: it waits for the same removal.
  const byStop = unplugTaps(host, vm);
  const nextQemu = host.tapsReleased(spec.name);
  assert.deepEqual(vm.taps, []);
  assert.equal(await settled(nextQemu), false, "a new QEMU must not plug while t1 and t2 exist");
  assert.equal(await settled(byStop), false);

  gates.shift()?.();
  assert.equal(await settled(nextQemu), false, "t2 is still there");
  gates.shift()?.();
  await Promise.all([byExitHandler, byStop, nextQemu]);
  assert.deepEqual(unplugged, ["t1", "t2"]);
  assert.equal(await settled(host.tapsReleased("db01")), true, "another VM's taps wait for nothing");
});
