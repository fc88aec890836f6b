// The qemu lab end to end, as a user drives it: `ferry lab up --driver qemu --hosts 2` as a
// child process (controller, two agents with the qemu driver, guest01 booted on esx01), then
// `ferry migrate guest01 --to esx02` and back through the CLI while a client in the client
// namespace holds ONE TCP connection to the guest's sequence-echo service; then the
// controller's host-networking API changes a VMkernel port and the change shows inside the
// host's namespace (and a refused change writes nothing); then `ferry lab down` leaves no
// namespace, link or process. Needs root, QEMU and the test guest: without them it FAILS
// saying what to install.
import assert from "node:assert/strict";
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { after, test } from "node:test";
import type { MigrationReport } from "../../src/core/migration/types.ts";
import { requireQemu, requireRoot } from "../../src/drivers/qemu/testing/requirements.ts";
import { stillRunning, type QemuLabState } from "../../src/cli/commands/lab-qemu.ts";
import { execRunner, listLab } from "../../src/lab/netns.ts";
import { labCli } from "./support.ts";

const labId = `e${(process.pid % 46656).toString(36)}`;
const cli = labCli("lab-e2e");
const { ferry, home } = cli;

// One connection, a numbered line every 20 ms, each answer checked against what the guest's
// service must say ("<n> <line>", n counting from 1 on this connection). It never reconnects;
// on "stop" from stdin it stops sending, waits for the last answers, prints one JSON line.
const CLIENT = `
const net = require("net");
const [ip, port] = process.argv.slice(1);
const s = net.connect({ host: ip, port: Number(port) });
let sent = 0, replies = 0, bad = 0, closed = false, error = "", maxGapMs = 0, last = 0, buf = "", timer;
const report = () => { console.log(JSON.stringify({ sent, replies, bad, closed, error, maxGapMs })); process.exit(0); };
s.setEncoding("utf8");
s.on("connect", () => { last = Date.now(); console.log("connected"); timer = setInterval(() => { if (!closed) s.write("line " + String(++sent) + "\\n"); }, 20); });
s.on("data", (d) => {
  buf += d; let i;
  while ((i = buf.indexOf("\\n")) >= 0) {
    const line = buf.slice(0, i); buf = buf.slice(i + 1);
    const want = replies + 1;
    if (line.trim() !== want + " line " + want) bad++;
    replies++; const now = Date.now(); maxGapMs = Math.max(maxGapMs, now - last); last = now;
  }
});
s.on("error", (e) => { closed = true; error = e.message; });
s.on("close", () => { closed = true; });
process.stdin.on("data", () => { clearInterval(timer); const t0 = Date.now(); const wait = setInterval(() => { if (replies >= sent || Date.now() - t0 > 3000) { clearInterval(wait); report(); } }, 20); });
`;

interface ClientReport {
  readonly sent: number;
  readonly replies: number;
  readonly bad: number;
  readonly closed: boolean;
  readonly error: string;
  readonly maxGapMs: number;
}

let client: ChildProcessByStdio<Writable, Readable, null> | undefined;

after(async () => {
  client?.kill("SIGKILL");
  await cli.cleanup(labId);
});

/** The MAC the client namespace has learned for `ip` (its neighbour entry after talking to it). */
async function neighbourMac(clientNs: string, ip: string): Promise<string | undefined> {
  const out = await execRunner("ip", ["-n", clientNs, "neigh", "show", ip]);
  return /lladdr ([0-9a-f:]{17})/.exec(out)?.[1];
}

async function migrate(vm: string, to: string): Promise<MigrationReport> {
  const run = await ferry("migrate", vm, "--to", to, "--watch", "--json");
  const lines = run.stdout.trim().split("\n");
  const last = JSON.parse(lines[lines.length - 1] ?? "{}") as { type?: string; report?: MigrationReport };
  assert.equal(run.code, 0, `ferry migrate ${vm} --to ${to} failed: ${run.stderr.trim()} ${JSON.stringify(last)}`);
  assert.equal(last.type, "report");
  const report = last.report;
  assert.ok(report !== undefined);
  return report;
}

test("ferry lab up --driver qemu: a real guest moves live there and back, one client connection throughout, host networking acts on the namespaces, lab down leaves nothing", { timeout: 120_000 }, async (t) => {
  requireRoot();
  requireQemu();
  const t0 = performance.now();

  // ---- lab up ----
  const lab = await cli.up(["--driver", "qemu", "--hosts", "2", "--id", labId, "--listen", "127.0.0.1:0"], 60_000);
  const up = cli.upProcess;
  assert.ok(up !== undefined);
  t.diagnostic(`lab up: ${lab.startedInMs} ms (accelerator ${lab.accelerator})`);
  assert.deepEqual(lab.hosts.map((h) => h.name), ["esx01", "esx02"]);
  const guest = lab.guests[0];
  assert.ok(guest !== undefined);
  assert.deepEqual({ name: guest.name, host: guest.host, ip: guest.ip }, { name: "guest01", host: "esx01", ip: "198.18.0.11" });
  // A second `lab up` with the same id is refused in one sentence, and touches nothing.
  const again = await ferry("lab", "up", "--driver", "qemu", "--id", labId, "--listen", "127.0.0.1:0");
  assert.equal(again.code, 1);
  assert.match(again.stderr, new RegExp(`lab ${labId} is already up`));
  assert.equal(again.stderr.trim().split("\n").length, 1, again.stderr);

  const saved = JSON.parse(readFileSync(join(home, "controller.json"), "utf8")) as { url: string; token: string };
  assert.equal(saved.url, lab.controller);
  /** Ferry's own view of the pause: the task's switchover phase start to its completion (the controller's clock). */
  const switchoverMs = async (migrationId: string): Promise<number | undefined> => {
    const response = await fetch(`${saved.url}/api/migrations/${migrationId}`, { headers: { authorization: `Bearer ${saved.token}` } });
    const task = (await response.json()) as { body?: { timeline?: { phase: string; at: number }[] } };
    const at = (phase: string): number | undefined => task.body?.timeline?.find((p) => p.phase === phase)?.at;
    const from = at("switchover");
    const to = at("completed");
    return from === undefined || to === undefined ? undefined : to - from;
  };

  // ---- one client connection, held across both moves ----
  client = spawn("ip", ["netns", "exec", lab.client.namespace, process.execPath, "-e", CLIENT, guest.ip, "7000"], { stdio: ["pipe", "pipe", "inherit"] });
  const clientLines = createInterface({ input: client.stdout });
  const clientOut: string[] = [];
  clientLines.on("line", (line) => clientOut.push(line));
  await once(clientLines, "line");
  assert.deepEqual(clientOut, ["connected"]);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const macBefore = await neighbourMac(lab.client.namespace, guest.ip);
  assert.equal(macBefore, guest.mac);

  const there = await migrate("guest01", "esx02");
  assert.equal(there.outcome, "completed", JSON.stringify(there.failure));
  assert.equal(there.runningOn, "esx02");
  // The destination's agent checked the guest on the VM network, and the source's agent asked it (the report completed).
  const agentToken = readFileSync(join(lab.dir, "agent.token"), "utf8").trim();
  const incoming = await fetch(`${lab.hosts[1]?.api ?? ""}/v1/migrations/incoming/${there.migrationId}`, { headers: { authorization: `Bearer ${agentToken}` } });
  const view = (await incoming.json()) as { state?: string; guest?: { state: string; message: string } };
  assert.equal(view.state, "running");
  assert.equal(view.guest?.state, "reachable", view.guest?.message);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const back = await migrate("guest01", "esx01");
  assert.equal(back.outcome, "completed", JSON.stringify(back.failure));
  assert.equal(back.runningOn, "esx01");
  await new Promise((resolve) => setTimeout(resolve, 300));

  client.stdin.write("stop\n");
  await once(client, "exit");
  const result = JSON.parse(clientOut[clientOut.length - 1] ?? "{}") as ClientReport;
  t.diagnostic(`client: ${JSON.stringify(result)}`);
  for (const [label, report] of [["esx01→esx02", there], ["esx02→esx01", back]] as const) {
    t.diagnostic(`${label}: total ${report.totalMs} ms, downtime ${report.downtimeMs} ms (source STOP to destination RESUME; QEMU's own ${String(report.hypervisorDowntimeMs)} ms), switchover phase in the task timeline ${String(await switchoverMs(report.migrationId))} ms, ${(report.bytesSent / 1048576).toFixed(1)} MiB, ${report.passes} passes`);
    assert.ok(report.hypervisorDowntimeMs !== undefined && report.downtimeMs >= report.hypervisorDowntimeMs, "both downtimes recorded; the guest's pause holds QEMU's stop-and-copy");
  }
  assert.equal(result.closed, false, `the connection broke: ${result.error}`);
  assert.equal(result.bad, 0, "every answer carried the next number: nothing lost, nothing repeated");
  assert.ok(result.sent > 50, `the client kept sending (${result.sent} lines)`);
  assert.equal(result.replies, result.sent, "every line got its answer");
  assert.ok(result.maxGapMs < 2000, `longest silence ${result.maxGapMs} ms`);
  // Same MAC and IP after the moves, as the client's namespace sees the guest and as the controller records it.
  assert.equal(await neighbourMac(lab.client.namespace, guest.ip), guest.mac);
  const vmRecord = (await (await fetch(`${saved.url}/api/vms/guest01`, { headers: { authorization: `Bearer ${saved.token}` } })).json()) as { host?: string; nics?: { mac: string; ip?: string }[] };
  assert.deepEqual({ host: vmRecord.host, nics: vmRecord.nics?.map((n) => `${n.mac} ${n.ip ?? ""}`) }, { host: "esx01", nics: [`${guest.mac} ${guest.ip}`] });

  // ---- host networking through the controller acts inside the namespaces ----
  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: { message?: string; vswitches?: { vmkernelPorts: { name: string; ip: string }[] }[] } }> => {
    const response = await fetch(`${saved.url}/api${path}`, { method, headers: { authorization: `Bearer ${saved.token}`, "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: response.status, body: (await response.json()) as { message?: string } };
  };
  const esx01 = lab.hosts[0];
  const esx02 = lab.hosts[1];
  assert.ok(esx01 !== undefined && esx02 !== undefined);
  const addr = (ns: string, link: string): Promise<string> => execRunner("ip", ["-n", ns, "addr", "show", "dev", link]);
  const linkInfo = (ns: string, link: string): Promise<string> => execRunner("ip", ["-n", ns, "link", "show", "dev", link]);
  // Set esx02's VMotion IP: the address moves on vmk1 inside its namespace ...
  const moved = await api("PATCH", "/hosts/esx02/network/vmk1", { ip: "198.19.0.22/16" });
  assert.equal(moved.status, 200, moved.body.message);
  assert.match(await addr(esx02.namespace, "vmk1"), /inet 198\.19\.0\.22\/16 /);
  assert.doesNotMatch(await addr(esx02.namespace, "vmk1"), /198\.19\.0\.2\//);
  assert.match(await linkInfo(esx02.namespace, "vmk1"), /alias vmotion/);
  // ... and the next migration streams to it.
  const third = await migrate("guest01", "esx02");
  assert.equal(third.outcome, "completed", JSON.stringify(third.failure));
  const esx02Log = readFileSync(join(lab.dir, "agent-esx02.log"), "utf8");
  assert.match(esx02Log, /"listen":"198\.19\.0\.22:\d+"/, "esx02 took the stream on its new VMotion IP");
  // Add a VMkernel port without VMotion on esx01: a new link cabled to the VMotion bridge, its address, its alias.
  const added = await api("POST", "/hosts/esx01/network", { vswitch: "vSwitch1", portGroup: "VMotion-2", port: "vmk2", vmotion: false, ip: "198.19.1.1/16" });
  assert.equal(added.status, 200, added.body.message);
  assert.match(await addr(esx01.namespace, "vmk2"), /inet 198\.19\.1\.1\/16 /);
  assert.match(await linkInfo(esx01.namespace, "vmk2"), /state UP[\s\S]*alias vmkernel/);
  // An address outside the lab's range is refused by the agent before any command runs: nothing is written.
  const refused = await api("PATCH", "/hosts/esx02/network/vmk1", { ip: "203.0.113.5/24" });
  assert.equal(refused.status, 422, refused.body.message);
  assert.match(refused.body.message ?? "", /esx02 refused the network change: .*outside 198\.18\.0\.0\/15/);
  assert.doesNotMatch(await addr(esx02.namespace, "vmk1"), /203\.0\.113/);
  const host02 = await api("GET", "/hosts/esx02");
  assert.deepEqual(host02.body.vswitches?.flatMap((v) => v.vmkernelPorts).map((p) => `${p.name} ${p.ip}`), ["vmk1 198.19.0.22/16"]);
  // Removing the port deletes its link.
  const removed = await api("DELETE", "/hosts/esx01/network/vmk2");
  assert.equal(removed.status, 200, removed.body.message);
  await assert.rejects(linkInfo(esx01.namespace, "vmk2"), /does not exist|Cannot find device/);

  // ---- lab down: nothing left ----
  const state = JSON.parse(readFileSync(join(lab.dir, "state.json"), "utf8")) as QemuLabState;
  const qemuPids = (await Promise.all(lab.hosts.map(async (h) => (await execRunner("ip", ["netns", "pids", h.namespace])).split(/\s+/).filter((p) => p !== "")))).flat().map(Number);
  assert.ok(qemuPids.length >= 1, "the guest's QEMU runs inside a host namespace");
  const upExited = once(up, "exit");
  const down = await ferry("lab", "down", "--id", labId, "--json");
  assert.equal(down.code, 0, down.stderr);
  await upExited;
  assert.deepEqual(await listLab(labId), { namespaces: [], links: [] });
  for (const pid of [state.owner.pid, ...state.agents.map((a) => a.pid), ...qemuPids]) {
    assert.equal(stillRunning({ role: "", pid, startTime: undefined }), false, `process ${pid} is gone`);
  }
  t.diagnostic(`whole test: ${Math.round(performance.now() - t0)} ms`);
});
