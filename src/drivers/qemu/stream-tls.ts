// QEMU's own TLS for the migration stream (QEMU 7.2: qapi/crypto.json `tls-creds-x509`,
// qapi/migration.json `tls-creds` / `tls-hostname`), with the migration's own keys
// (src/pki/ephemeral.ts). The destination QEMU gets a server credential and checks the source's
// client certificate (`verify-peer`): QEMU's stream carries no token, so the client key the
// destination hands out beside the endpoint is the stream's one-time secret. The source QEMU
// trusts only the migration's issuer and checks the server certificate's IP SAN against
// `tls-hostname` (the destination's VMotion IP). QEMU reads the PEM files when the object is
// created, so they live in a 0700 directory only for the length of one `object-add`.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { MigrationFailureCode, VmotionEncryption } from "../../core/migration/types.ts";
import { createStreamCredentials } from "../../pki/ephemeral.ts";
import type { IncomingMigration, IncomingTls } from "../driver.ts";
import type { QmpClient } from "./qmp.ts";

/** The `tls-creds` and `tls-hostname` parameters: set before every migrate, "" for a clear stream (trap 5: they stick). */
export interface StreamTlsParameters {
  readonly "tls-creds": string;
  readonly "tls-hostname": string;
}

export const CLEAR_STREAM: StreamTlsParameters = { "tls-creds": "", "tls-hostname": "" };

type Endpoint = "server" | "client";

/**
 * RFC 7919's ffdhe2048 group (public, standard). A server credential without dh-params.pem
 * makes QEMU generate 2048-bit DH parameters inside `object-add` (crypto/tlscreds.c, QEMU
 * 7.2): 2.2 s measured here, longer on a busy host. TLS 1.3 with ECDHE never uses them.
 */
export const FFDHE2048_PEM = `-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
`;

/**
 * Creates a `tls-creds-x509` object from PEM files that exist only while QEMU loads them.
 * `alongside(id)` sends the commands that follow it (the stream's capabilities and parameters)
 * without waiting for its answer: QMP runs them in order, so the setup is one round trip, not
 * three. The object's failure is thrown first; the caller starts nothing on it.
 */
async function addCredentials<T>(qmp: QmpClient, runDir: string, endpoint: Endpoint, files: Readonly<Record<string, string>>, alongside: (id: string) => Promise<T>): Promise<{ id: string; result: T }> {
  const id = `ferry-tls-${endpoint}-${randomBytes(6).toString("hex")}`;
  // Synchronous: a few small files, well under a millisecond, where the thread pool's hops cost
  // several on a busy host, on the path between the request and `migrate` (the control cost).
  const dir = mkdtempSync(join(runDir, "tls-"));
  try {
    for (const [name, pem] of Object.entries(files)) writeFileSync(join(dir, name), pem, { mode: 0o600 });
    const added = qmp.execute("object-add", { "qom-type": "tls-creds-x509", id, dir, endpoint, "verify-peer": true }, { timeoutMs: 15_000 });
    const after = alongside(id);
    // Settled before the object's verdict is looked at, so that no answer is left unhandled.
    const [object, rest] = await Promise.allSettled([added, after]);
    if (object.status === "rejected") throw object.reason;
    if (rest.status === "rejected") {
      // Nothing will run with it: it goes now, as it would after a migration.
      await qmp.execute("object-del", { id }, { timeoutMs: 2000 }).catch(() => undefined);
      throw new FollowingCommandFailed(rest.reason);
    }
    return { id, result: rest.value };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A command sent after the credential object failed (not the object): the caller's error, unwrapped. */
class FollowingCommandFailed extends Error {
  constructor(readonly reason: unknown) {
    super("a command sent after the credential object failed");
  }
}

function reasonOf(error: unknown): string {
  const cause = error instanceof FollowingCommandFailed ? error.reason : error;
  return cause instanceof Error ? cause.message : String(cause);
}

/**
 * Destination: the server credential, before `migrate-incoming`. Returns what the source needs,
 * or undefined for a clear stream (`disabled`, or `opportunistic` where QEMU cannot do TLS);
 * `required` where it cannot refuses with ENCRYPTION_UNAVAILABLE.
 */
export async function incomingStreamTls(qmp: QmpClient, runDir: string, hostName: string, listenHost: string, encryption: VmotionEncryption): Promise<IncomingTls | undefined> {
  if (encryption === VmotionEncryption.disabled) {
    await qmp.execute("migrate-set-parameters", { ...CLEAR_STREAM }, { timeoutMs: 5000 });
    return undefined;
  }
  try {
    const credentials = await createStreamCredentials(listenHost);
    await addCredentials(qmp, runDir, "server", { "ca-cert.pem": credentials.issuer, "server-cert.pem": credentials.certificate, "server-key.pem": credentials.key, "dh-params.pem": FFDHE2048_PEM }, (id) =>
      qmp.execute("migrate-set-parameters", { "tls-creds": id, "tls-hostname": "" }, { timeoutMs: 5000 }),
    );
    return { issuer: credentials.issuer, certificate: credentials.certificate, clientCertificate: credentials.clientCertificate, clientKey: credentials.clientKey };
  } catch (error) {
    if (encryption === VmotionEncryption.opportunistic) {
      await qmp.execute("migrate-set-parameters", { ...CLEAR_STREAM }, { timeoutMs: 5000 });
      return undefined;
    }
    throw new FerryError(ErrorCode.refused, `${hostName} cannot encrypt the VMotion stream (${reasonOf(error)}) and encryption is required; nothing was sent`, {
      cause: error,
      failureCode: MigrationFailureCode.encryptionUnavailable, details: { listenHost },
    });
  }
}

/**
 * Source: the credential object (deleted after the migration) and what `configure` answered,
 * or why the stream cannot start. `configure(parameters)` sets the stream's capabilities and
 * parameters, sent right behind the object (addCredentials); its own errors are thrown as they are.
 */
export type OutgoingStreamTls<T> =
  | { readonly objectId: string | undefined; readonly configured: T; readonly failure?: undefined }
  | { readonly failure: { readonly code: MigrationFailureCode; readonly message: string }; readonly objectId?: undefined };

export async function outgoingStreamTls<T>(qmp: QmpClient, runDir: string, hostName: string, target: IncomingMigration, encryption: VmotionEncryption, configure: (parameters: StreamTlsParameters) => Promise<T>): Promise<OutgoingStreamTls<T>> {
  const tls = target.tls;
  if (tls === undefined) {
    if (encryption === VmotionEncryption.required) {
      return { failure: { code: MigrationFailureCode.encryptionUnavailable, message: `${target.host} offers no encrypted stream and encryption is required; nothing was sent` } };
    }
    return { objectId: undefined, configured: await configure(CLEAR_STREAM) };
  }
  if (tls.clientCertificate === undefined || tls.clientKey === undefined) {
    return { failure: { code: MigrationFailureCode.encryptionUnavailable, message: `${target.host} offers TLS without the client credential QEMU's stream needs; nothing was sent` } };
  }
  try {
    const files = { "ca-cert.pem": tls.issuer, "client-cert.pem": tls.clientCertificate, "client-key.pem": tls.clientKey };
    const { id, result } = await addCredentials(qmp, runDir, "client", files, (objectId) => configure({ "tls-creds": objectId, "tls-hostname": target.host }));
    return { objectId: id, configured: result };
  } catch (error) {
    if (error instanceof FollowingCommandFailed) throw error.reason;
    // The destination listens over TLS only: a source that cannot encrypt cannot go clear either.
    return { failure: { code: MigrationFailureCode.encryptionUnavailable, message: `QEMU on ${hostName} cannot encrypt the stream (${reasonOf(error)}); nothing was sent` } };
  }
}

/** Deletes a credential object after its migration (best effort: the process may be gone). */
export async function removeStreamCredentials(qmp: QmpClient | undefined, objectId: string | undefined): Promise<void> {
  if (qmp === undefined || objectId === undefined || qmp.isClosed) return;
  await qmp.execute("migrate-set-parameters", { ...CLEAR_STREAM }, { timeoutMs: 2000 }).catch(() => undefined);
  await qmp.execute("object-del", { id: objectId }, { timeoutMs: 2000 }).catch(() => undefined);
}
