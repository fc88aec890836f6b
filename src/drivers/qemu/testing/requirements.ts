// What the real-QEMU tests need, checked once: qemu-system-x86_64 and the test guest built by
// scripts/build-guest.sh (scripts/run-tests.mjs builds it before the tests run). A machine
// without them FAILS these tests with the command that fixes it: they never pass silently.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { guestImages, type GuestImages } from "../../../lab/guest.ts";

export const QEMU_BINARY = "qemu-system-x86_64";

/** Why the real-QEMU tests cannot run here, with the fix; undefined when they can. */
export function qemuTestsBlocked(images: GuestImages = guestImages(process.env["FERRY_GUEST_DIR"])): string | undefined {
  if (spawnSync(QEMU_BINARY, ["--version"], { stdio: "ignore" }).status !== 0) {
    return `${QEMU_BINARY} is not installed: run \`bash scripts/setup-system.sh\` as root (apt-get install -y qemu-system-x86 busybox-static linux-image-amd64 xz-utils)`;
  }
  if (!existsSync(images.kernel) || !existsSync(images.initrd)) {
    return `the test guest is not built (${images.kernel}, ${images.initrd}): run \`bash scripts/build-guest.sh\``;
  }
  return undefined;
}

/** The guest's images; throws (failing the calling test) with the fix when QEMU or the guest is missing. */
export function requireQemu(): GuestImages {
  const images = guestImages(process.env["FERRY_GUEST_DIR"]);
  const blocked = qemuTestsBlocked(images);
  if (blocked !== undefined) throw new Error(`real-QEMU test cannot run: ${blocked}`);
  return images;
}

/** Network-namespace tests need root (ip netns); as root they run, otherwise they fail saying so. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error("this test builds network namespaces and needs root (ip netns add); run the suite as root, as .ci/run does");
}
