// `ferry agent`: one host's agent as a process. Its host comes from an inventory (a file and
// a host name) or from a host entry in its config file. With --controller it joins: its
// identity (key, certificate, credential) in its state directory, made at the first join with
// a join token (agent-join.ts), and its API is HTTPS with mutual TLS. Without, its bearer
// token comes from a file, the environment or the config (never printed): test agents. When it listens it prints one JSON line,
// `{"ready":true,"name":..,"api":..,"vmotionIp":..}`, for a parent process to wait on; it
// stops cleanly on SIGTERM or SIGINT.
import type { Command } from "@commander-js/extra-typings";
import { dirname, isAbsolute, join as pathJoin, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { startAgent, AgentDriverKind, type AgentConfig, type AgentQemuConfig, type RunningAgent } from "../../agent/main.ts";
import type { RealHostConfig } from "../../agent/real-host.ts";
import { HostNetworkMappingSchema } from "../../host/network-config.ts";
import { guestImages } from "../../lab/guest.ts";
import type { AgentLog } from "../../agent/app.ts";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { HostSchema, type Host } from "../../core/inventory/schema.ts";
import { systemClock } from "../../drivers/clock.ts";
import { loadAgentIdentity } from "../../pki/agent-tls.ts";
import { ferryHome } from "../controller.ts";
import { loadInventoryFile } from "../inventory-file.ts";
import { agentIdentity, announceAgent, joinLog, savedControllerCa } from "./agent-join.ts";
import { ExitStatus, type CliIo } from "../io.ts";
import type { SetStatus } from "./index.ts";

const ipv4 = z
  .string()
  .regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/, "must be an IPv4 address, like 127.0.1.1")
  .refine((s) => s.split(".").every((o) => Number(o) <= 255), "has an octet above 255");

/** The qemu driver's section of the config file. */
export const AgentQemuConfigSchema = z
  .object({
    /** The guest's ELF vmlinux and initramfs; or `guestDir` holding both (scripts/build-guest.sh's output). */
    kernel: z.string().min(1).optional(),
    initrd: z.string().min(1).optional(),
    guestDir: z.string().min(1).optional(),
    /** Prefix length of the guests' VM-network addresses; default 16 (the lab's 198.18.0.0/16). */
    prefixLength: z.number().int().min(8).max(30).default(16),
    runDir: z.string().min(1).optional(),
    binary: z.string().min(1).optional(),
    /** The guest CPU's baseline model; default Nehalem. */
    cpuModel: z.string().min(1).optional(),
    /** A real host under TCG: the QEMU CPU model it presents as its CPU (default: /proc/cpuinfo's). */
    tcgCpuModel: z.string().min(1).optional(),
    accelerator: z.enum(["auto", "tcg", "kvm"]).default("auto"),
    /**
     * The multifd channels this host listens with, in place of Ferry's choice (one stream unless
     * both QEMUs are 9.0 or newer: trap 18); 0: one stream. On QEMU 7.2 it buys speed with the
     * risk that a VM whose destination failed cannot migrate again until its QEMU restarts.
     */
    multifdChannels: z.number().int().min(0).max(16).optional(),
    /** Gone: it held every agent's token. The controller hands a source a token for its migration's state only. */
    peersFile: z.undefined({ error: "no longer read (it held other agents' tokens): the controller tells each source where its destination is; remove the key" }).optional(),
  })
  .strict();

/** The config file (YAML or JSON). Paths in it are relative to the file. */
export const AgentConfigFileSchema = z
  .object({
    /** The host's name: which host of `inventory` this agent serves. */
    name: z.string().min(1).optional(),
    /** An inventory file to take the host from (CPU, memory, NICs, vSwitches, datastores). */
    inventory: z.string().min(1).optional(),
    /** Or the host entry itself, as in an inventory's `hosts:`. */
    host: HostSchema.optional(),
    /** The API's address, HOST:PORT; port 0 picks a free one. Default 127.0.0.1:0. */
    listen: z.string().min(1).optional(),
    /** The VMotion VMkernel port's IP; default: the inventory's. The sim lab uses 127.0.1.N. */
    vmotionIp: ipv4.optional(),
    token: z.string().min(1).optional(),
    tokenFile: z.string().min(1).optional(),
    driver: z.enum(["sim", "qemu"]).optional(),
    /** The qemu driver's settings (driver: qemu). */
    qemu: AgentQemuConfigSchema.optional(),
    /** Serve POST /v1/faults for tests. */
    faults: z.boolean().optional(),
    /** A real host (qemu driver, no inventory/host): datastore directories, each with an identity file. */
    datastores: z.array(z.string().min(1)).optional(),
    /** Where the agent keeps its state (network.json); default /var/lib/ferry/agent. */
    stateDir: z.string().min(1).optional(),
    /** Seeds the network mapping on the first start: port groups → bridge + VLAN, VMkernel ports → interface. */
    network: HostNetworkMappingSchema.optional(),
    /** Exactly these links are the host's NICs (default: every link that is not virtual). */
    nics: z.array(z.string().min(1)).optional(),
    /** The sim's VMotion link rate in Mb/s; default: as fast as loopback goes. */
    vmotionLinkMbps: z.number().positive().optional(),
  })
  .strict();
export type AgentConfigFile = z.output<typeof AgentConfigFileSchema>;

/** What the command line gave; each flag overrides the config file's field. */
export interface AgentFlags {
  readonly config?: string | undefined;
  readonly name?: string | undefined;
  readonly inventory?: string | undefined;
  readonly listen?: string | undefined;
  readonly vmotionIp?: string | undefined;
  readonly tokenFile?: string | undefined;
  readonly driver?: string | undefined;
  readonly faults?: boolean | undefined;
  readonly vmotionLinkMbps?: string | undefined;
  readonly guestDir?: string | undefined;
  readonly runDir?: string | undefined;
  /** Joining a controller: the agent's identity replaces the bearer token. */
  readonly controller?: string | undefined;
  readonly stateDir?: string | undefined;
}

export function parseListen(text: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (match?.[1] === undefined || !Number.isInteger(port) || port > 65535) {
    throw new FerryError(ErrorCode.usage, `--listen takes HOST:PORT, like 127.0.0.1:7001 (port 0 picks a free one), got "${text}"`);
  }
  return { host: match[1].replace(/^\[|\]$/g, ""), port };
}

/** The IP (without prefix) of the host's first VMotion-enabled VMkernel port. */
export function inventoryVmotionIp(host: Host): string | undefined {
  for (const vswitch of host.vswitches) for (const port of vswitch.vmkernelPorts) if (port.vmotion) return port.ip.split("/")[0];
  return undefined;
}

/**
 * The host with its VMotion port moved to `ip`, keeping the prefix: the lab runs inventory
 * hosts whose VMotion network is 198.19.0.0/24 on loopback addresses, and the facts the
 * agent reports must say where it really listens.
 */
export function withVmotionIp(host: Host, ip: string): Host {
  let moved = false;
  const vswitches = host.vswitches.map((vswitch) => ({
    ...vswitch,
    vmkernelPorts: vswitch.vmkernelPorts.map((port) => {
      if (!port.vmotion || moved) return port;
      moved = true;
      return { ...port, ip: `${ip}/${port.ip.split("/")[1] ?? "32"}` };
    }),
  }));
  return { ...host, vswitches };
}

export interface AgentFiles {
  readonly readText: (path: string) => Promise<string>;
  readonly env: Readonly<Record<string, string | undefined>>;
}

function fromConfigDir(configPath: string | undefined, path: string): string {
  return configPath === undefined || isAbsolute(path) ? path : resolve(dirname(configPath), path);
}

/** The --config file, parsed and checked; empty without one. */
async function readAgentConfigFile(config: string | undefined, files: AgentFiles): Promise<AgentConfigFile> {
  if (config === undefined) return {};
  const text = await files.readText(config);
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (cause) {
    throw new FerryError(ErrorCode.invalidInput, `${config} is not valid YAML: ${cause instanceof Error ? cause.message.split("\n")[0] ?? "" : String(cause)}`, { cause });
  }
  const parsed = AgentConfigFileSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined ? "" : `${issue.path.map(String).join(".")}${issue.path.length > 0 ? ": " : ""}${issue.message}`;
    throw new FerryError(ErrorCode.invalidInput, `${config}: ${where}`, { details: { issues: parsed.error.issues } });
  }
  return parsed.data;
}

/** Which host this agent stands for: an inventory's host, the config's `host:`, or (qemu, neither) this machine, observed. */
async function resolveAgentHost(flags: AgentFlags, file: AgentConfigFile, driverKind: string, io: CliIo): Promise<{ host: Host | undefined; observe: RealHostConfig | undefined }> {
  const name = flags.name ?? file.name ?? file.host?.name;
  const inventoryPath = flags.inventory ?? (file.inventory === undefined ? undefined : fromConfigDir(flags.config, file.inventory));
  if (inventoryPath === undefined && file.host === undefined && driverKind === AgentDriverKind.qemu) {
    if (name === undefined) throw new FerryError(ErrorCode.usage, "which host is this? give --name HOST (or `name:` in the config)");
    const path = (p: string): string => fromConfigDir(flags.config, p);
    const observe = {
      name,
      datastorePaths: (file.datastores ?? []).map(path),
      stateDir: path(file.stateDir ?? "/var/lib/ferry/agent"),
      network: file.network ?? HostNetworkMappingSchema.parse({}),
      nicNames: file.nics,
      tcgCpuModel: file.qemu?.tcgCpuModel,
    };
    return { host: undefined, observe };
  }
  if (inventoryPath !== undefined) {
    if (name === undefined) throw new FerryError(ErrorCode.usage, "which host of the inventory is this? give --name HOST (or `name:` in the config)");
    const inventory = await loadInventoryFile(inventoryPath, io);
    const found = inventory.hosts.find((h) => h.name === name);
    if (found === undefined) {
      throw new FerryError(ErrorCode.notFound, `no host named "${name}" in ${inventoryPath} (it has ${inventory.hosts.map((h) => h.name).join(", ") || "no hosts"})`);
    }
    return { host: found, observe: undefined };
  }
  if (file.host !== undefined) return { host: name === undefined ? file.host : { ...file.host, name }, observe: undefined };
  throw new FerryError(ErrorCode.usage, "the agent needs its host: --inventory FILE --name HOST, `host:` (an inventory host entry) in --config, or --driver qemu to observe this machine");
}

/** The agent's API token: a token file, FERRY_AGENT_TOKEN, or the config; none only for an agent that joins a controller. */
async function resolveAgentToken(flags: AgentFlags, file: AgentConfigFile, files: AgentFiles): Promise<string | undefined> {
  const tokenFile = flags.tokenFile ?? (file.tokenFile === undefined ? undefined : fromConfigDir(flags.config, file.tokenFile));
  const token = tokenFile !== undefined ? (await files.readText(tokenFile)).trim() : (files.env["FERRY_AGENT_TOKEN"] ?? file.token);
  // An agent that joins a controller is called over mutual TLS: its certificate stands for the token.
  if ((token === undefined || token === "") && flags.controller === undefined) {
    throw new FerryError(ErrorCode.usage, `the agent needs an API token: --token-file FILE, FERRY_AGENT_TOKEN, or token/tokenFile in the config${tokenFile === undefined ? "" : ` (${tokenFile} is empty)`}`);
  }
  return token;
}

/** The qemu driver's settings (paths relative to the config file); refused for the sim driver. */
function resolveQemuConfig(flags: AgentFlags, file: AgentConfigFile, driver: string): AgentQemuConfig | undefined {
  if (driver !== AgentDriverKind.qemu) {
    if (file.qemu !== undefined || flags.guestDir !== undefined) throw new FerryError(ErrorCode.usage, "qemu settings (qemu: in the config, --guest-dir) need --driver qemu");
    return undefined;
  }
  const section = file.qemu ?? AgentQemuConfigSchema.parse({});
  const path = (p: string | undefined): string | undefined => (p === undefined ? undefined : fromConfigDir(flags.config, p));
  const images = guestImages(flags.guestDir ?? path(section.guestDir));
  return {
    kernel: path(section.kernel) ?? images.kernel,
    initrd: path(section.initrd) ?? images.initrd,
    prefixLength: section.prefixLength,
    runDir: flags.runDir ?? path(section.runDir),
    binary: section.binary,
    cpuModel: section.cpuModel,
    accelerator: section.accelerator,
    multifdChannels: section.multifdChannels,
  };
}

/** Flags, config file and environment → the agent's config. Every mistake is one USAGE or INVALID_INPUT sentence. */
export async function resolveAgentConfig(flags: AgentFlags, files: AgentFiles, io: CliIo): Promise<Omit<AgentConfig, "clock" | "log"> & { readonly stateDir: string | undefined }> {
  const file = await readAgentConfigFile(flags.config, files);
  const driver = flags.driver ?? file.driver ?? AgentDriverKind.sim;
  const resolved = await resolveAgentHost(flags, file, driver, io);
  const observe = resolved.observe;
  let host = resolved.host;
  if (observe !== undefined && (file.vmotionIp !== undefined || flags.vmotionIp !== undefined)) {
    throw new FerryError(ErrorCode.usage, "a real host's VMotion IP is the address of its VMkernel port marked for VMotion (network.vmkernelPorts), not --vmotion-ip");
  }

  const vmotionIp = flags.vmotionIp ?? file.vmotionIp;
  if (flags.vmotionIp !== undefined && !ipv4.safeParse(flags.vmotionIp).success) throw new FerryError(ErrorCode.usage, `--vmotion-ip takes an IPv4 address, like 127.0.1.1, got "${flags.vmotionIp}"`);
  if (vmotionIp !== undefined && host !== undefined) host = withVmotionIp(host, vmotionIp);

  const token = await resolveAgentToken(flags, file, files);
  if (driver !== AgentDriverKind.sim && driver !== AgentDriverKind.qemu) throw new FerryError(ErrorCode.usage, `--driver takes sim or qemu, got "${driver}"`);
  const qemu = resolveQemuConfig(flags, file, driver);

  let linkMbps = file.vmotionLinkMbps;
  if (flags.vmotionLinkMbps !== undefined) {
    linkMbps = Number(flags.vmotionLinkMbps);
    if (!Number.isFinite(linkMbps) || linkMbps <= 0) throw new FerryError(ErrorCode.usage, `--vmotion-link-mbps takes a positive number, got "${flags.vmotionLinkMbps}"`);
  }

  if (observe === undefined && (file.datastores !== undefined || file.network !== undefined || file.nics !== undefined)) {
    throw new FerryError(ErrorCode.usage, "datastores:, network: and nics: describe a real host, whose facts are observed: drop inventory:/host: (and use --driver qemu)");
  }
  return {
    name: host?.name ?? observe?.name ?? "",
    host,
    observe,
    vmotionIp: vmotionIp ?? (host === undefined ? undefined : inventoryVmotionIp(host)),
    listen: parseListen(flags.listen ?? file.listen ?? "127.0.0.1:0"),
    token: token ?? "",
    stateDir: flags.stateDir ?? (file.stateDir === undefined ? undefined : fromConfigDir(flags.config, file.stateDir)) ?? observe?.stateDir,
    driver,
    faults: flags.faults ?? file.faults ?? false,
    vmotionLinkBytesPerSec: linkMbps === undefined ? undefined : (linkMbps * 1e6) / 8,
    qemu,
  };
}

/** Log lines as JSON on stderr. Fields never carry the token: nothing that logs is given it. */
function stderrLog(io: CliIo, name: string): AgentLog {
  return (level, message, fields) => {
    io.err(JSON.stringify({ at: new Date().toISOString(), host: name, level, message, ...fields }));
  };
}

/** Resolves on the first SIGTERM or SIGINT, after `stop` finished. */
function untilSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((done) => {
    const onSignal = (): void => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      void stop().finally(done);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

export function registerAgentCommand(program: Command, io: CliIo, setStatus: SetStatus): void {
  program
    .command("agent")
    .description("run a host's agent: its VMs through a driver, and the API the controller migrates them with")
    .option("--config <file>", "YAML config: name, inventory or host, listen, vmotionIp, tokenFile, driver, faults, qemu (see docs/qemu-lab.md)")
    .option("-i, --inventory <file>", "inventory to take the host from (with --name)")
    .option("--name <host>", "the host this agent serves")
    .option("--listen <host:port>", "address of the agent's API (default 127.0.0.1:0: a free port, printed when ready)")
    .option("--vmotion-ip <ip>", "IP of the VMotion VMkernel port, where migration streams are accepted (lab: 127.0.1.N)")
    .option("--token-file <file>", "file holding the API token (or set FERRY_AGENT_TOKEN)")
    .option("--driver <kind>", "hypervisor driver: sim (default) or qemu")
    .option("--guest-dir <dir>", "qemu: directory holding the guest's vmlinux and initrd.gz (default .cache/guest)")
    .option("--run-dir <dir>", "qemu: where QMP sockets and serial logs go (default a temp directory)")
    .option("--faults", "serve POST /v1/faults, for tests")
    .option("--vmotion-link-mbps <n>", "sim only: the VMotion link's rate in Mb/s")
    .option("--controller <url>", "join this controller (the first time with --join-token-file), serve HTTPS with the certificate it issues, and announce this agent's address to it")
    .option("--join-token-file <file>", "file holding a single-use join token of the controller (`ferry tokens create NAME --role agent`)")
    .option("--controller-ca <file>", "the CA the controller's certificate is checked with (its <data-dir>/pki/ca.crt); kept in the state directory after the first join")
    .option("--state-dir <dir>", "where the agent keeps its key, certificate and credential (default: stateDir of --config, else $FERRY_HOME/agents/<host>)")
    .option("--cluster <name>", "the cluster this host joins when it is new to the controller")
    .action(async (opts) => {
      if (opts.controller === undefined && opts.joinTokenFile !== undefined) throw new FerryError(ErrorCode.usage, "--join-token-file goes with --controller");
      const config = await resolveAgentConfig(opts, { readText: io.readText, env: process.env }, io);
      const log = joinLog(io, config.name);
      const join = opts.controller === undefined ? undefined : {
        controller: opts.controller,
        host: config.name,
        stateDir: config.stateDir ?? pathJoin(ferryHome(), "agents", config.name),
        // Read only when needed: once joined, the (spent) join token file may be gone.
        joinToken: opts.joinTokenFile === undefined ? undefined : await io.readText(opts.joinTokenFile).then((t) => t.trim(), () => undefined),
        controllerCa: opts.controllerCa === undefined ? undefined : await io.readText(opts.controllerCa),
        cluster: opts.cluster,
      };
      // Joined before: the saved identity; joining now: a certificate for a key made here.
      const identity = join === undefined ? (config.stateDir === undefined ? undefined : loadAgentIdentity(config.stateDir)) : await agentIdentity(join, log);
      const tls = identity === undefined ? undefined : { key: identity.key, certificate: identity.certificate, ca: identity.ca };
      // The CA the controller's certificate is checked with (the ownership ledger's calls): the
      // one given, else the one saved at the first join; the site CA when neither is there.
      const controllerCa = join?.controllerCa ?? (opts.controllerCa === undefined ? savedControllerCa(join?.stateDir ?? config.stateDir) : await io.readText(opts.controllerCa));
      const running: RunningAgent = await startAgent({ ...config, tls, controllerCa, clock: systemClock, log: stderrLog(io, config.name) });
      io.out(JSON.stringify({ ready: true, name: running.name, api: running.api, vmotionIp: running.vmotionIp ?? null, driver: running.driver, ...(running.accelerator === undefined ? {} : { accelerator: running.accelerator }) }));
      if (join !== undefined && identity !== undefined) {
        // A refusal is logged and the agent keeps serving: an admin may fix the controller's side.
        await announceAgent(join, identity, running.api, log).catch((error: unknown) => {
          log("error", error instanceof Error ? error.message : String(error));
        });
      }
      await untilSignal(async () => {
        io.err(JSON.stringify({ at: new Date().toISOString(), host: running.name, level: "info", message: "stopping" }));
        await running.close();
      });
      setStatus(ExitStatus.ok);
    });
}
