// The built-in CA: what it issues, what it refuses, and the TLS client's pinning and naming.
import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CertRole, createCsr, fingerprint, generateKeys, initCa, issueCertificate, issueKeyAndCertificate, issuedBy, publicKeyOfCsr, subjectAltNames } from "./ca.ts";
import { tlsFetch } from "./tls-fetch.ts";

async function withCa<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "ferry-ca-"));
  try {
    return await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("ca init makes a CA once, its key 0600; a second init keeps it", () =>
  withCa(async (dir) => {
    const first = await initCa(join(dir, "pki"));
    assert.equal(first.created, true);
    assert.equal(statSync(join(dir, "pki", "ca.key")).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, "pki")).mode & 0o777, 0o700);
    const again = await initCa(join(dir, "pki"));
    assert.equal(again.created, false);
    assert.equal(again.ca.certificate, first.ca.certificate);
    assert.equal(new X509Certificate(first.ca.certificate).ca, true);
  }));

test("an agent's certificate from its CSR: its key, its host name, the CA's signature", () =>
  withCa(async (dir) => {
    const { ca } = await initCa(dir);
    const keys = await generateKeys();
    const publicKey = await publicKeyOfCsr(await createCsr(keys, "esx05"));
    const pem = await issueCertificate(ca, publicKey, { commonName: "esx05", role: CertRole.agent, names: ["esx05", "198.18.10.15"], serverAuth: true, clientAuth: true });
    const cert = new X509Certificate(pem);
    assert.match(cert.subject, /CN=esx05/);
    assert.match(cert.subject, /OU=agent/);
    assert.deepEqual(subjectAltNames(pem), ["DNS:esx05", "IP Address:198.18.10.15"]);
    assert.ok(issuedBy(pem, ca.certificate));
    assert.equal(fingerprint(pem).length, 64);
    const other = await initCa(join(dir, "other"));
    assert.equal(issuedBy(pem, other.ca.certificate), false);
  }));

test("a CSR that is not one, or whose signature does not verify, is refused with one sentence", async () => {
  await assert.rejects(publicKeyOfCsr("not a csr"), { code: "INVALID_INPUT", message: "the certificate signing request is not a PEM PKCS#10 request" });
  const csr = await createCsr(await generateKeys(), "esx05");
  const body = csr.split("\n").filter((l) => !l.startsWith("-----")).join("");
  // Flip one byte of the signature (the DER's last bytes).
  const der = Buffer.from(body, "base64");
  der[der.length - 2] = (der[der.length - 2] ?? 0) ^ 0xff;
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----`;
  await assert.rejects(publicKeyOfCsr(tampered), { code: "INVALID_INPUT" });
});

test("the TLS fetch: trusts only its CA, checks the pin and the peer's name", () =>
  withCa(async (dir) => {
    const { ca } = await initCa(dir);
    const server = await issueKeyAndCertificate(ca, { commonName: "esx01", role: CertRole.agent, names: ["esx01"], serverAuth: true, clientAuth: true });
    const https: Server = createServer({ key: server.key, cert: server.certificate }, (_req, res) => res.end("ok"));
    await new Promise<void>((resolve) => https.listen(0, "127.0.0.1", resolve));
    const address = https.address();
    const url = `https://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}/`;
    try {
      assert.equal(await (await tlsFetch({ ca: ca.certificate, pin: fingerprint(server.certificate) })(url, {})).text(), "ok");
      assert.equal(await (await tlsFetch({ ca: ca.certificate, peerName: "esx01" })(url, {})).text(), "ok");
      await assert.rejects(tlsFetch({ ca: ca.certificate, pin: "ab".repeat(32) })(url, {}), (e: Error) => /not the one pinned/.test((e.cause as Error).message));
      await assert.rejects(tlsFetch({ ca: ca.certificate, peerName: "esx02" })(url, {}), (e: Error) => /names esx01, not esx02/.test((e.cause as Error).message));
      // By address, without a pin or a name: the certificate has no IP SAN for 127.0.0.1.
      await assert.rejects(tlsFetch({ ca: ca.certificate })(url, {}));
      const other = await initCa(join(dir, "other"));
      await assert.rejects(tlsFetch({ ca: other.ca.certificate, pin: fingerprint(server.certificate) })(url, {}));
    } finally {
      https.closeAllConnections();
      await new Promise((resolve) => https.close(resolve));
    }
  }));
