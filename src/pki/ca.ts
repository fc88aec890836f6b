// Ferry's built-in certificate authority: one ECDSA P-256 CA per site, kept in the
// controller's data directory (pki/ca.key 0600, pki/ca.crt), that issues
//   - the controller's server certificate (SANs: its listen address and host names),
//   - the controller's client certificate (OU=controller), presented to agents (mutual TLS),
//   - each agent's certificate (CN = its host name, OU=agent) from the agent's CSR at join:
//     the agent's key never leaves the agent.
// Everything is WebCrypto through @peculiar/x509: no openssl shell-outs.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createHash, randomBytes, X509Certificate as NodeX509, type webcrypto } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { privateDir, writePrivateFile } from "./files.ts";

x509.cryptoProvider.set(globalThis.crypto);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const KEY_ALGORITHM = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGNING = { name: "ECDSA", hash: "SHA-256" } as const;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Clocks of hosts may be a little off: certificates start a little in the past. */
const SKEW_MS = 5 * 60 * 1000;
const CA_VALID_MS = 10 * 365 * DAY_MS;
const LEAF_VALID_MS = 825 * DAY_MS;

/** What a certificate is for, written in its subject's OU: the agent reads it to authorize a caller. */
export const CertRole = { controller: "controller", agent: "agent", server: "server" } as const;
export type CertRole = (typeof CertRole)[keyof typeof CertRole];

export interface CertificateAuthority {
  /** The CA certificate (PEM): what clients and agents trust. */
  readonly certificate: string;
  readonly key: CryptoKey;
  readonly name: string;
}

/** A private key (PKCS#8 PEM) and its certificate (PEM): what a TLS endpoint presents. */
export interface KeyAndCertificate {
  readonly key: string;
  readonly certificate: string;
}

export const caFiles = (pkiDir: string): { key: string; certificate: string } => ({ key: join(pkiDir, "ca.key"), certificate: join(pkiDir, "ca.crt") });

export function generateKeys(): Promise<CryptoKeyPair> {
  return globalThis.crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"]);
}

export async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await globalThis.crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

function importKeyPem(pem: string): Promise<CryptoKey> {
  return globalThis.crypto.subtle.importKey("pkcs8", x509.PemConverter.decode(pem)[0] ?? new ArrayBuffer(0), KEY_ALGORITHM, true, ["sign"]);
}

const serial = (): string => `01${randomBytes(15).toString("hex")}`;

/** Loads the CA in `pkiDir`, or undefined when none was made there. */
export async function loadCa(pkiDir: string): Promise<CertificateAuthority | undefined> {
  const files = caFiles(pkiDir);
  if (!existsSync(files.key) || !existsSync(files.certificate)) return undefined;
  const certificate = readFileSync(files.certificate, "utf8");
  try {
    const key = await importKeyPem(readFileSync(files.key, "utf8"));
    return { certificate, key, name: new x509.X509Certificate(certificate).subject };
  } catch (cause) {
    throw new FerryError(ErrorCode.invalidInput, `the CA in ${pkiDir} cannot be read (ca.key and ca.crt must be Ferry's PEM files)`, { cause });
  }
}

/** `ferry ca init`: makes the CA in `pkiDir` unless one is there; `created` says which. */
export async function initCa(pkiDir: string, site = "Ferry"): Promise<{ ca: CertificateAuthority; created: boolean }> {
  const existing = await loadCa(pkiDir);
  if (existing !== undefined) return { ca: existing, created: false };
  privateDir(pkiDir);
  const keys = await generateKeys();
  const now = Date.now();
  const name = `CN=${site} CA ${randomBytes(4).toString("hex")}, O=Ferry`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name,
    notBefore: new Date(now - SKEW_MS),
    notAfter: new Date(now + CA_VALID_MS),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const files = caFiles(pkiDir);
  writePrivateFile(files.key, await exportKeyPem(keys.privateKey));
  writePrivateFile(files.certificate, cert.toString("pem"));
  return { ca: { certificate: cert.toString("pem"), key: keys.privateKey, name }, created: true };
}

export interface IssueRequest {
  /** The subject's common name: a host name, or "ferry-controller". */
  readonly commonName: string;
  readonly role: CertRole;
  /** DNS names and IP addresses for the SAN extension. */
  readonly names?: readonly string[];
  readonly serverAuth: boolean;
  readonly clientAuth: boolean;
}

/** Issues a certificate for `publicKey` (SPKI, a CryptoKey or a CSR's key), signed by the CA. */
export async function issueCertificate(ca: CertificateAuthority, publicKey: x509.PublicKey | CryptoKey, request: IssueRequest): Promise<string> {
  const now = Date.now();
  const usages = [...(request.serverAuth ? [x509.ExtendedKeyUsage.serverAuth] : []), ...(request.clientAuth ? [x509.ExtendedKeyUsage.clientAuth] : [])];
  const names = [...new Set(request.names ?? [])];
  const sans = names.map((n) => ({ type: isIP(n) === 0 ? ("dns" as const) : ("ip" as const), value: n }));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${request.commonName}, OU=${request.role}, O=Ferry`,
    issuer: ca.name,
    notBefore: new Date(now - SKEW_MS),
    notAfter: new Date(now + LEAF_VALID_MS),
    publicKey,
    signingKey: ca.key,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension(usages, false),
      ...(sans.length === 0 ? [] : [new x509.SubjectAlternativeNameExtension(sans, false)]),
    ],
  });
  return cert.toString("pem");
}

/** A fresh key and a certificate for it issued by the CA (the controller's own certificates). */
export async function issueKeyAndCertificate(ca: CertificateAuthority, request: IssueRequest): Promise<KeyAndCertificate> {
  const keys = await generateKeys();
  return { key: await exportKeyPem(keys.privateKey), certificate: await issueCertificate(ca, keys.publicKey, request) };
}

/** An agent's certificate signing request (PEM) for `host`, signed with its own key. */
export async function createCsr(keys: CryptoKeyPair, host: string): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${host}`, keys, signingAlgorithm: SIGNING });
  return csr.toString("pem");
}

/** Checks a CSR's own signature (it proves the requester holds the key) and returns its public key. */
export async function publicKeyOfCsr(pem: string): Promise<x509.PublicKey> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch (cause) {
    throw new FerryError(ErrorCode.invalidInput, "the certificate signing request is not a PEM PKCS#10 request", { cause });
  }
  if (!(await csr.verify())) throw new FerryError(ErrorCode.invalidInput, "the certificate signing request's signature does not verify");
  const algorithm = csr.publicKey.algorithm as { name?: string; namedCurve?: string };
  if (algorithm.name !== "ECDSA" || algorithm.namedCurve !== "P-256") throw new FerryError(ErrorCode.invalidInput, "the certificate signing request must be for an ECDSA P-256 key");
  return csr.publicKey;
}

/** SHA-256 of a certificate's DER, lowercase hex: what the controller pins for each agent. */
export function fingerprint(pem: string): string {
  return createHash("sha256").update(new NodeX509(pem).raw).digest("hex");
}

/** SHA-256 of a DER certificate (a TLS peer's `raw`), lowercase hex. */
export function fingerprintOfDer(der: Uint8Array): string {
  return createHash("sha256").update(der).digest("hex");
}

/** Base64 SHA-256 of a certificate's SubjectPublicKeyInfo: Chromium's --ignore-certificate-errors-spki-list form. */
export function spkiHash(pem: string): string {
  const spki = new NodeX509(pem).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("base64");
}

/** Whether `pem` is a certificate issued by `caPem` and valid now. */
export function issuedBy(pem: string, caPem: string): boolean {
  const cert = new NodeX509(pem);
  const ca = new NodeX509(caPem);
  const now = Date.now();
  return cert.checkIssued(ca) && cert.verify(ca.publicKey) && Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo);
}

/** The certificate's SAN entries as "DNS:x"/"IP Address:y" (what Node reports). */
export function subjectAltNames(pem: string): string[] {
  return (new NodeX509(pem).subjectAltName ?? "").split(/,\s*/).filter((s) => s.length > 0);
}
