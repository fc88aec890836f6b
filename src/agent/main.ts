// The host agent as a running server: the composition root that picks the driver (sim, or
// qemu with its accelerator probed once here), builds the app, listens, and stops everything
// in order (outgoing migrations first, so their VMs settle on this host, then the driver's VMs
// and listeners, then the API).
//
// A qemu agent on a real host (no inventory: `datastores:` and `network:` in its config)
// observes its facts and changes its network through src/agent/real-host.ts; the lab runs the
// very same agent inside a namespace that stands for a host. A qemu agent given a declared
// host (tests) has no network of its own.
import type { LedgerRef } from "../core/ownership.ts";
import { controllerLedger } from "../host/ownership/controller-ledger.ts";
import { datastoreLedger } from "../host/ownership/datastore-ledger.ts";
import type { OwnershipLedger } from "../host/ownership/ledger.ts";
import { tlsFetch } from "../pki/tls-fetch.ts";
import { serve, type HttpBindings, type ServerType } from "@hono/node-server";
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { createServer as createHttpsServer } from "node:https";
import { callerRole, mayCall, type AgentTls } from "../pki/agent-tls.ts";
import type { Clock } from "../core/clock.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import type { Host } from "../core/inventory/schema.ts";
import { GuestCheckState, IncomingState, type HypervisorDriver } from "../drivers/driver.ts";
import type { Accelerator } from "../drivers/qemu/command-line.ts";
import { createQemuDriver, probeAccelerator, type QemuDriver, type QemuDriverOptions, type QemuHostDescription } from "../drivers/qemu/driver.ts";
import { createSimDriver } from "../drivers/sim/driver.ts";
import type { SimFaults } from "../drivers/sim/faults.ts";
import { z } from "zod";
import { createAgent, type AgentLog, type DestinationBook, type FaultControl, type HostControl, type IncomingDetails } from "./app.ts";
import { observedFacts, openRealHost, type RealHost, type RealHostConfig } from "./real-host.ts";
import { createDestinationDirectory, type DestinationDirectory } from "./destinations.ts";

export const AgentDriverKind = { sim: "sim", qemu: "qemu" } as const;
export type AgentDriverKind = (typeof AgentDriverKind)[keyof typeof AgentDriverKind];

/** What the qemu driver needs from the agent's config. */
export interface AgentQemuConfig {
  /** The guest's ELF vmlinux and initramfs (scripts/build-guest.sh), on a datastore every host mounts. */
  readonly kernel: string;
  readonly initrd: string;
  /** Prefix length of the guests' VM-network addresses (the lab: 16). */
  readonly prefixLength: number;
  /** Where QMP sockets and serial logs go; default a fresh temp directory. */
  readonly runDir?: string | undefined;
  readonly binary?: string | undefined;
  /** The guest CPU's baseline model (default Nehalem); each VM's features come with its spec. */
  readonly cpuModel?: string | undefined;
  /** "auto" (default) probes KVM once at start and falls back to TCG. */
  readonly accelerator?: Accelerator | "auto" | undefined;
  /** multifd channels to listen with, forcing the driver's choice (tuning.ts); 0: one stream. */
  readonly multifdChannels?: number | undefined;
}

export interface AgentConfig {
  readonly name: string;
  /**
   * The host as an inventory describes it (sim hosts, and qemu hosts in tests that declare
   * their facts). Absent with `observe`: a real host whose facts are read from it.
   */
  readonly host?: Host | undefined;
  /** A real host (qemu driver): facts observed, network changed through the Linux backend. */
  readonly observe?: RealHostConfig | undefined;
  /** The VMotion VMkernel port's IP, where incoming migrations listen (the lab: 127.0.1.N). */
  readonly vmotionIp: string | undefined;
  readonly listen: { readonly host: string; readonly port: number };
  /** The bearer token callers present (an agent without `tls`: tests); ignored with `tls`. */
  readonly token: string;
  /**
   * The agent's certificate from the site CA (it joined a controller): the API is HTTPS and
   * every caller presents a certificate of that CA (src/pki/agent-tls.ts says who may do what).
   */
  readonly tls?: AgentTls | undefined;
  /** The CA (PEM) the controller's certificate is checked with (default: the site CA of `tls`). */
  readonly controllerCa?: string | undefined;
  readonly driver: AgentDriverKind;
  /** Serve POST /v1/faults (test and lab agents only). */
  readonly faults: boolean;
  /** The sim's VMotion link rate in bytes/s; default: as fast as loopback goes. */
  readonly vmotionLinkBytesPerSec?: number | undefined;
  /** Required with driver qemu. */
  readonly qemu?: AgentQemuConfig | undefined;
  readonly clock: Clock;
  readonly log?: AgentLog | undefined;
}

export interface RunningAgent {
  readonly name: string;
  /** The API's base URL, with the port actually chosen. */
  readonly api: string;
  readonly vmotionIp: string | undefined;
  readonly driver: AgentDriverKind;
  /** The qemu driver's accelerator after the probe; undefined for sim. */
  readonly accelerator: Accelerator | undefined;
  close(): Promise<void>;
}

/** The driver and what the app gets from it besides. */
interface DriverParts {
  readonly driver: HypervisorDriver;
  readonly faults: FaultControl | undefined;
  readonly incomingDetails: ((migrationId: string) => Promise<IncomingDetails>) | undefined;
  readonly accelerator: Accelerator | undefined;
  /** A real host's observed facts and network. */
  readonly host: HostControl | undefined;
  /** The host's VMotion IP at start. */
  readonly vmotionIp: string | undefined;
  /** Where the driver learns each outgoing migration's destination agent (qemu). */
  readonly destinations: DestinationBook | undefined;
  /** A datastore's mount path on this host, by its name (real hosts: where VMs' ownership records live). */
  readonly datastorePath?: ((name: string) => string | undefined) | undefined;
}

/**
 * Opens the ownership ledger a migration names: a datastore this host mounts (the record
 * beside the VM's files), or the controller's store over HTTPS with the site CA.
 */
function ledgerOpener(config: AgentConfig, parts: DriverParts): (ref: LedgerRef) => OwnershipLedger {
  const ca = config.controllerCa ?? config.tls?.ca;
  const fetch = ca === undefined ? undefined : tlsFetch({ ca, ...(config.tls === undefined ? {} : { certificate: config.tls.certificate, key: config.tls.key }) });
  return (ref) => {
    if (ref.kind === "controller") return controllerLedger([ref.url, ...(ref.alternates ?? [])], ref.capability, fetch === undefined ? {} : { fetch });
    const path = parts.datastorePath?.(ref.datastoreName);
    if (path === undefined) throw new FerryError(ErrorCode.refused, `${config.name} does not mount datastore ${ref.datastoreName}, where the VM's ownership record is kept`, { details: { datastore: ref.datastoreName } });
    return datastoreLedger(path, ref.datastoreName, () => clockNow(config));
  };
}

function clockNow(config: AgentConfig): number {
  return config.clock.now();
}

/** Facts older than this are observed again when asked for. */
const FACTS_MAX_AGE_MS = 5000;

function hostControl(real: RealHost, clock: Clock): HostControl {
  let observedAt = clock.monotonic();
  return {
    async refresh(force) {
      if (!force && clock.monotonic() - observedAt < FACTS_MAX_AGE_MS) return;
      await real.observe();
      observedAt = clock.monotonic();
    },
    extras: () => real.extras(),
    async apply(ops) {
      const applied = await real.apply(ops);
      observedAt = clock.monotonic();
      return applied;
    },
    vmotion: () => real.vmotion(),
  };
}


/** The qemu driver over a host description, with the destinations the controller named. */
function qemuDriverOver(config: AgentConfig, qemu: AgentQemuConfig, accelerator: Accelerator, host: QemuHostDescription, destinations: DestinationDirectory, extra: Partial<Pick<QemuDriverOptions, "network" | "datastorePath">>): QemuDriver {
  const boot = { kernel: qemu.kernel, initrd: qemu.initrd, prefixLength: qemu.prefixLength };
  return createQemuDriver({
    host,
    boot,
    cpu: { vendor: host.cpu.vendor, model: qemu.cpuModel ?? "Nehalem" },
    accelerator,
    ...(extra.network === undefined ? {} : { network: extra.network }),
    ...(extra.datastorePath === undefined ? {} : { datastorePath: extra.datastorePath }),
    // A datastore that refuses O_DIRECT runs its disks cached: the administrator must know.
    onStorageWarning: (message: string) => {
      config.log?.("warn", message, { host: host.name });
    },
    onVmExit: (exit) => {
      config.log?.("warn", `the QEMU of ${exit.vm} ended by itself (code ${String(exit.code)}, signal ${String(exit.signal)}${exit.shutdown === undefined ? "" : `, ${exit.shutdown}`})${exit.reason === undefined ? "" : `: ${exit.reason}`}`, { host: host.name, vm: exit.vm, console: exit.console });
    },
    ...(qemu.runDir === undefined ? {} : { runDir: qemu.runDir }),
    ...(qemu.binary === undefined ? {} : { binary: qemu.binary }),
    ...(qemu.multifdChannels === undefined ? {} : { multifdChannels: qemu.multifdChannels }),
    clock: config.clock,
    // The source asks the destination's agent (QEMU's stream carries nothing back).
    destinationReason: async (target) => (await destinations.incoming(target))?.reason,
    destinationState: async (target) => (await destinations.incoming(target))?.state ?? IncomingState.unknown,
    destinationGuest: async (target) => (await destinations.incoming(target))?.guest ?? { state: GuestCheckState.pending, message: `no answer yet from the destination of migration ${target.migrationId}` },
    destinationName: (target) => destinations.nameOf(target),
    destinationPostcopyBlocktime: async (target) => (await destinations.incoming(target))?.postcopyBlocktimeMs,
  });
}

async function qemuParts(config: AgentConfig): Promise<DriverParts> {
  const { clock } = config;
  const qemu = config.qemu;
  if (qemu === undefined) throw new FerryError(ErrorCode.usage, `the qemu driver needs its settings (qemu: in the agent's config)`);
  const boot = { kernel: qemu.kernel, initrd: qemu.initrd, prefixLength: qemu.prefixLength };
  const binary = qemu.binary === undefined ? {} : { binary: qemu.binary };
  // /dev/kvm existing proves nothing on these machines (QEMU-NOTES): probe once, here.
  const accelerator = qemu.accelerator === undefined || qemu.accelerator === "auto" ? await probeAccelerator({ boot, clock, ...binary }) : qemu.accelerator;
  // The driver puts QMP sockets and serial logs there and expects it to exist.
  if (qemu.runDir !== undefined) await mkdir(qemu.runDir, { recursive: true, mode: 0o700 });
  // The controller names each migration's destination agent and hands its state token.
  const destinations = createDestinationDirectory({ tls: config.tls });
  const incomingDetailsOf = (driver: QemuDriver) => async (migrationId: string): Promise<IncomingDetails> => ({ reason: driver.incomingFailure(migrationId), guest: await driver.guestCheck(migrationId), postcopyBlocktimeMs: driver.incomingPostcopyBlocktime(migrationId) });

  if (config.observe !== undefined) {
    const real = await openRealHost(config.observe, accelerator, qemu.binary);
    const host = real.host();
    const vmotion = real.vmotion();
    const driver = qemuDriverOver(config, qemu, accelerator, { ...host, vmotionIp: vmotion.ip }, destinations, { network: real.network, datastorePath: (name: string) => real.datastorePath(name) });
    // The driver knows its VMs' memory; everything else about the host is observed.
    const observedDriver: QemuDriver = { ...driver, facts: async () => observedFacts(real, (await driver.facts()).freeMemoryMB) };
    return { driver: observedDriver, faults: undefined, incomingDetails: incomingDetailsOf(driver), accelerator, host: hostControl(real, clock), vmotionIp: vmotion.ip, destinations, datastorePath: (name) => real.datastorePath(name) };
  }

  const host = config.host;
  if (host === undefined) throw new FerryError(ErrorCode.usage, `the agent of ${config.name} needs its host: declared (inventory or host:) or observed (datastores:, network:)`);
  // A declared qemu host (tests) has no network of its own: VMs with NICs are refused.
  const driver = qemuDriverOver(config, qemu, accelerator, { name: host.name, cpu: host.cpu, memoryMB: host.memoryMB, nics: host.nics, vswitches: host.vswitches, datastores: host.datastores, vmotionIp: config.vmotionIp }, destinations, {});
  return { driver, faults: undefined, incomingDetails: incomingDetailsOf(driver), accelerator, host: undefined, vmotionIp: config.vmotionIp, destinations };
}

function simParts(config: AgentConfig): DriverParts {
  const { host, clock } = config;
  if (host === undefined) throw new FerryError(ErrorCode.usage, `the sim driver takes its host from an inventory or a host: entry (${config.name} has neither)`);
  const driver = createSimDriver({
    host: {
      name: host.name,
      cpu: host.cpu,
      memoryMB: host.memoryMB,
      nics: host.nics,
      vswitches: host.vswitches,
      datastores: host.datastores,
      vmotionIp: config.vmotionIp,
      vmotionLinkBytesPerSec: config.vmotionLinkBytesPerSec,
    },
    clock,
  });
  return {
    driver,
    faults: config.faults ? { setFaults: (rules) => { driver.setFaults(simFaultsFrom(rules)); } } : undefined,
    incomingDetails: undefined,
    accelerator: undefined,
    host: undefined,
    vmotionIp: config.vmotionIp,
    destinations: undefined,
  };
}

/** The sim's fault rules as the API accepts them: known fields only, each of its type. */
const SimFaultsSchema = z
  .object({
    cutStreamAfterBytes: z.number().int().nonnegative(),
    stallAfterBytes: z.number().int().nonnegative(),
    delayBeforeReadyMs: z.number().nonnegative(),
    holdAfterCommitMs: z.number().nonnegative(),
    holdBeforeClaimMs: z.number().nonnegative(),
    dropAfterCommit: z.enum(["running", "not-running"]),
    failPrepare: z.enum(["out-of-memory"]),
    corruptMemory: z.boolean(),
    refuseCreate: z.boolean(),
  })
  .partial()
  .strict();

/** Merges a list of rules (later ones win) into the sim's fault set; an unknown rule is INVALID_INPUT. */
export function simFaultsFrom(rules: readonly Record<string, unknown>[]): SimFaults {
  const parsed = SimFaultsSchema.safeParse(Object.assign({}, ...rules));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FerryError(ErrorCode.invalidInput, `invalid fault rule: ${issue === undefined ? "" : `${issue.path.map(String).join(".") || "(rule)"}: ${issue.message}`}`, { details: { issues: parsed.error.issues } });
  }
  return parsed.data;
}

type AppFetch = (request: Request, env: HttpBindings) => unknown;

/**
 * The API behind mutual TLS: the handshake already refused callers without a certificate of
 * the site CA; here the certificate's role decides what it may call, and the app's own bearer
 * check is handed the process's internal token.
 */
function mutualTlsGate(fetch: AppFetch, internalToken: string): AppFetch {
  return (request, env) => {
    const role = callerRole(env.incoming);
    if (!mayCall(role, request.method, new URL(request.url).pathname)) {
      return Response.json({ code: ErrorCode.forbidden, message: role === undefined ? "this agent answers only callers with a certificate of its site's CA" : `a ${role} certificate may not call ${request.method} ${new URL(request.url).pathname}`, details: null }, { status: 403 });
    }
    const headers = new Headers(request.headers);
    headers.set("authorization", `Bearer ${internalToken}`);
    return fetch(new Request(request, { headers }), env);
  };
}

export async function startAgent(config: AgentConfig): Promise<RunningAgent> {
  const { clock } = config;
  let parts: DriverParts;
  switch (config.driver) {
    case AgentDriverKind.sim:
      parts = simParts(config);
      break;
    case AgentDriverKind.qemu:
      parts = await qemuParts(config);
      break;
  }
  const { driver } = parts;
  // With TLS the caller's certificate is its credential; the app's bearer check gets a secret of this process's.
  const internalToken = config.tls === undefined ? config.token : randomBytes(32).toString("base64url");
  const agent = createAgent({
    driver,
    token: internalToken,
    clock,
    hostName: config.name,
    vmotionIp: parts.vmotionIp,
    host: parts.host,
    destinations: parts.destinations,
    log: config.log,
    faults: parts.faults,
    incomingDetails: parts.incomingDetails,
    ledgerFor: ledgerOpener(config, parts),
  });

  let server: ServerType;
  try {
    server = await new Promise<ServerType>((resolve, reject) => {
      const listen = { hostname: config.listen.host, port: config.listen.port };
      const tls = config.tls;
      const s =
        tls === undefined
          ? serve({ fetch: agent.app.fetch, ...listen }, () => {
              resolve(s);
            })
          : serve({ fetch: mutualTlsGate(agent.app.fetch, internalToken) as (request: Request, env: unknown) => unknown, ...listen, createServer: createHttpsServer, serverOptions: { key: tls.key, cert: tls.certificate, ca: tls.ca, requestCert: true, rejectUnauthorized: true } }, () => {
              resolve(s);
            });
      s.once("error", (error: NodeJS.ErrnoException) => {
        const why = error.code === "EADDRINUSE" ? "the port is in use" : error.code === "EADDRNOTAVAIL" ? "no such address on this machine" : error.message;
        reject(new FerryError(error.code === "EADDRINUSE" ? ErrorCode.conflict : ErrorCode.io, `cannot listen on ${config.listen.host}:${config.listen.port}: ${why}`, { cause: error }));
      });
    });
  } catch (error) {
    await driver.close();
    throw error;
  }
  // Clients (undici) drop an idle keep-alive connection after 4 s; a server that closes it
  // first, at Node's 5 s, races a request sent on it at that moment ("other side closed",
  // seen under load). Let the client always be the one to close.
  if ("keepAliveTimeout" in server) server.keepAliveTimeout = 65_000;
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : config.listen.port;
  let closing: Promise<void> | undefined;
  return {
    name: config.name,
    api: `${config.tls === undefined ? "http" : "https"}://${config.listen.host.includes(":") ? `[${config.listen.host}]` : config.listen.host}:${port}`,
    vmotionIp: parts.vmotionIp,
    driver: config.driver,
    accelerator: parts.accelerator,
    close() {
      closing ??= (async () => {
        await agent.shutdown();
        await driver.close();
        await new Promise<void>((resolve) => {
          // Open migration streams end with the driver; idle keep-alive connections need a push.
          if ("closeAllConnections" in server) server.closeAllConnections();
          server.close(() => {
            resolve();
          });
        });
      })();
      return closing;
    },
  };
}
