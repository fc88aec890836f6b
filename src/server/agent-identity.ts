// Host identity: each agent proves which host it is.
//   1. Join: an agent-role *join token* (single-use) and the agent's CSR. The token may only
//      enroll a host that has no agent yet, or one an admin approved (`ferry ca approve HOST`:
//      a reinstalled host's new identity). The controller issues a certificate for the host
//      (CN = the host's name; the key never left the agent), pins its SHA-256, and hands the
//      agent a *credential* of its own: an agent-role token bound to that host, kept hashed.
//      The join token is consumed.
//   2. Announce: with that credential (or an admin token) the agent says where its API is; the
//      controller connects over mutual TLS and accepts only the pinned certificate, then takes
//      the host's facts. An impostor has neither the credential nor the key.
// Every failure to reach or verify an agent answers the same sentence (the detail is logged):
// the join route is no port scanner.
import type { z } from "@hono/zod-openapi";
import { randomBytes } from "node:crypto";
import type { AgentRegisterSchema } from "../api/schemas.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { findHost } from "../core/inventory/edits.ts";
import { serialQueue } from "../core/serial-queue.ts";
import { CertRole, fingerprint, issueCertificate, publicKeyOfCsr, type CertificateAuthority } from "../pki/ca.ts";
import { Role, type ApiToken, type Store } from "../store/store.ts";
import { createToken } from "./auth.ts";
import { refreshHost } from "./host-facts.ts";
import type { InventoryService } from "./inventory-service.ts";
import type { AgentDirectory, AgentEntry, AgentRecord, Log } from "./migrations.ts";

export type AgentRegisterBody = z.infer<typeof AgentRegisterSchema>;

export interface AgentIdentityDeps {
  readonly store: Store;
  readonly inventory: InventoryService;
  readonly agents: AgentDirectory;
  /** The site CA; undefined in in-process tests without TLS (then only admins register agents, by token). */
  readonly ca: CertificateAuthority | undefined;
  readonly now: () => number;
  readonly log?: Log | undefined;
}

export interface AgentJoined {
  readonly host: string;
  readonly url: string | null;
  readonly certificate: string | null;
  readonly ca: string | null;
  readonly credential: string | null;
}

/** Joins are serialised: a join token is used once even when two agents present it at once. */
const joins = serialQueue();

const hasAgent = (record: AgentRecord | undefined): boolean => record !== undefined && (record.fingerprint !== undefined || record.url !== undefined || record.credential !== undefined);

/** Whether `token` is the credential the controller issued to `host`'s agent. */
const isCredentialOf = (token: ApiToken, record: AgentRecord | undefined): boolean => token.role === Role.agent && record?.credential !== undefined && record.credential === token.name;

/** Step 1: a join token and a CSR → the host's certificate and credential. */
async function enroll(deps: AgentIdentityDeps, caller: ApiToken, host: string, csr: string): Promise<AgentJoined> {
  const { store, agents, ca } = deps;
  if (ca === undefined) throw new FerryError(ErrorCode.refused, "this controller has no CA: agents join only when it serves HTTPS");
  if (caller.role !== Role.agent) throw new FerryError(ErrorCode.forbidden, `an agent joins with a join token (role agent), not with token "${caller.name}" (${caller.role})`);
  const record = await agents.record(host);
  const renewing = isCredentialOf(caller, record);
  if (!renewing && hasAgent(record) && record?.approval === undefined) {
    throw new FerryError(ErrorCode.conflict, `${host} already has an agent: a join token enrolls only a new host; if ${host} was reinstalled, an admin approves its new agent first (ferry ca approve ${host})`, { details: { host } });
  }
  const publicKey = await publicKeyOfCsr(csr);
  const certificate = await issueCertificate(ca, publicKey, { commonName: host, role: CertRole.agent, names: [host], serverAuth: true, clientAuth: true });
  // The join token is spent before anything is handed out; a renewing agent keeps its credential's name fresh.
  if (!renewing && !(await store.revokeToken(caller.name, deps.now()))) throw new FerryError(ErrorCode.unauthorized, "the join token was already used");
  if (record?.credential !== undefined) await store.revokeToken(record.credential, deps.now());
  const credentialName = `agent-${host}-${randomBytes(4).toString("hex")}`;
  const { secret } = await createToken(store, credentialName, Role.agent, deps.now());
  await agents.putRecord({ host, fingerprint: fingerprint(certificate), credential: credentialName, enrolledAt: deps.now() });
  deps.log?.("info", `${host}'s agent joined: certificate issued`, { host, by: caller.name, renewed: renewing, fingerprint: fingerprint(certificate) });
  return { host, url: null, certificate, ca: ca.certificate, credential: secret };
}

/**
 * The agent at `entry.url` answers as `entry.host` with the pinned certificate (or token),
 * or the one sentence every failure gets; the reason goes to the log only.
 */
async function verified(deps: AgentIdentityDeps, entry: AgentEntry): Promise<void> {
  const client = deps.agents.clientFor(entry, 10_000);
  let why: string | undefined;
  try {
    const facts = await client.facts();
    if (facts.name !== entry.host) why = `it says it is host "${facts.name}"`;
  } catch (error) {
    const cause = (error as { cause?: { cause?: unknown } }).cause?.cause;
    why = `${error instanceof Error ? error.message : String(error)}${cause instanceof Error ? ` (${cause.message})` : ""}`;
  }
  if (why === undefined) return;
  deps.log?.("warn", `the agent of ${entry.host} at ${entry.url} could not be verified: ${why}`, { host: entry.host, url: entry.url });
  throw new FerryError(ErrorCode.refused, `the agent at ${entry.url} could not be verified`, { details: { host: entry.host, url: entry.url } });
}

/**
 * Takes the host's facts from its (verified) agent into the inventory (creating the host when
 * new; cluster and maintenance mode stay the controller's) and keeps the agent.
 */
export async function joinAgent(deps: AgentIdentityDeps, entry: AgentEntry, cluster?: string): Promise<void> {
  await verified(deps, entry);
  const { inventory } = deps;
  await refreshHost(inventory, deps.agents.clientFor(entry), entry.host, { observeNow: false });
  if (cluster !== undefined && inventory.current.index.hosts.get(entry.host)?.host.cluster === undefined) {
    await inventory.change((draft) => {
      if (!draft.clusters.some((c) => c.name === cluster)) throw new FerryError(ErrorCode.notFound, `no cluster named "${cluster}" for ${entry.host} to join`);
      // The draft's own copy of the host (findHost): the snapshot's records are never written.
      if (draft.hosts.some((h) => h.name === entry.host)) findHost(draft, entry.host).cluster = cluster;
    });
  }
  await deps.agents.register(entry);
}

/** Step 2: where the host's agent is, said by its credential (or an admin); checked against the pin. */
async function announce(deps: AgentIdentityDeps, caller: ApiToken, body: AgentRegisterBody & { url: string }): Promise<AgentJoined> {
  const record = await deps.agents.record(body.host);
  const admin = caller.role === Role.admin;
  if (!admin && !isCredentialOf(caller, record)) {
    throw new FerryError(ErrorCode.forbidden, `token "${caller.name}" is not ${body.host}'s agent credential: an agent announces itself with the credential it got when it joined`);
  }
  let entry: AgentEntry;
  if (body.token !== undefined) {
    if (!admin) throw new FerryError(ErrorCode.forbidden, "only an admin registers an agent by token");
    entry = { host: body.host, url: body.url, token: body.token };
  } else {
    if (record?.fingerprint === undefined) throw new FerryError(ErrorCode.refused, `${body.host} has no agent identity yet: its agent joins with a join token first (ferry agent --controller URL --join-token-file FILE)`);
    entry = { host: body.host, url: body.url, fingerprint: record.fingerprint };
  }
  await joinAgent(deps, entry, body.cluster);
  return { host: body.host, url: body.url, certificate: null, ca: null, credential: null };
}

/** POST /api/agents: join (csr) or announce (url). */
export function registerAgent(deps: AgentIdentityDeps, caller: ApiToken, body: AgentRegisterBody): Promise<AgentJoined> {
  return joins(async () => {
    if (body.csr !== undefined) return enroll(deps, caller, body.host, body.csr);
    if (body.url === undefined) throw new FerryError(ErrorCode.invalidInput, "give csr (to join) or url (to announce where the agent is)");
    return announce(deps, caller, { ...body, url: body.url });
  });
}

/** An admin lets the next join token enroll `host` once more (a reinstalled host's new agent). */
export async function approveAgent(deps: AgentIdentityDeps, host: string, by: string): Promise<void> {
  await joins(async () => {
    const record = await deps.agents.record(host);
    await deps.agents.putRecord({ ...(record ?? { host }), approval: { by, at: deps.now() } });
    deps.log?.("info", `an admin approved a new agent identity for ${host}`, { host, by });
  });
}
