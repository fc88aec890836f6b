// The qemu driver's benchmark (`npm run bench -- qemu`, root only): a real guest migrated live
// between two lab hosts (network namespaces) over the VMotion veth, against raw TCP over the
// same veth in the same run, encrypted (QEMU's TLS, the default) and in clear, and Ferry's
// control cost around QEMU's stream (capabilities, parameters and `migrate`; `query-migrate`
// polling; noticing the end) as a share of the migration's time. Imported by bench/run.ts.
import { DEFAULT_MIGRATE_OPTIONS, Phase } from "../src/core/migration/types.ts";
import { systemClock } from "../src/drivers/clock.ts";
import type { VmSpec } from "../src/drivers/driver.ts";
import type { ControlTiming, QemuDriver } from "../src/drivers/qemu/driver.ts";
import { qemuTestsBlocked } from "../src/drivers/qemu/testing/requirements.ts";
import { guestImages } from "../src/lab/guest.ts";
import { LabNetwork, teardown } from "../src/lab/netns.ts";
import { buildQemuLabNetwork, LAB_PORT_GROUP, qemuLabLayout, type QemuLabLayout } from "../src/lab/qemu-lab.ts";
import { labDrivers } from "../src/lab/testing/lab-drivers.ts";
import { rawTcpMs } from "./raw-tcp.ts";

const MiB = 1024 * 1024;
const RAW_BYTES = 1024 * MiB;
const ROUNDS = 3;

/** Raw TCP from esx01's namespace to esx02's VMotion IP, over the VMotion veth: ms for RAW_BYTES. */
function rawTcpOverVmotion(layout: QemuLabLayout, port: number): Promise<number> {
  const [a, b] = layout.hosts;
  if (a === undefined || b === undefined) throw new Error("two hosts needed");
  return rawTcpMs(a.namespace, b.namespace, b.vmk.ip, port, RAW_BYTES);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function qemuMigration(): Promise<Record<string, number | string | boolean>> {
  const blocked = process.getuid?.() !== 0 ? "needs root (network namespaces)" : qemuTestsBlocked();
  if (blocked !== undefined) return { skipped: true, reason: blocked };
  const images = guestImages();
  const labId = `b${(process.pid % 46656).toString(36)}`;
  const net = new LabNetwork(labId);
  await teardown(labId);
  const layout = qemuLabLayout(net, 2);
  const drivers = new Map<string, QemuDriver>();
  const timings: ControlTiming[] = [];
  try {
    await buildQemuLabNetwork(net, layout);
    for (const [name, driver] of labDrivers(net, layout, images, { memoryMB: 4096, pollMs: 150, onControlTiming: (t) => timings.push(t) })) drivers.set(name, driver);
    const rawMs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) rawMs.push(await rawTcpOverVmotion(layout, 9100 + r));

    // A 512 MiB guest whose writer keeps 192 MiB of it changing at 64 MiB/s: real pages to send.
    const spec: VmSpec = {
      name: "bench01",
      memoryMB: 512,
      vcpus: 1,
      nics: [{ name: "nic0", mac: "52:54:00:12:00:31", ip: "198.18.0.31", portGroup: LAB_PORT_GROUP }],
      workload: { kind: "steady", dirtyRateBytesPerSec: 64 * MiB, workingSetBytes: 192 * MiB, seed: 1 },
    };
    const first = drivers.get("esx01");
    if (first === undefined) throw new Error("no esx01");
    await first.create(spec);
    await first.powerOn(spec.name);
    await systemClock.sleep(8000); // boot (3-5 s under TCG), then the writer fills its working set
    const rates: number[] = [];
    const clearRates: number[] = [];
    const downtimes: number[] = [];
    const totals: number[] = [];
    const sent: number[] = [];
    let from = "esx01";
    // Each round moves the guest twice: encrypted (the default: QEMU's TLS) and in clear.
    for (let m = 0; m < 2 * ROUNDS; m++) {
      const r = m;
      const vmotionEncryption = m % 2 === 0 ? "required" : "disabled";
      const to = from === "esx01" ? "esx02" : "esx01";
      const source = drivers.get(from);
      const destination = drivers.get(to);
      const toHost = layout.hosts.find((h) => h.name === to);
      if (source === undefined || destination === undefined || toHost === undefined) throw new Error("lab hosts missing");
      const target = await destination.prepareIncoming(spec, { migrationId: `bench-${r}`, listenHost: toHost.vmk.ip, encryption: vmotionEncryption });
      const report = await source.migrateOut(spec.name, target, { ...DEFAULT_MIGRATE_OPTIONS, autoConverge: true, vmotionEncryption }, { signal: new AbortController().signal, clock: systemClock, onProgress: () => undefined });
      if (report.outcome !== Phase.completed) throw new Error(`migration ${r} ${report.outcome}: ${report.failure?.message ?? ""}`);
      if (report.encrypted !== (vmotionEncryption === "required")) throw new Error(`migration ${r} (${vmotionEncryption}) reports encrypted ${String(report.encrypted)}`);
      (vmotionEncryption === "required" ? rates : clearRates).push(report.bytesSent / MiB / (report.totalMs / 1000));
      downtimes.push(report.downtimeMs);
      totals.push(report.totalMs);
      sent.push(report.bytesSent / MiB);
      from = to;
      await systemClock.sleep(1000);
    }
    if (process.env["FERRY_BENCH_VERBOSE"] !== undefined) console.error(JSON.stringify(timings));
    const rawMiBs = median(rawMs.map((ms) => RAW_BYTES / MiB / (ms / 1000)));
    const qemuMiBs = median(rates);
    const setup = median(timings.map((t) => t.requestToMigrateMs));
    const notice = median(timings.map((t) => Math.max(0, t.wallMs - t.requestToMigrateMs - t.qemuTotalMs)));
    const polling = median(timings.map((t) => t.pollMs));
    // On the migration's critical path Ferry adds the setup before `migrate` and the delay to
    // notice the end (a MIGRATION event wakes the poll). Polling runs beside QEMU's migration
    // thread: the time spent waiting for its replies is shown apart, as a share too.
    const share = median(timings.map((t) => (t.requestToMigrateMs + Math.max(0, t.wallMs - t.requestToMigrateMs - t.qemuTotalMs)) / Math.max(1, t.wallMs)));
    const pollShare = median(timings.map((t) => t.pollMs / Math.max(1, t.wallMs)));
    return {
      raw_tcp_veth_mib_s: Math.round(rawMiBs),
      qemu_stream_mib_s_median: Math.round(qemuMiBs),
      qemu_stream_clear_mib_s_median: Math.round(median(clearRates)),
      encrypted_vs_clear: Number((qemuMiBs / median(clearRates)).toFixed(3)),
      throughput_ratio: Number((qemuMiBs / rawMiBs).toFixed(2)),
      qemu_total_ms_median: median(totals),
      qemu_downtime_ms_median: median(downtimes),
      mib_sent_median: Number(median(sent).toFixed(1)),
      control_setup_ms_median: Number(setup.toFixed(1)),
      control_poll_ms_median: Number(polling.toFixed(1)),
      control_notice_ms_median: Number(notice.toFixed(1)),
      control_share_of_migration: Number(share.toFixed(4)),
      control_share_goal: 0.01,
      poll_wait_share: Number(pollShare.toFixed(4)),
      polls_median: median(timings.map((t) => t.polls)),
      rounds: ROUNDS,
    };
  } finally {
    await Promise.all([...drivers.values()].map((d) => d.close()));
    await teardown(labId);
  }
}

export const benchmarks = [{ name: "qemu: live migration of a real guest over the VMotion veth vs raw TCP, and Ferry's control cost", run: qemuMigration }] as const;
