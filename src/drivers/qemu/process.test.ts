import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { describe, test } from "node:test";
import { isFerryError } from "../../core/errors.ts";
import type { QemuCommand } from "./command-line.ts";
import { connectChild, qemuErrorReason, startQemu } from "./process.ts";
import { FakeQmpServer } from "./testing/fake-qmp.ts";

/** A stand-in for QEMU: node running `script`. */
function fakeQemu(script: string): QemuCommand {
  return { command: process.execPath, args: ["-e", script], cpu: "Nehalem" };
}

// What QEMU 7.2 writes when a destination receives RAM of another size, then exits (trap 3).
const rejection = [
  "qemu-system-x86_64: Length mismatch: pc.ram: 0x4000000 in != 0x8000000: Invalid argument",
  "qemu-system-x86_64: error while loading state for instance 0x0 of device 'ram'",
  "qemu-system-x86_64: load of migration failed: Invalid argument",
  "",
].join("\n");

describe("QEMU child process", () => {
  test("keeps stderr, reports each line, and resolves exited with code and stderr", async () => {
    const lines: string[] = [];
    const child = startQemu(fakeQemu(`process.stderr.write(${JSON.stringify(rejection)}); process.exit(1)`), { onStderrLine: (line) => lines.push(line) });
    const exit = await child.exited;
    assert.equal(exit.code, 1);
    assert.equal(exit.stderr, rejection);
    assert.equal(lines.length, 3);
    assert.equal(child.hasExited, true);
  });

  test("keeps only the tail of a long stderr", async () => {
    const child = startQemu(fakeQemu(`process.stderr.write("x".repeat(5000) + "END")`), { stderrLimitBytes: 100 });
    const exit = await child.exited;
    assert.equal(exit.stderr.length, 100);
    assert.ok(exit.stderr.endsWith("END"));
  });

  test("kill ends the process and awaits its exit", async () => {
    const child = startQemu(fakeQemu("setInterval(() => {}, 1000)"));
    const exit = await child.kill();
    assert.equal(exit.signal, "SIGKILL");
  });

  test("a missing binary exits with the spawn error in stderr", async () => {
    const child = startQemu({ command: "/nonexistent/qemu-system-x86_64", args: [], cpu: "" });
    const exit = await child.exited;
    assert.equal(exit.code, null);
    assert.match(exit.stderr, /ENOENT/);
  });
});

describe("qemuErrorReason", () => {
  test("joins QEMU's error lines without the program prefix", () => {
    assert.equal(
      qemuErrorReason(rejection),
      "Length mismatch: pc.ram: 0x4000000 in != 0x8000000: Invalid argument; error while loading state for instance 0x0 of device 'ram'; load of migration failed: Invalid argument",
    );
  });

  test("drops warnings and repeats; nothing to say is undefined", () => {
    const stderr = "qemu-system-x86_64: warning: TCG doesn't support requested feature: CPUID.01H:ECX.x2apic [bit 21]\nqemu-system-x86_64: TCG doesn't support requested features\nqemu-system-x86_64: TCG doesn't support requested features\n";
    assert.equal(qemuErrorReason(stderr), "TCG doesn't support requested features");
    assert.equal(qemuErrorReason("\n"), undefined);
  });
});

describe("connectChild", () => {
  test("retries until QEMU creates its socket", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ferry-qemu-child-"));
    const path = join(dir, "qmp.sock");
    const child = startQemu(fakeQemu("setInterval(() => {}, 1000)"));
    let server: FakeQmpServer | undefined;
    try {
      const starting = delay(150).then(async () => (server = await FakeQmpServer.start({ path })));
      const client = await connectChild(child, path, { timeoutMs: 3000 });
      await starting;
      assert.equal(client.greeting.version.qemu.major, 7);
      await client.close();
    } finally {
      await child.kill();
      await server?.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("fails at once with QEMU's reason when QEMU exits first", async () => {
    const stderr = "qemu-system-x86_64: warning: TCG doesn't support requested feature: CPUID.01H:ECX.tsc-deadline [bit 24]\nqemu-system-x86_64: TCG doesn't support requested features\n";
    const child = startQemu(fakeQemu(`process.stderr.write(${JSON.stringify(stderr)}); process.exit(1)`));
    await assert.rejects(connectChild(child, "/nonexistent/qmp.sock", { timeoutMs: 3000 }), (e: unknown) => {
      assert.ok(isFerryError(e));
      assert.equal(e.code, "UNAVAILABLE");
      assert.match(e.message, /TCG doesn't support requested features/);
      return true;
    });
  });

  test("gives up after its timeout", async () => {
    const child = startQemu(fakeQemu("setInterval(() => {}, 1000)"));
    try {
      await assert.rejects(connectChild(child, "/nonexistent/qmp.sock", { timeoutMs: 100 }), (e: unknown) => isFerryError(e) && e.code === "UNAVAILABLE" && e.retryable);
    } finally {
      await child.kill();
    }
  });
});
