// QEMU's own one-stream ceiling on this machine (`npm run bench -- qemu-ceiling`, root only):
// what the migration stream of Debian 12's QEMU reaches with nothing in its way, measured
// beside raw TCP over the same VMotion veth in the same run. Two bare QEMUs in the lab's host
// namespaces, no Ferry between them: the source paused before it ever ran (no vCPU competes for
// the CPUs), its 512 MiB of RAM a file holding 256 MiB of random data and 256 MiB of zeros,
// moved in one stream, in clear and over QEMU's TLS, uncapped. It bounds what any tuning of one
// stream can give (bench/qemu.ts measures Ferry's), and the CPU each QEMU spent says which end
// bounds it. Imported by bench/run.ts.
import { randomFillSync } from "node:crypto";
import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../src/drivers/clock.ts";
import { connectChild, startQemu, type QemuChild } from "../src/drivers/qemu/process.ts";
import type { QmpClient } from "../src/drivers/qemu/qmp.ts";
import { FFDHE2048_PEM } from "../src/drivers/qemu/stream-tls.ts";
import { qemuTestsBlocked, QEMU_BINARY } from "../src/drivers/qemu/testing/requirements.ts";
import { UNCAPPED_BYTES_PER_SEC } from "../src/drivers/qemu/tuning.ts";
import { LabNetwork, teardown } from "../src/lab/netns.ts";
import { buildQemuLabNetwork, qemuLabLayout, type QemuLabLayout } from "../src/lab/qemu-lab.ts";
import { createStreamCredentials } from "../src/pki/ephemeral.ts";
import { rawTcpMs } from "./raw-tcp.ts";

const MiB = 1024 * 1024;
const GUEST_MIB = 512;
const DATA_MIB = 256;
const ROUNDS = 3;
const RAW_BYTES = 1024 * MiB;
const MODES = ["clear", "tls"] as const;
type Mode = (typeof MODES)[number];

interface Move {
  readonly mode: Mode;
  readonly totalMs: number;
  readonly transferredBytes: number;
  /** CPU time (user + system) each QEMU spent, from its start to the stream's end. */
  readonly sourceCpuMs: number;
  readonly destinationCpuMs: number;
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

/** The source's RAM: DATA_MIB of random bytes, then zeros up to GUEST_MIB (sparse). */
function ramFile(dir: string): string {
  const path = join(dir, "ram");
  const fd = openSync(path, "w", 0o600);
  try {
    const chunk = Buffer.alloc(MiB);
    for (let i = 0; i < DATA_MIB; i++) writeSync(fd, randomFillSync(chunk));
    ftruncateSync(fd, GUEST_MIB * MiB);
  } finally {
    closeSync(fd);
  }
  return path;
}

/** CPU ms of a process (utime + stime in /proc/PID/stat, clock ticks of 10 ms). */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  const fields = readFileSync(`/proc/${String(pid)}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** A bare QEMU in `namespace` (`ip netns exec` execs it: the PID is QEMU's), paused, with its QMP socket. */
async function bareQemu(namespace: string, qmpPath: string, backend: string, incoming: boolean): Promise<{ child: QemuChild; qmp: QmpClient }> {
  const args = ["netns", "exec", namespace, QEMU_BINARY, "-machine", "q35,memory-backend=mem", "-accel", "tcg", "-nodefaults", "-display", "none", "-S", "-qmp", `unix:${qmpPath},server=on,wait=off`, "-object", backend, ...(incoming ? ["-incoming", "defer"] : [])];
  const child = startQemu({ command: "ip", args, cpu: "qemu64" });
  return { child, qmp: await connectChild(child, qmpPath, { clock: systemClock }) };
}

/** QEMU's TLS on both ends: the migration's own credentials, as the driver makes them (stream-tls.ts). */
async function addTls(dir: string, source: QmpClient, destination: QmpClient, ip: string): Promise<void> {
  const c = await createStreamCredentials(ip);
  const files = { server: { "ca-cert.pem": c.issuer, "server-cert.pem": c.certificate, "server-key.pem": c.key, "dh-params.pem": FFDHE2048_PEM }, client: { "ca-cert.pem": c.issuer, "client-cert.pem": c.clientCertificate, "client-key.pem": c.clientKey } };
  for (const [endpoint, qmp] of [["server", destination], ["client", source]] as const) {
    const credDir = mkdtempSync(join(dir, `${endpoint}-`));
    for (const [name, pem] of Object.entries(files[endpoint])) writeFileSync(join(credDir, name), pem, { mode: 0o600 });
    await qmp.execute("object-add", { "qom-type": "tls-creds-x509", id: "tls0", dir: credDir, endpoint, "verify-peer": true }, { timeoutMs: 15_000 });
  }
  await destination.execute("migrate-set-parameters", { "tls-creds": "tls0" });
  await source.execute("migrate-set-parameters", { "tls-creds": "tls0", "tls-hostname": ip });
}

/** One move from the first lab host to the second; both QEMUs end with it. */
async function move(layout: QemuLabLayout, dir: string, ram: string, mode: Mode, port: number): Promise<Move> {
  const [a, b] = layout.hosts;
  if (a === undefined || b === undefined) throw new Error("two lab hosts needed");
  const started: QemuChild[] = [];
  try {
    const destination = await bareQemu(b.namespace, join(dir, `dst-${String(port)}.qmp`), `memory-backend-ram,id=mem,size=${String(GUEST_MIB)}M`, true);
    started.push(destination.child);
    const source = await bareQemu(a.namespace, join(dir, `src-${String(port)}.qmp`), `memory-backend-file,id=mem,size=${String(GUEST_MIB)}M,mem-path=${ram},share=off`, false);
    started.push(source.child);
    await source.qmp.execute("migrate-set-parameters", { "max-bandwidth": UNCAPPED_BYTES_PER_SEC });
    if (mode === "tls") await addTls(dir, source.qmp, destination.qmp, b.vmk.ip);
    const uri = `tcp:${b.vmk.ip}:${String(port)}`;
    await destination.qmp.execute("migrate-incoming", { uri });
    const ended = new Promise<string>((resolve) => {
      source.qmp.onEvent((event) => {
        const status = event.data["status"];
        if (status === "completed" || status === "failed" || status === "cancelled") resolve(status);
      }, ["MIGRATION"]);
    });
    await source.qmp.execute("migrate-set-capabilities", { capabilities: [{ capability: "events", state: true }] });
    await source.qmp.execute("migrate", { uri });
    const status = await ended;
    const cpu = { sourceCpuMs: cpuMs(source.child.pid), destinationCpuMs: cpuMs(destination.child.pid) };
    const info = (await source.qmp.execute("query-migrate")) as { "total-time"?: number; ram?: { transferred?: number }; "error-desc"?: string };
    if (status !== "completed") throw new Error(`the ${mode} move ended ${status}: ${info["error-desc"] ?? "no reason"}`);
    return { mode, totalMs: info["total-time"] ?? Number.NaN, transferredBytes: info.ram?.transferred ?? Number.NaN, ...cpu };
  } finally {
    await Promise.all(started.map((child) => child.kill()));
  }
}

async function qemuCeiling(): Promise<Record<string, number | string | boolean>> {
  const blocked = process.getuid?.() !== 0 ? "needs root (network namespaces)" : qemuTestsBlocked();
  if (blocked !== undefined) return { skipped: true, reason: blocked };
  const labId = `bc${(process.pid % 46656).toString(36)}`;
  const net = new LabNetwork(labId);
  await teardown(labId);
  const dir = mkdtempSync(join(tmpdir(), "ferry-ceiling-"));
  const loadBefore = loadavg();
  const moves: Move[] = [];
  const raw: number[] = [];
  try {
    const layout = qemuLabLayout(net, 2);
    await buildQemuLabNetwork(net, layout);
    const [a, b] = layout.hosts;
    if (a === undefined || b === undefined) throw new Error("two lab hosts needed");
    const ram = ramFile(dir);
    for (let r = 0; r < ROUNDS; r++) {
      raw.push(RAW_BYTES / MiB / ((await rawTcpMs(a.namespace, b.namespace, b.vmk.ip, 9150 + r, RAW_BYTES)) / 1000));
      for (const [i, mode] of MODES.entries()) moves.push(await move(layout, dir, ram, mode, 9160 + r * MODES.length + i));
    }
  } finally {
    await teardown(labId);
    rmSync(dir, { recursive: true, force: true });
  }
  const rawMiBs = median(raw);
  const figures: Record<string, number | string | boolean> = { raw_tcp_mib_s: Math.round(rawMiBs) };
  for (const mode of MODES) {
    const of = moves.filter((m) => m.mode === mode);
    const mibS = median(of.map((m) => m.transferredBytes / MiB / (m.totalMs / 1000)));
    figures[`${mode}_mib_s`] = Math.round(mibS);
    figures[`${mode}_vs_raw`] = Number((mibS / rawMiBs).toFixed(2));
    figures[`${mode}_total_ms`] = Math.round(median(of.map((m) => m.totalMs)));
    figures[`${mode}_source_cpu_ms`] = median(of.map((m) => m.sourceCpuMs));
    figures[`${mode}_destination_cpu_ms`] = median(of.map((m) => m.destinationCpuMs));
  }
  return { ...figures, guest_mib: GUEST_MIB, data_mib: DATA_MIB, rounds: ROUNDS, load_before: loadBefore.map((l) => l.toFixed(2)).join(" "), load_after: loadavg().map((l) => l.toFixed(2)).join(" ") };
}

export const benchmarks = [{ name: "qemu-ceiling: QEMU's own one stream, no Ferry and no running vCPU, in clear and over its TLS, beside raw TCP over the VMotion veth", run: qemuCeiling }] as const;
