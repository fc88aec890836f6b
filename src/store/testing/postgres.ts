// A throwaway PostgreSQL server for tests: initdb in a private temp directory, the server
// listening on a unix socket in that directory only (no TCP port, so none can be taken by
// another process between choosing it and starting the server), stopped and removed after.
// Debian's `postgresql` package provides the binaries (scripts/setup-system.sh installs it).
// initdb refuses to run as root, so as root the cluster runs as the `postgres` user the
// package creates.
//
// The server is this process's own child, not a daemon that pg_ctl detaches into its own
// session: a test file killed by scripts/run-tests.mjs's timeout takes it down with its
// process group, and an exit without stop() stops it too.
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";

export interface ThrowawayPostgres {
  /** postgres://ferry@/postgres?host=<socket directory>: node-postgres and libpq both read it. */
  readonly url: string;
  /** The directory holding the server's socket (mode 0700: only this user, or root, connects). */
  readonly socketDir: string;
  stop(): void;
}

/** How long the server may take to accept connections (pg_ctl's own default wait). */
const READY_LIMIT_MS = 60_000;

function binDir(): string {
  const base = "/usr/lib/postgresql";
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a)) : [];
  const version = versions[0];
  if (version === undefined) throw new Error("PostgreSQL is not installed: run `bash scripts/setup-system.sh` (as root it runs apt-get install postgresql)");
  return join(base, version, "bin");
}

interface Identity {
  readonly uid: number;
  readonly gid: number;
}

/** The user the cluster runs as: `postgres` when we are root (initdb refuses root), else us. */
function clusterUser(dir: string): Identity | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string): number => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
  const user = { uid: id("-u"), gid: id("-g") };
  chownSync(dir, user.uid, user.gid);
  return user;
}

/** The server's startup status from postmaster.pid (line 8 is "ready" once it accepts connections). */
function serverReady(data: string): boolean {
  try {
    return readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[7]?.trim() === "ready";
  } catch {
    return false;
  }
}

function logTail(dir: string): string {
  try {
    return readFileSync(join(dir, "log"), "utf8").trim().split("\n").slice(-10).join("\n");
  } catch {
    return "(no log)";
  }
}

async function waitReady(child: ChildProcess, data: string, dir: string): Promise<void> {
  let exited = child.exitCode !== null || child.signalCode !== null;
  child.once("exit", () => { exited = true; });
  for (let waited = 0; !serverReady(data); waited += 25) {
    if (exited) throw new Error(`postgres exited before it accepted connections:\n${logTail(dir)}`);
    if (waited >= READY_LIMIT_MS) throw new Error(`postgres did not accept connections in ${READY_LIMIT_MS / 1000} s:\n${logTail(dir)}`);
    await delay(25);
  }
}

function startServer(bin: string, data: string, dir: string, user: Identity | undefined): ChildProcess {
  const log = openSync(join(dir, "log"), "a", 0o600);
  try {
    const args = ["-D", data, "-p", "5432", "-k", dir, "-c", "listen_addresses=", "-c", "unix_socket_permissions=0700", "-c", "fsync=off", "-c", "full_page_writes=off"];
    const child = spawn(join(bin, "postgres"), args, { cwd: dir, stdio: ["ignore", log, log], ...user });
    child.unref();
    return child;
  } finally {
    closeSync(log);
  }
}

export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), "ferry-pg-"));
  const data = join(dir, "data");
  let user: Identity | undefined;
  let child: ChildProcess | undefined;
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    process.removeListener("exit", stop);
    try {
      // Immediate shutdown, waiting until the server has removed its pid file (gone).
      if (child !== undefined && serverReady(data)) spawnSync(join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"], { cwd: dir, stdio: "ignore", ...user });
      else child?.kill("SIGKILL");
    } finally {
      rmSync(dir, { recursive: true, force: true, maxRetries: 10 });
    }
  };
  process.once("exit", stop);
  try {
    user = clusterUser(dir);
    const init = spawnSync(join(bin, "initdb"), ["-D", data, "-A", "trust", "-U", "ferry", "--no-sync", "-E", "UTF8"], { encoding: "utf8", cwd: dir, ...user });
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout || String(init.error)}`);
    child = startServer(bin, data, dir, user);
    await waitReady(child, data, dir);
  } catch (error) {
    stop();
    throw error;
  }
  return { url: `postgres://ferry@/postgres?host=${encodeURIComponent(dir)}`, socketDir: dir, stop };
}
