// The fencing fault table's runner: two real agent processes (sim, or qemu under TCG with the
// built-in guest), the controller's ownership ledger (test/support/ledger.ts), one migration
// of web01 from esx01 to esx02 through the engine, and the destination cut off at the worst
// moment: frozen (SIGSTOP of its agent) or partitioned (the destination runs in a network
// namespace of its own, joined to the scenario's by a management cable and a VMotion cable;
// the management cable is pulled: the scenario then runs inside a namespace the test made,
// see partition-scenario.ts). Every row is held to the one rule *after the destination comes
// back*: the VM runs on exactly one host, the one its ownership record names.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { settleOnSource, migrate } from "../../src/engine/migrate.ts";
import { DEFAULT_MIGRATE_OPTIONS, type MigrationFailureCode, type Phase, type MigrationProgress } from "../../src/core/migration/types.ts";
import { systemClock } from "../../src/drivers/clock.ts";
import type { VmSpec } from "../../src/drivers/driver.ts";
import { startAgents, type AgentProcess } from "./agents.ts";
import { startLedgerServer, type LedgerServer } from "./ledger.ts";

const MiB = 1048576;
export type Host = "esx01" | "esx02";
export type FenceDriver = "sim" | "qemu";

export interface FenceLab {
  readonly esx01: AgentProcess;
  readonly esx02: AgentProcess;
  readonly ledger: LedgerServer;
}

/** How the destination is cut off: its agent frozen, or its traffic dropped (inside a namespace only). */
export type Cut = "freeze" | "partition";

export interface FenceRow {
  readonly fault: string;
  readonly driver: FenceDriver;
  readonly cut: Cut;
  /** Sim fault rules on the destination that hold it at the moment to cut it. */
  readonly holds?: Record<string, unknown>;
  /** The moment to cut the destination off: a state it reached, or a progress event of the source. */
  readonly cutWhen: (lab: FenceLab, progress: MigrationProgress | undefined) => Promise<boolean>;
  /** The ledger is cut off together with the destination. */
  readonly cutLedger?: boolean;
  /** After the report, before the final check: what else happens (the ledger comes back...). */
  readonly afterReport?: (lab: FenceLab, heal: () => void) => Promise<void>;
  /**
   * `code` may list several: where the cut races the source's own confirmation (QEMU's source
   * polls the destination's agent), either path is right as long as the VM ends on one host.
   */
  readonly expected: { readonly outcome: Phase; readonly code: MigrationFailureCode | readonly (MigrationFailureCode | undefined)[]; readonly runningOn: Host | ""; readonly message?: RegExp; readonly finallyOn: Host };
}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await systemClock.sleep(20);
  }
}

function specFor(driver: FenceDriver): VmSpec {
  const nics: VmSpec["nics"] = driver === "sim" ? [{ name: "eth0", mac: "00:50:56:0b:00:01", ip: "198.18.0.31", portGroup: "VM Network" }] : [];
  return driver === "sim"
    ? { name: "web01", memoryMB: 48, vcpus: 1, touchedBytes: 16 * MiB, nics, workload: { kind: "idle", dirtyRateBytesPerSec: 0, workingSetBytes: 0, seed: 7 } }
    : { name: "web01", memoryMB: 64, vcpus: 1, nics };
}

/**
 * Where the partition rows' destination lives: its own namespace, reached over a management
 * cable (its API; the ledger on this side) and a VMotion cable; `mgmtLink` is this side's end
 * of the management cable, the one pulled.
 */
export interface PartitionSite {
  readonly netns: string;
  readonly mgmtLink: string;
  /** This side's management address (the ledger listens there) and the destination's. */
  readonly mgmtHere: string;
  readonly mgmtThere: string;
  readonly vmotionThere: string;
}

function pullCable(site: PartitionSite, pulled: boolean): void {
  execFileSync("ip", ["link", "set", site.mgmtLink, pulled ? "down" : "up"], { stdio: ["ignore", "ignore", "pipe"] });
}

export interface FenceOptions {
  /** The qemu driver's guest (requireQemu()). */
  readonly qemu?: { readonly kernel: string; readonly initrd: string } | undefined;
  /** Partition rows: the destination's namespace and cables (partition-scenario.ts). */
  readonly site?: PartitionSite | undefined;
}

export async function runFenceRow(row: FenceRow, options: FenceOptions = {}): Promise<void> {
  const qemu = row.driver === "qemu" ? options.qemu : undefined;
  if (row.driver === "qemu" && qemu === undefined) throw new Error("a qemu row needs the guest's kernel and initrd");
  const site = options.site;
  if (row.cut === "partition" && site === undefined) throw new Error("a partition row runs in its namespaces (partition-scenario.ts)");
  const [esx01, esx02] = (await startAgents([
    { name: "esx01", index: 1, ...(qemu === undefined ? {} : { qemu }) },
    { name: "esx02", index: 2, ...(site === undefined ? {} : { netns: { name: site.netns, api: site.mgmtThere, vmotion: site.vmotionThere } }), ...(qemu === undefined ? {} : { qemu }) },
  ])) as [AgentProcess, AgentProcess];
  const ledger = await startLedgerServer(site?.mgmtHere);
  const lab: FenceLab = { esx01, esx02, ledger };
  const spec = specFor(row.driver);
  const cable = { pulled: false };
  const heal = (): void => {
    if (row.cut === "freeze") esx02.resume();
    else if (cable.pulled && site !== undefined) {
      cable.pulled = false;
      pullCable(site, false);
    }
    ledger.cut(false);
  };
  try {
    await esx01.client.createVm(spec);
    await esx01.client.powerOn("web01");
    if (row.driver === "qemu") await waitFor("web01 to boot", async () => (await esx01.client.getVm("web01")).power === "running");
    const before = (await esx01.client.getVm("web01")).stateDigest;
    if (row.holds !== undefined) await esx02.client.setFaults([row.holds]);
    const plan = await ledger.plan("web01", "m1", [esx01.client, esx02.client]);

    let cut = false;
    let lastProgress: MigrationProgress | undefined;
    const cutter = waitFor("the moment to cut esx02 off", () => row.cutWhen(lab, lastProgress), 120_000).then(() => {
      if (row.cutLedger === true) ledger.cut(true);
      if (row.cut === "freeze") esx02.pause();
      else if (site !== undefined) {
        pullCable(site, true);
        cable.pulled = true;
      }
      cut = true;
    });
    const report = await migrate({
      migrationId: "m1",
      vm: spec,
      source: esx01.client,
      destination: esx02.client,
      ownership: plan,
      options: { ...DEFAULT_MIGRATE_OPTIONS, stallTimeoutMs: 3000 },
      signal: new AbortController().signal,
      clock: systemClock,
      timings: { reattachMs: 1000, retryMs: 100 },
      onProgress: (p) => {
        lastProgress = p;
      },
    });
    await cutter;
    assert.ok(cut, "esx02 was cut off");
    assert.equal(report.outcome, row.expected.outcome, JSON.stringify(report.failure));
    const codes: readonly (MigrationFailureCode | undefined)[] = typeof row.expected.code === "string" ? [row.expected.code] : row.expected.code;
    assert.ok(codes.includes(report.failure?.code), `failure ${report.failure?.code ?? "none"} (${report.failure?.message ?? ""}), expected ${codes.join(" or ")}`);
    if (row.expected.message !== undefined) assert.match(report.failure?.message ?? "", row.expected.message);
    assert.equal(report.runningOn, row.expected.runningOn);
    if (row.afterReport !== undefined) await row.afterReport(lab, heal);

    // The destination comes back and finishes what it was doing.
    heal();
    await waitFor("esx02 to settle its side", async () => ["running", "failed", "aborted"].includes((await esx02.client.incomingState("m1")).state));
    const expectedHost = row.expected.finallyOn === "esx01" ? esx01 : esx02;
    for (const agent of [esx01, esx02]) {
      const vms = await agent.client.listVms();
      if (agent === expectedHost) {
        assert.deepEqual(vms.map((v) => [v.name, v.power]), [["web01", "running"]], `${agent.name} runs web01`);
        if (before !== undefined) assert.equal(vms[0]?.stateDigest, before, "memory and device state intact");
      } else {
        assert.deepEqual(vms.map((v) => v.name), [], `${agent.name} holds no copy or shell of web01`);
      }
    }
    assert.equal((await ledger.ledger.read("web01"))?.owner, row.expected.finallyOn, "the ownership record names the host that runs it");
  } finally {
    if (cable.pulled && site !== undefined) pullCable(site, false);
    esx01.kill();
    esx02.kill();
    await Promise.all([esx01.exited, esx02.exited]);
    await ledger.close();
  }
}

/** The needs-attention rows' epilogue: the ledger and the destination come back; the destination takes the record; the source, asked again, gives way. */
export async function destinationAnswersLater(lab: FenceLab, heal: () => void): Promise<void> {
  heal();
  await waitFor("esx02 to run web01", async () => (await lab.esx02.client.incomingState("m1")).state === "running");
  const settled = await settleOnSource("m1", lab.esx01.client, () => undefined);
  assert.equal(settled.where, "destination", "the source's claim loses to the destination's");
}
