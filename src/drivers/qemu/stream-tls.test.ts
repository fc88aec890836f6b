// QEMU's migration stream over its own TLS (tls-creds-x509) with the migration's own keys, on
// real QEMU processes: two qemu drivers in one process on 127.0.1.1 and 127.0.1.2, the test
// guest without a NIC. Encrypted by default; a source holding another migration's client
// credential is refused by the destination QEMU and the VM stays on the source. Fails, saying
// what to install, when QEMU or the guest is missing.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, test } from "node:test";
import { DEFAULT_MIGRATE_OPTIONS, MigrationFailureCode, Phase, type MigrateOptions, type MigrationReport, type VmotionEncryption } from "../../core/migration/types.ts";
import { createStreamCredentials } from "../../pki/ephemeral.ts";
import { systemClock } from "../clock.ts";
import { IncomingState, PowerStatus, type IncomingMigration, type VmSpec } from "../driver.ts";
import { simHost } from "../sim/testing.ts";
import { createQemuDriver, type QemuDriver } from "./driver.ts";
import { guestBooted } from "./testing/guest-console.ts";
import { requireQemu } from "./testing/requirements.ts";

const spec: VmSpec = { name: "web01", memoryMB: 128, vcpus: 1, nics: [], workload: undefined };

let open: QemuDriver[] = [];
let runDirs: string[] = [];
afterEach(async () => {
  await Promise.all(open.map((d) => d.close()));
  await Promise.all(runDirs.map((dir) => rm(dir, { recursive: true, force: true })));
  open = [];
  runDirs = [];
});

/** Two drivers; `runDir` holds the source's QMP sockets and consoles. */
function pair(): { source: QemuDriver; destination: QemuDriver; runDir: string } {
  const images = requireQemu();
  const drivers = new Map<string, QemuDriver>();
  const runDir = mkdtempSync(join(tmpdir(), "ferry-tls-"));
  runDirs.push(runDir);
  const make = (name: string, ip: string): QemuDriver =>
    createQemuDriver({
      host: simHost(name, ip, 1024),
      ...(name === "esx01" ? { runDir } : {}),
      boot: { kernel: images.kernel, initrd: images.initrd, prefixLength: 16 },
      clock: systemClock,
      pollMs: 100,
      // A busy 2-core host can take seconds between the stream's end and the destination's RESUME.
      confirmTimeoutMs: 60_000,
      destinationName: (target) => (drivers.has(target.host) ? (name === "esx01" ? "esx02" : "esx01") : undefined),
      destinationReason: (target) => Promise.resolve(drivers.get(target.host)?.incomingFailure(target.migrationId)),
      destinationState: async (target) => (await drivers.get(target.host)?.incomingState(target.migrationId)) ?? IncomingState.unknown,
    });
  const source = make("esx01", "127.0.1.1");
  const destination = make("esx02", "127.0.1.2");
  drivers.set("127.0.1.1", source);
  drivers.set("127.0.1.2", destination);
  open.push(source, destination);
  return { source, destination, runDir };
}

function migrateOut(source: QemuDriver, target: IncomingMigration, options: Partial<MigrateOptions> = {}): Promise<MigrationReport> {
  return source.migrateOut(spec.name, target, { ...DEFAULT_MIGRATE_OPTIONS, stallTimeoutMs: 10_000, ...options }, { signal: new AbortController().signal, clock: systemClock, onProgress: () => undefined });
}

describe("QEMU's stream over TLS", () => {
  const rows: readonly { setting: VmotionEncryption; encrypted: boolean }[] = [
    { setting: "required", encrypted: true },
    { setting: "disabled", encrypted: false },
  ];
  for (const row of rows) {
    test(`${row.setting}: the VM moves, ${row.encrypted ? "over QEMU's TLS" : "in clear"}`, async () => {
      const { source, destination, runDir } = pair();
      await source.create(spec);
      await source.powerOn(spec.name);
      await guestBooted(runDir, spec.name);
      const target = await destination.prepareIncoming(spec, { migrationId: `tls-${row.setting}`, listenHost: "127.0.1.2", encryption: row.setting });
      assert.equal(target.tls !== undefined, row.encrypted);
      // The default machine type (pc-i440fx-7.2) cannot show the source runs a QEMU whose multifd survives a lost destination (trap 18).
      assert.equal(target.streamChannels, undefined, "one stream by default, whatever the CPUs");
      assert.match(target.streamChoice ?? "", /^one stream: .*trap 18/, "and the destination says why");
      const report = await migrateOut(source, target, { vmotionEncryption: row.setting });
      assert.equal(report.outcome, Phase.completed, report.failure?.message);
      assert.equal(report.encrypted, row.encrypted);
      assert.equal((await destination.get(spec.name))?.power, PowerStatus.running);
      assert.equal(await source.get(spec.name), undefined);
    });
  }

  test("a source presenting another migration's client credential is refused by the destination QEMU; the VM stays on the source", async (t) => {
    const { source, destination } = pair();
    await source.create(spec);
    await source.powerOn(spec.name);
    const target = await destination.prepareIncoming(spec, { migrationId: "tls-impostor", listenHost: "127.0.1.2" });
    const other = await createStreamCredentials("127.0.1.2");
    const tls = target.tls;
    assert.ok(tls !== undefined);
    // The source trusts the real issuer (so it accepts the destination) and the impostor's (so
    // its own QEMU loads the impostor's client certificate): only the destination can refuse.
    const report = await migrateOut(source, { ...target, tls: { issuer: `${tls.issuer}${other.issuer}`, certificate: tls.certificate, clientCertificate: other.clientCertificate, clientKey: other.clientKey } });
    assert.equal(report.outcome, Phase.failed);
    t.diagnostic(`${report.failure?.code ?? "?"}: ${report.failure?.message ?? ""}`);
    // The reason is the destination QEMU's (its stderr): GnuTLS found no certificate it trusts.
    assert.equal(report.failure?.code, MigrationFailureCode.rejectedByDestination, report.failure?.message);
    assert.match(report.failure.message, /certificate/i);
    assert.equal(report.runningOn, "esx01", report.failure.message);
    assert.equal((await source.get(spec.name))?.power, PowerStatus.running);
    await destination.abortIncoming("tls-impostor");
  });

  test("a source that requires encryption refuses a clear destination before QEMU sends anything", async () => {
    const { source, destination } = pair();
    await source.create(spec);
    await source.powerOn(spec.name);
    const target = await destination.prepareIncoming(spec, { migrationId: "tls-clear", listenHost: "127.0.1.2", encryption: "disabled" });
    const report = await migrateOut(source, target, { vmotionEncryption: "required" });
    assert.equal(report.failure?.code, MigrationFailureCode.encryptionUnavailable);
    assert.equal(report.bytesSent, 0);
    assert.equal((await source.get(spec.name))?.power, PowerStatus.running);
    await destination.abortIncoming("tls-clear");
  });
});
