// The qemu driver's benchmark (`npm run bench -- qemu`, root only): a real 512 MiB guest migrated
// live between two lab hosts (network namespaces) over the VMotion veth, with QEMU's defaults (a
// bare `migrate` with only `events` on, what QEMU or `virsh migrate` gives untuned) and with
// Ferry's tuning (tuning.ts), over the same link and workloads in the same run, against raw TCP
// over the same veth; and Ferry's control cost around QEMU's stream (its QMP round trips and the
// time to notice the end) as a share of the migration's time; and Ferry's choice in one stream, the
// measurement behind its multifd choice. All run over QEMU's TLS, Ferry's default. Imported by
// bench/run.ts.
import { loadavg } from "node:os";
import { DEFAULT_MIGRATE_OPTIONS, Phase, VmotionEncryption, type MigrationReport } from "../src/core/migration/types.ts";
import { systemClock } from "../src/drivers/clock.ts";
import type { VmSpec, WorkloadSpec } from "../src/drivers/driver.ts";
import { StreamTuningMode, type ControlTiming, type StreamTuning } from "../src/drivers/qemu/driver.ts";
import { qemuTestsBlocked } from "../src/drivers/qemu/testing/requirements.ts";
import { guestImages, type GuestImages } from "../src/lab/guest.ts";
import { LabNetwork, teardown } from "../src/lab/netns.ts";
import { buildQemuLabNetwork, LAB_PORT_GROUP, qemuLabLayout, type QemuLabLayout } from "../src/lab/qemu-lab.ts";
import { labDrivers } from "../src/lab/testing/lab-drivers.ts";
import { rawTcpMs } from "./raw-tcp.ts";

const MiB = 1024 * 1024;
const RAW_BYTES = 1024 * MiB;
const ROUNDS = 3;
const GUEST_MIB = 512;

/** The guest's writer (scripts/guest/ferry-dirty): none, then a few rates over a working set. */
const WORKLOADS: readonly { readonly name: string; readonly workload: WorkloadSpec | undefined; readonly touchedMiB?: number }[] = [
  { name: "idle-ish", workload: undefined },
  // A guest that used half its memory and now idles: the stream carries 256 MiB of data, not zero-page markers.
  { name: "idle-ish, 256 MiB of data", workload: undefined, touchedMiB: 256 },
  { name: "writer 32 MiB/s of 128 MiB", workload: { kind: "steady", dirtyRateBytesPerSec: 32 * MiB, workingSetBytes: 128 * MiB, seed: 1 } },
  { name: "writer 64 MiB/s of 192 MiB", workload: { kind: "steady", dirtyRateBytesPerSec: 64 * MiB, workingSetBytes: 192 * MiB, seed: 2 } },
  { name: "writer 128 MiB/s of 256 MiB", workload: { kind: "steady", dirtyRateBytesPerSec: 128 * MiB, workingSetBytes: 256 * MiB, seed: 3 } },
];

/**
 * The ways a stream is set up: QEMU's defaults, Ferry's choice (one stream on QEMU 7.2: trap 18),
 * Ferry's with 2 multifd channels (the driver's `multifdChannels` option: what 7.2's multifd would
 * give, measured beside), and Ferry's in clear.
 */
const CONFIGS = {
  defaults: { mode: StreamTuningMode.qemuDefaults, multifdChannels: undefined },
  ferry: { mode: StreamTuningMode.ferry, multifdChannels: undefined },
  ferryMultifd: { mode: StreamTuningMode.ferry, multifdChannels: 2 },
  ferryClear: { mode: StreamTuningMode.ferry, multifdChannels: undefined },
} as const satisfies Record<string, StreamTuning>;
/** Configs whose stream goes in clear (encryption disabled on both ends): what TLS costs, measured beside. */
const CLEAR: ReadonlySet<Config> = new Set(["ferryClear"]);
type Config = keyof typeof CONFIGS;

interface Run {
  readonly config: Config;
  readonly report: MigrationReport;
  readonly timing: ControlTiming | undefined;
}

function median(values: readonly number[]): number {
  const sorted = [...values].filter((v) => Number.isFinite(v)).sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** Raw TCP from esx01's namespace to esx02's VMotion IP, over the VMotion veth: ms for RAW_BYTES. */
function rawTcpOverVmotion(layout: QemuLabLayout, port: number): Promise<number> {
  const [a, b] = layout.hosts;
  if (a === undefined || b === undefined) throw new Error("two hosts needed");
  return rawTcpMs(a.namespace, b.namespace, b.vmk.ip, port, RAW_BYTES);
}

/**
 * Boots the guest with `workload`, then moves it ROUNDS times with each config in turn (hosts
 * alternating), so that the machine's load drifts over all configs alike; ends it.
 */
async function migrations(net: LabNetwork, layout: QemuLabLayout, images: GuestImages, configs: readonly Config[], guest: (typeof WORKLOADS)[number], tag: string): Promise<Run[]> {
  const { workload, touchedMiB } = guest;
  const timings = new Map<string, ControlTiming>();
  const drivers = labDrivers(net, layout, images, { memoryMB: 4096, onControlTiming: (t) => timings.set(t.migrationId, t) });
  const spec: VmSpec = { name: `bench-${tag}`, memoryMB: GUEST_MIB, vcpus: 1, nics: [{ name: "nic0", mac: "52:54:00:12:00:31", ip: "198.18.0.31", portGroup: LAB_PORT_GROUP }], workload, ...(touchedMiB === undefined ? {} : { touchedBytes: touchedMiB * MiB }) };
  const runs: Run[] = [];
  const failed = new Set<Config>();
  try {
    const first = drivers.get("esx01");
    if (first === undefined) throw new Error("no esx01");
    await first.create(spec);
    await first.powerOn(spec.name);
    // Boot (3-5 s under TCG; trap 14: never move a guest in its first second), then the writer fills its working set.
    await systemClock.sleep(8000);
    let from = "esx01";
    for (let r = 0; r < ROUNDS; r++) {
      for (const config of configs.filter((c) => !failed.has(c))) {
        for (const driver of drivers.values()) driver.setStreamTuning(CONFIGS[config]);
        const to = from === "esx01" ? "esx02" : "esx01";
        const source = drivers.get(from);
        const destination = drivers.get(to);
        const toHost = layout.hosts.find((h) => h.name === to);
        if (source === undefined || destination === undefined || toHost === undefined) throw new Error("lab hosts missing");
        const migrationId = `bench-${tag}-${config}-${r}`;
        const encryption = CLEAR.has(config) ? VmotionEncryption.disabled : VmotionEncryption.required;
        const target = await destination.prepareIncoming(spec, { migrationId, listenHost: toHost.vmk.ip, encryption });
        // Auto-converge off for both: a bare `migrate` has none, and Ferry's request default would make the comparison one of throttling.
        const report = await source.migrateOut(spec.name, target, { ...DEFAULT_MIGRATE_OPTIONS, autoConverge: false, vmotionEncryption: encryption }, { signal: new AbortController().signal, clock: systemClock, onProgress: () => undefined });
        runs.push({ config, report, timing: timings.get(migrationId) });
        if (report.outcome === Phase.completed) from = to;
        else {
          // The VM runs on the source still; this config is not tried again on this workload.
          await destination.abortIncoming(migrationId);
          failed.add(config);
        }
        await systemClock.sleep(1000);
      }
    }
  } finally {
    await Promise.all([...drivers.values()].map((d) => d.close()));
  }
  return runs;
}

interface Figures {
  readonly mibS: number;
  readonly totalMs: number;
  readonly downtimeMs: number;
  readonly failed: string | undefined;
}

/** Medians of the completed runs; a failure (the defaults not converging) is named instead. */
function figures(runs: readonly Run[]): Figures {
  const done = runs.filter((r) => r.report.outcome === Phase.completed);
  const failure = runs.find((r) => r.report.outcome !== Phase.completed)?.report.failure;
  return {
    mibS: median(done.map((r) => r.report.bytesSent / MiB / (r.report.totalMs / 1000))),
    totalMs: median(done.map((r) => r.report.totalMs)),
    downtimeMs: median(done.map((r) => r.report.hypervisorDowntimeMs ?? r.report.downtimeMs)),
    failed: failure === undefined ? undefined : `${failure.code} after ${Math.round(runs.at(-1)?.report.totalMs ?? 0)} ms`,
  };
}

/**
 * Ferry's control cost on the migration's critical path, as a share of migrateOut's time to the
 * final status: its setup before `migrate` (TLS credential, capabilities, parameters) and the
 * time from QEMU's end event to Ferry acting on it. The queries during the stream run beside
 * QEMU's migration thread, as do the downtime-limit's steps and the final figures' query (read
 * beside the destination's answer): their wait is shown apart (queryShare, final_figures_ms).
 */
function controlShare(t: ControlTiming): number {
  return (t.requestToMigrateMs + (t.endNoticeMs ?? 0)) / Math.max(1, t.wallMs);
}

/** The median of a timing some moves lack (no end event came): those are left out; to 2 decimals. */
function medianOf(timings: readonly ControlTiming[], pick: (t: ControlTiming) => number | undefined): number {
  return Number(median(timings.map((t) => pick(t) ?? Number.NaN)).toFixed(2));
}

function queryShare(t: ControlTiming): number {
  return (t.pollMs + t.stepMs) / Math.max(1, t.wallMs);
}

function row(workload: string, rawMiBs: number, base: Figures, ferry: Figures, ferryRuns: readonly Run[]): Record<string, string | number> {
  const timings = ferryRuns.flatMap((r) => (r.timing === undefined ? [] : [r.timing]));
  const show = (f: Figures, v: number): string | number => (f.failed !== undefined && !Number.isFinite(v) ? f.failed : Math.round(v));
  return {
    workload,
    raw_mib_s: Math.round(rawMiBs),
    default_mib_s: show(base, base.mibS),
    default_total_ms: show(base, base.totalMs),
    default_downtime_ms: show(base, base.downtimeMs),
    ...(base.failed === undefined ? {} : { default_failed: base.failed }),
    ferry_mib_s: show(ferry, ferry.mibS),
    ferry_total_ms: show(ferry, ferry.totalMs),
    ferry_downtime_ms: show(ferry, ferry.downtimeMs),
    ferry_vs_raw: Number((ferry.mibS / rawMiBs).toFixed(2)),
    ferry_vs_default_total: Number((ferry.totalMs / base.totalMs).toFixed(2)),
    control_share: Number(median(timings.map(controlShare)).toFixed(4)),
    query_wait_share: Number(median(timings.map(queryShare)).toFixed(4)),
    end_notice_ms: medianOf(timings, (t) => t.endNoticeMs),
    final_figures_ms: medianOf(timings, (t) => t.finalFiguresMs),
    queries: median(timings.map((t) => t.polls)),
  };
}

async function qemuMigration(): Promise<Record<string, number | string | boolean>> {
  const blocked = process.getuid?.() !== 0 ? "needs root (network namespaces)" : qemuTestsBlocked();
  if (blocked !== undefined) return { skipped: true, reason: blocked };
  const images = guestImages();
  const labId = `b${(process.pid % 46656).toString(36)}`;
  const net = new LabNetwork(labId);
  await teardown(labId);
  const layout = qemuLabLayout(net, 2);
  const loadBefore = loadavg();
  const rows: Record<string, string | number>[] = [];
  const all: Run[] = [];
  let chosen: Figures | undefined;
  let withMultifd: Figures | undefined;
  let filled: { ferry: Figures; clear: Figures } | undefined;
  let rawMiBs: number;
  try {
    await buildQemuLabNetwork(net, layout);
    const rawMs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) rawMs.push(await rawTcpOverVmotion(layout, 9100 + r));
    rawMiBs = median(rawMs.map((ms) => RAW_BYTES / MiB / (ms / 1000)));
    for (const [i, guest] of WORKLOADS.entries()) {
      const runs = await migrations(net, layout, images, ["defaults", "ferry", "ferryMultifd", "ferryClear"], guest, `w${i}`);
      const of = (config: Config): Run[] => runs.filter((r) => r.config === config);
      all.push(...of("ferry"));
      const multifd = figures(of("ferryMultifd"));
      const clear = figures(of("ferryClear"));
      rows.push({
        ...row(guest.name, rawMiBs, figures(of("defaults")), figures(of("ferry")), of("ferry")),
        multifd2_mib_s: Math.round(multifd.mibS),
        multifd2_total_ms: Math.round(multifd.totalMs),
        multifd2_downtime_ms: Math.round(multifd.downtimeMs),
        clear_mib_s: Math.round(clear.mibS),
        clear_total_ms: Math.round(clear.totalMs),
        clear_vs_raw: Number((clear.mibS / rawMiBs).toFixed(2)),
      });
      if (guest.touchedMiB !== undefined) filled = { ferry: figures(of("ferry")), clear };
      if (guest.workload === undefined && guest.touchedMiB === undefined) {
        withMultifd = multifd;
        chosen = figures(of("ferry"));
      }
    }
  } finally {
    await teardown(labId);
  }
  const loadAfter = loadavg();
  console.log("\nqemu: QEMU's defaults vs Ferry's tuning, same guest (512 MiB), link and workload, TLS both; medians of 3");
  console.table(rows);
  const timings = all.flatMap((r) => (r.timing === undefined ? [] : [r.timing]));
  return {
    rows: JSON.stringify(rows),
    ferry_idle_mib_s: Math.round(chosen?.mibS ?? Number.NaN),
    ferry_idle_total_ms: Math.round(chosen?.totalMs ?? Number.NaN),
    ferry_idle_multifd2_mib_s: Math.round(withMultifd?.mibS ?? Number.NaN),
    ferry_idle_multifd2_total_ms: Math.round(withMultifd?.totalMs ?? Number.NaN),
    raw_tcp_mib_s: Math.round(rawMiBs),
    ferry_data_guest_mib_s: Math.round(filled?.ferry.mibS ?? Number.NaN),
    ferry_data_guest_vs_raw: Number(((filled?.ferry.mibS ?? Number.NaN) / rawMiBs).toFixed(2)),
    ferry_data_guest_clear_vs_raw: Number(((filled?.clear.mibS ?? Number.NaN) / rawMiBs).toFixed(2)),
    stream_vs_raw_goal: 0.6,
    control_setup_ms_median: Number(median(timings.map((t) => t.requestToMigrateMs)).toFixed(1)),
    control_query_ms_median: Number(median(timings.map((t) => t.pollMs)).toFixed(1)),
    queries_median: median(timings.map((t) => t.polls)),
    control_share_median: Number(median(timings.map(controlShare)).toFixed(4)),
    query_wait_share_median: Number(median(timings.map(queryShare)).toFixed(4)),
    control_share_goal: 0.01,
    end_notice_ms_median: medianOf(timings, (t) => t.endNoticeMs),
    end_event_read_ms_median: medianOf(timings, (t) => t.endEventReadMs),
    final_figures_ms_median: medianOf(timings, (t) => t.finalFiguresMs),
    end_notice_goal_ms: 2,
    load_before: loadBefore.map((l) => l.toFixed(2)).join(" "),
    load_after: loadAfter.map((l) => l.toFixed(2)).join(" "),
    rounds: ROUNDS,
  };
}

export const benchmarks = [{ name: "qemu: QEMU's defaults vs Ferry's tuning on a real guest over the VMotion veth, raw TCP beside, and Ferry's control cost", run: qemuMigration }] as const;
