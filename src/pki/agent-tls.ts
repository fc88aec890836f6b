// An agent's identity, kept in its state directory (0700, files 0600):
//   agent.key    its private key (made here; it never leaves the host)
//   agent.crt    its certificate, issued by the site CA at join (CN = the host's name)
//   ca.crt       the site CA: the controller and the peers are trusted by it
//   credential   the secret it announces its address to the controller with
// The agent serves HTTPS with agent.key/agent.crt and asks every caller for a certificate of
// the site CA (mutual TLS): the controller's (OU=controller) opens the whole API, a peer
// agent's (OU=agent) only the incoming-migration state a source asks its destination for.
import type { IncomingMessage } from "node:http";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { TLSSocket } from "node:tls";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { CertRole, createCsr, exportKeyPem, generateKeys, issuedBy } from "./ca.ts";
import { privateDir, writePrivateFile } from "./files.ts";

/** What an agent serves and calls its peers with. */
export interface AgentTls {
  readonly key: string;
  readonly certificate: string;
  readonly ca: string;
}

export interface AgentIdentity extends AgentTls {
  readonly credential: string;
}

const files = (stateDir: string) => ({
  key: join(stateDir, "agent.key"),
  certificate: join(stateDir, "agent.crt"),
  ca: join(stateDir, "ca.crt"),
  credential: join(stateDir, "credential"),
  pendingKey: join(stateDir, "agent.key.pending"),
});

/** The identity saved in `stateDir`, or undefined when this agent has not joined yet. */
export function loadAgentIdentity(stateDir: string): AgentIdentity | undefined {
  const f = files(stateDir);
  if (![f.key, f.certificate, f.ca, f.credential].every((p) => existsSync(p))) return undefined;
  const identity = { key: readFileSync(f.key, "utf8"), certificate: readFileSync(f.certificate, "utf8"), ca: readFileSync(f.ca, "utf8"), credential: readFileSync(f.credential, "utf8").trim() };
  if (!issuedBy(identity.certificate, identity.ca)) throw new FerryError(ErrorCode.invalidInput, `the certificate in ${stateDir} is not the CA's or has expired: remove agent.crt and join again with a join token`);
  return identity;
}

/** A fresh key (kept in `stateDir` until the certificate for it arrives) and a CSR for `host`. */
export async function newCsr(stateDir: string, host: string): Promise<string> {
  privateDir(stateDir);
  const keys = await generateKeys();
  writePrivateFile(files(stateDir).pendingKey, await exportKeyPem(keys.privateKey));
  return createCsr(keys, host);
}

/** Saves what the controller answered to the join; the pending key becomes the agent's key. */
export function saveEnrollment(stateDir: string, joined: { readonly certificate: string; readonly ca: string; readonly credential: string }): AgentIdentity {
  const f = files(stateDir);
  if (!issuedBy(joined.certificate, joined.ca)) throw new FerryError(ErrorCode.invalidInput, "the controller answered the join with a certificate its CA did not issue");
  const key = readFileSync(f.pendingKey, "utf8");
  writePrivateFile(f.ca, joined.ca);
  writePrivateFile(f.certificate, joined.certificate);
  writePrivateFile(f.key, key);
  writePrivateFile(f.credential, `${joined.credential}\n`);
  rmSync(f.pendingKey, { force: true });
  return { key, certificate: joined.certificate, ca: joined.ca, credential: joined.credential };
}

/** Who is calling over a mutual-TLS connection: the role in its certificate's OU, when the CA issued it. */
export function callerRole(incoming: IncomingMessage): CertRole | undefined {
  const socket = incoming.socket;
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const ou = socket.getPeerCertificate().subject.OU;
  return ou === CertRole.controller || ou === CertRole.agent ? ou : undefined;
}

/** What a caller of `role` may do on the agent's API: the controller everything, a peer one read. */
export function mayCall(role: CertRole | undefined, method: string, path: string): boolean {
  if (role === CertRole.controller) return true;
  return role === CertRole.agent && method === "GET" && /^\/v1\/migrations\/incoming\/[^/]+$/.test(path);
}
