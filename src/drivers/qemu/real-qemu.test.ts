// The QMP client and the argv builder against the real qemu-system-x86_64, when it is
// installed: a source and an `-incoming defer` destination built by the same function, and a
// live migration between them over a unix socket. No root and no guest image: the VM has no
// NIC and no kernel (it sits in SeaBIOS), which is enough to check that QEMU accepts both
// command lines and the stream. The lab's tests (issue 5) cover real guests, taps and hosts.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { test } from "node:test";
import { qemuCommandLine, type QemuProcess, type QemuVm } from "./command-line.ts";
import { capabilityArguments, isFinal, parameterArguments, parseMigrationInfo } from "./migration-info.ts";
import { connectQmp, type QmpClient } from "./qmp.ts";

const QEMU = "qemu-system-x86_64";
const installed = spawnSync(QEMU, ["--version"], { stdio: "ignore" }).status === 0;
const skip = installed ? false : `${QEMU} is not installed (Debian: apt-get install qemu-system-x86); CI adds it with the lab`;

const vm: QemuVm = {
  spec: { name: "probe", memoryMB: 64, vcpus: 1, nics: [], cpuFlags: undefined },
  cpu: { vendor: "GenuineIntel", model: "Nehalem" },
  boot: { kernel: "unused", initrd: "unused", prefixLength: 16 },
};

/** The VM's argv without -kernel/-initrd/-append: this test has no guest image. */
function argvWithoutGuest(process: QemuProcess, incoming: boolean): { command: string; args: string[] } {
  const { command, args } = qemuCommandLine(vm, process, incoming);
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "-kernel" || arg === "-initrd" || arg === "-append") i++;
    else if (arg !== undefined) out.push(arg);
  }
  return { command, args: out };
}

async function connectWhenReady(path: string, child: ChildProcess): Promise<QmpClient> {
  // QEMU creates the socket a moment after it starts; retry until then.
  for (let attempt = 0; ; attempt++) {
    try {
      return await connectQmp({ path, handshakeTimeoutMs: 2000 });
    } catch (error) {
      if (attempt > 50 || child.exitCode !== null) throw error;
      await delay(50);
    }
  }
}

test("a source and an -incoming defer destination from one VM record migrate under QEMU", { skip, timeout: 20_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "ferry-qemu-"));
  const children: ChildProcess[] = [];
  const clients: QmpClient[] = [];
  try {
    const start = (name: string, incoming: boolean): { child: ChildProcess; qmp: string; stderr: () => string } => {
      const qmp = join(dir, `${name}.qmp`);
      const { command, args } = argvWithoutGuest(
        { accelerator: "tcg", qmpSocket: qmp, serial: { kind: "file", path: join(dir, `${name}.serial`) }, taps: {} },
        incoming,
      );
      const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      children.push(child);
      return { child, qmp, stderr: () => stderr };
    };
    const source = start("source", false);
    const destination = start("destination", true);
    const src = await connectWhenReady(source.qmp, source.child);
    clients.push(src);
    const dst = await connectWhenReady(destination.qmp, destination.child).catch((error: unknown) => {
      throw new Error(`destination did not start: ${destination.stderr()}`, { cause: error });
    });
    clients.push(dst);

    assert.deepEqual(await dst.execute("query-status"), { status: "inmigrate", singlestep: false, running: false });
    const uri = `unix:${join(dir, "migration.sock")}`;
    const settings = { downtimeLimitMs: 300, maxBandwidthBytesPerSec: 1024 * 1024 * 1024, autoConverge: false, pauseBeforeSwitchover: false };
    for (const client of [src, dst]) await client.execute("migrate-set-capabilities", capabilityArguments(settings));
    await src.execute("migrate-set-parameters", parameterArguments(settings));
    await dst.execute("migrate-incoming", { uri });
    const resumed = dst.waitForEvent("RESUME", { timeoutMs: 15_000 });
    const completed = src.waitForEvent("MIGRATION", { match: (e) => e.data["status"] === "completed", timeoutMs: 15_000 });
    await src.execute("migrate", { uri });
    await completed;
    await resumed;
    let sample = parseMigrationInfo(await src.execute("query-migrate"));
    for (let i = 0; i < 50 && !isFinal(sample); i++) {
      await delay(20);
      sample = parseMigrationInfo(await src.execute("query-migrate"));
    }
    assert.equal(sample.status, "completed");
    assert.ok((sample.totalTimeMs ?? 0) > 0 && (sample.transferredBytes ?? 0) > 0, JSON.stringify(sample));
    assert.equal(sample.error, undefined);
    assert.equal((await dst.execute("query-status") as { status: string }).status, "running");
    assert.equal((await src.execute("query-status") as { status: string }).status, "postmigrate");

    // QEMU-NOTES trap 10: the source waits in postmigrate until it is told to quit.
    await src.execute("quit");
    assert.deepEqual(await src.closed, { reason: "eof" });
  } finally {
    for (const client of clients) await client.close();
    for (const child of children) {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGKILL");
        await exited;
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
});
