// Real agent processes for integration tests: `node bin/ferry.js agent --config FILE`, one
// per simulated host, each with its own VMotion IP on loopback (esx01 = 127.0.1.1, ...).
// Every process started here is remembered by PID and killed by `stopAllAgents()` (call it
// in `after`), and on this process's exit, so a failing test leaves nothing running.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createAgentClient, type AgentClient } from "../../src/agent/client.ts";
import type { HostSchema } from "../../src/core/inventory/schema.ts";
import type { z } from "zod";

const ROOT = new URL("../../", import.meta.url).pathname;
const BIN = join(ROOT, "bin/ferry.js");
/**
 * How long an agent process may take to print its ready line: a deadline, not a wait. Starting
 * node with tsx takes a second on an idle machine and over 20 s while the suite and other jobs
 * load both cores, which is when a short limit failed a test that had nothing wrong.
 */
const AGENT_START_DEADLINE_MS = 120_000;

// `ferry agent` is registered in src/cli/commands/index.ts by the CLI's owner; until it is,
// the tests run the same command through a one-command entry (test/support/agent-entry.ts).
const AGENT_ARGV: readonly string[] = readFileSync(join(ROOT, "src/cli/commands/index.ts"), "utf8").includes("registerAgentCommand")
  ? [BIN, "agent"]
  : ["--import", "tsx", join(ROOT, "test/support/agent-entry.ts"), "agent"];

export const TOKEN = "integration-token-5f1c2a9e7d";

export interface AgentProcess {
  readonly name: string;
  readonly api: string;
  readonly vmotionIp: string;
  readonly pid: number;
  readonly client: AgentClient;
  /** Everything the agent wrote on stderr (its log). */
  readonly log: () => string;
  /** Resolves with the exit code (or signal) when the process ends. */
  readonly exited: Promise<number | NodeJS.Signals>;
  /** SIGKILL: the agent dies at once, as a crashed host's would. */
  kill(): void;
  /** SIGSTOP: the agent freezes (a paused VM host, a stalled kernel); it answers nothing until resumed. */
  pause(): void;
  /** SIGCONT: the frozen agent goes on where it stopped. */
  resume(): void;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<number | NodeJS.Signals>;
}

export interface AgentOptions {
  readonly name: string;
  /** The N of 127.0.1.N. */
  readonly index: number;
  readonly memoryMB?: number;
  readonly vmotionNicMbps?: number;
  /** The sim's VMotion link rate, Mb/s (to slow pre-copy down enough to act in it). */
  readonly linkMbps?: number;
  readonly faults?: boolean;
  readonly token?: string;
  /** The qemu driver on a declared host (TCG, the built-in kernel-boot guest); default the sim. */
  readonly qemu?: { readonly kernel: string; readonly initrd: string };
  /** The controller's CA file: the ownership ledger's HTTPS calls trust it. */
  readonly controllerCa?: string;
  /** Run inside this network namespace (one the test made), with its API and VMotion IP on these addresses. */
  readonly netns?: { readonly name: string; readonly api: string; readonly vmotion: string };
}

const running = new Map<number, ChildProcess>();
let workDir: string | undefined;

function dir(): string {
  workDir ??= mkdtempSync(join(tmpdir(), "ferry-agents-"));
  return workDir;
}

/**
 * Ends the QEMU processes a qemu agent started (its run directory is in their argv): an agent
 * killed with SIGKILL cannot stop them itself. They are this process's own, by way of its agents.
 */
function endQemusUnder(runDir: string): void {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string;
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, "utf8");
    } catch {
      continue;
    }
    if (!argv.startsWith("qemu-system") || !argv.includes(`${runDir}/`)) continue;
    try {
      process.kill(Number(entry), "SIGKILL");
    } catch {
      // already gone
    }
  }
}

process.on("exit", () => {
  for (const child of running.values()) child.kill("SIGKILL");
  if (workDir !== undefined) {
    endQemusUnder(workDir);
    rmSync(workDir, { recursive: true, force: true });
  }
});

/** A lab host entry: lab.yaml's esx01 shape, small memory, VMotion on 127.0.1.N. */
export function hostEntry(options: AgentOptions): z.input<typeof HostSchema> {
  return {
    name: options.name,
    cluster: "Prod",
    cpu: { vendor: "GenuineIntel", family: 6, model: 63, flags: ["sse2", "pni", "ssse3", "sse4_1", "sse4_2", "nx", "lm", "vmx"], cores: 4, mhz: 2500 },
    memoryMB: options.memoryMB ?? 1024,
    nics: [{ name: "vmnic0", speedMbps: 10_000 }, { name: "vmnic1", speedMbps: options.vmotionNicMbps ?? 1000 }],
    vswitches: [
      { name: "vSwitch0", uplinks: ["vmnic0"], portGroups: [{ name: "VM Network" }] },
      { name: "vSwitch1", uplinks: ["vmnic1"], portGroups: [{ name: "VMotion" }], vmkernelPorts: [{ name: "vmk1", portGroup: "VMotion", ip: options.netns === undefined ? `127.0.1.${options.index}/8` : `${options.netns.vmotion}/24`, vmotion: true }] },
    ],
    datastores: ["shared-ds1"],
  };
}

export async function startAgentProcess(options: AgentOptions): Promise<AgentProcess> {
  const token = options.token ?? TOKEN;
  const tokenFile = join(dir(), `${options.name}-${options.index}.token`);
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const qemuRunDir = join(dir(), `${options.name}-${options.index}-run`);
  const configFile = join(dir(), `${options.name}-${options.index}.yaml`);
  const config = {
    host: hostEntry(options),
    listen: options.netns !== undefined ? `${options.netns.api}:0` : "127.0.0.1:0",
    vmotionIp: options.netns?.vmotion ?? `127.0.1.${options.index}`,
    tokenFile,
    ...(options.qemu === undefined
      ? { faults: options.faults ?? true }
      : { driver: "qemu", qemu: { kernel: options.qemu.kernel, initrd: options.qemu.initrd, runDir: qemuRunDir, accelerator: "tcg" } }),
    ...(options.linkMbps === undefined ? {} : { vmotionLinkMbps: options.linkMbps }),
  };
  // JSON is YAML: the agent reads either.
  writeFileSync(configFile, JSON.stringify(config, null, 2));

  // `ip netns exec` execs node: the PID is the agent's own.
  const argv = [...AGENT_ARGV, "--config", configFile, ...(options.controllerCa === undefined ? [] : ["--controller-ca", options.controllerCa])];
  const child = options.netns === undefined ? spawn(process.execPath, argv, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] }) : spawn("ip", ["netns", "exec", options.netns.name, process.execPath, ...argv], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start the agent of ${options.name}`);
  running.set(pid, child);
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    child.once("exit", (code, signal) => {
      running.delete(pid);
      resolve(signal ?? code ?? -1);
    });
  });

  const ready = await new Promise<{ api: string; vmotionIp: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the agent of ${options.name} was not ready within ${AGENT_START_DEADLINE_MS / 1000} s; its log:\n${stderr}`));
    }, AGENT_START_DEADLINE_MS);
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      try {
        const parsed = JSON.parse(line) as { ready?: boolean; api?: string; vmotionIp?: string };
        if (parsed.ready === true && parsed.api !== undefined && parsed.vmotionIp !== undefined) {
          clearTimeout(timer);
          resolve({ api: parsed.api, vmotionIp: parsed.vmotionIp });
        }
      } catch {
        // Not the ready line.
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the agent of ${options.name} exited (${String(code)}) before it was ready; its log:\n${stderr}`));
    });
  });

  return {
    name: options.name,
    api: ready.api,
    vmotionIp: ready.vmotionIp,
    pid,
    client: createAgentClient({ baseUrl: ready.api, token, name: options.name, timeoutMs: 5000, streamIdleMs: 4000 }),
    log: () => stderr,
    exited,
    kill() {
      // Once: a process already gone (killed by the test itself) is not an error.
      if (running.has(pid)) process.kill(pid, "SIGKILL");
      // A crashed host's QEMUs would die with it; here they must be ended by hand.
      if (options.qemu !== undefined) endQemusUnder(qemuRunDir);
    },
    pause() {
      if (running.has(pid)) process.kill(pid, "SIGSTOP");
    },
    resume() {
      if (running.has(pid)) process.kill(pid, "SIGCONT");
    },
    async stop() {
      if (running.has(pid)) process.kill(pid, "SIGTERM");
      return exited;
    },
  };
}

/** Kills every agent this process started that still runs, by PID, and waits for them. */
export async function stopAllAgents(): Promise<void> {
  const children = [...running.entries()];
  await Promise.all(
    children.map(
      ([pid, child]) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) {
            resolve();
            return;
          }
          child.once("exit", () => {
            resolve();
          });
          try {
            // A frozen agent is killed too (SIGKILL needs no SIGCONT).
            process.kill(pid, "SIGKILL");
          } catch {
            resolve();
          }
        }),
    ),
  );
  // Their QEMUs (qemu agents) outlive a SIGKILL: end them too.
  if (workDir !== undefined) endQemusUnder(workDir);
}

/** Starts agents in parallel (each takes a second or two to boot). */
export function startAgents(options: readonly AgentOptions[]): Promise<AgentProcess[]> {
  return Promise.all(options.map((o) => startAgentProcess(o)));
}
