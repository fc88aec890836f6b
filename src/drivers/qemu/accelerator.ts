// Which accelerator QEMU can really use on this host: KVM only when it runs a guest here.
import { constants } from "node:fs";
import { access, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Clock } from "../../core/clock.ts";
import { systemClock } from "../clock.ts";
import { Accelerator, qemuCommandLine, type GuestBoot } from "./command-line.ts";
import { startQemu, type QemuChild } from "./process.ts";

export interface ProbeAcceleratorOptions {
  readonly boot: GuestBoot;
  readonly binary?: string;
  /** How long a KVM guest gets to print its ready line; default 8 s (a working KVM takes ~1 s). */
  readonly timeoutMs?: number;
  readonly clock?: Clock;
}

/**
 * KVM when it really runs a guest here, else TCG. The existence of /dev/kvm proves nothing:
 * on these machines `-accel kvm -cpu host` aborts and `-cpu qemu64` hangs in the kernel's
 * decompressor while SeaBIOS runs fine (QEMU-NOTES). So the probe boots the guest kernel under
 * KVM and waits for its "ferry-guest: ready" line on the serial console, within a timeout.
 */
export async function probeAccelerator(options: ProbeAcceleratorOptions): Promise<Accelerator> {
  try {
    await access("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch {
    return Accelerator.tcg;
  }
  const clock = options.clock ?? systemClock;
  const base = await mkdtemp(join(tmpdir(), "ferry-kvm-probe-"));
  const serial = join(base, "serial");
  let child: QemuChild | undefined;
  try {
    const command = qemuCommandLine(
      { spec: { name: "kvm-probe", memoryMB: 128, vcpus: 1, nics: [] }, cpu: { vendor: "GenuineIntel", model: "Nehalem" }, boot: options.boot },
      { accelerator: Accelerator.kvm, qmpSocket: join(base, "qmp"), serial: { kind: "file", path: serial }, taps: {}, ...(options.binary === undefined ? {} : { binary: options.binary }) },
      false,
    );
    child = startQemu(command);
    const deadline = clock.monotonic() + (options.timeoutMs ?? 8000);
    while (clock.monotonic() < deadline && !child.hasExited) {
      const text = await readFile(serial, "utf8").catch(() => "");
      if (text.includes("ferry-guest: ready")) return Accelerator.kvm;
      await clock.sleep(100);
    }
    return Accelerator.tcg;
  } finally {
    await child?.kill();
    await rm(base, { recursive: true, force: true });
  }
}
