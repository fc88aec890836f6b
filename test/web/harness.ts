// Browser tests' setup: the web UI built, a real `ferry up` (controller on SQLite and one
// simulated host per host of examples/lab.yaml, agent processes on loopback) in a fresh
// temp dir, and Debian's Chromium driven by playwright-core with a fresh profile. One lab
// and one browser per test file; `stop()` ends the processes it started by PID and removes
// the temp dir, also when a test failed.
import { spawn, spawnSync, type ChildProcessByStdio } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { spkiHash } from "../../src/pki/ca.ts";
import { tlsFetch } from "../../src/pki/tls-fetch.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const BIN = join(ROOT, "bin/ferry.js");
export const CHROMIUM = "/usr/bin/chromium";
export const SCREENSHOTS = join(ROOT, "docs/screenshots");

// Flags that work on these machines: no sandbox (containers), no GPU, nothing that phones out.
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** Builds web/dist unless its stamp says it is up to date (scripts/build-web.mjs decides). */
export function buildWebUi(): void {
  const script = join(ROOT, "scripts/build-web.mjs");
  const result = existsSync(script)
    ? spawnSync(process.execPath, [script], { cwd: ROOT, encoding: "utf8" })
    : spawnSync(process.execPath, [join(ROOT, "node_modules/vite/bin/vite.js"), "build", "--config", join(ROOT, "web/vite.config.mjs"), "--logLevel", "error"], { cwd: ROOT, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`building the web UI failed (exit ${String(result.status)}): ${(result.stderr || result.stdout).trim().split("\n").slice(-5).join("\n")}`);
}

const API_DEADLINE_MS = 60_000;

export interface WebLab {
  /** The controller's address, e.g. https://127.0.0.1:41234 (the UI is served at /). */
  readonly url: string;
  /** Base64 SHA-256 of the server certificate's public key: the one certificate Chromium is told to accept. */
  readonly spki: string;
  readonly adminToken: string;
  /** A JSON call to the API (`/vms` → `/api/vms`), with the admin token unless another is given. */
  // The caller names the response shape it expects; its assertions check it.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  api<T>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T }>;
  /** A new token with this role (e.g. "read-only"): its secret. */
  createToken(name: string, role: "admin" | "operator" | "read-only"): Promise<string>;
  /** The last lines `ferry up` wrote to stderr, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

async function stopChild(child: ChildProcessByStdio<null, Readable, Readable>): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  // SIGTERM lets `ferry up` stop its agents; the process group (its own, by its PID) catches
  // any agent left behind if it has to be killed.
  process.kill(pid, "SIGTERM");
  const timer = setTimeout(() => {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  }, 15_000);
  await exited;
  clearTimeout(timer);
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // the group is empty: every agent stopped with it
  }
}

/** What a lab runs: examples/lab.yaml unless an inventory file, or an inventory's text (YAML or JSON, written into the lab's temp dir), is given. */
export interface WebLabOptions {
  readonly inventory?: string;
  readonly inventoryText?: string;
  /** `ferry up --usage-interval`: the hosts' usage sampled this often (default 20 s), for tests that wait for samples. */
  readonly usageIntervalMs?: number;
}

/** `ferry up` on a free loopback port with FERRY_HOME and the data dir in a fresh temp dir. */
export async function startWebLab(options: WebLabOptions = {}): Promise<WebLab> {
  buildWebUi();
  const dir = mkdtempSync(join(tmpdir(), "ferry-web-"));
  const args = [BIN, "up", "--data-dir", join(dir, "data"), "--listen", "127.0.0.1:0"];
  if (options.inventory !== undefined) args.push("-i", options.inventory);
  if (options.inventoryText !== undefined) {
    const file = join(dir, "inventory.json");
    writeFileSync(file, options.inventoryText);
    args.push("-i", file);
  }
  if (options.usageIntervalMs !== undefined) args.push("--usage-interval", String(options.usageIntervalMs));
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, FERRY_HOME: join(dir, "home") }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8000);
  });
  const cleanup = async (): Promise<void> => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  let ready: { url: string; token: string };
  try {
    ready = await new Promise<{ url: string; token: string }>((resolve, reject) => {
      let url: string | undefined;
      const timer = setTimeout(() => {
        reject(new Error(`ferry up did not print its address within 180 s (a deadline for a busy machine, not a wait): ${stderr.trim().split("\n").slice(-3).join(" | ")}`));
      }, 180_000);
      const lines = createInterface({ input: child.stdout });
      lines.on("line", (line) => {
        const api = /^\s*API:\s+(https:\/\/\S+?)\/api\b/.exec(line);
        if (api?.[1] !== undefined) url = api[1];
        const token = /^\s*admin token:\s+(\S+)/.exec(line);
        if (token?.[1] !== undefined && url !== undefined) {
          clearTimeout(timer);
          resolve({ url, token: token[1] });
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`ferry up exited (${String(code)}) while starting: ${stderr.trim().split("\n").slice(-3).join(" | ")}`));
      });
    });
  } catch (error) {
    await cleanup();
    throw error;
  }
  // The UI and API are HTTPS with the lab's own CA: this process trusts that CA, Chromium the server's key.
  const pki = join(dir, "data", "pki");
  const fetch = tlsFetch({ ca: readFileSync(join(pki, "ca.crt"), "utf8") });
  const spki = spkiHash(readFileSync(join(pki, "controller.crt"), "utf8"));
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  const api = async <T>(method: string, path: string, body?: unknown, token = ready.token): Promise<{ status: number; body: T }> => {
    // A deadline for a busy machine, not a wait: a call the controller never answers fails naming it.
    const signal = AbortSignal.timeout(API_DEADLINE_MS);
    const failed = (error: unknown): never => {
      throw new Error(`${method} /api${path}: ${signal.aborted ? `no answer within ${String(API_DEADLINE_MS / 1000)} s` : String(error)}`, { cause: error });
    };
    const response = await fetch(`${ready.url}/api${path}`, { method, signal, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) }).catch(failed);
    const text = await response.text().catch(failed);
    return { status: response.status, body: (text.length === 0 ? undefined : JSON.parse(text)) as T };
  };
  return {
    url: ready.url,
    adminToken: ready.token,
    spki,
    api,
    async createToken(name, role) {
      const created = await api<{ token: string; message?: string }>("POST", "/tokens", { name, role });
      if (created.status !== 201) throw new Error(`creating token ${name}: ${String(created.status)} ${JSON.stringify(created.body)}`);
      return created.body.token;
    },
    log: () => stderr,
    stop: cleanup,
  };
}

export interface WebBrowser {
  readonly context: BrowserContext;
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/**
 * Debian's Chromium with a fresh, empty profile, accepting the lab's server certificate by its
 * key (`spki`: not a blanket ignore of certificate errors). Fails, naming the package, when missing.
 */
export async function launchBrowser(spki: string): Promise<WebBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM}: the browser tests drive Debian's Chromium; install it with \`apt-get install -y chromium\``);
  const profile = mkdtempSync(join(tmpdir(), "ferry-chromium-"));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${spki}`], viewport: { width: 1440, height: 900 }, timeout: 60_000 });
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    throw new Error(`Chromium at ${CHROMIUM} did not start: ${error instanceof Error ? error.message.split("\n")[0] ?? "" : String(error)}`, { cause: error });
  }
  context.setDefaultTimeout(15_000);
  return {
    context,
    newPage: () => context.newPage(),
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Opens the UI and logs in with the token through the login form, as a person would. */
export async function login(page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/#/`);
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("button", { name: "Log out" }).waitFor();
}

/**
 * Writes docs/screenshots/<name>.png (the README links them). `height` takes it with a taller
 * viewport (then restores it), for pages longer than a screen: the shell scrolls inside.
 */
export async function screenshot(page: Page, name: string, options: { height?: number } = {}): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  const size = page.viewportSize();
  if (options.height !== undefined && size !== null) await page.setViewportSize({ width: size.width, height: options.height });
  try {
    await page.screenshot({ path });
  } finally {
    if (options.height !== undefined && size !== null) await page.setViewportSize(size);
  }
  return path;
}

export interface WebSuite {
  readonly lab: WebLab;
  readonly browser: WebBrowser;
  /** A page logged in as admin. */
  readonly page: Page;
  stop(): Promise<void>;
}

/** A lab, a browser and a page logged in as admin: call in `before`, `stop()` in `after`. */
export async function startWebSuite(options: WebLabOptions = {}): Promise<WebSuite> {
  const lab = await startWebLab(options);
  let browser: WebBrowser | undefined;
  try {
    browser = await launchBrowser(lab.spki);
    const page = await browser.newPage();
    await login(page, lab.url, lab.adminToken);
    const opened = browser;
    return {
      lab,
      browser,
      page,
      async stop() {
        await opened.close();
        await lab.stop();
      },
    };
  } catch (error) {
    await browser?.close();
    await lab.stop();
    throw error;
  }
}

/**
 * One lab and browser for a test file: started before its tests, stopped after them. The
 * returned function gives the suite (failing clearly when it did not start); `onStart` sees
 * it first (a file keeps its page in a variable of its own).
 */
export function useWebSuite(onStart?: (suite: WebSuite) => void, options: WebLabOptions = {}): () => WebSuite {
  let started: WebSuite | undefined;
  before(async () => {
    started = await startWebSuite(options);
    onStart?.(started);
  });
  after(async () => {
    await started?.stop();
  });
  return () => {
    assert.ok(started !== undefined, "the lab and browser did not start");
    return started;
  };
}
