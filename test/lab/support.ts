// What the lab's end-to-end tests share: `ferry` run as a user runs it (with its own
// FERRY_HOME), `ferry lab up` started as a process and waited for, and a cleanup that removes
// whatever a failure left (the lab process, recorded agents, namespaces by prefix, the home).
import { execFile, spawn, type ChildProcessByStdio } from "node:child_process";
import { once } from "node:events";
import { cpSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import type { QemuLabSummary } from "../../src/cli/commands/lab-qemu.ts";
import { teardown } from "../../src/lab/netns.ts";

const BIN = new URL("../../bin/ferry.js", import.meta.url).pathname;

export interface LabCli {
  readonly home: string;
  readonly env: NodeJS.ProcessEnv;
  /** Runs `ferry ARGS` to its end. */
  readonly ferry: (...args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;
  /** `ferry ARGS --json`, which must succeed; its parsed output. */
  readonly ferryJson: <T>(...args: string[]) => Promise<T>;
  /** Starts `ferry lab up ARGS --json` and resolves with its summary once the lab is ready. */
  up(args: readonly string[], timeoutMs?: number): Promise<QemuLabSummary>;
  /** The running `lab up` process, if any. */
  readonly upProcess: ChildProcessByStdio<null, Readable, Readable> | undefined;
  /** Stops `lab up`, runs `lab down`, tears the lab's namespaces down by prefix, removes the home. */
  cleanup(labId: string): Promise<void>;
}

export function labCli(prefix: string): LabCli {
  const home = mkdtempSync(join(tmpdir(), `ferry-${prefix}-`));
  const env = { ...process.env, FERRY_HOME: home };
  let upProcess: ChildProcessByStdio<null, Readable, Readable> | undefined;
  const ferry = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, [BIN, ...args], { env, encoding: "utf8", timeout: 90_000 }, (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr });
      });
    });
  const ferryJson = async <T>(...args: string[]): Promise<T> => {
    const run = await ferry(...args, "--json");
    if (run.code !== 0) throw new Error(`ferry ${args.join(" ")} failed: ${run.stderr.trim()} ${run.stdout.trim()}`);
    return JSON.parse(run.stdout) as T;
  };
  return {
    home,
    ferryJson,
    env,
    ferry,
    get upProcess() {
      return upProcess;
    },
    up(args, timeoutMs = 90_000) {
      const proc = spawn(process.execPath, [BIN, "lab", "up", ...args, "--json"], { env, stdio: ["ignore", "pipe", "pipe"] });
      upProcess = proc;
      let stderr = "";
      proc.stderr.on("data", (chunk: Buffer) => {
        stderr = (stderr + chunk.toString()).slice(-4000);
      });
      return new Promise<QemuLabSummary>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`ferry lab up did not report ready within ${timeoutMs} ms: ${stderr}`));
        }, timeoutMs);
        createInterface({ input: proc.stdout }).on("line", (line) => {
          clearTimeout(timer);
          resolve(JSON.parse(line) as QemuLabSummary);
        });
        proc.once("exit", (code) => {
          clearTimeout(timer);
          reject(new Error(`ferry lab up exited (${String(code)}): ${stderr}`));
        });
      });
    },
    async cleanup(labId) {
      const proc = upProcess;
      if (proc !== undefined && proc.exitCode === null && proc.signalCode === null) {
        const exited = once(proc, "exit");
        proc.kill("SIGTERM");
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 20_000))]);
      }
      // Whatever a failure left: the recorded agents and the lab's namespaces, found by prefix.
      if (process.getuid?.() === 0) {
        await ferry("lab", "down", "--id", labId);
        await teardown(labId).catch(() => undefined);
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}

// ---- An agent's own API, asked from inside its host's namespace ----
// The lab's management addresses (198.18.254.N) exist only inside its namespaces: from the
// root namespace they would follow the default route out of the machine. The agents serve
// HTTPS and answer only certificates of the lab's CA: the script presents the controller's.
const AGENT_GET = `
const { readFileSync } = require("node:fs");
const pki = process.env.FERRY_LAB_PKI;
// The chain is checked against the lab's CA; agents' certificates name hosts, not addresses (as the controller does, by pin).
const options = { ca: readFileSync(pki + "/ca.crt"), cert: readFileSync(pki + "/client.crt"), key: readFileSync(pki + "/client.key"), checkServerIdentity: () => undefined };
require("node:https").get(process.argv[1], options, (r) => {
  let text = ""; r.setEncoding("utf8"); r.on("data", (c) => { text += c; });
  r.on("end", () => { process.stdout.write(text); process.exitCode = r.statusCode < 300 ? 0 : 1; });
}).on("error", (e) => { process.stderr.write(String(e && e.message)); process.exitCode = 2; });
`;

/** GET `path` from the agent at `api` (its URL inside the lab), asked from namespace `ns` as the controller (`pkiDir`: the lab's data/pki). */
/** GET on the controller's REST API (through the lab's relay on 127.0.0.1), which must answer 200. */
export async function controllerGet<T>(controller: { readonly url: string; readonly token: string }, path: string): Promise<T> {
  const response = await fetch(`${controller.url}/api${path}`, { headers: { authorization: `Bearer ${controller.token}` } });
  const body: unknown = await response.json();
  if (response.status !== 200) throw new Error(`GET ${path}: ${response.status} ${JSON.stringify(body)}`);
  return body as T;
}

export function agentGet<T>(ns: string, api: string, path: string, pkiDir: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const env = { ...process.env, FERRY_LAB_PKI: pkiDir };
    execFile("ip", ["netns", "exec", ns, process.execPath, "-e", AGENT_GET, `${api}${path}`], { env, encoding: "utf8", timeout: 30_000 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`GET ${api}${path} from ${ns}: ${stderr.trim() || stdout.trim() || error.message}`));
      else resolve(JSON.parse(stdout) as T);
    });
  });
}

/**
 * With FERRY_TEST_LAB_LOGS set, copies the lab's logs (controller, agents, QEMU serial consoles,
 * state.json) to $FERRY_TEST_LAB_LOGS/<labId>/ before a cleanup removes them: a flaky run's
 * evidence. Tokens, configs and datastores stay behind.
 */
export function keepLabLogs(home: string, labId: string): void {
  const to = process.env["FERRY_TEST_LAB_LOGS"];
  const dir = join(home, "labs", labId);
  if (to === undefined || to === "" || !existsSync(dir)) return;
  const evidence = (src: string): boolean => /\.(log|serial)$|\/state\.json$/.test(src) || (statSync(src).isDirectory() && !src.endsWith("/datastores") && !src.endsWith("/data"));
  cpSync(dir, join(to, labId), { recursive: true, filter: evidence });
}
