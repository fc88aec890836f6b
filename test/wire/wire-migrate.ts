// Runs inside the wire test's network namespace: two sim drivers on the namespace's VMotion
// addresses migrate one VM with the encryption setting given as argv[2], and print one JSON
// line (the report's outcome and `encrypted`, and the stream token, which the capture must or
// must not show).
import { DEFAULT_MIGRATE_OPTIONS, type VmotionEncryption } from "../../src/core/migration/types.ts";
import { systemClock } from "../../src/drivers/clock.ts";
import { createSimDriver } from "../../src/drivers/sim/driver.ts";
import { simHost } from "../../src/drivers/sim/testing.ts";
import { WIRE_SPEC, WIRE_IPS } from "./wire-lab.ts";

const setting = process.argv[2] as VmotionEncryption;
// 10 MB/s: tcpdump on a busy machine keeps every packet (at loopback speed the kernel dropped
// half of them once, and the clear stream's pages were missing from the capture).
const CAPTURE_RATE = 10_000_000;
const source = createSimDriver({ host: simHost("esx01", WIRE_IPS.source), clock: systemClock });
const destination = createSimDriver({ host: simHost("esx02", WIRE_IPS.destination), clock: systemClock });
try {
  await source.create(WIRE_SPEC);
  await source.powerOn(WIRE_SPEC.name);
  const target = await destination.prepareIncoming(WIRE_SPEC, { migrationId: "wire-1", listenHost: WIRE_IPS.destination, encryption: setting });
  const report = await source.migrateOut(WIRE_SPEC.name, target, { ...DEFAULT_MIGRATE_OPTIONS, vmotionEncryption: setting, bandwidthLimitBytesPerSec: CAPTURE_RATE }, { signal: new AbortController().signal, clock: systemClock, onProgress: () => undefined });
  process.stdout.write(`${JSON.stringify({ outcome: report.outcome, failure: report.failure?.message, encrypted: report.encrypted, token: target.token })}\n`);
} finally {
  await Promise.all([source.close(), destination.close()]);
}
