// `ferry lab up --driver qemu` and `ferry lab down`: a lab of real QEMU hosts on this machine.
// One network namespace per host (docs/qemu-lab.md), a controller on SQLite in this process,
// one agent process per host with the qemu driver (its API on loopback in the root namespace,
// its QEMUs, taps and VMotion listener inside the host's namespace), and the lab's guests
// booted on their first host.
//
// Everything lives under $FERRY_HOME/labs/<id>/: the controller's data, the shared datastore
// directory (the guest's kernel and initramfs), the agents' configs and logs, and state.json,
// which records the PIDs this lab started (with their start times, so a PID reused by another
// program is never signalled). `lab down` ends them by PID and removes the network by prefix,
// so it also cleans up after a `lab up` that crashed.
import { spawn, spawnSync, type ChildProcessByStdio } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, createWriteStream } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { createAgentClient } from "../../agent/client.ts";
import { guestCpu } from "../../core/cpu/guest.ts";
import { ErrorCode, FerryError, isFerryError } from "../../core/errors.ts";
import { inventoryYaml } from "../../core/inventory/serialize.ts";
import type { VmSpec } from "../../drivers/driver.ts";
import { probeAccelerator } from "../../drivers/qemu/driver.ts";
import { buildGuest, type GuestImages } from "../../lab/guest.ts";
import { PROBE_PORT, parseProbeAnswer, probeScript } from "../../lab/host-network.ts";
import { LabNetwork, execRunner, listLab, teardown, type TeardownReport } from "../../lab/netns.ts";
import { LAB_PREFIX, buildQemuLabNetwork, qemuLabGuests, qemuLabInventory, qemuLabLayout, type LabGuest, type QemuLabLayout } from "../../lab/qemu-lab.ts";
import type { RunningController } from "../../server/main.ts";
import { joinAgent } from "../../server/routes-migrations.ts";
import { ferryHome } from "../controller.ts";
import type { CliIo } from "../io.ts";
import { startControllerFromOptions } from "./controller.ts";
import { agentReady, stopAgentProcess } from "./agent-process.ts";
import { recordPower } from "../../core/inventory/edits.ts";

const BIN = new URL("../../../bin/ferry.js", import.meta.url).pathname;
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

export interface RunningQemuLab {
  readonly summary: QemuLabSummary;
  readonly controller: RunningController;
  stop(): Promise<TeardownReport>;
}

interface AgentChild {
  readonly host: string;
  readonly api: string;
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  readonly process: LabProcess;
}

export function labDir(labId: string): string {
  return join(ferryHome(), "labs", labId);
}

function stateFile(labId: string): string {
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

function writeState(state: QemuLabState): void {
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

/** Puts the guest's boot files on the shared datastore directory: a hard link when it can, else a copy. */
function onDatastore(images: GuestImages, datastore: string): GuestImages {
  mkdirSync(datastore, { recursive: true });
  const place = (from: string, name: string): string => {
    const to = join(datastore, name);
    rmSync(to, { force: true });
    try {
      linkSync(from, to);
    } catch {
      copyFileSync(from, to);
    }
    return to;
  };
  return { kernel: place(images.kernel, "vmlinux"), initrd: place(images.initrd, "initrd.gz") };
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

async function startAgentChild(dir: string, host: string): Promise<AgentChild> {
  const config = join(dir, `agent-${host}.yaml`);
  const log = createWriteStream(join(dir, `agent-${host}.log`), { flags: "a" });
  const child = spawn(process.execPath, [BIN, "agent", "--config", config], { stdio: ["ignore", "pipe", "pipe"] });
  let tail = "";
  child.stderr.on("data", (chunk: Buffer) => {
    log.write(chunk);
    tail = (tail + chunk.toString()).slice(-2000);
  });
  child.once("exit", () => log.end());
  const lastLine = (): string => {
    const line = tail.trim().split("\n").pop() ?? "";
    try {
      return (JSON.parse(line) as { message?: string }).message ?? line;
    } catch {
      return line;
    }
  };
  const api = await agentReady(child, host, 60_000, lastLine);
  const pid = child.pid ?? 0;
  return { host, api, child, process: { role: `agent ${host}`, pid, startTime: processStartTime(pid) } };
}

async function stopAgentChild(agent: AgentChild): Promise<void> {
  await stopAgentProcess(agent.child);
}

function agentConfig(layout: QemuLabLayout, hostIndex: number, dir: string, images: GuestImages, accelerator: string): string {
  const host = layout.hosts[hostIndex];
  if (host === undefined) throw new FerryError(ErrorCode.internal, `no host ${hostIndex} in the layout`);
  return `${JSON.stringify(
    {
      name: host.name,
      inventory: "inventory.yaml",
      listen: "127.0.0.1:0",
      tokenFile: "agent.token",
      driver: "qemu",
      qemu: {
        kernel: images.kernel,
        initrd: images.initrd,
        prefixLength: LAB_PREFIX,
        runDir: join(dir, "run", host.name),
        // The guest CPU's base model: the cluster's baseline, else the host's own model.
        cpuModel: layout.baseline ?? host.cpuModel,
        accelerator,
        lab: {
          labId: layout.labId,
          namespace: host.namespace,
          bridges: host.bridges,
          probeFrom: host.probeFrom,
          vmotion: { physNamespace: layout.physNamespace, bridge: layout.vmotionBridge },
        },
        peersFile: "peers.json",
      },
    },
    null,
    2,
  )}\n`;
}

const MiB = 1024 * 1024;
/** The writer's working set: what fits beside the kernel in a 128 MiB guest (docs/qemu-lab.md). */
const DIRTY_WORKING_SET_MIB = 32;

function guestSpec(guest: LabGuest, cpuFlags: readonly string[] | undefined, dirtyMiBPerSecond: number): VmSpec {
  return {
    name: guest.name,
    memoryMB: guest.memoryMB,
    vcpus: 1,
    nics: [{ name: "nic0", mac: guest.mac, ip: guest.ip, portGroup: "VM Network" }],
    cpuFlags,
    // The qemu driver passes it on the kernel command line (ferry.dirty_mib_s, ferry.dirty_ws_mib).
    ...(dirtyMiBPerSecond > 0 ? { workload: { kind: "steady" as const, dirtyRateBytesPerSec: dirtyMiBPerSecond * MiB, workingSetBytes: DIRTY_WORKING_SET_MIB * MiB, seed: 1 } } : {}),
  };
}

/**
 * Brings the lab up: guest images, network, controller, agents, guests. On any failure
 * everything started so far is stopped and the network removed before the error propagates.
 */
export async function startQemuLab(opts: QemuLabOptions, tell: (line: string) => void, io: CliIo): Promise<RunningQemuLab> {
  const t0 = performance.now();
  const { labId } = opts;
  await preflight(labId);
  const lab = new LabNetwork(labId);
  const layout = qemuLabLayout(lab, opts.hosts, opts.cpus);
  const guests = qemuLabGuests(layout, opts.guests);
  const dir = labDir(labId);
  // A fresh lab is a fresh controller store: its inventory is this layout's.
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "run"), { recursive: true, mode: 0o700 });
  const owner: LabProcess = { role: "ferry lab up", pid: process.pid, startTime: processStartTime(process.pid) };
  const agents: AgentChild[] = [];
  let controller: RunningController | undefined;
  const record = (): void => {
    writeState({ labId, hosts: opts.hosts, owner, agents: agents.map((a) => ({ ...a.process, host: a.host, api: a.api })), controller: controller?.url });
  };
  record();

  let stopping: Promise<TeardownReport> | undefined;
  const stop = (): Promise<TeardownReport> => {
    stopping ??= (async () => {
      await Promise.all(agents.map(stopAgentChild));
      await controller?.close();
      const report = await teardown(labId);
      rmSync(stateFile(labId), { force: true });
      return report;
    })();
    return stopping;
  };

  // Checked between steps: each step is short, and a half-built lab is removed by the catch below.
  const checkInterrupted = (): void => {
    if (opts.signal?.aborted === true) throw new FerryError(ErrorCode.refused, `lab ${labId} was interrupted while coming up; everything it had started was removed`);
  };
  const say = (line: string): void => {
    checkInterrupted();
    tell(line);
  };
  try {
    say(`building the guest (scripts/build-guest.sh; a no-op when up to date)...`);
    let images: GuestImages;
    try {
      images = await buildGuest();
    } catch (error) {
      throw new FerryError(ErrorCode.refused, isFerryError(error) ? error.message : String(error), { cause: error });
    }
    images = onDatastore(images, join(dir, "datastore"));

    say(`creating the lab's network: ${layout.hosts.length} host namespaces, phys, client...`);
    await buildQemuLabNetwork(lab, layout);

    // One probe for the whole lab, not one per agent: on these machines /dev/kvm exists but
    // hangs a guest, so the probe waits its whole timeout before answering TCG.
    say("probing the accelerator (KVM, else TCG)...");
    const accelerator = await probeAccelerator({ boot: { ...images, prefixLength: LAB_PREFIX } });

    const inventory = qemuLabInventory(layout, guests);
    writeFileSync(join(dir, "inventory.yaml"), inventoryYaml(inventory, ` The qemu lab ${labId}, written by \`ferry lab up --driver qemu\`.`));
    const token = randomBytes(24).toString("base64url");
    writeFileSync(join(dir, "agent.token"), `${token}\n`, { mode: 0o600 });
    layout.hosts.forEach((_, i) => {
      const host = layout.hosts[i];
      if (host !== undefined) writeFileSync(join(dir, `agent-${host.name}.yaml`), agentConfig(layout, i, dir, images, accelerator), { mode: 0o600 });
    });

    say("starting the controller...");
    const dataDir = join(dir, "data");
    const inventoryFile = join(dir, "inventory.yaml");
    controller = await startControllerFromOptions({ dataDir, listen: opts.listen, inventory: inventoryFile, save: false }, io);
    record();

    say(`starting ${layout.hosts.length} agents with the qemu driver (${accelerator})...`);
    const started = await Promise.allSettled(layout.hosts.map((h) => startAgentChild(dir, h.name)));
    for (const result of started) if (result.status === "fulfilled") agents.push(result.value);
    record();
    const failed = started.find((r) => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
    const peers = agents.map((a) => ({ host: a.host, api: a.api, token, vmotionIp: layout.hosts.find((h) => h.name === a.host)?.vmk.ip }));
    writeFileSync(join(dir, "peers.json"), `${JSON.stringify(peers, null, 2)}\n`, { mode: 0o600 });
    for (const agent of agents) await joinAgent(controller.inventory, controller.agents, { host: agent.host, url: agent.api, token });

    say(`booting ${guests.map((g) => `${g.name} on ${g.host}`).join(", ") || "no guests"}...`);
    const snapshot = controller.inventory.current;
    await Promise.all(
      guests.map(async (g) => {
        const agent = agents.find((a) => a.host === g.host);
        const vm = snapshot.inventory.vms.find((v) => v.name === g.name);
        if (agent === undefined || vm === undefined) throw new FerryError(ErrorCode.internal, `${g.name} has no host agent or inventory entry`);
        const view = snapshot.index.hosts.get(g.host);
        const cpu = guestCpu(vm, view?.host, view?.cluster, snapshot.index.templates);
        const client = createAgentClient({ baseUrl: agent.api, token, name: agent.host, timeoutMs: 30_000 });
        const flags = cpu.ok ? [...cpu.cpu.flags].sort() : undefined;
        await client.createVm(guestSpec(g, flags, opts.dirtyMiBPerSecond ?? 0));
        await client.powerOn(g.name);
        // What the guest saw at this boot: a CPUID mask set later stays pending until a power cycle.
        await controller?.inventory.change((draft) => {
          recordPower(draft, g.name, "on", flags);
        });
        await waitForGuest(layout.client.namespace, g.ip, 60_000);
      }),
    );
    await controller.migrations.drain();
    checkInterrupted();

    const summary: QemuLabSummary = {
      labId,
      controller: controller.url,
      accelerator,
      hosts: layout.hosts.map((h) => ({ name: h.name, namespace: h.namespace, api: agents.find((a) => a.host === h.name)?.api ?? "", vmotionIp: h.vmk.ip, cpu: h.cpuModel })),
      guests: guests.map((g) => ({ name: g.name, host: g.host, ip: g.ip, mac: g.mac })),
      client: { namespace: layout.client.namespace, ip: layout.client.ip },
      dir,
      startedInMs: Math.round(performance.now() - t0),
    };
    return { summary, controller, stop };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
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
