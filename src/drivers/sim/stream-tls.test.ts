// The sim's VMotion stream over TLS with the migration's own keys: who the destination lets in,
// what the source accepts, and what each encryption setting does when an end cannot encrypt.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { afterEach, describe, test } from "node:test";
import { isFerryError } from "../../core/errors.ts";
import { DEFAULT_MIGRATE_OPTIONS, MigrationFailureCode, Phase, type MigrateOptions, type MigrationReport, type VmotionEncryption } from "../../core/migration/types.ts";
import { createStreamCredentials } from "../../pki/ephemeral.ts";
import { systemClock } from "../clock.ts";
import { IncomingState, PowerStatus, type IncomingMigration } from "../driver.ts";
import { createSimDriver, type SimDriver } from "./driver.ts";
import { PAGE_SIZE } from "./memory.ts";
import { PROTOCOL_MAGIC, PROTOCOL_VERSION, encodeFrame } from "./protocol.ts";
import { simHost, smallSpec } from "./testing.ts";

let open: SimDriver[] = [];
afterEach(async () => {
  await Promise.all(open.map((d) => d.close()));
  open = [];
});

function pair(): { source: SimDriver; destination: SimDriver } {
  const source = createSimDriver({ host: simHost("esx01", "127.0.1.1"), clock: systemClock });
  const destination = createSimDriver({ host: simHost("esx02", "127.0.1.2"), clock: systemClock });
  open.push(source, destination);
  return { source, destination };
}

async function bootWeb01(source: SimDriver): Promise<void> {
  await source.create(smallSpec("web01"));
  await source.powerOn("web01");
}

function migrateOut(source: SimDriver, target: IncomingMigration, options: Partial<MigrateOptions> = {}): Promise<MigrationReport> {
  return source.migrateOut("web01", target, { ...DEFAULT_MIGRATE_OPTIONS, stallTimeoutMs: 2000, ...options }, { signal: new AbortController().signal, clock: systemClock, onProgress: () => undefined });
}

/** Everything a plain TCP client gets back before the listener closes on it. */
function plaintextExchange(target: IncomingMigration, send: Buffer): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: target.host, port: target.port }, () => socket.write(send));
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => {
      resolve(Buffer.concat(chunks));
    });
  });
}

describe("the sim stream over TLS", () => {
  test("a client in clear is dropped at the handshake, even with the right token; the real stream then runs encrypted", async () => {
    const { source, destination } = pair();
    await bootWeb01(source);
    const target = await destination.prepareIncoming(smallSpec("web01"), { migrationId: "tls-1", listenHost: "127.0.1.2" });
    assert.ok(target.tls !== undefined, "encryption is required by default: the destination offers TLS");
    const hello = encodeFrame({
      type: "hello",
      hello: { magic: PROTOCOL_MAGIC, version: PROTOCOL_VERSION, migrationId: "tls-1", token: target.token, source: "esx09", memoryBytes: 32 * 1024 * 1024, pageSize: PAGE_SIZE, spec: {}, stallTimeoutMs: 2000 },
    });
    const answer = await plaintextExchange(target, hello);
    // Nothing of Ferry's protocol comes back: at most a TLS alert record (content type 21).
    assert.ok(answer.length === 0 || answer[0] === 21, `a plaintext client got ${answer.length} bytes starting ${answer.subarray(0, 8).toString("hex")}`);
    assert.equal(await destination.incomingState("tls-1"), IncomingState.waiting);
    const report = await migrateOut(source, target);
    assert.equal(report.outcome, Phase.completed, report.failure?.message);
    assert.equal(report.encrypted, true);
    assert.equal((await destination.get("web01"))?.power, PowerStatus.running);
  });

  const impostors = [
    { name: "another migration's issuer and certificate", forge: async (t: IncomingMigration) => { const other = await createStreamCredentials(t.host); return { issuer: other.issuer, certificate: other.certificate }; } },
    { name: "the right issuer, another certificate pinned", forge: async (t: IncomingMigration) => ({ issuer: t.tls?.issuer ?? "", certificate: (await createStreamCredentials(t.host)).certificate }) },
    { name: "a certificate that does not parse", forge: (t: IncomingMigration) => Promise.resolve({ issuer: t.tls?.issuer ?? "", certificate: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" }) },
  ];
  for (const { name, forge } of impostors) {
    test(`a source pinning another certificate refuses the listener before sending anything: ${name}`, async () => {
      const { source, destination } = pair();
      await bootWeb01(source);
      const before = source.vm("web01")?.digest();
      const target = await destination.prepareIncoming(smallSpec("web01"), { migrationId: "tls-2", listenHost: "127.0.1.2" });
      const report = await migrateOut(source, { ...target, tls: await forge(target) });
      assert.equal(report.outcome, Phase.failed);
      assert.equal(report.failure?.code, MigrationFailureCode.streamUntrusted, report.failure?.message);
      assert.equal(report.failure.phase, Phase.preparing);
      assert.equal(report.bytesSent, 0);
      assert.equal(report.encrypted, false);
      assert.equal(report.runningOn, "esx01");
      assert.equal((await source.get("web01"))?.power, PowerStatus.running);
      assert.equal(source.vm("web01")?.digest(), before);
      // The destination never saw a HELLO: it still waits, untouched, for the real source.
      assert.equal(await destination.incomingState("tls-2"), IncomingState.waiting);
    });
  }
});

describe("encryption settings when an end cannot encrypt", () => {
  const rows: readonly { setting: VmotionEncryption; destinationCanEncrypt: boolean; expect: { encrypted: boolean } | { refusedAtPrepare: true } }[] = [
    { setting: "required", destinationCanEncrypt: true, expect: { encrypted: true } },
    { setting: "required", destinationCanEncrypt: false, expect: { refusedAtPrepare: true } },
    { setting: "opportunistic", destinationCanEncrypt: true, expect: { encrypted: true } },
    { setting: "opportunistic", destinationCanEncrypt: false, expect: { encrypted: false } },
    { setting: "disabled", destinationCanEncrypt: true, expect: { encrypted: false } },
  ];
  for (const row of rows) {
    test(`${row.setting}, destination ${row.destinationCanEncrypt ? "can" : "cannot"} encrypt`, async () => {
      const { source, destination } = pair();
      await bootWeb01(source);
      destination.setFaults({ noStreamTls: !row.destinationCanEncrypt });
      const prepare = destination.prepareIncoming(smallSpec("web01"), { migrationId: "set-1", listenHost: "127.0.1.2", encryption: row.setting });
      if ("refusedAtPrepare" in row.expect) {
        await assert.rejects(prepare, (e: unknown) => isFerryError(e) && e.code === "REFUSED" && e.failureCode === MigrationFailureCode.encryptionUnavailable);
        assert.equal(await destination.get("web01"), undefined, "no shell is left behind");
        return;
      }
      const target = await prepare;
      assert.equal(target.tls !== undefined, row.expect.encrypted);
      const report = await migrateOut(source, target, { vmotionEncryption: row.setting });
      assert.equal(report.outcome, Phase.completed, report.failure?.message);
      assert.equal(report.encrypted, row.expect.encrypted);
    });
  }

  test("a source that requires encryption refuses a destination offering a clear stream; nothing is sent", async () => {
    const { source, destination } = pair();
    await bootWeb01(source);
    const target = await destination.prepareIncoming(smallSpec("web01"), { migrationId: "old-1", listenHost: "127.0.1.2", encryption: "disabled" });
    const report = await migrateOut(source, target, { vmotionEncryption: "required" });
    assert.equal(report.failure?.code, MigrationFailureCode.encryptionUnavailable);
    assert.equal(report.bytesSent, 0);
    assert.equal(report.runningOn, "esx01");
    assert.equal((await source.get("web01"))?.power, PowerStatus.running);
    await destination.abortIncoming("old-1");
  });
});
