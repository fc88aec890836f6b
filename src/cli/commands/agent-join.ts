// The agent's side of joining a controller (src/server/agent-identity.ts is the other):
//   1. with no identity in its state directory: a fresh key, a CSR, and the single-use join
//      token → its certificate, the site CA and its own credential, saved 0600;
//   2. it serves HTTPS with that certificate;
//   3. with its credential it announces where its API is; the controller checks the pin.
// The controller is trusted by the CA file given at the first join (--controller-ca), kept
// in the state directory as controller-ca.crt for the next starts.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { loadAgentIdentity, newCsr, saveEnrollment, type AgentIdentity } from "../../pki/agent-tls.ts";
import { privateDir, writePrivateFile } from "../../pki/files.ts";
import { tlsFetch, type FetchFunction } from "../../pki/tls-fetch.ts";
import type { CliIo } from "../io.ts";

export interface JoinOptions {
  readonly controller: string;
  readonly host: string;
  readonly stateDir: string;
  /** The join token (needed only when the state directory holds no identity yet). */
  readonly joinToken?: string | undefined;
  /** The CA (PEM) the controller's HTTPS certificate is checked with. */
  readonly controllerCa?: string | undefined;
  readonly cluster?: string | undefined;
}

type JoinLog = (level: "info" | "error", message: string) => void;

export function joinLog(io: CliIo, host: string): JoinLog {
  return (level, message) => {
    io.err(JSON.stringify({ at: new Date().toISOString(), host, level, message }));
  };
}

/** The controller's CA saved in `stateDir` at the first join, if any. */
export function savedControllerCa(stateDir: string | undefined): string | undefined {
  const saved = stateDir === undefined ? undefined : join(stateDir, "controller-ca.crt");
  return saved !== undefined && existsSync(saved) ? readFileSync(saved, "utf8") : undefined;
}

/** The controller's CA: the one given now (saved for next time), else the one saved at the first join. */
function controllerTrust(options: JoinOptions): string | undefined {
  const saved = join(options.stateDir, "controller-ca.crt");
  if (options.controllerCa !== undefined) {
    privateDir(options.stateDir);
    writePrivateFile(saved, options.controllerCa);
    return options.controllerCa;
  }
  return existsSync(saved) ? readFileSync(saved, "utf8") : undefined;
}

function controllerFetch(options: JoinOptions): FetchFunction {
  if (!options.controller.startsWith("https:")) return (input, init) => fetch(input, init);
  const ca = controllerTrust(options);
  if (ca === undefined) throw new FerryError(ErrorCode.usage, `the agent checks the controller's certificate: give --controller-ca FILE (the controller's <data-dir>/pki/ca.crt)`);
  return tlsFetch({ ca });
}

/**
 * POSTs `body` to /api/agents as `bearer`, trying again for 30 s while the controller cannot
 * be reached (it may be starting too); a refusal is final.
 */
async function postAgents(options: JoinOptions, bearer: string, body: unknown): Promise<unknown> {
  const send = controllerFetch(options);
  const deadline = Date.now() + 30_000;
  for (;;) {
    let response: Response;
    try {
      response = await send(`${options.controller.replace(/\/+$/, "")}/api/agents`, { method: "POST", headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" }, body: JSON.stringify(body), signal: AbortSignal.timeout(20_000) });
    } catch (error) {
      if (Date.now() > deadline) {
        const cause = (error as { cause?: unknown }).cause;
        throw new FerryError(ErrorCode.unavailable, `cannot reach the controller at ${options.controller}: ${cause instanceof Error ? cause.message : error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
      continue;
    }
    const answer = (await response.json().catch(() => ({}))) as { message?: string };
    if (response.ok) return answer;
    throw new FerryError(ErrorCode.refused, `the controller refused ${options.host}: ${answer.message ?? `HTTP ${String(response.status)}`}`);
  }
}

/** The agent's identity: the saved one, or a new one from joining with the join token. */
export async function agentIdentity(options: JoinOptions, log: JoinLog): Promise<AgentIdentity> {
  const saved = loadAgentIdentity(options.stateDir);
  if (saved !== undefined) return saved;
  if (options.joinToken === undefined) throw new FerryError(ErrorCode.usage, `${options.host} has not joined yet (no certificate in ${options.stateDir}): give --join-token-file FILE`);
  const csr = await newCsr(options.stateDir, options.host);
  const joined = (await postAgents(options, options.joinToken, { host: options.host, csr, ...(options.cluster === undefined ? {} : { cluster: options.cluster }) })) as { certificate?: unknown; ca?: unknown; credential?: unknown };
  if (typeof joined.certificate !== "string" || typeof joined.ca !== "string" || typeof joined.credential !== "string") throw new FerryError(ErrorCode.refused, "the controller answered the join without a certificate");
  const identity = saveEnrollment(options.stateDir, { certificate: joined.certificate, ca: joined.ca, credential: joined.credential });
  log("info", `joined the controller at ${options.controller}: certificate saved in ${options.stateDir}`);
  return identity;
}

/** Tells the controller where the agent's API is, with the agent's own credential. */
export async function announceAgent(options: JoinOptions, identity: AgentIdentity, url: string, log: JoinLog): Promise<void> {
  await postAgents(options, identity.credential, { host: options.host, url, ...(options.cluster === undefined ? {} : { cluster: options.cluster }) });
  log("info", `announced ${url} to the controller at ${options.controller}`);
}
