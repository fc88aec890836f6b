// The controller's TLS material, all under <data dir>/pki (0700, files 0600):
//   ca.key, ca.crt                   the site's CA (made on first start, or by `ferry ca init`)
//   controller.key, controller.crt   the HTTPS server's certificate, SANs = its addresses/names
//   client.key, client.crt           what the controller presents to agents (OU=controller)
// An operator may bring the server certificate (--tls-cert/--tls-key, e.g. from the company's
// CA so browsers trust it); the client certificate is always the site CA's: agents trust only it.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { hostname, networkInterfaces } from "node:os";
import { join } from "node:path";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { CertRole, initCa, issuedBy, issueKeyAndCertificate, subjectAltNames, type CertificateAuthority, type IssueRequest, type KeyAndCertificate } from "./ca.ts";
import { writePrivateFile } from "./files.ts";

export const pkiDirOf = (dataDir: string): string => join(dataDir, "pki");

export interface ControllerTls {
  readonly ca: CertificateAuthority;
  /** Where the CA certificate is: the file CLIs and browsers trust. */
  readonly caFile: string;
  /** The CA (PEM) a client must trust for the server certificate; undefined when the operator brought a certificate the system trusts. */
  readonly serverCa: string | undefined;
  readonly server: KeyAndCertificate;
  readonly client: KeyAndCertificate;
}

export interface ControllerTlsOptions {
  /** The address the API listens on: an IP or a name; 0.0.0.0/:: stand for every local address. */
  readonly listenHost: string;
  /** More names for the server certificate (a DNS name clients use). */
  readonly names?: readonly string[] | undefined;
  /** A server certificate and key (PEM files) to serve instead of one from the built-in CA. */
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
}

/** The names a server certificate on `listenHost` must carry. */
export function serverNames(listenHost: string, extra: readonly string[] = []): string[] {
  const wildcard = listenHost === "0.0.0.0" || listenHost === "::" || listenHost === "";
  const local = Object.values(networkInterfaces()).flatMap((addrs) => (addrs ?? []).map((a) => a.address.replace(/%.*$/, "")));
  return [...new Set([...(wildcard ? local : [listenHost]), "localhost", "127.0.0.1", hostname(), ...extra])];
}

function covers(pem: string, names: readonly string[]): boolean {
  const sans = new Set(subjectAltNames(pem).map((s) => s.replace(/^(DNS|IP Address):/, "")));
  return names.every((n) => sans.has(n));
}

/** Reads `prefix`.key/.crt in `dir` when they are the CA's, cover `names` and are valid; else issues and saves new ones. */
async function ensureIssued(ca: CertificateAuthority, dir: string, prefix: string, request: IssueRequest): Promise<KeyAndCertificate> {
  const keyFile = join(dir, `${prefix}.key`);
  const certFile = join(dir, `${prefix}.crt`);
  if (existsSync(keyFile) && existsSync(certFile)) {
    const current = { key: readFileSync(keyFile, "utf8"), certificate: readFileSync(certFile, "utf8") };
    if (issuedBy(current.certificate, ca.certificate) && covers(current.certificate, request.names ?? [])) return current;
  }
  const issued = await issueKeyAndCertificate(ca, request);
  writePrivateFile(keyFile, issued.key);
  writePrivateFile(certFile, issued.certificate);
  return issued;
}

function ownServerCertificate(certFile: string, keyFile: string): KeyAndCertificate {
  let pair: KeyAndCertificate;
  try {
    pair = { certificate: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
    if (!new X509Certificate(pair.certificate).checkPrivateKey(createPrivateKey(pair.key))) throw new Error("the key is not the certificate's");
  } catch (cause) {
    throw new FerryError(ErrorCode.invalidInput, `cannot use --tls-cert ${certFile} with --tls-key ${keyFile}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  return pair;
}

/** The CA (made when none exists), the server certificate and the client certificate. */
export async function controllerTls(dataDir: string, options: ControllerTlsOptions): Promise<ControllerTls> {
  const dir = pkiDirOf(dataDir);
  const { ca } = await initCa(dir);
  if ((options.certFile === undefined) !== (options.keyFile === undefined)) throw new FerryError(ErrorCode.usage, "--tls-cert and --tls-key go together");
  const server =
    options.certFile !== undefined && options.keyFile !== undefined
      ? ownServerCertificate(options.certFile, options.keyFile)
      : await ensureIssued(ca, dir, "controller", { commonName: "ferry-controller", role: CertRole.server, names: serverNames(options.listenHost, options.names), serverAuth: true, clientAuth: false });
  const client = await ensureIssued(ca, dir, "client", { commonName: "ferry-controller", role: CertRole.controller, serverAuth: false, clientAuth: true });
  const own = options.certFile !== undefined;
  return { ca, caFile: join(dir, "ca.crt"), serverCa: own ? undefined : ca.certificate, server, client };
}
