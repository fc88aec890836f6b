// `ferry controller`: runs the controller (Ferry's VirtualCenter) in the foreground until
// Ctrl-C. `ferry up` runs it together with a lab of simulated hosts.
import type { Command } from "@commander-js/extra-typings";
import { dirname, join } from "node:path";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import type { Inventory } from "../../core/inventory/schema.ts";
import { systemClock } from "../../drivers/clock.ts";
import { startController, type RunningController } from "../../server/main.ts";
import { privateDir, writePrivateFile } from "../../pki/files.ts";
import { controllerFile, ferryHome, savedCaFile } from "../controller.ts";
import { loadInventoryFile } from "../inventory-file.ts";
import { ExitStatus, type CliIo } from "../io.ts";
import type { SetStatus } from "./index.ts";

/** Log lines as JSON on stderr; never a token (none is ever passed in). */
export const jsonLog = (level: "info" | "warn" | "error", message: string, fields?: Readonly<Record<string, unknown>>): void => {
  process.stderr.write(`${JSON.stringify({ at: new Date().toISOString(), level, message, ...fields })}\n`);
};

export function parseListen(text: string): { host: string; port: number } {
  const match = /^([^:]+):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (match?.[1] === undefined || !Number.isInteger(port) || port > 65535) throw new FerryError(ErrorCode.usage, `--listen takes HOST:PORT, like 127.0.0.1:8080 (port 0 picks a free one), got "${text}"`);
  return { host: match[1], port };
}

/**
 * Saves where the controller is, so `ferry hosts`, `ferry migrate`... find it (mode 0600: it
 * holds a token), and the CA its certificate is checked with beside it (ca.crt), unless the
 * operator brought a certificate the system trusts (`ca` undefined).
 */
export function saveControllerAddress(url: string, token: string, ca: string | undefined): string {
  const file = controllerFile();
  privateDir(dirname(file));
  if (ca !== undefined) writePrivateFile(savedCaFile(), ca);
  writePrivateFile(file, `${JSON.stringify({ url, token, ...(ca === undefined ? {} : { ca: savedCaFile() }) })}\n`);
  return file;
}

/** Waits for SIGINT/SIGTERM, then stops `stop` once; resolves when stopped. */
export function untilSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (): void => {
      if (stopping) return;
      stopping = true;
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      void stop().finally(resolve);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

export interface ControllerCommandOptions {
  readonly dataDir?: string | undefined;
  readonly postgres?: string | undefined;
  readonly listen: string;
  readonly inventory?: string | undefined;
  readonly save: boolean;
  readonly socket?: string | undefined;
  /** Milliseconds between heartbeats to the agents, and how long one may take. */
  readonly heartbeat?: string | undefined;
  readonly heartbeatTimeout?: string | undefined;
  /** Milliseconds between usage samples of the agents (DRS demand). */
  readonly usageInterval?: string | undefined;
  /** Milliseconds between DRS runs of fully automated clusters. */
  readonly drsInterval?: string | undefined;
  /** Milliseconds this controller's hold on its tasks lasts without renewal. */
  readonly lease?: string | undefined;
  /** A certificate and key (PEM files) to serve instead of one from the built-in CA. */
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: string | undefined;
  /** Task events kept: days, and how many (the controller prunes older and more). */
  readonly eventsMaxAge?: string | undefined;
  readonly eventsMaxCount?: string | undefined;
}

/** `--events-max-age DAYS` and `--events-max-count N` as the controller's event retention. */
export function eventRetentionOf(opts: { readonly eventsMaxAge?: string | undefined; readonly eventsMaxCount?: string | undefined }): { maxAgeMs?: number; maxCount?: number } {
  const out: { maxAgeMs?: number; maxCount?: number } = {};
  if (opts.eventsMaxAge !== undefined) {
    const days = Number(opts.eventsMaxAge);
    if (!/^\d+(\.\d+)?$/.test(opts.eventsMaxAge) || days <= 0 || days > 3650) throw new FerryError(ErrorCode.usage, `--events-max-age takes days from 0.001 to 3650, like 7 or 0.5, got "${opts.eventsMaxAge}"`);
    out.maxAgeMs = Math.round(days * 86_400_000);
  }
  if (opts.eventsMaxCount !== undefined) {
    const count = Number(opts.eventsMaxCount);
    if (!/^\d+$/.test(opts.eventsMaxCount) || count < 1 || count > 1_000_000_000) throw new FerryError(ErrorCode.usage, `--events-max-count takes a whole number from 1 to 1000000000, got "${opts.eventsMaxCount}"`);
    out.maxCount = count;
  }
  return out;
}

function milliseconds(text: string | undefined, option: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms < 50 || ms > 3_600_000) throw new FerryError(ErrorCode.usage, `${option} takes milliseconds from 50 to 3600000, got "${text}"`);
  return ms;
}

export const defaultDataDir = (): string => join(ferryHome(), "data");

export async function startControllerFromOptions(opts: ControllerCommandOptions, io: CliIo): Promise<RunningController> {
  const { host, port } = parseListen(opts.listen);
  let initialInventory: Inventory | undefined;
  if (opts.inventory !== undefined) initialInventory = await loadInventoryFile(opts.inventory, io);
  return startController({ dataDir: opts.dataDir ?? defaultDataDir(), postgresUrl: opts.postgres, host, port, initialInventory, socketPath: opts.socket, tlsCert: opts.tlsCert, tlsKey: opts.tlsKey, clock: systemClock, log: jsonLog, liveness: { intervalMs: milliseconds(opts.heartbeat, "--heartbeat"), timeoutMs: milliseconds(opts.heartbeatTimeout, "--heartbeat-timeout") }, leaseMs: milliseconds(opts.lease, "--lease"), eventRetention: eventRetentionOf(opts), usage: { intervalMs: milliseconds(opts.usageInterval, "--usage-interval") }, drsIntervalMs: milliseconds(opts.drsInterval, "--drs-interval") });
}

export function registerControllerCommand(program: Command, io: CliIo, setStatus: SetStatus): void {
  program
    .command("controller")
    .description("run the controller: the REST API, tasks and events, on SQLite (default) or PostgreSQL")
    .option("--data-dir <dir>", "where the SQLite store and the admin token live (default ~/.ferry/data)")
    .option("--postgres <url>", "use PostgreSQL at this URL instead of SQLite")
    .option("--listen <host:port>", "address of the API", "127.0.0.1:8080")
    .option("-i, --inventory <file>", "import this inventory when the store has none yet")
    .option("--no-save", "do not save the address and admin token for other `ferry` commands")
    .option("--socket <path>", "also serve the API on this unix socket (mode 0600)")
    .option("--tls-cert <file>", "serve this certificate (PEM) instead of one from the built-in CA (with --tls-key)")
    .option("--tls-key <file>", "the private key (PEM) of --tls-cert")
    .option("--heartbeat <ms>", "milliseconds between heartbeats to the agents (default 10000); a host that misses 3 is not responding")
    .option("--heartbeat-timeout <ms>", "how long one heartbeat may take (default 3000, at most the interval)")
    .option("--usage-interval <ms>", "milliseconds between usage samples of the agents (default 20000); an hour of them is kept in memory")
    .option("--drs-interval <ms>", "milliseconds between DRS runs of fully automated clusters (default 300000)")
    .option("--events-max-age <days>", "keep task events this many days (default 7); older ones are pruned, never those of a running migration")
    .option("--events-max-count <n>", "keep at most this many task events (default 1000000)")
    .option("--lease <ms>", "how long this controller holds its tasks without renewing (default 30000); on PostgreSQL another controller takes them over after it")
    .action(async (opts) => {
      const controller = await startControllerFromOptions(opts, io);
      const saved = opts.save ? saveControllerAddress(controller.url, controller.adminToken, controller.tls.serverCa) : undefined;
      // One JSON line a parent process can wait for; the token is in the saved file, never printed here.
      io.out(JSON.stringify({ ready: true, api: controller.url, ca: controller.tls.caFile, store: controller.store.dialect, saved: saved ?? null, socket: opts.socket ?? null }));
      await untilSignal(() => controller.close());
      setStatus(ExitStatus.ok);
    });
}
