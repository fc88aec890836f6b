// The observed facts of a real Linux host, as its agent reports them: CPU, memory, NICs,
// vSwitches with their port groups and VMkernel ports, datastores and the hypervisor.
// Everything is read from the host at every refresh (only QEMU's answers are cached, per
// binary); the agent's mapping adds what Linux does not record. Every read goes through the
// injected `run`, `readText` and `openCpuidDevice`, so a caller can observe a network
// namespace (or, later, another machine) by wrapping them.
import { readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import type { Cpu, PhysicalNic, VSwitch } from "../../core/inventory/schema.ts";
import type { Accelerator } from "../../drivers/qemu/command-line.ts";
import { execRunner, type CommandRunner } from "../command.ts";
import { readDatastore, type DatastoreReading } from "../datastore.ts";
import type { HostNetworkMapping } from "../network-config.ts";
import { parseIpAddrs } from "./ip-addr.ts";
import { Operstate, parseIpLinks, type Link } from "./ip-link.ts";
import { parseIpRouteGateways } from "./ip-route.ts";
import { assembleNetwork, selectNicLinks, type NetworkReadings } from "./network-facts.ts";
import { parseMeminfo } from "./proc.ts";
import { DEFAULT_QEMU_BINARY, readQemuFacts, type QemuFacts } from "./qemu-facts.ts";
import { readHostCpu, type OpenCpuidDevice } from "./cpuid-device.ts";

export type ReadText = (path: string) => Promise<string>;

export interface ObserveHostOptions {
  readonly name: string;
  readonly mapping: HostNetworkMapping;
  readonly datastorePaths: readonly string[];
  /** The agent's `probeAccelerator` answer: observing never starts a VM. */
  readonly accelerator: Accelerator;
  /** Default `qemu-system-x86_64`, looked up on PATH. */
  readonly qemuBinary?: string;
  /** Runs `ip` and QEMU; default execFile on this host. */
  readonly run?: CommandRunner;
  /** Reads /proc and /sys files; default readFile on this host. */
  readonly readText?: ReadText;
  /** The NICs, exactly, when the configuration names them; else every physical or veth link. */
  readonly nicNames?: readonly string[];
  /** Opens the raw CPUID device (/dev/cpu/0/cpuid); default node's fs on this machine. */
  readonly openCpuidDevice?: OpenCpuidDevice;
}

export interface ObservedDatastore {
  readonly name: string;
  readonly uuid: string;
  readonly path: string;
}

export interface DatastoreProblem {
  readonly path: string;
  readonly reason: string;
}

export interface HypervisorFacts {
  readonly kind: "qemu";
  /** major.minor.micro, `7.2.22`. */
  readonly version: string;
  /** `--version`'s first line, with the distribution's build. */
  readonly versionLine: string;
  readonly machineTypes: string[];
  /** Those of `machineTypes` QEMU marks deprecated. */
  readonly deprecatedMachineTypes: string[];
  readonly cpuModels: string[];
  readonly accelerator: Accelerator;
}

export interface ObservedHost {
  readonly name: string;
  readonly cpu: Cpu;
  readonly memoryMB: number;
  readonly nics: PhysicalNic[];
  readonly vswitches: VSwitch[];
  readonly datastores: ObservedDatastore[];
  readonly datastoreProblems: DatastoreProblem[];
  readonly hypervisor: HypervisorFacts | undefined;
  /** Sentences on what was left out and why: a mapped port group without its bridge, ... */
  readonly problems: string[];
  readonly observedInMs: number;
}

const readTextFile: ReadText = (path) => readFile(path, "utf8");

/** The qemu answers as facts; `host` needs KVM (or HVF), so it is no model under TCG. */
export function toHypervisorFacts(qemu: QemuFacts, accelerator: Accelerator): HypervisorFacts {
  return {
    kind: "qemu",
    version: qemu.version.version,
    versionLine: qemu.version.line,
    machineTypes: qemu.machineTypes.map((m) => m.name),
    deprecatedMachineTypes: qemu.machineTypes.filter((m) => m.deprecated).map((m) => m.name),
    cpuModels: accelerator === "tcg" ? qemu.cpuModels.filter((m) => m !== "host") : [...qemu.cpuModels],
    accelerator,
  };
}

/** Datastores whose identity could be read, each uuid once; the rest as problems. */
export function sortDatastores(readings: readonly DatastoreReading[]): { datastores: ObservedDatastore[]; datastoreProblems: DatastoreProblem[]; problems: string[] } {
  const datastores: ObservedDatastore[] = [];
  const datastoreProblems: DatastoreProblem[] = [];
  const problems: string[] = [];
  for (const reading of readings) {
    if (!reading.ok) {
      datastoreProblems.push({ path: reading.path, reason: reading.reason });
      continue;
    }
    const { uuid, name } = reading.identity;
    const first = datastores.find((d) => d.uuid === uuid);
    if (first === undefined) datastores.push({ name, uuid, path: reading.path });
    else problems.push(`Datastore "${name}" (${uuid}) is configured twice, at ${first.path} and ${reading.path}; ${first.path} is reported.`);
  }
  return { datastores, datastoreProblems, problems };
}

/** /sys/class/net/NIC/speed of each NIC that is up; a down link has no speed to read (EINVAL). */
async function readSpeeds(nics: readonly Link[], readText: ReadText): Promise<Map<string, string>> {
  const up = nics.filter((n) => n.operstate === Operstate.up);
  const texts = await Promise.all(up.map((n) => readText(`/sys/class/net/${n.name}/speed`).catch(() => undefined)));
  const speeds = new Map<string, string>();
  up.forEach((n, i) => {
    const text = texts[i];
    if (text !== undefined) speeds.set(n.name, text);
  });
  return speeds;
}

async function readNetwork(options: ObserveHostOptions, run: CommandRunner, readText: ReadText): Promise<NetworkReadings> {
  const [linkText, addrText, routeText] = await Promise.all([
    run("ip", ["-j", "-d", "link", "show"]),
    run("ip", ["-j", "addr", "show"]),
    run("ip", ["-j", "route", "show", "table", "main"]),
  ]);
  const links = parseIpLinks(linkText);
  const { nics } = selectNicLinks(links, options.mapping, options.nicNames);
  return { links, addresses: parseIpAddrs(addrText), gateways: parseIpRouteGateways(routeText), speeds: await readSpeeds(nics, readText) };
}

async function readHypervisor(options: ObserveHostOptions, run: CommandRunner): Promise<{ hypervisor: HypervisorFacts | undefined; problems: string[] }> {
  const binary = options.qemuBinary ?? DEFAULT_QEMU_BINARY;
  const qemu = await readQemuFacts(binary, run);
  if (qemu === undefined) {
    const problem = binary === DEFAULT_QEMU_BINARY ? `${binary} is not installed: apt-get install qemu-system-x86` : `${binary} does not exist: is QEMU installed there?`;
    return { hypervisor: undefined, problems: [problem] };
  }
  return { hypervisor: toHypervisorFacts(qemu, options.accelerator), problems: [] };
}

/**
 * Reads the host's facts now. Rejects (FerryError) only when the host cannot be read at all:
 * `ip` or /proc missing or unparsable. Everything partial is a sentence in `problems`.
 */
export async function observeHost(options: ObserveHostOptions): Promise<ObservedHost> {
  const started = performance.now();
  const run = options.run ?? execRunner;
  const readText = options.readText ?? readTextFile;
  const [network, cpu, memText, hypervisor, readings] = await Promise.all([
    readNetwork(options, run, readText),
    // Raw CPUID when the device can be read (flags Linux hides included), else /proc/cpuinfo.
    readHostCpu({ run, readText, hostName: options.name, ...(options.openCpuidDevice === undefined ? {} : { openDevice: options.openCpuidDevice }) }),
    readText("/proc/meminfo"),
    readHypervisor(options, run),
    Promise.all(options.datastorePaths.map((p) => readDatastore(p))),
  ]);
  const { nics, vswitches, problems: networkProblems } = assembleNetwork(network, options.mapping, options.nicNames);
  const { datastores, datastoreProblems, problems: datastoreDuplicates } = sortDatastores(readings);
  return {
    name: options.name,
    cpu: cpu.cpu,
    memoryMB: parseMeminfo(memText),
    nics,
    vswitches,
    datastores,
    datastoreProblems,
    hypervisor: hypervisor.hypervisor,
    problems: [...networkProblems, ...hypervisor.problems, ...datastoreDuplicates, ...(cpu.note === undefined ? [] : [cpu.note])],
    observedInMs: Math.round((performance.now() - started) * 10) / 10,
  };
}
