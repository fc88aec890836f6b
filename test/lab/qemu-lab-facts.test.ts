// What the checker says about a real host is what its agent observed there, and the move is
// refused for the seed's reason. One `ferry lab up --driver qemu --hosts 3 --guests 2` (real
// QEMU under TCG, each host's agent inside its namespace) serves every case:
//   1. facts that change under Ferry's feet: esx02's VMotion address removed, its VMotion
//      uplink down, the shared datastore gone from where esx02 mounts it; after `ferry host
//      refresh esx02` the check names the reason and `ferry migrate` refuses it; put back and
//      refreshed, the move is clean again (and the running guest never noticed);
//   2. storage: a VM on esx01's local datastore is refused towards esx02 until its disk is
//      moved to the shared one while it is off (`ferry vm set --disk`); then it boots there
//      and moves live;
//   3. the hypervisor: esx03's agent restarted over a QEMU that says it is 7.1.0 and lacks the
//      7.2 machine types (test/lab/fixtures/qemu-7.1.sh): MACHINE_TYPE_UNSUPPORTED and
//      HYPERVISOR_OLDER, the move refused;
//   4. CD-ROMs: an ISO on the shared datastore moves with its VM; a host's own drive is an
//      error while connected, a warning once disconnected that stops the move until accepted,
//      and accepted, the VM moves live without it.
// Needs root, QEMU and the test guest: without them it FAILS saying what to install.
import assert from "node:assert/strict";
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { randomInt } from "node:crypto";
import { chmodSync, copyFileSync, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { after, test, type TestContext } from "node:test";
import type { HostRefresh } from "../../src/api/schemas.ts";
import { agentReady, stopAgentProcess } from "../../src/cli/commands/agent-process.ts";
import { stillRunning, waitForGuest, type QemuLabState, type QemuLabSummary } from "../../src/cli/commands/lab-qemu.ts";
import type { MigrationReport } from "../../src/core/migration/types.ts";
import { requireQemu, requireRoot, QEMU_BINARY } from "../../src/drivers/qemu/testing/requirements.ts";
import { CONTROLLER_IP, CONTROLLER_PORT, HOST_LAB_CLUSTER, SHARED_DATASTORE } from "../../src/lab/host-lab.ts";
import { execRunner } from "../../src/lab/netns.ts";
import { keepLabLogs, labCli } from "./support.ts";

const BIN = new URL("../../bin/ferry.js", import.meta.url).pathname;
const OLD_QEMU = new URL("./fixtures/qemu-7.1.sh", import.meta.url).pathname;
const labId = `f${randomInt(36 ** 4).toString(36).padStart(4, "0")}`;
const cli = labCli("lab-facts");
const { ferry } = cli;
/** Agents this file started (esx03 over the older QEMU): ended by their PID in `after`. */
const ownAgents: ChildProcessByStdio<null, Readable, Readable>[] = [];
let labUp: Promise<QemuLabSummary> | undefined;

after(async () => {
  keepLabLogs(cli.home, labId);
  for (const agent of ownAgents) await stopAgentProcess(agent);
  await cli.cleanup(labId);
});

/** The one lab every case shares, brought up by the first case that asks. */
function theLab(): Promise<QemuLabSummary> {
  requireRoot();
  requireQemu();
  // Two guests boot at once under TCG on a machine others load too: minutes, not seconds.
  labUp ??= cli.up(["--driver", "qemu", "--hosts", "3", "--guests", "2", "--id", labId, "--listen", "127.0.0.1:0"], 300_000);
  return labUp;
}

interface Finding {
  readonly code: string;
  readonly severity: "error" | "warning";
  readonly subject: { readonly kind: string; readonly name: string; readonly vm?: string; readonly host?: string };
  readonly message: string;
  readonly fix: string;
}

interface CheckResult {
  readonly ok: boolean;
  readonly errors: readonly Finding[];
  readonly warnings: readonly Finding[];
}

/** `ferry check --vm VM --to HOST --json`: its exit code and findings. */
async function check(vm: string, to: string): Promise<CheckResult & { readonly code: number }> {
  const run = await ferry("check", "--vm", vm, "--to", to, "--json");
  try {
    return { code: run.code, ...(JSON.parse(run.stdout) as CheckResult) };
  } catch {
    throw new Error(`ferry check --vm ${vm} --to ${to} printed no JSON (exit ${run.code}): ${run.stderr.trim()}`);
  }
}

const codes = (findings: readonly Finding[]): string[] => findings.map((f) => f.code).sort();
const said = (findings: readonly Finding[]): string => findings.map((f) => `${f.code}: ${f.message}`).join("\n");

async function refresh(host: string): Promise<HostRefresh> {
  const run = await ferry("host", "refresh", host, "--json");
  assert.equal(run.code, 0, `ferry host refresh ${host}: ${run.stderr.trim()}`);
  return JSON.parse(run.stdout) as HostRefresh;
}

/** `ferry migrate VM --to HOST --watch --json ARGS`: the exit code, stderr and the closing report (when it got that far). */
async function migrate(vm: string, to: string, ...args: string[]): Promise<{ code: number; stderr: string; report: MigrationReport | undefined }> {
  const run = await ferry("migrate", vm, "--to", to, "--watch", "--json", ...args);
  const last = run.stdout.trim().split("\n").pop() ?? "";
  let report: MigrationReport | undefined;
  try {
    report = (JSON.parse(last) as { report?: MigrationReport }).report;
  } catch {
    report = undefined;
  }
  return { code: run.code, stderr: run.stderr, report };
}

/** The controller's API, through the relay `lab up` opened on 127.0.0.1. */
async function api<T>(path: string): Promise<T> {
  const saved = JSON.parse(readFileSync(join(cli.home, "controller.json"), "utf8")) as { url: string; token: string };
  const response = await fetch(`${saved.url}/api${path}`, { headers: { authorization: `Bearer ${saved.token}` } });
  assert.equal(response.status, 200, `GET /api${path}`);
  return (await response.json()) as T;
}

interface HostRecord {
  readonly connected: boolean;
  readonly nics: readonly { readonly name: string; readonly speedMbps: number }[];
  readonly hypervisor?: { readonly version: string; readonly machineTypes: readonly string[] };
}

async function vmHost(vm: string): Promise<string | undefined> {
  const run = await ferry("vms", "--json");
  assert.equal(run.code, 0, run.stderr);
  return (JSON.parse(run.stdout) as { name: string; host: string }[]).find((v) => v.name === vm)?.host;
}

/** Waits until `link` in `ns` reports operstate `state` (the kernel's link watch may lag an `ip link set`). */
async function waitForOperstate(ns: string, link: string, state: "UP" | "DOWN"): Promise<void> {
  const deadline = performance.now() + 15_000;
  for (;;) {
    const [info] = JSON.parse(await execRunner("ip", ["-n", ns, "-j", "link", "show", "dev", link])) as { operstate?: string }[];
    if (info?.operstate === state) return;
    if (performance.now() > deadline) throw new Error(`${link} in ${ns} is ${info?.operstate ?? "gone"}, not ${state}, after 15 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A fault done to esx02 outside Ferry, what its refresh must then report, and the errors the check gives. */
interface FactFault {
  readonly fault: string;
  inflict(lab: QemuLabSummary, ns: string): Promise<void>;
  repair(lab: QemuLabSummary, ns: string): Promise<void>;
  observed(refreshed: HostRefresh, record: HostRecord, lab: QemuLabSummary): void;
  /** One pattern per error, matched against "CODE: message". */
  readonly errors: readonly RegExp[];
}

const sharedPath = (lab: QemuLabSummary): string => join(lab.dir, "datastores", SHARED_DATASTORE);

const FACT_FAULTS: readonly FactFault[] = [
  {
    fault: "the VMotion VMkernel port lost its address",
    inflict: async (_lab, ns) => {
      await execRunner("ip", ["-n", ns, "addr", "flush", "dev", "vmk1"]);
    },
    repair: async (_lab, ns) => {
      await execRunner("ip", ["-n", ns, "addr", "add", "198.19.0.2/16", "dev", "vmk1"]);
    },
    observed: (refreshed) => {
      assert.ok(refreshed.problems.some((p) => /vmk1 .*no IPv4 address/.test(p)), refreshed.problems.join("\n"));
    },
    // Without its address vmk1 is no VMotion port: the host is left with vmk0 only.
    errors: [/^VMOTION_(PORT_MISSING|NOT_ENABLED): .*esx02/],
  },
  {
    fault: "the VMotion uplink is down",
    inflict: async (_lab, ns) => {
      await execRunner("ip", ["-n", ns, "link", "set", "eth1", "down"]);
      await waitForOperstate(ns, "eth1", "DOWN");
    },
    repair: async (_lab, ns) => {
      await execRunner("ip", ["-n", ns, "link", "set", "eth1", "up"]);
      await waitForOperstate(ns, "eth1", "UP");
    },
    observed: (_refreshed, record) => {
      assert.deepEqual(record.nics.find((n) => n.name === "eth1"), { name: "eth1", speedMbps: 0 }, "a NIC that is down has no speed");
    },
    errors: [/^VMOTION_LINK_DOWN: .*\(eth1\).*esx02/],
  },
  {
    fault: "the shared datastore is gone from where esx02 mounts it",
    // QEMU holds guest01's disk and ISO open: a rename of their directory does not reach it.
    inflict: (lab) => {
      renameSync(sharedPath(lab), `${sharedPath(lab)}.moved`);
      return Promise.resolve();
    },
    repair: (lab) => {
      if (existsSync(`${sharedPath(lab)}.moved`)) renameSync(`${sharedPath(lab)}.moved`, sharedPath(lab));
      return Promise.resolve();
    },
    observed: (refreshed, _record, lab) => {
      assert.deepEqual(refreshed.datastoreProblems.map((p) => p.path), [sharedPath(lab)]);
      assert.match(refreshed.datastoreProblems[0]?.reason ?? "", /does not exist/);
    },
    errors: [/^STORAGE_NOT_VISIBLE: .*guest01\/data\.raw.*"lab-shared".*esx02 does not mount/, /^DEVICE_HOST_ONLY: .*boot\.iso on datastore "lab-shared", which esx02 does not mount/],
  },
];

/** Each pattern matches one error and each error one pattern. */
function assertErrors(result: CheckResult, patterns: readonly RegExp[]): void {
  const lines = result.errors.map((f) => `${f.code}: ${f.message}`);
  assert.equal(lines.length, patterns.length, lines.join("\n"));
  for (const pattern of patterns) assert.ok(lines.some((l) => pattern.test(l)), `no error matches ${String(pattern)}:\n${lines.join("\n")}`);
}

test("observed facts decide: after `ferry host refresh esx02` the check names what changed on esx02 and the move is refused; put back, it is clean", { timeout: 600_000 }, async (t) => {
  const lab = await theLab();
  t.diagnostic(`lab up: ${lab.startedInMs} ms (accelerator ${lab.accelerator})`);
  const esx02 = lab.hosts.find((h) => h.name === "esx02");
  assert.ok(esx02 !== undefined);
  assert.equal(await vmHost("guest01"), "esx01");
  const clean = await check("guest01", "esx02");
  assert.deepEqual({ code: clean.code, errors: said(clean.errors), warnings: said(clean.warnings) }, { code: 0, errors: "", warnings: "" });

  for (const fault of FACT_FAULTS) {
    await t.test(fault.fault, async (t) => {
      const t0 = performance.now();
      await fault.inflict(lab, esx02.namespace);
      try {
        const refreshed = await refresh("esx02");
        fault.observed(refreshed, await api<HostRecord>("/hosts/esx02"), lab);
        const broken = await check("guest01", "esx02");
        assert.equal(broken.code, 1, said(broken.errors));
        assertErrors(broken, fault.errors);
        t.diagnostic(`${fault.fault}: ${said(broken.errors)}`);
        const refused = await migrate("guest01", "esx02");
        assert.equal(refused.code, 1, refused.stderr);
        for (const code of codes(broken.errors)) assert.match(refused.stderr, new RegExp(code));
      } finally {
        await fault.repair(lab, esx02.namespace);
        await refresh("esx02");
      }
      const repaired = await check("guest01", "esx02");
      assert.deepEqual({ code: repaired.code, errors: said(repaired.errors), warnings: said(repaired.warnings) }, { code: 0, errors: "", warnings: "" });
      t.diagnostic(`${fault.fault}: inflicted, refreshed, checked, refused, repaired in ${Math.round(performance.now() - t0)} ms`);
    });
  }
  // The guest ran through all of it, still on esx01.
  await waitForGuest(lab.client.namespace, "198.18.0.11", 60_000);
  assert.equal(await vmHost("guest01"), "esx01");
});

test("a disk on esx01's local datastore keeps its VM from esx02 until it is moved to the shared one while off; then it boots and moves live", { timeout: 600_000 }, async (t) => {
  const lab = await theLab();
  // guest02 only held a DHCP reservation for local01: the lab's DHCP server answers known MACs.
  const spare = lab.guests.find((g) => g.name === "guest02");
  assert.ok(spare !== undefined);
  for (const args of [["vm", "power", "guest02", "off"], ["vm", "delete", "guest02"]]) {
    const run = await ferry(...args);
    assert.equal(run.code, 0, `ferry ${args.join(" ")}: ${run.stderr}`);
  }
  const created = await ferry("vm", "create", "local01", "--host", "esx01", "--memory", "128", "--disk", "esx01-local:local01/data.raw,16M", "--cdrom", `${SHARED_DATASTORE}:boot.iso`, "--nic", `VM Network,${spare.mac},${spare.ip}`);
  assert.equal(created.code, 0, created.stderr);
  const local = join(lab.dir, "datastores", "esx01-local", "local01", "data.raw");
  assert.ok(existsSync(local), `the disk was created on esx01's local datastore (${local})`);

  const refused = await check("local01", "esx02");
  assert.equal(refused.code, 1);
  assert.deepEqual(codes(refused.errors), ["STORAGE_NOT_VISIBLE"], said(refused.errors));
  assert.equal(refused.errors[0]?.subject.name, "esx01-local");
  assert.match(refused.errors[0].message, /local01\/data\.raw.*"esx01-local".*esx02 does not mount/);

  // The administrator moves the file while the VM is off and tells Ferry where it is now.
  mkdirSync(join(sharedPath(lab), "local01"));
  renameSync(local, join(sharedPath(lab), "local01", "data.raw"));
  const moved = await ferry("vm", "set", "local01", "--disk", `disk0=${SHARED_DATASTORE}:local01/data.raw`);
  assert.equal(moved.code, 0, moved.stderr);
  const cold = await check("local01", "esx02");
  assert.deepEqual({ code: cold.code, errors: said(cold.errors), warnings: codes(cold.warnings) }, { code: 0, errors: "", warnings: ["VM_POWERED_OFF"] });

  const on = await ferry("vm", "power", "local01", "on");
  assert.equal(on.code, 0, on.stderr);
  const bootMs = await waitForGuest(lab.client.namespace, spare.ip, 180_000);
  t.diagnostic(`local01 answered ${Math.round(bootMs)} ms after power-on`);
  const live = await migrate("local01", "esx02");
  assert.equal(live.code, 0, live.stderr);
  assert.equal(live.report?.outcome, "completed");
  assert.equal(live.report.failure, undefined, JSON.stringify(live.report.failure));
  assert.equal(live.report.runningOn, "esx02");
  assert.ok(live.report.bytesSent > 0 && live.report.hypervisorDowntimeMs !== undefined, "a live move: QEMU streamed the guest's memory");
  t.diagnostic(`local01 → esx02 live: total ${live.report.totalMs} ms, downtime ${live.report.downtimeMs} ms, ${(live.report.bytesSent / 1048576).toFixed(1)} MiB in ${live.report.passes} passes`);
  assert.equal(await vmHost("local01"), "esx02");
  await waitForGuest(lab.client.namespace, spare.ip, 30_000);
});

/** Restarts esx03's agent as lab up started it, over `binary`; resolves once it is ready. */
async function restartAgentOver(t: TestContext, lab: QemuLabSummary, host: string, binary: string): Promise<void> {
  const ns = lab.hosts.find((h) => h.name === host)?.namespace;
  assert.ok(ns !== undefined);
  const state = JSON.parse(readFileSync(join(lab.dir, "state.json"), "utf8")) as QemuLabState;
  const recorded = state.agents.find((a) => a.host === host);
  assert.ok(recorded !== undefined && stillRunning(recorded), `lab up recorded ${host}'s running agent`);
  // Ended by its recorded PID and start time, as `ferry lab down` would.
  process.kill(recorded.pid, "SIGTERM");
  const deadline = performance.now() + 30_000;
  while (stillRunning(recorded)) {
    if (performance.now() > deadline) throw new Error(`${host}'s agent (PID ${recorded.pid}) did not stop within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const config = JSON.parse(readFileSync(join(lab.dir, `agent-${host}.yaml`), "utf8")) as { qemu: Record<string, unknown> };
  const path = join(lab.dir, `agent-${host}-older-qemu.yaml`);
  writeFileSync(path, `${JSON.stringify({ ...config, qemu: { ...config.qemu, binary } }, null, 2)}\n`, { mode: 0o600 });
  // Its identity (key, certificate, credential) is in its state directory: it announces itself again, no join token.
  const args = ["agent", "--config", path, "--controller", `https://${CONTROLLER_IP}:${CONTROLLER_PORT}`, "--cluster", HOST_LAB_CLUSTER];
  const child = spawn("ip", ["netns", "exec", ns, process.execPath, BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  ownAgents.push(child);
  const log = createWriteStream(join(lab.dir, `agent-${host}-older-qemu.log`));
  let tail = "";
  child.stderr.on("data", (chunk: Buffer) => {
    log.write(chunk);
    tail = (tail + chunk.toString()).slice(-2000);
  });
  child.once("exit", () => log.end());
  await agentReady(child, host, 60_000, () => tail);
  t.diagnostic(`${host}'s agent restarted over ${binary} (PID ${String(child.pid)})`);
}

test("a host whose QEMU lacks the VM's machine type and is older than the source's: MACHINE_TYPE_UNSUPPORTED and HYPERVISOR_OLDER, the move refused", { timeout: 600_000 }, async (t) => {
  const lab = await theLab();
  const real = /version (\d+\.\d+\.\d+)/.exec(await execRunner(QEMU_BINARY, ["--version"]))?.[1];
  assert.ok(real !== undefined, "qemu-system-x86_64 --version names its version");
  assert.ok(/^(7\.[2-9]|[89]\.|[1-9]\d\.)/.test(real), `this test stands for a QEMU older than the installed one, which must be newer than 7.1 (it is ${real})`);
  const wrapper = join(lab.dir, "qemu-7.1.sh");
  copyFileSync(OLD_QEMU, wrapper);
  chmodSync(wrapper, 0o755);
  const source = await vmHost("guest01");
  assert.ok(source !== undefined && source !== "esx03");
  const machine = (await api<{ machine?: string }>("/vms/guest01")).machine;
  assert.ok(machine !== undefined, "guest01 was created with a machine type");

  await restartAgentOver(t, lab, "esx03", wrapper);
  const refreshed = await refresh("esx03");
  assert.equal(refreshed.source, "observed");
  const record = await api<HostRecord>("/hosts/esx03");
  assert.equal(record.connected, true);
  assert.equal(record.hypervisor?.version, "7.1.0");
  assert.ok(record.hypervisor.machineTypes.includes("pc-i440fx-7.1") && !record.hypervisor.machineTypes.includes(machine), record.hypervisor.machineTypes.join(" "));

  const refused = await check("guest01", "esx03");
  assert.equal(refused.code, 1);
  assert.deepEqual(codes(refused.errors), ["HYPERVISOR_OLDER", "MACHINE_TYPE_UNSUPPORTED"], said(refused.errors));
  const text = said(refused.errors);
  assert.match(text, new RegExp(`MACHINE_TYPE_UNSUPPORTED: guest01 runs machine type ${machine}, which QEMU 7\\.1\\.0 on esx03 does not provide`));
  assert.match(text, new RegExp(`HYPERVISOR_OLDER: esx03 runs QEMU 7\\.1\\.0, older than QEMU ${real.replaceAll(".", "\\.")} on ${source}`));
  const move = await migrate("guest01", "esx03");
  assert.equal(move.code, 1, move.stderr);
  assert.match(move.stderr, /MACHINE_TYPE_UNSUPPORTED[\s\S]*HYPERVISOR_OLDER|HYPERVISOR_OLDER[\s\S]*MACHINE_TYPE_UNSUPPORTED/);
  assert.equal(await vmHost("guest01"), source);
});

test("CD-ROMs: an ISO on the shared datastore moves with its VM; a host's own drive is an error while connected, a warning once disconnected, and the move runs once that warning is accepted", { timeout: 600_000 }, async (t) => {
  const lab = await theLab();
  assert.equal(await vmHost("guest01"), "esx01");
  const iso = await check("guest01", "esx02");
  assert.deepEqual({ code: iso.code, errors: said(iso.errors) }, { code: 0, errors: "" });
  const moved = await migrate("guest01", "esx02");
  assert.equal(moved.code, 0, moved.stderr);
  assert.equal(moved.report?.outcome, "completed");
  assert.equal(moved.report.failure, undefined, JSON.stringify(moved.report.failure));
  assert.equal(moved.report.runningOn, "esx02");
  t.diagnostic(`guest01 (boot.iso in its CD-ROM) → esx02: total ${moved.report.totalMs} ms, downtime ${moved.report.downtimeMs} ms`);
  await waitForGuest(lab.client.namespace, "198.18.0.11", 30_000);

  // cd01's drive is esx01's own /dev/sr0 (this machine has none: a connected drive could not even start).
  const created = await ferry("vm", "create", "cd01", "--host", "esx01", "--memory", "64", "--disk", `${SHARED_DATASTORE}:cd01/d.raw,8M`, "--cdrom", "host:/dev/sr0", "--nic", "VM Network");
  assert.equal(created.code, 0, created.stderr);
  const connected = await check("cd01", "esx02");
  assert.equal(connected.code, 1);
  assert.deepEqual(codes(connected.errors), ["DEVICE_HOST_ONLY"], said(connected.errors));
  assert.deepEqual(connected.errors[0]?.subject, { kind: "device", name: "cd0", vm: "cd01" });
  assert.match(connected.errors[0].message, /\/dev\/sr0 of esx01/);

  // Disconnected, the drive no longer holds the VM to esx01: a warning, and the check passes.
  const disconnected = await ferry("vm", "set", "cd01", "--disconnect", "cd0");
  assert.equal(disconnected.code, 0, disconnected.stderr);
  const warned = await check("cd01", "esx02");
  assert.deepEqual({ code: warned.code, errors: said(warned.errors), warnings: codes(warned.warnings) }, { code: 0, errors: "", warnings: ["DEVICE_HOST_ONLY", "VM_POWERED_OFF"] });
  assert.match(warned.warnings.find((w) => w.code === "DEVICE_HOST_ONLY")?.message ?? "", /not active .*\/dev\/sr0 of esx01/);

  // Running (its drive empty, SeaBIOS finds nothing to boot), it moves live once the warning is accepted.
  const on = await ferry("vm", "power", "cd01", "on");
  assert.equal(on.code, 0, on.stderr);
  const running = await check("cd01", "esx02");
  assert.deepEqual({ code: running.code, errors: said(running.errors), warnings: codes(running.warnings) }, { code: 0, errors: "", warnings: ["DEVICE_HOST_ONLY"] });
  const unaccepted = await migrate("cd01", "esx02");
  assert.equal(unaccepted.code, 1, "a warning stops the move until it is accepted");
  assert.match(unaccepted.stderr, /DEVICE_HOST_ONLY[\s\S]*--yes|--yes[\s\S]*DEVICE_HOST_ONLY/);
  assert.equal(await vmHost("cd01"), "esx01");
  const accepted = await migrate("cd01", "esx02", "--yes");
  assert.equal(accepted.code, 0, `${accepted.stderr} ${JSON.stringify(accepted.report?.failure)}`);
  assert.equal(accepted.report?.outcome, "completed");
  assert.equal(accepted.report.runningOn, "esx02");
  assert.equal(await vmHost("cd01"), "esx02");
  t.diagnostic(`cd01 (host drive disconnected) → esx02: total ${accepted.report.totalMs} ms, downtime ${accepted.report.downtimeMs} ms`);
});
