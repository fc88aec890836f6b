// `ferry up` (what `npm start` runs): a whole datacenter on one machine. The controller on
// SQLite (or PostgreSQL), and one simulated host per inventory host — a real agent process
// each, its VMotion port on its own loopback address (esx01 = 127.0.1.1, ...), its link as
// fast as the inventory's VMotion NIC — with the inventory's running VMs started on them.
// Ctrl-C stops everything it started.
import type { Command } from "@commander-js/extra-typings";
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { guestCpu } from "../../core/cpu/guest.ts";
import { ErrorCode, FerryError, isFerryError } from "../../core/errors.ts";
import { inventoryYaml } from "../../core/inventory/serialize.ts";
import type { Vm } from "../../core/inventory/schema.ts";
import type { VmSpec, WorkloadSpec } from "../../drivers/driver.ts";
import type { RunningController } from "../../server/main.ts";
import { loadAgentIdentity, type AgentIdentity } from "../../pki/agent-tls.ts";
import { privateDir, writePrivateFile } from "../../pki/files.ts";
import { approveAgent } from "../../server/agent-identity.ts";
import { createToken, Role } from "../../server/auth.ts";
import { ferryHome } from "../controller.ts";
import { ExitStatus, type CliIo } from "../io.ts";
import { agentReady, stopAgentProcess } from "./agent-process.ts";
import { saveControllerAddress, startControllerFromOptions, untilSignal } from "./controller.ts";
import type { SetStatus } from "./index.ts";

const BIN = new URL("../../../bin/ferry.js", import.meta.url).pathname;
const DEFAULT_LAB = new URL("../../../examples/lab.yaml", import.meta.url).pathname;
const MiB = 1048576;

export interface LabAgent {
  readonly host: string;
  readonly api: string;
  readonly vmotionIp: string;
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
}

/**
 * The simulated VM for an inventory VM. Its memory is the inventory's scaled down (1/16,
 * 16–256 MiB) so a laptop holds a whole lab; half of it touched, and a workload by role:
 * web and app servers dirty steadily, databases in bursts, the rest idle.
 */
export function labVmSpec(vm: Vm, cpuFlags: readonly string[] | undefined, seed: number): VmSpec {
  const memoryMB = Math.min(256, Math.max(16, Math.round(vm.memoryMB / 16)));
  const workload: WorkloadSpec = /^(web|app)/.test(vm.name)
    ? { kind: "steady", dirtyRateBytesPerSec: 2 * MiB, workingSetBytes: 8 * MiB, seed }
    : /^db/.test(vm.name)
      ? { kind: "bursty", dirtyRateBytesPerSec: 6 * MiB, workingSetBytes: 16 * MiB, seed }
      : { kind: "idle", dirtyRateBytesPerSec: 0, workingSetBytes: 0, seed };
  return {
    name: vm.name,
    memoryMB,
    vcpus: vm.vcpus,
    nics: vm.nics.map((n) => ({ name: n.name, mac: n.mac, ip: n.ip, portGroup: n.portGroup })),
    cpuFlags,
    workload,
    touchedBytes: Math.floor((memoryMB * MiB) / 2),
  };
}

/** How a lab agent is authenticated: it joins a controller (its own certificate), or a bearer token file (tests). */
export type LabAgentAuth =
  | string
  | { readonly tokenFile: string; readonly controllerCa: string }
  | { readonly controller: string; readonly controllerCa: string; readonly stateDir: string; readonly joinTokenFile: string | undefined };

export async function startAgentProcess(inventoryFile: string, host: string, vmotionIp: string, auth: LabAgentAuth, linkMbps: number | undefined): Promise<LabAgent> {
  const authArgs =
    typeof auth === "string"
      ? ["--token-file", auth]
      : "tokenFile" in auth
        ? ["--token-file", auth.tokenFile, "--controller-ca", auth.controllerCa]
        : ["--controller", auth.controller, "--controller-ca", auth.controllerCa, "--state-dir", auth.stateDir, ...(auth.joinTokenFile === undefined ? [] : ["--join-token-file", auth.joinTokenFile])];
  const args = [BIN, "agent", "-i", inventoryFile, "--name", host, "--vmotion-ip", vmotionIp, ...authArgs, "--listen", "127.0.0.1:0", "--driver", "sim"];
  if (linkMbps !== undefined && linkMbps > 0) args.push("--vmotion-link-mbps", String(linkMbps));
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const api = await agentReady(child, host, 30_000, () => stderr.trim().split("\n").pop() ?? "");
  return { host, api, vmotionIp, child };
}

export async function stopAgent(agent: LabAgent): Promise<void> {
  await stopAgentProcess(agent.child);
}

export interface UpOptions {
  readonly inventory: string;
  readonly dataDir?: string | undefined;
  readonly postgres?: string | undefined;
  readonly listen: string;
  readonly eventsMaxAge?: string | undefined;
  readonly eventsMaxCount?: string | undefined;
  /** Milliseconds between usage samples of the agents (charts, DRS demand). */
  readonly usageInterval?: string | undefined;
}

export interface RunningLab {
  readonly controller: RunningController;
  readonly agents: readonly LabAgent[];
  stop(): Promise<void>;
}

/**
 * What the agent of `host` joins with: its state directory under the lab's, the controller's
 * CA, and (when it has no identity yet) a single-use join token of its own, the host approved
 * for a new identity if a previous run's agent had one.
 */
async function agentJoin(controller: RunningController, dataDir: string, host: string): Promise<LabAgentAuth> {
  const stateDir = join(dataDir, "agents", host);
  const auth = { controller: controller.url, controllerCa: controller.tls.caFile, stateDir };
  let identity: AgentIdentity | undefined;
  try {
    identity = loadAgentIdentity(stateDir);
  } catch {
    identity = undefined;
  }
  // A saved identity of this site's CA is kept: the agent announces itself with its credential.
  if (identity !== undefined && identity.ca === controller.tls.ca.certificate) return { ...auth, joinTokenFile: undefined };
  rmSync(stateDir, { recursive: true, force: true });
  privateDir(stateDir);
  const now = Date.now();
  const deps = { store: controller.store, inventory: controller.inventory, agents: controller.agents, ca: controller.tls.ca, now: () => Date.now() };
  if ((await controller.agents.record(host)) !== undefined) await approveAgent(deps, host, "ferry up");
  const { secret } = await createToken(controller.store, `join-${host}-${now.toString(36)}`, Role.agent, now);
  const joinTokenFile = join(stateDir, "join.token");
  writePrivateFile(joinTokenFile, `${secret}\n`);
  return { ...auth, joinTokenFile };
}

/** Resolves once `agent` announced its address to the controller (its record names it). */
async function announced(controller: RunningController, agent: LabAgent): Promise<void> {
  const deadline = performance.now() + 60_000;
  while ((await controller.agents.record(agent.host))?.url !== agent.api) {
    if (agent.child.exitCode !== null) throw new FerryError(ErrorCode.unavailable, `the agent of ${agent.host} exited before it joined`);
    if (performance.now() > deadline) throw new FerryError(ErrorCode.unavailable, `the agent of ${agent.host} did not join the controller within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Starts the inventory's running VMs on their hosts: the hosts side by side, each one's VMs in inventory order. */
async function startLabVms(controller: RunningController, agents: readonly LabAgent[]): Promise<void> {
  const now = controller.inventory.current;
  // Each VM's workload seed is its place among the running VMs, whichever host starts first.
  const running = now.inventory.vms.filter((vm) => vm.power !== "off").map((vm, i) => ({ vm, seed: i + 1 }));
  await Promise.all(
    agents.map(async (agent) => {
      const client = controller.agents.get(agent.host);
      if (client === undefined) throw new FerryError(ErrorCode.internal, `${agent.host} joined but the controller has no client for it`);
      const view = now.index.hosts.get(agent.host);
      for (const { vm, seed } of running.filter((r) => r.vm.host === agent.host)) {
        const guest = guestCpu(vm, view?.host, view?.cluster, now.index.templates);
        try {
          await client.createVm(labVmSpec(vm, guest.ok ? [...guest.cpu.flags] : undefined, seed));
          if (vm.power === "on") await client.powerOn(vm.name);
        } catch (error) {
          if (!(isFerryError(error) && error.code === ErrorCode.conflict)) throw error;
        }
      }
    }),
  );
}

/** Starts the controller and one agent per host, joins them, and starts the running VMs. */
export async function startLab(opts: UpOptions, io: CliIo, say: (line: string) => void): Promise<RunningLab> {
  const dataDir = privateDir(opts.dataDir ?? join(ferryHome(), "up"));
  const controller = await startControllerFromOptions({ dataDir, postgres: opts.postgres, listen: opts.listen, inventory: opts.inventory, save: false, eventsMaxAge: opts.eventsMaxAge, eventsMaxCount: opts.eventsMaxCount, usageInterval: opts.usageInterval }, io);
  const agents: LabAgent[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(agents.map(stopAgent));
    await controller.close();
  };
  try {
    // The agents take their hosts from the controller's inventory (which a previous run may have changed).
    const snapshot = controller.inventory.current;
    const labFile = join(dataDir, "lab-inventory.yaml");
    writePrivateFile(labFile, inventoryYaml(snapshot.inventory));
    const hosts = snapshot.inventory.hosts;
    if (hosts.length > 250) throw new FerryError(ErrorCode.usage, `the sim lab runs one process per host; ${hosts.length} hosts is too many for one machine (at most 250)`);
    say(`starting ${hosts.length} simulated hosts...`);
    const started = await Promise.allSettled(
      hosts.map(async (host, i) => {
        const view = snapshot.index.hosts.get(host.name);
        const ref = view?.vmotionPorts[0];
        const linkMbps = view === undefined || ref === undefined ? undefined : Math.max(0, ...ref.vswitch.uplinks.map((nic) => view.nicSpeed.get(nic) ?? 0));
        return startAgentProcess(labFile, host.name, `127.0.1.${i + 1}`, await agentJoin(controller, dataDir, host.name), linkMbps);
      }),
    );
    for (const result of started) if (result.status === "fulfilled") agents.push(result.value);
    const failed = started.find((r) => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
    await Promise.all(agents.map((agent) => announced(controller, agent)));

    await startLabVms(controller, agents);
    // Migrations a run stopped mid-way left open are settled before the lab is handed over.
    await controller.migrations.settled();
    return { controller, agents, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export function registerUpCommand(program: Command, io: CliIo, setStatus: SetStatus): void {
  program
    .command("up")
    .description("run a whole datacenter here: the controller and a simulated host per inventory host (agent processes on loopback)")
    .option("-i, --inventory <file>", "the lab's inventory", DEFAULT_LAB)
    .option("--data-dir <dir>", "where the controller keeps its store (default ~/.ferry/up)")
    .option("--postgres <url>", "use PostgreSQL at this URL instead of SQLite")
    .option("--listen <host:port>", "the controller's API and UI address", "127.0.0.1:8080")
    .option("--events-max-age <days>", "keep task events this many days (default 7)")
    .option("--events-max-count <n>", "keep at most this many task events (default 1000000)")
    .option("--usage-interval <ms>", "milliseconds between usage samples of the hosts (default 20000): the charts' and DRS's period")
    .action(async (opts) => {
      const t0 = performance.now();
      const lab = await startLab({ inventory: opts.inventory, dataDir: opts.dataDir, postgres: opts.postgres, listen: opts.listen, eventsMaxAge: opts.eventsMaxAge, eventsMaxCount: opts.eventsMaxCount, usageInterval: opts.usageInterval }, io, (line) => {
        io.err(line);
      });
      const saved = saveControllerAddress(lab.controller.url, lab.controller.adminToken, lab.controller.tls.serverCa);
      const { inventory } = lab.controller.inventory.current;
      io.out(
        [
          `Ferry is up in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${inventory.hosts.length} simulated hosts, ${inventory.vms.filter((v) => v.power === "on").length} running VMs, store ${lab.controller.store.dialect}.`,
          `  UI:           ${lab.controller.url}/`,
          // The token rides in the fragment: browsers never send it to the server; the UI keeps it for the tab and clears the address bar.
          `  log in:       ${lab.controller.url}/#token=${encodeURIComponent(lab.controller.adminToken)}`,
          `  API:          ${lab.controller.url}/api  (OpenAPI: ${lab.controller.url}/api/openapi.json)`,
          `  admin token:  ${lab.controller.adminToken}`,
          `  hosts:        ${lab.agents.map((a) => `${a.host} (VMotion ${a.vmotionIp})`).join(", ")}`,
          `  CA:           ${lab.controller.tls.caFile}  (the UI's certificate is this CA's: trust it in your browser, see README)`,
          `  saved for other ferry commands in ${saved}`,
          "",
          "In another terminal:",
          "  npx ferry vms",
          "  npx ferry where --vm web01",
          "  npx ferry migrate web01 --to esx02 --watch",
          "",
          "Ctrl-C stops everything.",
        ].join("\n"),
      );
      await untilSignal(() => lab.stop());
      io.err("stopped: controller and hosts");
      setStatus(ExitStatus.ok);
    });
}
