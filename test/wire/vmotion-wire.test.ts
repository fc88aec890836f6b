// The VMotion stream on the wire: in a network namespace of its own, tcpdump captures a sim
// migration's stream and the capture is searched for the guest's memory, whose pages are
// predictable (the sim's boot image is seeded by the VM's name), and for the one-time token.
// Encrypted (the default) neither appears; with encryption disabled both do, which proves the
// search can fail. Needs root (ip netns) and tcpdump (scripts/system-packages.txt).
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { systemClock } from "../../src/drivers/clock.ts";
import { PAGE_SIZE } from "../../src/drivers/sim/memory.ts";
import { SimVm } from "../../src/drivers/sim/vm.ts";
import { requireRoot } from "../../src/drivers/qemu/testing/requirements.ts";
import { WIRE_SPEC, createWireNamespace, deleteWireNamespace } from "./wire-lab.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const namespace = `ferry-wire-${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), "ferry-wire-"));
const started: ChildProcess[] = [];

after(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
  deleteWireNamespace(namespace);
  rmSync(dir, { recursive: true, force: true });
});

function requireTcpdump(): void {
  if (spawnSync("tcpdump", ["--version"], { stdio: "ignore" }).status !== 0) {
    throw new Error("tcpdump is not installed: run `bash scripts/setup-system.sh` as root (apt-get install -y tcpdump)");
  }
}

/** 32-byte samples from pages across the VM's seeded boot image, as the source's memory holds them. */
function guestPatterns(): Buffer[] {
  const vm = new SimVm(WIRE_SPEC);
  vm.boot(systemClock);
  const pages = [1, 7, 100, 513, 1024, 1999];
  const samples = pages.map((page) => Buffer.from(vm.memory.bytes.subarray(page * PAGE_SIZE + 512, page * PAGE_SIZE + 544)));
  vm.shutdown();
  for (const s of samples) assert.ok(s.some((b) => b !== 0), "a sample of the boot image is not zero");
  return samples;
}

/** Starts tcpdump on the namespace's loopback and resolves once it is listening. */
async function startCapture(file: string): Promise<ChildProcess> {
  const child = spawn("ip", ["netns", "exec", namespace, "tcpdump", "-i", "lo", "-U", "-B", "32768", "-s", "0", "-w", file, "tcp"], { stdio: ["ignore", "ignore", "pipe"] });
  started.push(child);
  await new Promise<void>((resolve, reject) => {
    let text = "";
    child.stderr.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes("listening on")) resolve();
    });
    child.once("exit", (code) => {
      reject(new Error(`tcpdump exited (${String(code)}): ${text}`));
    });
  });
  return child;
}

async function stopCapture(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => { resolve(); }));
  process.kill(child.pid, "SIGINT");
  await exited;
}

interface WireRun {
  readonly outcome: string;
  readonly failure?: string;
  readonly encrypted: boolean;
  readonly token: string;
}

function migrateInNamespace(setting: string): WireRun {
  const run = spawnSync("ip", ["netns", "exec", namespace, process.execPath, "--import", "tsx", join(ROOT, "test/wire/wire-migrate.ts"), setting], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
  assert.equal(run.status, 0, `the migration in the namespace failed: ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "{}") as WireRun;
}

describe("the VMotion stream on the wire", () => {
  const patterns = guestPatterns();
  const rows = [
    { setting: "required", encrypted: true },
    { setting: "disabled", encrypted: false },
  ] as const;
  let prepared = false;
  for (const row of rows) {
    test(`${row.setting}: guest pages and the token are ${row.encrypted ? "not " : ""}readable in the capture`, async () => {
      requireRoot();
      requireTcpdump();
      if (!prepared) {
        createWireNamespace(namespace);
        prepared = true;
      }
      const file = join(dir, `${row.setting}.pcap`);
      const capture = await startCapture(file);
      let run: WireRun;
      try {
        run = migrateInNamespace(row.setting);
      } finally {
        await stopCapture(capture);
      }
      assert.equal(run.outcome, "completed", run.failure);
      assert.equal(run.encrypted, row.encrypted);
      // The stream went by: megabytes of guest memory, whatever its form.
      assert.ok(statSync(file).size > 4 * 1024 * 1024, `the capture holds ${statSync(file).size} bytes`);
      const wire = readFileSync(file);
      const found = patterns.filter((p) => wire.includes(p)).length;
      const token = wire.includes(Buffer.from(run.token));
      if (row.encrypted) {
        assert.equal(found, 0, `${found} of ${patterns.length} guest page samples readable in an encrypted stream`);
        assert.equal(token, false, "the token is readable in an encrypted stream");
      } else {
        assert.equal(found, patterns.length, `only ${found} of ${patterns.length} guest page samples found in a clear stream: the search itself is broken`);
        assert.equal(token, true, "the token is not found in a clear stream: the search itself is broken");
      }
    });
  }
});
