// Measured demand through a real controller and a real sim agent process: the controller samples
// the agent's GET /v1/usage (every 300 ms here, 20 s by default) into rings per host and per VM;
// a busy guest shows above an idle one through GET /api/usage and `ferry hosts --usage --json`,
// and a VM powered off leaves the host's latest sample. The test waits for samples, never sleeps.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { HostUsageHistoryView, UsageReport } from "../../src/api/schemas.ts";
import { labVmSpec } from "../../src/cli/commands/up.ts";
import { runFerry } from "../../src/cli/testing/io.ts";
import { systemClock } from "../../src/drivers/clock.ts";
import { LAB_TEXT, labVm, startLab, type Lab } from "./harness.ts";

const MiB = 1024 * 1024;
const web01 = labVm("web01");
const web02 = labVm("web02");

let lab: Lab | undefined;
const mustLab = (): Lab => {
  if (lab === undefined) throw new Error("the lab did not start (see before)");
  return lab;
};

before(async () => {
  const small = { memoryMB: 32, touchedBytes: 8 * MiB };
  lab = await startLab(
    LAB_TEXT,
    [{ name: "esx01" }],
    [
      // web01 dirties 16 MiB/s (one core in the sim's model), web02 writes nothing.
      { host: "esx01", spec: { ...labVmSpec(web01, undefined, 1), ...small, workload: { kind: "steady", dirtyRateBytesPerSec: 16 * MiB, workingSetBytes: 16 * MiB, seed: 1 } } },
      { host: "esx01", spec: { ...labVmSpec(web02, undefined, 2), ...small, workload: { kind: "idle", dirtyRateBytesPerSec: 0, workingSetBytes: 0, seed: 2 } } },
    ],
    ["--usage-interval", "300"],
  );
});
after(async () => {
  await lab?.stop();
});

/** GET /api/usage until `done` holds (each answer is a new round of samples), or fail after a minute. */
async function usageUntil(query: string, done: (report: UsageReport) => boolean, what: string): Promise<UsageReport> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const answer = await mustLab().api<UsageReport>("GET", `/usage${query}`);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    if (done(answer.body)) return answer.body;
    if (Date.now() > deadline) assert.fail(`not within a minute: ${what}; last answer ${JSON.stringify(answer.body).slice(0, 2000)}`);
    await systemClock.sleep(200);
  }
}

const vmOf = (report: UsageReport, name: string) => report.vms.find((v) => v.vm === name);

test("the busy guest's measured CPU is above the idle one's in GET /api/usage, with history a chart can plot", async () => {
  const report = await usageUntil(
    "?host=esx01",
    (r) => {
      const [busy, idle] = [vmOf(r, "web01"), vmOf(r, "web02")];
      return busy !== undefined && idle !== undefined && busy.history.length >= 3 && idle.history.length >= 3 && (busy.latest?.cpuMhz ?? 0) > (idle.latest?.cpuMhz ?? 0) * 10;
    },
    "three samples of both VMs, web01's CPU above web02's",
  );
  assert.equal(report.intervalMs, 300);
  assert.equal(report.historySamples, 180);
  const busy = vmOf(report, "web01");
  const idle = vmOf(report, "web02");
  assert.equal(busy?.host, "esx01");
  // About one core of esx01 (2500 MHz) for 16 MiB/s, never more than its vCPUs.
  assert.ok(busy.latest !== null && busy.latest.cpuMhz > 1000 && busy.latest.cpuMhz <= web01.vcpus * 2500, `web01 (${web01.vcpus} vCPUs) at ${JSON.stringify(busy.latest)}`);
  assert.ok(idle?.latest !== null && idle?.latest !== undefined && idle.latest.memoryMB >= 8, `web02 holds the 8 MiB it touched at boot: ${JSON.stringify(idle?.latest)}`);
  for (const vm of [busy, idle]) {
    const ats = vm.history.map((p) => p.at);
    assert.deepEqual(ats, [...ats].sort((a, b) => a - b), "history is oldest first");
    assert.deepEqual(Object.keys(vm.history[0] ?? {}).sort(), ["at", "cpuMhz", "memoryMB"]);
  }
  const [host] = report.hosts;
  assert.equal(host?.host, "esx01");
  assert.deepEqual(host.capacity, { cpuMhz: 12 * 2500, memoryMB: 65536 });
  assert.equal(host.vms, 2);
  assert.ok(host.latest !== null && host.latest.cpuMhz >= busy.latest.cpuMhz, "the host's CPU is its VMs' sum");

  const one = await mustLab().api<UsageReport>("GET", "/usage?vm=web01&history=false");
  assert.equal(one.status, 200);
  assert.deepEqual(one.body.vms.map((v) => [v.vm, v.host, v.history.length]), [["web01", "esx01", 0]]);
  assert.deepEqual(one.body.hosts.map((h) => h.host), ["esx01"]);
});

test("ferry hosts --usage --json: CPU and memory used against capacity per host; the table says it in percent", async () => {
  const { url, token } = mustLab().controller;
  const json = await runFerry(["hosts", "--usage", "--json", "--controller", url, "--token", token]);
  assert.equal(json.status, 0, json.err);
  const hosts = JSON.parse(json.out) as HostUsageHistoryView[];
  const esx01 = hosts.find((h) => h.host === "esx01");
  assert.ok(esx01?.latest !== null && esx01?.latest !== undefined && esx01.latest.cpuMhz > 100, json.out);
  assert.equal(esx01.vms, 2);
  assert.deepEqual(esx01.history, [], "the hosts listing carries the latest sample only");
  // Hosts without an agent are listed, not yet sampled.
  assert.equal(hosts.find((h) => h.host === "esx02")?.latest, null);
  const text = await runFerry(["hosts", "--usage", "--controller", url, "--token", token]);
  assert.equal(text.status, 0, text.err);
  assert.match(text.out, /esx01 .*MHz \(\d+\.\d%\).*GiB \(\d+\.\d%\)/);
});

test("a VM powered off leaves its host's latest sample; it keeps its history", async () => {
  await mustLab().agent("esx01").powerOff("web02");
  const report = await usageUntil("?host=esx01", (r) => r.hosts[0]?.vms === 1, "esx01's latest sample without web02");
  const before = vmOf(report, "web02")?.history.length ?? 0;
  assert.ok(before >= 3, "web02's history is kept for its chart");
  const later = await usageUntil("?host=esx01", (r) => (vmOf(r, "web01")?.history.length ?? 0) > (vmOf(report, "web01")?.history.length ?? 0), "another sample");
  assert.equal(vmOf(later, "web02")?.history.length, before, "an off VM gets no new samples");
});

test("bad input: an unknown host or VM is NOT_FOUND, a bad history flag INVALID_INPUT; ferry exits non-zero on one line", async () => {
  const host = await mustLab().api<{ code: string; message: string }>("GET", "/usage?host=nope");
  assert.deepEqual([host.status, host.body.code], [404, "NOT_FOUND"]);
  assert.match(host.body.message, /no host named "nope"/);
  const vm = await mustLab().api<{ code: string }>("GET", "/usage?vm=nope");
  assert.deepEqual([vm.status, vm.body.code], [404, "NOT_FOUND"]);
  const flag = await mustLab().api<{ code: string }>("GET", "/usage?history=maybe");
  assert.deepEqual([flag.status, flag.body.code], [400, "INVALID_INPUT"]);
  const cli = await runFerry(["hosts", "--usage", "--controller", mustLab().controller.url, "--token", "wrong-token-0123456789"]);
  assert.notEqual(cli.status, 0);
  assert.equal(cli.err.trim().split("\n").length, 1, cli.err);
});
