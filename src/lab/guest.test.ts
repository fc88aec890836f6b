import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { isFerryError } from "../core/errors.ts";
import { guestImages, guestKernelCommandLine, parseGuestReady } from "./guest.ts";

describe("test guest", () => {
  test("kernel command line with defaults and with a memory writer", () => {
    assert.equal(guestKernelCommandLine({ ip: "198.18.0.11/16" }), "console=ttyS0 quiet ferry.ip=198.18.0.11/16 ferry.port=7000 ferry.dirty_mib_s=0 ferry.dirty_ws_mib=32");
    assert.match(guestKernelCommandLine({ ip: "198.18.1.2/16", port: 8000, dirtyMiBPerSecond: 16, dirtyWorkingSetMiB: 64 }), / ferry.port=8000 ferry.dirty_mib_s=16 ferry.dirty_ws_mib=64$/);
  });

  test("refuses addresses outside the lab and values the init cannot read", () => {
    for (const config of [{ ip: "203.0.113.2/24" }, { ip: "198.18.0.2/16", port: 0 }, { ip: "198.18.0.2/16", dirtyMiBPerSecond: 1.5 }, { ip: "198.18.0.2/16", dirtyWorkingSetMiB: 0 }]) {
      assert.throws(() => guestKernelCommandLine(config), (e) => isFerryError(e) && e.code === "INVALID_INPUT", JSON.stringify(config));
    }
  });

  test("every command-line word is one the guest's init reads, and its ready line parses", () => {
    const init = readFileSync(new URL("../../scripts/guest/init", import.meta.url), "utf8");
    const words = guestKernelCommandLine({ ip: "198.18.0.11/16" }).split(" ").filter((w) => w.startsWith("ferry."));
    for (const word of words) assert.ok(init.includes(`${word.split("=")[0]!}=*)`), `init does not read ${word}`);
    // The exact line init prints (its `say "ready ..."`), as it reaches the serial console.
    const serial = "Booting from ROM..\r\nferry-guest: ready ip=198.18.0.11/16 port=7000 dirty_mib_s=16 dirty_ws_mib=32\r\n";
    assert.deepEqual(parseGuestReady(serial), { ip: "198.18.0.11/16", port: 7000, dirtyMiBPerSecond: 16, dirtyWorkingSetMiB: 32 });
    assert.equal(parseGuestReady("ferry-guest: ready ip=none port=7000 dirty_mib_s=0 dirty_ws_mib=32")?.ip, null);
    assert.equal(parseGuestReady("Booting from ROM.."), null);
    assert.match(init, /say "ready ip=\$\{ip:-none\} port=\$port dirty_mib_s=\$dirty dirty_ws_mib=\$ws"/);
  });

  test("images live in the build script's output directory", () => {
    assert.deepEqual(guestImages("/tmp/g"), { kernel: "/tmp/g/vmlinux", initrd: "/tmp/g/initrd.gz" });
    assert.match(guestImages().kernel, /\/\.cache\/guest\/vmlinux$/);
  });
});
