// The qemu lab end to end, as a user drives it, on Ferry's production path: `ferry lab up
// --driver qemu --hosts 3` as a child process (hosts are network namespaces; each host's agent
// runs inside its namespace, observes its facts and joins a controller in the `mgmt` namespace;
// VMotion networking, the VM port group and guest01 are made through the API; guest01 boots
// from its ISO on esx01 and takes its address by DHCP). On that one lab, in order:
//   1. the summary `lab up --json` prints, and where things run;
//   2. data integrity: guest01 writes numbered, checksummed records to its disk on the shared
//      datastore and acks each once flushed, while one echo connection stays open; it moves
//      esx01 → esx02 → esx03 → esx01 and is power-cycled; every acknowledged record is on the
//      disk image, in order, and the echo connection never broke during the moves;
//   3. esx02's VMotion IP changed through the controller shows on vmk1 inside its namespace and
//      the next move streams to it; the destination's guest check finds the guest; the client
//      keeps one connection there and back;
//   4. the web UI: the move's page shows QEMU's own downtime beside Ferry's, predicted and measured;
//   5. host networking: a VM port group made on two hosts lifts PORTGROUP_MISSING; an edit the
//      host refuses mid-way leaves its interfaces exactly as they were;
//   6. `ferry lab down` leaves no namespace, link or process.
// Needs root, QEMU and the test guest: without them it FAILS saying what to install.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { HostSummary, PowerResult, Task, VmSummary } from "../../src/api/schemas.ts";
import { stillRunning, type QemuLabState, type QemuLabSummary } from "../../src/cli/commands/lab-qemu.ts";
import type { CheckResult } from "../../src/core/check/findings.ts";
import type { Host } from "../../src/core/inventory/schema.ts";
import type { MigrationReport } from "../../src/core/migration/types.ts";
import { OwnershipSchema, type Ownership } from "../../src/core/ownership.ts";
import { requireQemu, requireRoot } from "../../src/drivers/qemu/testing/requirements.ts";
import { OWNERS_DIR } from "../../src/host/ownership/datastore-ledger.ts";
import { SHARED_DATASTORE } from "../../src/lab/host-lab.ts";
import { LabNetwork, execRunner, listLab } from "../../src/lab/netns.ts";
import { RECORDS_PORT, readRecord, startRecordClient, verifyRecords, type RecordClient } from "../../src/lab/records.ts";
import { spkiHash } from "../../src/pki/ca.ts";
import { formatDuration } from "../../web/src/tasks/format.ts";
import { buildWebUi, launchBrowser, login } from "../web/harness.ts";
import { startEchoClient, type EchoClient, type EchoReport } from "./echo-client.ts";
import { agentGet, controllerGet, labCli } from "./support.ts";

const labId = `q${randomBytes(2).toString("hex")}`;
const cli = labCli("lab-e2e");
const { ferry, home } = cli;
const MiB = 1048576;

interface Lab {
  readonly summary: QemuLabSummary;
  readonly controller: { readonly url: string; readonly token: string };
  /** The lab's data/pki: the agents are asked as the controller. */
  readonly agentPki: string;
  readonly mgmtNamespace: string;
}

let lab: Lab | undefined;
/** guest01's move back to esx01 in the VMotion IP test: the web UI's test opens its page. */
let movedBack: MigrationReport | undefined;
const echoClients: EchoClient[] = [];
const recordClients: RecordClient[] = [];
/** Undoes a fault a test put on a host, if the test ended before it could. */
let restoreFault: (() => void) | undefined;

function mustLab(): Lab {
  if (lab === undefined) throw new Error("the lab did not come up (see the before hook's failure)");
  return lab;
}

function hostOf(name: string): QemuLabSummary["hosts"][number] {
  const host = mustLab().summary.hosts.find((h) => h.name === name);
  assert.ok(host !== undefined, `the lab has no host ${name}`);
  return host;
}

/** The controller's REST API, through the lab's relay on 127.0.0.1. */
function api<T>(path: string): Promise<T> {
  return controllerGet<T>(mustLab().controller, path);
}

/** `ferry ARGS --json`, which must succeed; its parsed output. */
const { ferryJson } = cli;

/** `ferry migrate VM --to HOST --watch --json` to its end; it must exit 0 with a completed report that says the VM runs there. */
async function migrate(vm: string, to: string): Promise<MigrationReport> {
  const run = await ferry("migrate", vm, "--to", to, "--watch", "--json");
  const last = run.stdout.trim().split("\n").pop() ?? "";
  let report: MigrationReport | undefined;
  try {
    report = (JSON.parse(last) as { type?: string; report?: MigrationReport }).report;
  } catch {
    report = undefined;
  }
  assert.equal(run.code, 0, `ferry migrate ${vm} --to ${to} exited ${run.code}: ${run.stderr.trim()} ${last}`);
  assert.ok(report !== undefined, `ferry migrate ${vm} --to ${to} printed no report: ${last}`);
  assert.equal(report.outcome, "completed", JSON.stringify(report.failure));
  assert.equal(report.runningOn, to);
  assert.equal(report.failure ?? undefined, undefined, `completed with a failure: ${JSON.stringify(report.failure)}`);
  return report;
}

/** Where `ferry vms --json` says `vm` runs. */
async function vmRow(vm: string): Promise<{ host: string; power: string; migrating: boolean }> {
  const row = (await ferryJson<VmSummary[]>("vms")).find((v) => v.name === vm);
  assert.ok(row !== undefined, `ferry vms does not list ${vm}`);
  return { host: row.host, power: row.power, migrating: row.migrating };
}

/** The IPv4 addresses (with prefix) of `dev` inside namespace `ns`. */
async function addressesOf(ns: string, dev: string): Promise<string[]> {
  const links = JSON.parse(await execRunner("ip", ["-n", ns, "-4", "-j", "addr", "show", "dev", dev])) as { addr_info?: { local: string; prefixlen: number }[] }[];
  return links.flatMap((l) => l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
}

/** The MAC the client namespace has learned for `ip` (its neighbour entry after talking to it). */
async function neighbourMac(clientNs: string, ip: string): Promise<string | undefined> {
  const out = await execRunner("ip", ["-n", clientNs, "neigh", "show", ip]);
  return /lladdr ([0-9a-f:]{17})/.exec(out)?.[1];
}

/** One connection's continuity: it stayed open, every line got its own answer, none was lost. */
function assertContinuous(report: EchoReport, during: string): void {
  assert.equal(report.closed, false, `the echo connection broke during ${during}: ${report.error}`);
  assert.equal(report.bad, 0, `every answer carried the next number during ${during}: nothing lost, nothing repeated`);
  assert.ok(report.sent > 50, `the client kept sending (${report.sent} lines)`);
  assert.equal(report.replies, report.sent, `every line got its answer during ${during}`);
}

/** The VM's ownership record as the lab's shared datastore holds it: its newest generation's file. */
function newestOwnership(vm: string): Ownership {
  const dir = join(mustLab().summary.dir, "datastores", SHARED_DATASTORE, OWNERS_DIR, vm);
  const newest = Math.max(...readdirSync(dir).flatMap((n) => (/^\d+\.json$/.test(n) ? [Number(n.slice(0, -5))] : [])));
  return OwnershipSchema.parse(JSON.parse(readFileSync(join(dir, `${newest}.json`), "utf8")));
}

function moveWords(label: string, r: MigrationReport): string {
  return `${label}: total ${Math.round(r.totalMs)} ms, downtime ${r.downtimeMs} ms (QEMU's own ${String(r.hypervisorDowntimeMs)} ms), ${(r.bytesSent / MiB).toFixed(1)} MiB, ${r.passes} passes`;
}

before(
  async () => {
    requireRoot();
    requireQemu();
    const summary = await cli.up(["--driver", "qemu", "--hosts", "3", "--id", labId, "--listen", "127.0.0.1:0"], 240_000);
    const controller = JSON.parse(readFileSync(join(home, "controller.json"), "utf8")) as { url: string; token: string };
    lab = { summary, controller, agentPki: join(summary.dir, "data", "pki"), mgmtNamespace: new LabNetwork(labId).ns("mgmt") };
  },
  { timeout: 300_000 },
);

after(async () => {
  for (const echo of echoClients) echo.kill();
  await Promise.all(recordClients.map((r) => r.stop()));
  restoreFault?.();
  await cli.cleanup(labId);
});

describe(`ferry lab up --driver qemu --hosts 3 (lab ${labId})`, () => {
  test("lab up: the summary, agents inside their hosts, VMotion networking and guest01 made through the API", { timeout: 120_000 }, async (t) => {
    const { summary, controller } = mustLab();
    t.diagnostic(`lab up: ${summary.startedInMs} ms (accelerator ${summary.accelerator})`);
    assert.match(summary.controller, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(controller.url, summary.controller, "ferry commands find the controller lab up started");
    assert.equal(summary.dir, join(home, "labs", labId));
    assert.deepEqual(
      summary.hosts.map((h) => ({ ...h })),
      [1, 2, 3].map((n) => ({ name: `esx0${n}`, namespace: `ferry-${labId}-esx0${n}`, api: `https://198.18.254.${n}:7001`, vmotionIp: `198.19.0.${n}`, cpu: n === 2 ? "Nehalem" : "Westmere" })),
    );
    assert.deepEqual(summary.guests.map((g) => ({ ...g })), [{ name: "guest01", host: "esx01", ip: "198.18.0.11", mac: "52:54:00:12:00:0b" }]);
    assert.deepEqual({ ...summary.client }, { namespace: `ferry-${labId}-client`, ip: "198.18.0.100" });

    // A second `lab up` with the same id is refused in one sentence, and touches nothing.
    const again = await ferry("lab", "up", "--driver", "qemu", "--id", labId, "--listen", "127.0.0.1:0");
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`lab ${labId} is already up`));
    assert.equal(again.stderr.trim().split("\n").length, 1, again.stderr);

    // Each agent runs inside its host's namespace; the controller in the management one.
    const state = JSON.parse(readFileSync(join(summary.dir, "state.json"), "utf8")) as QemuLabState;
    const inside = async (pid: number): Promise<string> => (await execRunner("ip", ["netns", "identify", String(pid)])).trim();
    for (const h of summary.hosts) {
      const agent = state.agents.find((a) => a.host === h.name);
      assert.ok(agent !== undefined, `state.json records ${h.name}'s agent`);
      assert.equal(await inside(agent.pid), h.namespace, `${h.name}'s agent runs inside ${h.namespace}`);
    }
    const controllerProcess = state.agents.find((a) => a.host === "controller");
    assert.ok(controllerProcess !== undefined, "state.json records the controller");
    assert.equal(await inside(controllerProcess.pid), mustLab().mgmtNamespace);

    // VMotion networking and the VM port group, made through the API, are on the hosts and in their records.
    for (const h of summary.hosts) {
      assert.deepEqual(await addressesOf(h.namespace, "vmk1"), [`${h.vmotionIp}/16`], `vmk1 inside ${h.namespace}`);
      const record = await api<Host>(`/hosts/${h.name}`);
      const vswitch1 = record.vswitches.find((v) => v.name === "vSwitch1");
      assert.deepEqual(vswitch1?.uplinks, ["eth1"]);
      assert.deepEqual(vswitch1.vmkernelPorts.map((p) => `${p.name} ${p.portGroup} ${p.ip} vmotion=${String(p.vmotion)}`), [`vmk1 VMotion ${h.vmotionIp}/16 vmotion=true`]);
      assert.ok(record.vswitches.find((v) => v.name === "vSwitch0")?.portGroups.some((g) => g.name === "VM Network"), `${h.name} has the VM port group on vSwitch0`);
    }
    const hosts = await ferryJson<HostSummary[]>("hosts");
    assert.deepEqual(hosts.map((h) => `${h.name} ${h.vmotionIp ?? "none"}`).sort(), summary.hosts.map((h) => `${h.name} ${h.vmotionIp}`));

    // guest01 is a VM created through the API: its disk on the shared datastore, running on esx01.
    assert.deepEqual(await vmRow("guest01"), { host: "esx01", power: "on", migrating: false });
    assert.equal(statSync(join(summary.dir, "datastores", SHARED_DATASTORE, "guest01", "data.raw")).size, 16 * MiB);
  });

  test("data integrity: every acknowledged record is on the disk after esx01 → esx02 → esx03 → esx01 and a power cycle; one echo connection holds through the moves", { timeout: 600_000 }, async (t) => {
    const { summary } = mustLab();
    const guest = summary.guests[0];
    assert.ok(guest !== undefined);
    assert.equal((await vmRow("guest01")).host, "esx01", "guest01 starts on esx01");
    const disk = join(summary.dir, "datastores", SHARED_DATASTORE, "guest01", "data.raw");

    // A connection with no ack for 15 s counts as broken: long enough for a move under load,
    // and how the client notices the power cycle (a powered-off guest sends no FIN).
    const records = startRecordClient(summary.client.namespace, guest.ip, RECORDS_PORT, { idleMs: 15_000 });
    recordClients.push(records);
    await records.waitFor("20 acks", () => records.acks.length >= 20, 120_000);
    const echo = startEchoClient(summary.client.namespace, guest.ip);
    echoClients.push(echo);
    await echo.connected(30_000);
    await echo.waitForMoreReplies(25, 60_000);

    const moves: { label: string; report: MigrationReport }[] = [];
    let from = "esx01";
    for (const to of ["esx02", "esx03", "esx01"]) {
      const report = await migrate("guest01", to);
      assert.deepEqual(await vmRow("guest01"), { host: to, power: "on", migrating: false }, `ferry vms agrees guest01 runs on ${to}`);
      // The guest keeps writing on its new host, and keeps answering the same connection.
      await records.waitForMoreAcks(20, 120_000);
      await echo.waitForMoreReplies(25, 60_000);
      moves.push({ label: `${from} → ${to}`, report });
      from = to;
    }
    assert.equal(records.breaks.length, 0, `the records connection held through the moves: ${records.summary()}`);
    const echoed = await echo.stop();
    assertContinuous(echoed, "three moves");

    // The power cycle: the guest's QEMU ends and boots again on the same disk; the records
    // client notices the dead connection, reconnects, and the log goes on after the last ack.
    const cut = { connections: records.connections, acks: records.acks.length };
    const cycleStart = performance.now();
    const cycled = await ferryJson<PowerResult>("vm", "power", "guest01", "cycle");
    assert.deepEqual({ host: cycled.host, power: cycled.power }, { host: "esx01", power: "on" });
    await records.waitFor("20 acks on a connection made after the power cycle", () => records.acks.filter((a) => a.connection > cut.connections).length >= 20, 300_000);
    const cycleMs = performance.now() - cycleStart;
    await records.stop();
    assert.equal(records.breaks.length, 1, `the records connection broke once, at the power cycle: ${records.summary()}`);
    assert.equal(records.breaks[0]?.connection, cut.connections);
    assert.deepEqual(records.conflicts, [], "no record number was acknowledged twice");
    assert.deepEqual(records.skips, [], "no ack skipped a number within a connection");

    const verdict = await verifyRecords(disk, records.acked);
    assert.deepEqual({ ok: verdict.ok, missing: verdict.missing, corrupt: verdict.corrupt, outOfOrder: verdict.outOfOrder }, { ok: true, missing: [], corrupt: [], outOfOrder: false }, JSON.stringify(verdict));
    const lastAck = records.last;
    assert.ok(lastAck !== undefined && verdict.highest >= lastAck.seq, `the unbroken log reaches the last ack (${String(lastAck?.seq)}); it reaches ${verdict.highest}`);
    // Records before and after the cycle were written by two boots of the guest.
    const image = readFileSync(disk);
    const bootOf = (seq: number): string | undefined => {
      const sector = readRecord(image, seq);
      return sector.kind === "record" ? /boot=([0-9a-f]+)/.exec(sector.payload)?.[1] : undefined;
    };
    const firstSeq = records.acks[0]?.seq ?? 0;
    assert.ok(bootOf(firstSeq) !== undefined && bootOf(lastAck.seq) !== undefined && bootOf(firstSeq) !== bootOf(lastAck.seq), "the power cycle booted the guest again");

    for (const { label, report } of moves) t.diagnostic(moveWords(label, report));
    t.diagnostic(`acks: ${records.acks.length} (${cut.acks} before the power cycle, records ${firstSeq}..${lastAck.seq}); echo: ${echoed.sent} lines, longest silence ${echoed.maxGapMs} ms; power cycle to 20 acks again: ${Math.round(cycleMs)} ms`);
  });

  test("VMotion IP changed through the controller: on vmk1 inside esx02, and the next move streams to it; the destination finds the guest; one client connection there and back", { timeout: 300_000 }, async (t) => {
    const { summary, agentPki, mgmtNamespace } = mustLab();
    const guest = summary.guests[0];
    assert.ok(guest !== undefined);
    const esx02 = hostOf("esx02");
    assert.equal((await vmRow("guest01")).host, "esx01", "guest01 starts on esx01");

    const edited = await ferry("host", "network", "edit", "esx02", "vmk1", "--ip", "198.19.0.22/16", "--json");
    assert.equal(edited.code, 0, edited.stderr);
    assert.deepEqual(await addressesOf(esx02.namespace, "vmk1"), ["198.19.0.22/16"], "the new address, and only it, on vmk1 inside esx02");
    assert.equal((await ferryJson<HostSummary[]>("hosts")).find((h) => h.name === "esx02")?.vmotionIp, "198.19.0.22");

    const echo = startEchoClient(summary.client.namespace, guest.ip);
    echoClients.push(echo);
    await echo.connected(30_000);
    await echo.waitForMoreReplies(25, 60_000);
    assert.equal(await neighbourMac(summary.client.namespace, guest.ip), guest.mac);

    const there = await migrate("guest01", "esx02");
    // esx02 took the stream on its new VMotion IP (its agent logs where it listened) ...
    const prepared = readFileSync(join(summary.dir, "agent-esx02.log"), "utf8")
      .split("\n")
      .filter((line) => line.includes(there.migrationId) && line.includes('"listen"'))
      .map((line) => (JSON.parse(line) as { listen: string }).listen);
    assert.equal(prepared.length, 1, `esx02 prepared migration ${there.migrationId} once`);
    assert.match(prepared[0] ?? "", /^198\.19\.0\.22:\d+$/);
    // ... and its guest check found guest01 on the VM network before the move completed.
    const incoming = await agentGet<{ state?: string; guest?: { state: string; message: string } }>(mgmtNamespace, esx02.api, `/v1/migrations/incoming/${there.migrationId}`, agentPki);
    assert.equal(incoming.state, "running");
    assert.equal(incoming.guest?.state, "reachable", incoming.guest?.message);
    // esx02 readied its claim while the stream ran: the record that gave it guest01 was written before the source stopped the VM.
    const owned = newestOwnership("guest01");
    assert.deepEqual({ owner: owned.owner, migrationId: owned.migrationId }, { owner: "esx02", migrationId: there.migrationId });
    const switchover = (await api<Task>(`/migrations/${there.migrationId}`)).body.timeline.find((e) => e.phase === "switchover")?.at;
    assert.ok(switchover !== undefined && owned.at < switchover, `the record written at ${owned.at}, the switchover at ${String(switchover)}`);
    await echo.waitForMoreReplies(25, 60_000);

    const back = await migrate("guest01", "esx01");
    movedBack = back;
    await echo.waitForMoreReplies(25, 60_000);
    const echoed = await echo.stop();
    assertContinuous(echoed, "esx01 → esx02 → esx01");
    // Same MAC and IP after the moves, as the client's namespace sees the guest and as the controller records it.
    assert.equal(await neighbourMac(summary.client.namespace, guest.ip), guest.mac);
    const record = await api<{ host: string; nics: { mac: string; ip?: string }[] }>("/vms/guest01");
    assert.deepEqual({ host: record.host, nics: record.nics.map((n) => `${n.mac} ${n.ip ?? ""}`) }, { host: "esx01", nics: [`${guest.mac} ${guest.ip}`] });

    t.diagnostic(moveWords("esx01 → esx02 (198.19.0.22)", there));
    t.diagnostic(moveWords("esx02 → esx01", back));
    t.diagnostic(`echo: ${echoed.sent} lines, longest silence ${echoed.maxGapMs} ms`);
  });

  test("web UI: a QEMU move's page shows QEMU's own downtime beside Ferry's, predicted and measured", { timeout: 180_000 }, async () => {
    const moved = movedBack;
    assert.ok(moved?.hypervisorDowntimeMs !== undefined, "the VMotion IP test moved guest01 back with QEMU's downtime in its report");
    const { controller, agentPki } = mustLab();
    const task = await api<Task>(`/migrations/${moved.migrationId}`);
    assert.equal(task.body.report?.hypervisorDowntimeMs, moved.hypervisorDowntimeMs, "the task keeps the report the CLI printed");
    buildWebUi();
    const browser = await launchBrowser(spkiHash(readFileSync(join(agentPki, "controller.crt"), "utf8")));
    try {
      const page = await browser.newPage();
      await login(page, controller.url, controller.token);
      await page.goto(`${controller.url}/#/tasks/${moved.migrationId}`);
      const table = page.getByRole("table", { name: "Predicted vs measured" }).or(page.getByRole("grid", { name: "Predicted vs measured" }));
      await table.waitFor({ timeout: 60_000 });
      const cells = async (name: RegExp): Promise<string[]> => (await table.getByRole("row", { name }).getByRole("cell").allTextContents()).map((c) => c.trim());
      const predicted = task.body.prediction;
      assert.ok(predicted?.hypervisorDowntimeMs !== undefined, "the controller predicted QEMU's own stop-and-copy for a QEMU move");
      // Ferry's downtime (the source's STOP to the destination's RESUME) and QEMU's own stop-and-copy, each beside what was predicted.
      assert.deepEqual(await cells(/^Downtime (?!\()/), [formatDuration(predicted.downtimeMs), formatDuration(moved.downtimeMs)]);
      assert.deepEqual(await cells(/^Downtime \(QEMU's own\)/), [formatDuration(predicted.hypervisorDowntimeMs), formatDuration(moved.hypervisorDowntimeMs)]);
    } finally {
      await browser.close();
    }
  });

  test("host networking: a VM port group made on two hosts lifts PORTGROUP_MISSING; an edit the host refuses mid-way leaves its interfaces as they were", { timeout: 300_000 }, async () => {
    const { summary } = mustLab();
    const esx02 = hostOf("esx02");

    // web01's NIC is on "Backend", which only esx01 has: the check names the port group and the host.
    await ferryJson("host", "portgroup", "add", "esx01", "Backend", "--vswitch", "vSwitch0");
    await ferryJson("vm", "create", "web01", "--host", "esx01", "--memory", "64", "--disk", "lab-shared:web01/disk.raw,8M", "--nic", "Backend");
    const check = async (): Promise<CheckResult> => {
      const run = await ferry("check", "--vm", "web01", "--to", "esx02", "--json");
      assert.ok(run.code === 0 || run.code === 1, `ferry check exited ${run.code}: ${run.stderr}`);
      return JSON.parse(run.stdout) as CheckResult;
    };
    const blocked = await check();
    assert.equal(blocked.ok, false);
    const missing = blocked.errors.filter((f) => f.code === "PORTGROUP_MISSING");
    assert.deepEqual(missing.map((f) => f.subject), [{ kind: "portGroup", name: "Backend", host: "esx02" }]);
    assert.match(missing[0]?.message ?? "", /"Backend".*esx02/);

    await ferryJson("host", "portgroup", "add", "esx02", "Backend", "--vswitch", "vSwitch0");
    const movable = await check();
    assert.deepEqual(movable.errors.map((f) => f.code), [], "nothing stops web01 towards esx02 any more");
    assert.equal(movable.ok, true);
    assert.ok((await api<Host>("/hosts/esx02")).vswitches.find((v) => v.name === "vSwitch0")?.portGroups.some((g) => g.name === "Backend"), "esx02's record has Backend on vSwitch0");

    // Edits that pass the controller's validation and fail on esx02 part-way: the host, its
    // record and its agent's mapping stay as they were. The agent's state file (its
    // network.json) is written after every step has run, so a state file that cannot be
    // written makes the agent undo links it had already made.
    const stateFile = join((JSON.parse(readFileSync(join(summary.dir, "agent-esx02.yaml"), "utf8")) as { stateDir: string }).stateDir, "network.json");
    const blockStateFile = (): void => {
      renameSync(stateFile, `${stateFile}.kept`);
      mkdirSync(stateFile);
      writeFileSync(join(stateFile, "in-the-way"), "");
      restoreFault = () => {
        rmSync(stateFile, { recursive: true, force: true });
        renameSync(`${stateFile}.kept`, stateFile);
        restoreFault = undefined;
      };
    };
    const addVmk2 = (ip: string): string[] => ["host", "network", "add", "esx02", "--vswitch", "vSwitch1", "--port-group", "Storage", "--port", "vmk2", "--ip", ip, "--no-vmotion"];
    const cases = [
      { what: "the host's own management address on a new VMkernel port (the port group's op passed, the port's was refused)", args: addVmk2("198.18.254.2/16"), fault: undefined, says: /^ferry: esx02 refused the network change: setVmkernelPort vmk2: 198\.18\.254\.2 is already on vSwitch0 on this host; nothing was changed/ },
      { what: "a valid new VMkernel port while the host cannot write its network state (its links made, then undone)", args: addVmk2("198.19.5.2/16"), fault: blockStateFile, says: /^ferry: esx02 refused the network change: saving the network state file: .*EISDIR.*; nothing was changed/ },
    ];
    const untouched = await hostInterfaces(esx02.namespace);
    const highestIndex = Math.max(...(await linkIndexes(esx02.namespace)));
    const mappingBefore = readFileSync(stateFile, "utf8");
    for (const c of cases) {
      c.fault?.();
      try {
        const run = await ferry(...c.args);
        assert.equal(run.code, 1, `${c.what}: exit ${run.code} ${run.stdout}`);
        assert.match(run.stderr, c.says, c.what);
        assert.equal(run.stderr.trim().split("\n").length, 1, `one sentence: ${run.stderr}`);
      } finally {
        restoreFault?.();
      }
      assert.deepEqual(await hostInterfaces(esx02.namespace), untouched, `${c.what}: esx02's links, addresses, bridge ports and routes are as they were`);
      const record = await api<Host>("/hosts/esx02");
      assert.deepEqual(record.vswitches.flatMap((v) => v.vmkernelPorts.map((p) => p.name)).sort(), ["vmk0", "vmk1"], `${c.what}: no vmk2 in esx02's record`);
      assert.ok(!record.vswitches.some((v) => v.portGroups.some((g) => g.name === "Storage")), `${c.what}: no Storage port group in esx02's record`);
      assert.equal(readFileSync(stateFile, "utf8"), mappingBefore, `${c.what}: the agent's mapping is unchanged`);
    }

    // The same port with a free address is made; removing it leaves the host as it was.
    await ferryJson(...addVmk2("198.19.5.2/16"));
    assert.deepEqual(await addressesOf(esx02.namespace, "vmk2"), ["198.19.5.2/16"]);
    // A namespace numbers new links upwards and does not reuse a number at once: the undone
    // attempt had made its veth pair (two numbers), so this pair came after it.
    const newIndexes = (await linkIndexes(esx02.namespace)).filter((i) => i > highestIndex);
    assert.ok(newIndexes.length === 2 && Math.min(...newIndexes) > highestIndex + 2, `the undone attempt had made its links before the state file failed (indexes above ${highestIndex}: ${newIndexes.join(", ")})`);
    const withVmk2 = (await api<Host>("/hosts/esx02")).vswitches.find((v) => v.name === "vSwitch1");
    assert.deepEqual(withVmk2?.vmkernelPorts.map((p) => `${p.name} ${p.portGroup} ${p.ip} vmotion=${String(p.vmotion)}`), ["vmk1 VMotion 198.19.0.22/16 vmotion=true", "vmk2 Storage 198.19.5.2/16 vmotion=false"]);
    await ferryJson("host", "network", "remove", "esx02", "vmk2");
    await assert.rejects(execRunner("ip", ["-n", esx02.namespace, "link", "show", "dev", "vmk2"]), /does not exist|Cannot find device/);
    assert.deepEqual(await hostInterfaces(esx02.namespace), untouched, "after the port's removal esx02 is as it was");
  });

  test("lab down leaves no namespace, link or process", { timeout: 120_000 }, async () => {
    const { summary } = mustLab();
    const up = cli.upProcess;
    assert.ok(up !== undefined);
    const state = JSON.parse(readFileSync(join(summary.dir, "state.json"), "utf8")) as QemuLabState;
    // Everything running inside the lab's namespaces: agents, the controller, DHCP, the guests' QEMUs.
    const { namespaces } = await listLab(labId);
    const inside = (await Promise.all(namespaces.map(async (ns) => (await execRunner("ip", ["netns", "pids", ns])).split(/\s+/).filter((p) => p !== "")))).flat().map(Number);
    const qemus = inside.filter((pid) => existsSync(`/proc/${pid}/cmdline`) && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("qemu-system"));
    const guestOn = (await vmRow("guest01")).power === "on";
    assert.equal(qemus.length, guestOn ? 1 : 0, "guest01's QEMU, when it is on, runs inside a host namespace (web01 stays powered off)");

    const upExited = once(up, "exit");
    const down = await ferry("lab", "down", "--id", labId, "--json");
    assert.equal(down.code, 0, down.stderr);
    await upExited;
    assert.deepEqual(await listLab(labId), { namespaces: [], links: [] });
    for (const pid of [state.owner.pid, ...state.agents.map((a) => a.pid), ...inside]) await processGone(pid, 30_000);
  });
});

/**
 * A namespace's interfaces as `ip` and `bridge` show them: links (with details), addresses,
 * bridge ports, routes. Bridge timers tick by themselves and are left out: everything else
 * stays put unless something changed the host.
 */
async function hostInterfaces(ns: string): Promise<unknown> {
  const json = async (file: string, args: string[]): Promise<unknown> => JSON.parse(await execRunner(file, args)) as unknown;
  const withoutTimers = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(withoutTimers);
    if (typeof value !== "object" || value === null) return value;
    return Object.fromEntries(Object.entries(value).filter(([key]) => !key.endsWith("_timer")).map(([key, v]) => [key, withoutTimers(v)]));
  };
  return {
    links: withoutTimers(await json("ip", ["-n", ns, "-d", "-j", "link"])),
    addresses: await json("ip", ["-n", ns, "-j", "addr"]),
    bridgePorts: await json("bridge", ["-n", ns, "-j", "link"]),
    routes: await json("ip", ["-n", ns, "-j", "route"]),
  };
}

/** The interface indexes in namespace `ns`. */
async function linkIndexes(ns: string): Promise<number[]> {
  return (JSON.parse(await execRunner("ip", ["-n", ns, "-j", "link"])) as { ifindex: number }[]).map((l) => l.ifindex);
}

/** Waits until `pid` has exited (a zombie counts as gone: QEMU-NOTES 12). */
async function processGone(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (stillRunning({ role: "", pid, startTime: undefined })) {
    assert.ok(Date.now() < deadline, `process ${pid} still runs ${timeoutMs} ms after lab down`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
