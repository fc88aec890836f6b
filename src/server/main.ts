// The controller as a running server: the composition root that picks the store (SQLite in
// a data directory by default, PostgreSQL when given a URL), opens the inventory, makes sure
// an admin token exists, and serves the API over HTTP.
import { createAdaptorServer, serve, type ServerType } from "@hono/node-server";
import { createServer as createHttpsServer } from "node:https";
import { chmodSync, readFileSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import { join } from "node:path";
import type { Clock } from "../core/clock.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import type { Inventory } from "../core/inventory/schema.ts";
import type { CertificateAuthority } from "../pki/ca.ts";
import { controllerTls, type ControllerTls } from "../pki/controller-tls.ts";
import { privateDir, tightenFiles, withPrivateUmask, writePrivateFile } from "../pki/files.ts";
import { openSqliteStore } from "../store/sqlite.ts";
import type { Store } from "../store/store.ts";
import { createToken, hashToken, Role } from "./auth.ts";
import { createControllerApp, serveOpenApi, type ControllerApp } from "./app.ts";
import { EventHub, type EventRetention } from "./events.ts";
import { agentHostNetwork } from "./host-network.ts";
import { InventoryService } from "./inventory-service.ts";
import { AgentDirectory, MigrationService, type Log } from "./migrations.ts";
import { registerHostRoutes } from "./routes-hosts.ts";
import { registerAgentRoutes } from "./routes-agents.ts";
import { registerMigrationRoutes } from "./routes-migrations.ts";
import { registerVmRoutes } from "./routes-vms.ts";
import { registerPowerRoutes } from "./routes-power.ts";
import { registerPreviewRoutes } from "./routes-preview.ts";
import { DrsService } from "./drs.ts";
import { MaintenanceMode } from "./drs-maintenance.ts";
import { registerDrsRoutes } from "./routes-drs.ts";
import { registerLivenessRoutes } from "./routes-liveness.ts";
import { Liveness, type LivenessOptions } from "./liveness.ts";
import { UsageSampler, usageFor, type UsageSamplerOptions } from "./usage.ts";
import { registerUsageRoutes } from "./routes-usage.ts";
import { LEDGER_BASE, ledgerRoutes } from "./ownership.ts";
import { ClaimsCache } from "./claims.ts";
import { TaskLeases } from "./task-leases.ts";
import { lockSqliteStore, type StoreLock } from "../store/sqlite-lock.ts";

export interface ControllerConfig {
  /** SQLite: the directory holding ferry.db (and the admin token file). */
  readonly dataDir: string;
  /** PostgreSQL instead of SQLite. */
  readonly postgresUrl?: string | undefined;
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
  /** Imported when the store has no inventory yet. */
  readonly initialInventory?: Inventory | undefined;
  /**
   * Also serve the API on this unix socket (mode 0600: the local admin's door, e.g. into a
   * controller that listens only on a management network).
   */
  readonly socketPath?: string | undefined;
  /** A server certificate and key (PEM files) instead of one from the built-in CA. */
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: string | undefined;
  readonly clock: Clock;
  readonly log?: Log | undefined;
  /** Heartbeats to the agents: interval, timeout, missed beats (defaults: 10 s, 3 s, 3). */
  readonly liveness?: LivenessOptions | undefined;
  /** Usage sampling of the agents (DRS demand): interval and history (defaults: 20 s, 180 samples). */
  readonly usage?: UsageSamplerOptions | undefined;
  /** Between two DRS runs of fully automated clusters (default 5 minutes). */
  readonly drsIntervalMs?: number | undefined;
  /** How long this controller's hold on its tasks lasts without renewal (default 30 s): another controller on the same PostgreSQL takes them over after it. */
  readonly leaseMs?: number | undefined;
  /** How long and how many task events are kept (defaults: 7 days, 1,000,000; pruned every 10 minutes). */
  readonly eventRetention?: Partial<EventRetention> | undefined;
}

export interface ControllerParts {
  readonly store: Store;
  readonly inventory: InventoryService;
  readonly events: EventHub;
  readonly agents: AgentDirectory;
  readonly migrations: MigrationService;
  /** The VMs open migrations hold (the store's claims, cached). */
  readonly claims: ClaimsCache;
  /** Whether hosts answer their heartbeats; started by startController. */
  readonly liveness: Liveness;
  /** What hosts and VMs use, sampled from the agents (in memory, an hour); started by startController. */
  readonly usage: UsageSampler;
  /** DRS: recommendations, the automation loop (started by startController), initial placement. */
  readonly drs: DrsService;
  /** Maintenance mode: host evacuation by live migration. */
  readonly maintenance: MaintenanceMode;
  /** The site CA that issues agents' certificates when they join; undefined without TLS (in-process tests). */
  readonly ca?: CertificateAuthority | undefined;
  readonly log?: Log | undefined;
}

/** Every route of the controller on one app, and the OpenAPI document built from them. */
export function buildControllerApp(parts: ControllerParts, clock: Clock): ControllerApp {
  const hostNetwork = agentHostNetwork((host) => parts.agents.get(host), parts.inventory);
  const app = createControllerApp({ store: parts.store, inventory: parts.inventory, events: parts.events, clock, hostNetwork, liveness: parts.liveness, log: parts.log, maintenance: parts.maintenance, controllerId: parts.migrations.controllerId });
  registerMigrationRoutes(app, parts);
  registerAgentRoutes(app, { store: parts.store, inventory: parts.inventory, agents: parts.agents, ca: parts.ca, now: () => clock.now(), log: parts.log });
  registerHostRoutes(app, { inventory: parts.inventory, agents: parts.agents, hostNetwork });
  registerVmRoutes(app, parts);
  registerPreviewRoutes(app, parts);
  registerLivenessRoutes(app, parts);
  registerPowerRoutes(app, parts);
  registerUsageRoutes(app, parts);
  registerDrsRoutes(app, parts);
  // Agents claim VMs' ownership records here, with a capability per migration (no API token).
  app.route(LEDGER_BASE, ledgerRoutes(parts.migrations.ledger, parts.log));
  serveOpenApi(app);
  return app;
}

/** The controller's parts over an open store; `reconcile` settles tasks a previous run left open. */
export async function assembleController(store: Store, clock: Clock, log?: Log, tls?: ControllerTls, livenessOptions?: LivenessOptions, leaseMs?: number, eventRetention?: Partial<EventRetention>, usageOptions?: UsageSamplerOptions, drsIntervalMs?: number): Promise<ControllerParts> {
  const claims = new ClaimsCache(store);
  await claims.refresh();
  const leases = new TaskLeases({ store, clock, claims, log }, { leaseMs, exclusive: store.dialect === "sqlite" });
  // The checker reads the hosts' liveness at every check; the service comes after the agents.
  const late: { liveness?: Liveness } = {};
  const inventory = await InventoryService.open(store, { liveness: { notResponding: (host) => late.liveness?.notResponding(host) === true }, claims });
  const events = new EventHub(store, { clock, log, retention: eventRetention });
  const agents = new AgentDirectory(store, tls === undefined ? undefined : { ca: tls.ca.certificate, certificate: tls.client.certificate, key: tls.client.key });
  await agents.load();
  const migrations = new MigrationService({ store, inventory, events, agents, clock, log, claims, leases });
  const liveness = new Liveness({ ...livenessOptions, agents, inventory, events, clock, log });
  late.liveness = liveness;
  const usage = new UsageSampler({ ...usageOptions, agents, clock, log });
  // DRS reads the sampler's latest fresh demand; a VM without one counts its fallback (drs-input.ts).
  const demand = (cluster: string) => usageFor(usage, inventory.current.inventory, cluster).vms;
  const drs = new DrsService({ store, inventory, agents, migrations, claims, clock, log, demand, intervalMs: drsIntervalMs, historyIntervalMs: usage.intervalMs, historyPoints: usage.historySamples });
  const maintenance = new MaintenanceMode({ store, inventory, drs, clock, log });
  return { store, inventory, events, agents, migrations, claims, liveness, usage, drs, maintenance, ca: tls?.ca, log };
}

export interface RunningController extends ControllerParts {
  readonly url: string;
  /** The admin token: created on first start and kept (mode 0600) in the data directory. */
  readonly adminToken: string;
  /** The CA, the server's and the client's certificates (the API is HTTPS). */
  readonly tls: ControllerTls;
  readonly app: ControllerApp;
  close(): Promise<void>;
}

/** The admin token lives in a file only its owner can read; its hash is in the store. */
async function ensureAdminToken(store: Store, dataDir: string, now: number): Promise<string> {
  const file = join(dataDir, "admin.token");
  try {
    const secret = readFileSync(file, "utf8").trim();
    if (secret.length > 0 && (await store.findTokenByHash(hashToken(secret))) !== undefined) return secret;
  } catch {
    // none yet
  }
  const name = (await store.listTokens()).some((t) => t.name === "admin") ? `admin-${now}` : "admin";
  const { secret } = await createToken(store, name, Role.admin, now);
  writePrivateFile(file, `${secret}\n`);
  return secret;
}

/** The API on a unix socket only its owner may open. */
async function listenOnSocket(app: ControllerApp, path: string): Promise<Server> {
  rmSync(path, { force: true });
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      reject(new FerryError(ErrorCode.io, `cannot listen on the socket ${path}: ${error.message}`, { cause: error }));
    });
    // The socket is created with the umask's mode; tighten it before anyone is told of it.
    server.listen(path, () => {
      chmodSync(path, 0o600);
      resolve();
    });
  });
  return server;
}

export async function startController(config: ControllerConfig): Promise<RunningController> {
  // The data directory holds the store, the admin token and the CA's key: 0700, its files 0600.
  privateDir(config.dataDir);
  tightenFiles(config.dataDir);
  // SQLite serves one controller: a second one on the same file is refused before it opens it.
  const lock: StoreLock | undefined = config.postgresUrl === undefined ? withPrivateUmask(() => lockSqliteStore(join(config.dataDir, "ferry.db"))) : undefined;
  // PostgreSQL's client is loaded only for a controller that uses it.
  const store = config.postgresUrl === undefined ? withPrivateUmask(() => openSqliteStore(join(config.dataDir, "ferry.db"), () => config.clock.now())) : (await import("../store/postgres.ts")).openPostgresStore(config.postgresUrl, () => config.clock.now(), config.log);
  const closeStore = async (): Promise<void> => {
    await store.close().catch(() => undefined);
    lock?.release();
  };
  try {
    await store.migrateToLatest();
    // SQLite has one controller (the lock above): operations still running were this file's
    // last controller's, which stopped before it answered them. PostgreSQL's may be another
    // controller's, running now: left alone.
    if (config.postgresUrl === undefined) await store.failStaleOperations(config.clock.now(), config.clock.now(), "the controller stopped before it answered");
  } catch (error) {
    await closeStore();
    throw error;
  }
  let tls: ControllerTls;
  try {
    // The CA is made on the first start (`ferry ca init` does it ahead); the API is HTTPS only.
    tls = await controllerTls(config.dataDir, { listenHost: config.host, certFile: config.tlsCert, keyFile: config.tlsKey });
  } catch (error) {
    await closeStore();
    throw error;
  }
  const parts = await assembleController(store, config.clock, config.log, tls, config.liveness, config.leaseMs, config.eventRetention, config.usage, config.drsIntervalMs);
  // Other controllers' events (PostgreSQL's LISTEN) reach this one's streams; old events are pruned.
  await parts.events.start({ prune: true });
  const { inventory, events, agents, migrations } = parts;
  if (config.initialInventory !== undefined && inventory.current.inventory.hosts.length === 0) await inventory.replace(config.initialInventory);
  const adminToken = await ensureAdminToken(store, config.dataDir, config.clock.now());
  const app = buildControllerApp(parts, config.clock);

  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: config.host, port: config.port, createServer: createHttpsServer, serverOptions: { key: tls.server.key, cert: tls.server.certificate } }, () => {
      resolve(s);
    });
    s.once("error", (error: NodeJS.ErrnoException) => {
      reject(new FerryError(error.code === "EADDRINUSE" ? ErrorCode.conflict : ErrorCode.io, `cannot listen on ${config.host}:${config.port}: ${error.code === "EADDRINUSE" ? "the port is in use" : error.message}`, { cause: error }));
    });
  });
  const local = config.socketPath === undefined ? undefined : await listenOnSocket(app, config.socketPath);
  // Clients (undici) drop an idle keep-alive connection after 4 s; a server that closes it
  // first, at Node's 5 s, races a request sent on it at that moment ("other side closed",
  // seen under load). Let the client always be the one to close.
  if ("keepAliveTimeout" in server) server.keepAliveTimeout = 65_000;
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : config.port;
  const url = `https://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  migrations.setLedgerUrl(url);
  // Tasks no live controller holds (a previous run's, or a dead peer's) are settled with the
  // agents in the background; this controller's lease starts here.
  await migrations.reconcile(url);
  // Heartbeats start with the API: the first round reconciles every host known at start.
  parts.liveness.start();
  parts.usage.start();
  // Fully automated clusters are balanced every drsIntervalMs (5 minutes); every cluster's σ is recorded every usage interval.
  parts.drs.start();
  return {
    url,
    adminToken,
    tls,
    app,
    store,
    inventory,
    events,
    agents,
    migrations,
    claims: parts.claims,
    liveness: parts.liveness,
    usage: parts.usage,
    drs: parts.drs,
    maintenance: parts.maintenance,
    async close() {
      await parts.liveness.stop();
      await parts.drs.stop();
      await parts.usage.stop();
      if (local !== undefined) {
        local.closeAllConnections();
        await new Promise<void>((resolve) => local.close(() => { resolve(); }));
      }
      await new Promise<void>((resolve) => {
        // SSE streams stay open until their clients go; close them rather than wait.
        if ("closeAllConnections" in server) server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      });
      await migrations.drain();
      await parts.events.close();
      await closeStore();
    },
  };
}
