// The qemu lab's bookkeeping and `ferry lab down`: where a lab lives, which processes it
// started, the checks before `lab up` (src/cli/commands/lab-up.ts) builds one, and its removal.
//
// Everything lives under $FERRY_HOME/labs/<id>/: the controller's data, the datastore
// directories, the agents' configs, state and logs, and state.json, which records the PIDs
// this lab started (with their start times, so a PID reused by another program is never
// signalled). `lab down` ends them by PID and removes the network by prefix, so it also
// cleans up after a `lab up` that crashed.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { PROBE_PORT, parseProbeAnswer, probeScript } from "../../lab/host-network.ts";
import { LabNetwork, execRunner, listLab, teardown } from "../../lab/netns.ts";
import { ferryHome } from "../controller.ts";

export const DEFAULT_LAB_ID = "qlab";
const QEMU = "qemu-system-x86_64";

/** A process the lab started, identified beyond its PID by its start time (/proc/PID/stat field 22). */
export interface LabProcess {
  readonly role: string;
  readonly pid: number;
  readonly startTime: string | undefined;
}

/** $FERRY_HOME/labs/<id>/state.json. */
export interface QemuLabState {
  readonly labId: string;
  readonly hosts: number;
  /** The `ferry lab up` process. */
  readonly owner: LabProcess;
  readonly agents: readonly (LabProcess & { readonly host: string; readonly api: string })[];
  readonly controller: string | undefined;
}

/** What `ferry lab up --json` prints once the lab is ready. */
export interface QemuLabSummary {
  readonly labId: string;
  readonly controller: string;
  readonly accelerator: string;
  readonly hosts: readonly { readonly name: string; readonly namespace: string; readonly api: string; readonly vmotionIp: string; readonly cpu: string }[];
  readonly guests: readonly { readonly name: string; readonly host: string; readonly ip: string; readonly mac: string }[];
  readonly client: { readonly namespace: string; readonly ip: string };
  readonly dir: string;
  readonly startedInMs: number;
}

export interface QemuLabOptions {
  readonly labId: string;
  readonly hosts: number;
  /** CPU models the hosts stand for, cycled over them (LAB_CPUS); absent: Westmere/Nehalem under a Nehalem baseline. */
  readonly cpus?: readonly string[] | undefined;
  readonly guests: number;
  /** MiB per second each guest rewrites, over a 32 MiB working set; 0: idle. */
  readonly dirtyMiBPerSecond?: number | undefined;
  /** The controller's API address. */
  readonly listen: string;
  /** Ctrl-C while the lab comes up: what was started so far is stopped and removed. */
  readonly signal?: AbortSignal | undefined;
}

export function labDir(labId: string): string {
  return join(ferryHome(), "labs", labId);
}

export function stateFile(labId: string): string {
  return join(labDir(labId), "state.json");
}

/** Fields of /proc/PID/stat from field 3 (state) on, or undefined when the process is gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** /proc/PID/stat's start time (field 22), or undefined when the process is gone. */
export function processStartTime(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

/** Whether `p` still runs as the very process the lab recorded (not a reused PID, not a zombie). */
export function stillRunning(p: LabProcess): boolean {
  const fields = statFields(p.pid);
  if (fields === undefined || fields[0] === "Z") return false;
  return p.startTime === undefined || fields[19] === p.startTime;
}

function readState(labId: string): QemuLabState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(labId), "utf8")) as QemuLabState;
  } catch {
    return undefined;
  }
}

export function writeState(state: QemuLabState): void {
  writeFileSync(stateFile(state.labId), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}

/** Refuses, in one sentence each, what would make `lab up` fail half-way. */
export async function preflight(labId: string, isRoot: boolean = process.getuid?.() === 0): Promise<void> {
  new LabNetwork(labId);
  if (!isRoot) throw new FerryError(ErrorCode.refused, "ferry lab up --driver qemu needs root (it creates network namespaces, bridges and taps): run it with sudo");
  if (spawnSync(QEMU, ["--version"], { stdio: "ignore" }).status !== 0) {
    throw new FerryError(ErrorCode.refused, `${QEMU} is not installed: run apt-get install -y qemu-system-x86`);
  }
  if (spawnSync("ip", ["-V"], { stdio: "ignore" }).status !== 0) throw new FerryError(ErrorCode.refused, "`ip` is not installed: run apt-get install -y iproute2");
  const state = readState(labId);
  if (state !== undefined && stillRunning(state.owner)) {
    throw new FerryError(ErrorCode.conflict, `lab ${labId} is already up (ferry lab up, PID ${state.owner.pid}); stop it with Ctrl-C there or \`ferry lab down --id ${labId}\`, or pick another --id`);
  }
  const left = await listLab(labId);
  if (left.namespaces.length > 0 || left.links.length > 0 || (state?.agents ?? []).some(stillRunning)) {
    throw new FerryError(ErrorCode.conflict, `lab ${labId} left namespaces or processes behind from an earlier run: run \`ferry lab down --id ${labId}\` first`);
  }
}

/** Waits until `ip`:port accepts a TCP connection from the client namespace (the guest's service is up). */
export async function waitForGuest(clientNs: string, ip: string, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const answer = parseProbeAnswer(await execRunner("ip", ["netns", "exec", clientNs, process.execPath, "-e", probeScript, ip, String(PROBE_PORT), "1000"]));
    if (answer === "open") return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) {
      throw new FerryError(ErrorCode.unavailable, `guest ${ip} did not answer on port ${PROBE_PORT} within ${Math.round(timeoutMs / 1000)} s (last probe: ${answer ?? "no answer"}); see the serial logs under ${clientNs.replace(/^ferry-/, "")}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** What `ferry lab down` did. */
export interface LabDownReport {
  readonly labId: string;
  /** Processes ended by their recorded PID (the lab up process, agents). */
  readonly stopped: readonly LabProcess[];
  /** Processes found inside the lab's namespaces and killed (QEMUs of a crashed lab). */
  readonly killedPids: readonly number[];
  readonly namespaces: readonly string[];
  readonly links: readonly string[];
}

async function endProcess(p: LabProcess, graceMs: number): Promise<boolean> {
  if (!stillRunning(p)) return false;
  try {
    process.kill(p.pid, "SIGTERM");
  } catch {
    return false;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!stillRunning(p)) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (stillRunning(p)) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  return true;
}

/**
 * Removes lab `labId`: asks its `lab up` process to stop (it tears its lab down itself), ends
 * what is left of the recorded agents, then removes every namespace and link with the lab's
 * prefix, ending the processes still inside (QEMU), and the lab's directory.
 */
export async function labDown(labId: string): Promise<LabDownReport> {
  new LabNetwork(labId);
  if (process.getuid?.() !== 0) throw new FerryError(ErrorCode.refused, "ferry lab down needs root (it deletes network namespaces): run it with sudo");
  const state = readState(labId);
  // Listed first: a running `lab up` removes its namespaces itself when asked to stop.
  const before = await listLab(labId);
  const stopped: LabProcess[] = [];
  if (state !== undefined) {
    if (await endProcess(state.owner, 30_000)) stopped.push(state.owner);
    for (const agent of state.agents) if (await endProcess(agent, 10_000)) stopped.push(agent);
  }
  const report = await teardown(labId);
  const dir = labDir(labId);
  if (existsSync(dir) && statSync(dir).isDirectory()) rmSync(dir, { recursive: true, force: true });
  const union = (a: readonly string[], b: readonly string[]): string[] => [...new Set([...a, ...b])];
  return { labId, stopped, killedPids: report.killedPids, namespaces: union(before.namespaces, report.namespaces), links: union(before.links, report.links) };
}
