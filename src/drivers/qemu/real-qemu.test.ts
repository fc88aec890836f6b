// The QMP client and the argv builder against the real qemu-system-x86_64, when it is
// installed: a source and an `-incoming defer` destination built by the same function, and a
// live migration between them over a unix socket. No root and no guest image: the VM has no
// NIC and no kernel (it sits in SeaBIOS), which is enough to check that QEMU accepts both
// command lines and the stream. The lab's tests (issue 5) cover real guests, taps and hosts.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { test } from "node:test";
import { CPU_MODELS } from "../../core/cpu/models.ts";
import { DEFAULT_MACHINE, qemuCommandLine, type QemuCommand, type QemuVm } from "./command-line.ts";
import { tcgUnsupported } from "./cpu-model.ts";
import { capabilityArguments, isFinal, parameterArguments, parseMigrationInfo, type MigrationSample } from "./migration-info.ts";
import { connectChild, qemuErrorReason, startQemu, type QemuChild } from "./process.ts";
import type { QmpClient } from "./qmp.ts";

const QEMU = "qemu-system-x86_64";
// Fails (never skips) without QEMU, saying what to install.
const blocked = spawnSync(QEMU, ["--version"], { stdio: "ignore" }).status === 0 ? undefined : `${QEMU} is not installed: run \`bash scripts/setup-system.sh\` as root (apt-get install -y qemu-system-x86)`;
function requireBinary(): void {
  if (blocked !== undefined) throw new Error(blocked);
}

const vm: QemuVm = {
  spec: { name: "probe", memoryMB: 64, vcpus: 1, nics: [], cpuFlags: undefined },
  cpu: { vendor: "GenuineIntel", model: "Nehalem" },
  boot: { kernel: "unused", initrd: "unused", prefixLength: 16 },
};

/** The VM's argv without -kernel/-initrd/-append: this test has no guest image. */
function withoutGuest(command: QemuCommand): QemuCommand {
  const args: string[] = [];
  for (let i = 0; i < command.args.length; i++) {
    const arg = command.args[i];
    if (arg === "-kernel" || arg === "-initrd" || arg === "-append") i++;
    else if (arg !== undefined) args.push(arg);
  }
  return { ...command, args };
}

interface Lab {
  readonly dir: string;
  readonly children: QemuChild[];
  readonly clients: QmpClient[];
}

async function withLab(body: (lab: Lab) => Promise<void>): Promise<void> {
  const lab: Lab = { dir: await mkdtemp(join(tmpdir(), "ferry-qemu-")), children: [], clients: [] };
  try {
    await body(lab);
  } finally {
    for (const client of lab.clients) await client.close();
    for (const child of lab.children) await child.kill();
    await rm(lab.dir, { recursive: true, force: true });
  }
}

async function start(lab: Lab, name: string, record: QemuVm, incoming: boolean): Promise<{ child: QemuChild; qmp: QmpClient }> {
  const qmpSocket = join(lab.dir, `${name}.qmp`);
  const command = qemuCommandLine(record, { accelerator: "tcg", qmpSocket, serial: { kind: "file", path: join(lab.dir, `${name}.serial`) }, taps: {} }, incoming);
  const child = startQemu(withoutGuest(command));
  lab.children.push(child);
  const qmp = await connectChild(child, qmpSocket);
  lab.clients.push(qmp);
  const settings = { downtimeLimitMs: 300, maxBandwidthBytesPerSec: 1024 * 1024 * 1024, autoConverge: false, pauseBeforeSwitchover: false, multifdChannels: 0, xbzrleCacheBytes: 0 };
  await qmp.execute("migrate-set-capabilities", capabilityArguments(settings));
  if (!incoming) await qmp.execute("migrate-set-parameters", parameterArguments(settings));
  return { child, qmp };
}

async function finalSample(qmp: QmpClient): Promise<MigrationSample> {
  let sample = parseMigrationInfo(await qmp.execute("query-migrate"));
  for (let i = 0; i < 100 && !isFinal(sample); i++) {
    await delay(20);
    sample = parseMigrationInfo(await qmp.execute("query-migrate"));
  }
  return sample;
}

async function status(qmp: QmpClient): Promise<string> {
  return ((await qmp.execute("query-status")) as { status: string }).status;
}

test("a source and an -incoming defer destination from one VM record migrate under QEMU", { timeout: 20_000 }, async () => {
  requireBinary();
  await withLab(async (lab) => {
    const src = (await start(lab, "source", vm, false)).qmp;
    const dst = (await start(lab, "destination", vm, true)).qmp;
    assert.equal(await status(dst), "inmigrate");
    const uri = `unix:${join(lab.dir, "migration.sock")}`;
    await dst.execute("migrate-incoming", { uri });
    // -S: the complete state waits paused on the destination until it is told to run (the
    // driver claims the VM's ownership record first); it never runs by itself.
    const arrived = dst.waitForEvent("MIGRATION", { match: (e) => e.data["status"] === "completed", timeoutMs: 15_000 });
    const completed = src.waitForEvent("MIGRATION", { match: (e) => e.data["status"] === "completed", timeoutMs: 15_000 });
    await src.execute("migrate", { uri });
    await completed;
    await arrived;
    assert.equal(await status(dst), "paused", "the destination does not run the VM on its own");
    const resumed = dst.waitForEvent("RESUME", { timeoutMs: 15_000 });
    await dst.execute("cont");
    await resumed;
    const sample = await finalSample(src);
    assert.equal(sample.status, "completed");
    assert.ok((sample.totalTimeMs ?? 0) > 0 && (sample.transferredBytes ?? 0) > 0, JSON.stringify(sample));
    assert.equal(await status(dst), "running");
    assert.equal(await status(src), "postmigrate");
    // QEMU-NOTES trap 10: the source waits in postmigrate until it is told to quit.
    await src.execute("quit");
    assert.equal((await src.closed).reason, "eof");
  });
});

test("a destination built from another record rejects the stream, exits, and says why on stderr", { timeout: 20_000 }, async () => {
  requireBinary();
  await withLab(async (lab) => {
    const src = (await start(lab, "source", vm, false)).qmp;
    const other: QemuVm = { ...vm, spec: { ...vm.spec, memoryMB: 96 } };
    const destination = await start(lab, "destination", other, true);
    const uri = `unix:${join(lab.dir, "migration.sock")}`;
    await destination.qmp.execute("migrate-incoming", { uri });
    await src.execute("migrate", { uri });
    // Trap 3: QEMU 7.2 exits after a failed incoming migration; the QMP close is the signal.
    assert.equal((await destination.qmp.closed).reason, "eof");
    const exit = await destination.child.exited;
    assert.match(qemuErrorReason(exit.stderr) ?? "", /mismatch.*pc\.ram|pc\.ram.*mismatch/i);
    const sample = await finalSample(src);
    assert.equal(sample.status, "failed");
    assert.equal(await status(src), "running");
  });
});

test("QEMU 7.2 under TCG starts exactly the catalogue models that need nothing in TCG_UNSUPPORTED (vme aside)", { timeout: 30_000 }, () => {
  requireBinary();
  for (const model of CPU_MODELS) {
    const { args } = qemuCommandLine({ ...vm, cpu: { vendor: model.vendor, model: model.name } }, { accelerator: "tcg", qmpSocket: "unused", serial: { kind: "stdio" }, taps: {} }, false);
    const cpu = option(args, "-cpu");
    const result = spawnSync(QEMU, ["-machine", DEFAULT_MACHINE, "-accel", "tcg", "-cpu", cpu, "-nodefaults", "-display", "none", "-S", "-qmp", "stdio"], {
      input: '{"execute": "qmp_capabilities"}\n{"execute": "quit"}\n',
      encoding: "utf8",
      timeout: 10_000,
    });
    const expected = tcgUnsupported(model.flags).filter((flag) => flag !== "vme").length === 0;
    assert.equal(result.status === 0, expected, `${cpu}: ${result.stderr}`);
  }
});

function option(args: readonly string[], name: string): string {
  const index = args.indexOf(name);
  return args[index + 1] ?? "";
}
