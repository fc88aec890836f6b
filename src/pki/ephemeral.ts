// Per-migration keys for the VMotion stream, as vSphere's encrypted vMotion makes a fresh key
// for each migration: no CA to set up, nothing kept. At prepareIncoming the destination makes
//   - a one-migration issuer (ECDSA P-256, CA:TRUE), whose private key is dropped as soon as
//     it has signed the two certificates below: nothing else can ever be signed by it;
//   - the server certificate (SAN = the destination's VMotion IP), whose key stays on the
//     destination;
//   - a client certificate, whose key the destination hands the source beside the stream
//     token: QEMU's stream carries no token, so for QEMU this key is the one-time secret
//     (mutual TLS: `verify-peer` on the destination's tls-creds-x509).
// The source pins the issuer and the exact server certificate it was told about: no CA, no
// hostname resolution, no trust store. A separate issuer (rather than one self-signed leaf)
// because QEMU's tls-creds-x509 sanity checks (crypto/tlscredsx509.c, QEMU 7.2) refuse a
// server certificate whose basic constraints say CA, and a ca-cert.pem whose do not.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createHash, randomBytes, type webcrypto } from "node:crypto";
import { isIP } from "node:net";

x509.cryptoProvider.set(globalThis.crypto);

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
/** Certificates live about a day: a migration takes minutes; clocks may be a little off. */
const VALID_MS = 24 * 60 * 60 * 1000;
const SKEW_MS = 5 * 60 * 1000;

type CryptoKeyPair = webcrypto.CryptoKeyPair;
type CryptoKey = webcrypto.CryptoKey;

/** What the source needs to open the stream: public except `clientKey`, a secret like the token. */
export interface StreamTrust {
  /** The one-migration issuer (PEM): the only certificate the source trusts for this stream. */
  readonly issuer: string;
  /** The destination's server certificate (PEM), pinned by the source. */
  readonly certificate: string;
  /** The source's client certificate (PEM) and its PKCS#8 key (PEM), for mutual TLS. */
  readonly clientCertificate: string;
  readonly clientKey: string;
}

/** The destination's half: StreamTrust plus the server's private key, which never leaves the host. */
export interface StreamCredentials extends StreamTrust {
  /** The server certificate's PKCS#8 key (PEM). */
  readonly key: string;
}

/** Makes a migration's credentials for a listener on `ip` (an IPv4 or IPv6 address). */
export async function createStreamCredentials(ip: string, now: Date = new Date()): Promise<StreamCredentials> {
  if (isIP(ip) === 0) throw new Error(`a VMotion stream certificate names an IP address, not "${ip}"`);
  const notBefore = new Date(now.getTime() - SKEW_MS);
  const notAfter = new Date(now.getTime() + VALID_MS);
  const [issuerKeys, serverKeys, clientKeys] = await Promise.all([keyPair(), keyPair(), keyPair()]);
  const issuerName = `CN=Ferry VMotion stream ${ip} ${randomBytes(6).toString("hex")}`;
  const issuer = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: issuerName,
    notBefore,
    notAfter,
    keys: issuerKeys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(issuerKeys.publicKey),
    ],
  });
  const leaf = async (keys: CryptoKeyPair, name: string, usage: string, san: boolean): Promise<x509.X509Certificate> =>
    x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: name,
      issuer: issuer.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: issuerKeys.privateKey,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        // Not critical: QEMU's check wants keyEncipherment as well when the usage is critical,
        // which an ECDSA key cannot do.
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, false),
        new x509.ExtendedKeyUsageExtension([usage]),
        await x509.AuthorityKeyIdentifierExtension.create(issuerKeys.publicKey),
        ...(san ? [new x509.SubjectAlternativeNameExtension([{ type: "ip", value: ip }])] : []),
      ],
    });
  const server = await leaf(serverKeys, `CN=${ip}`, x509.ExtendedKeyUsage.serverAuth, true);
  const client = await leaf(clientKeys, "CN=Ferry VMotion source", x509.ExtendedKeyUsage.clientAuth, false);
  return {
    issuer: issuer.toString("pem"),
    certificate: server.toString("pem"),
    key: await privateKeyPem(serverKeys.privateKey),
    clientCertificate: client.toString("pem"),
    clientKey: await privateKeyPem(clientKeys.privateKey),
  };
}

/** The SHA-256 fingerprint of a PEM certificate, as Node's `fingerprint256` writes it (AA:BB:...). */
export function certificateFingerprint(pem: string): string {
  const der = Buffer.from(new x509.X509Certificate(pem).rawData);
  return createHash("sha256").update(der).digest("hex").toUpperCase().replace(/(..)(?!$)/g, "$1:");
}

async function keyPair(): Promise<CryptoKeyPair> {
  return globalThis.crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await globalThis.crypto.subtle.exportKey("pkcs8", key));
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join("\n")}\n-----END PRIVATE KEY-----\n`;
}

/** A positive 16-byte serial number (hex), as RFC 5280 asks: unique, not guessable. */
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString("hex");
}
