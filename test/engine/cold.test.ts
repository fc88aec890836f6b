// Cold migration (src/engine/cold.ts) between real sim agent processes, with the controller's
// ownership ledger (test/support/ledger.ts): a powered-off VM is registered on the destination,
// powered off, with its spec, and removed from the source; its ownership record moves with it.
// Every refusal leaves it registered on the source only, powered off (or running, when it was),
// with its record where it was. And a live migrate() asked to move a powered-off VM is refused
// VM_NOT_RUNNING without preparing the destination or powering the VM on. A cold migration
// whose controller stopped half-way is finished or undone from what the hosts hold.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { AgentClient } from "../../src/agent/client.ts";
import type { LedgerRef } from "../../src/core/ownership.ts";
import { FindingCode, Severity, SubjectKind } from "../../src/core/check/findings.ts";
import { ErrorCode, isFerryError } from "../../src/core/errors.ts";
import { DEFAULT_MIGRATE_OPTIONS, MigrationFailureCode, Phase, type MigrationFailureCode as FailureCode, type MigrationProgress, type MigrationReport } from "../../src/core/migration/types.ts";
import { systemClock } from "../../src/drivers/clock.ts";
import { PowerStatus, type VmSpec } from "../../src/drivers/driver.ts";
import { coldMigrate, reconcileColdMigration } from "../../src/engine/cold.ts";
import { migrate } from "../../src/engine/migrate.ts";
import { startAgents, stopAllAgents, type AgentProcess } from "../support/agents.ts";
import { startLedgerServer, type LedgerServer } from "../support/ledger.ts";

interface Lab {
  readonly esx01: AgentProcess;
  readonly esx02: AgentProcess;
  /** An agent killed before the tests: a destination that cannot be reached. */
  readonly gone: AgentProcess;
  readonly ledger: LedgerServer;
}

let lab: Lab | undefined;
let sequence = 0;

function mustLab(): Lab {
  if (lab === undefined) throw new Error("the lab did not come up (see the first failure)");
  return lab;
}

before(async () => {
  const [esx01, esx02, gone] = await startAgents([
    { name: "esx01", index: 51 },
    { name: "esx02", index: 52 },
    { name: "esx03", index: 53 },
  ]);
  if (esx01 === undefined || esx02 === undefined || gone === undefined) throw new Error("agents did not start");
  gone.kill();
  await gone.exited;
  lab = { esx01, esx02, gone, ledger: await startLedgerServer() };
});

after(async () => {
  await stopAllAgents();
  await lab?.ledger.close();
});

function specOf(name: string): VmSpec {
  return { name, memoryMB: 32, vcpus: 2, nics: [{ name: "eth0", mac: `00:50:56:0c:00:${(++sequence).toString(16).padStart(2, "0")}`, ip: `198.18.1.${sequence}`, portGroup: "VM Network" }] };
}

/** Where `agent` has `vm`: its power, or "absent". */
async function powerOn(agent: AgentClient, vm: string): Promise<PowerStatus | "absent"> {
  try {
    return (await agent.getVm(vm)).power;
  } catch (error) {
    if (isFerryError(error) && error.code === ErrorCode.notFound) return "absent";
    throw error;
  }
}

async function cold(spec: VmSpec, destination: AgentClient, signal = new AbortController().signal): Promise<{ report: MigrationReport; events: MigrationProgress[] }> {
  const { esx01, esx02, ledger } = mustLab();
  const migrationId = `cold-${spec.name}`;
  const events: MigrationProgress[] = [];
  const ownership = await ledger.plan(spec.name, migrationId, [esx01.client, esx02.client]);
  const report = await coldMigrate({ migrationId, vm: spec, source: esx01.client, destination, ownership, signal, clock: systemClock, onProgress: (p) => events.push(p) });
  return { report, events };
}

describe("cold migration of a powered-off VM between sim agents", { timeout: 120_000 }, () => {
  test("moves: registered powered off on esx02 with its spec, gone from esx01, its record moved; esx01 cannot power it on", async () => {
    const { esx01, esx02, ledger } = mustLab();
    const spec = specOf("cold01");
    await esx01.client.createVm(spec);

    const { report, events } = await cold(spec, esx02.client);

    assert.equal(report.outcome, Phase.completed, report.failure?.message);
    assert.equal(report.failure, undefined);
    assert.equal(report.runningOn, "esx02");
    assert.equal(report.bytesSent, 0, "no memory stream");
    const there = await esx02.client.getVm("cold01");
    assert.equal(there.power, PowerStatus.off, "it stays powered off on the destination");
    assert.deepEqual(there.spec, spec, "same spec: memory, vCPUs, NIC with its MAC and IP");
    assert.equal(await powerOn(esx01.client, "cold01"), "absent");
    assert.deepEqual((await esx01.client.listVms()).map((v) => v.name).filter((n) => n === "cold01"), []);
    const record = await ledger.ledger.read("cold01");
    assert.deepEqual({ owner: record?.owner, generation: record?.generation, migrationId: record?.migrationId }, { owner: "esx02", generation: 2, migrationId: "cold-cold01" });
    await assert.rejects(esx01.client.powerOn("cold01"), (e: unknown) => isFerryError(e) && e.code === ErrorCode.notFound);

    // Progress the UI understands: known phases in order, percent never back, 100 at the end.
    const phases = [...new Set(events.map((e) => e.phase))];
    assert.deepEqual(phases, [Phase.validating, Phase.preparing, Phase.switchover, Phase.completed]);
    assert.ok(events.every((e, i) => i === 0 || e.percent >= (events[i - 1]?.percent ?? 0)), "percent never goes back");
    assert.equal(events.at(-1)?.percent, 100);

    // At the destination it powers on as any VM there does.
    assert.equal((await esx02.client.powerOn("cold01")).power, PowerStatus.running);
    await esx02.client.destroyVm("cold01");
  });

  interface RefusalRow {
    readonly fault: string;
    readonly vm: string;
    readonly arrange?: (lab: Lab) => Promise<void>;
    readonly destination?: (lab: Lab) => AgentClient;
    readonly aborted?: boolean;
    readonly expected: {
      readonly outcome: Phase;
      readonly code: FailureCode;
      readonly message: RegExp;
      /** esx01's VM afterwards. */
      readonly power: PowerStatus;
      /** The record afterwards: its owner and generation, or none was ever taken. */
      readonly record: { readonly owner: string; readonly generation: number } | undefined;
      /** esx02 has a VM of that name afterwards (its own, untouched). */
      readonly onEsx02?: PowerStatus;
    };
    readonly cleanup?: (lab: Lab) => Promise<void>;
  }

  const rows: readonly RefusalRow[] = [
    {
      fault: "the destination refuses to register it",
      vm: "cold02",
      arrange: ({ esx02 }) => esx02.client.setFaults([{ refuseCreate: true }]),
      expected: { outcome: Phase.failed, code: MigrationFailureCode.rejectedByDestination, message: /refuses to register cold02.*esx01 took the ownership record back \(generation 3\)/, power: PowerStatus.off, record: { owner: "esx01", generation: 3 } },
      cleanup: ({ esx02 }) => esx02.client.setFaults([]),
    },
    {
      fault: "the destination already has a VM of that name",
      vm: "cold03",
      arrange: async ({ esx02 }) => {
        await esx02.client.createVm({ name: "cold03", memoryMB: 16, vcpus: 1, nics: [] });
      },
      expected: { outcome: Phase.failed, code: MigrationFailureCode.rejectedByDestination, message: /esx02 already has a VM named "cold03"/, power: PowerStatus.off, record: undefined, onEsx02: PowerStatus.off },
      cleanup: ({ esx02 }) => esx02.client.destroyVm("cold03"),
    },
    {
      fault: "the VM runs on its source",
      vm: "cold04",
      arrange: async ({ esx01 }) => {
        await esx01.client.powerOn("cold04");
      },
      expected: { outcome: Phase.failed, code: MigrationFailureCode.vmPoweredOn, message: /cold04 is running on esx01: a cold migration moves a powered-off VM only/, power: PowerStatus.running, record: undefined },
    },
    {
      fault: "the destination agent cannot be reached",
      vm: "cold05",
      destination: ({ gone }) => gone.client,
      expected: { outcome: Phase.failed, code: MigrationFailureCode.destinationUnreachable, message: /the destination agent esx03 cannot be reached/, power: PowerStatus.off, record: undefined },
    },
    {
      fault: "aborted before anything moved",
      vm: "cold06",
      aborted: true,
      expected: { outcome: Phase.cancelled, code: MigrationFailureCode.aborted, message: /aborted: operator pressed Cancel/, power: PowerStatus.off, record: undefined },
    },
  ];

  for (const row of rows) {
    test(`${row.fault} → ${row.expected.outcome} ${row.expected.code}; the VM stays on esx01, ${row.expected.power}`, async () => {
      const current = mustLab();
      const { esx01, esx02, ledger } = current;
      const spec = specOf(row.vm);
      await esx01.client.createVm(spec);
      await row.arrange?.(current);
      const abort = new AbortController();
      if (row.aborted === true) abort.abort(new Error("operator pressed Cancel"));
      try {
        const { report } = await cold(spec, row.destination?.(current) ?? esx02.client, abort.signal);
        assert.equal(report.outcome, row.expected.outcome, report.failure?.message);
        assert.equal(report.failure?.code, row.expected.code, report.failure?.message);
        assert.match(report.failure.message, row.expected.message);
        assert.equal(report.runningOn, "esx01");
        assert.equal(await powerOn(esx01.client, row.vm), row.expected.power, "on esx01 as it was: never powered on or off by the move");
        assert.equal(await powerOn(esx02.client, row.vm), row.expected.onEsx02 ?? "absent");
        const record = await ledger.ledger.read(row.vm);
        assert.deepEqual(record === undefined ? undefined : { owner: record.owner, generation: record.generation }, row.expected.record);
      } finally {
        await row.cleanup?.(current);
      }
    });
  }

  test("the checker's verdict when it left the queue has an error: failed INCOMPATIBLE in validating, nothing asked of any host", async () => {
    const { esx01, esx02, ledger } = mustLab();
    const spec = specOf("cold09");
    await esx01.client.createVm(spec);
    const ownership = await ledger.plan(spec.name, "cold-cold09", [esx01.client, esx02.client]);
    const check = { errors: [{ code: FindingCode.portGroupMissing, severity: Severity.error, subject: { kind: SubjectKind.portGroup, name: "VM Network" }, message: 'esx02 does not have port group "VM Network".', fix: "Create it.", ui: { text: "Create it." } }], warnings: [], changes: "Checked again when it left the queue; since it was queued, new: PORTGROUP_MISSING (VM Network)." };
    const report = await coldMigrate({ migrationId: "cold-cold09", vm: spec, source: esx01.client, destination: esx02.client, ownership, check, signal: new AbortController().signal, onProgress: () => undefined, clock: systemClock });
    assert.equal(report.outcome, Phase.failed);
    assert.deepEqual({ code: report.failure?.code, phase: report.failure?.phase }, { code: MigrationFailureCode.incompatible, phase: Phase.validating });
    assert.match(report.failure?.message ?? "", /cold09 cannot move to esx02: 1 error .*new: PORTGROUP_MISSING/);
    assert.equal(await powerOn(esx01.client, "cold09"), PowerStatus.off);
    assert.equal(await ledger.ledger.read("cold09"), undefined, "no record was taken");
  });

  test("the source's removal of a VM only while off refuses one that runs (VM_POWERED_ON), and it keeps running", async () => {
    const { esx01 } = mustLab();
    await esx01.client.createVm(specOf("cold07"));
    await esx01.client.powerOn("cold07");
    await assert.rejects(esx01.client.destroyVm("cold07", { onlyIfOff: true }), (e: unknown) => isFerryError(e) && e.code === ErrorCode.conflict && e.failureCode === MigrationFailureCode.vmPoweredOn);
    assert.equal(await powerOn(esx01.client, "cold07"), PowerStatus.running);
    await esx01.client.powerOff("cold07");
    await esx01.client.destroyVm("cold07", { onlyIfOff: true });
    assert.equal(await powerOn(esx01.client, "cold07"), "absent");
  });
});

describe("cold migration: an agent lost at the worst moment", { timeout: 120_000 }, () => {
  /** A fresh pair whose `kill` target dies the moment the move announces `when` (the kill is synchronous). */
  async function lostAt(when: RegExp, victim: "source" | "destination", index: number): Promise<{ report: MigrationReport; source: AgentProcess; destination: AgentProcess; ledger: LedgerServer }> {
    const [source, destination] = await startAgents([{ name: "esx11", index }, { name: "esx12", index: index + 1 }]);
    if (source === undefined || destination === undefined) throw new Error("agents did not start");
    const { ledger } = mustLab();
    const spec = specOf(`lost${index}`);
    await source.client.createVm(spec);
    const migrationId = `cold-lost${index}`;
    const ownership = await ledger.plan(spec.name, migrationId, [source.client, destination.client]);
    let killed = false;
    const report = await coldMigrate({
      migrationId, vm: spec, source: source.client, destination: destination.client, ownership, signal: new AbortController().signal, clock: systemClock,
      onProgress: (p) => {
        if (killed || !when.test(p.message)) return;
        killed = true;
        (victim === "source" ? source : destination).kill();
      },
    });
    assert.ok(killed, `the move never said ${String(when)}`);
    return { report, source, destination, ledger };
  }

  test("the source dies once the destination registered the VM: completed SOURCE_LOST, registered on the destination, the record names it", async () => {
    const { report, destination, ledger } = await lostAt(/registered, powered off; removing it from/, "source", 54);
    assert.equal(report.outcome, Phase.completed, report.failure?.message);
    assert.equal(report.failure?.code, MigrationFailureCode.sourceLost);
    assert.match(report.failure.message, /lost54 is registered on esx12, but esx11 could not remove its own registration .*esx11 keeps a stale powered-off copy; it cannot power that copy on/);
    assert.equal(report.runningOn, "esx12");
    assert.equal(await powerOn(destination.client, "lost54"), PowerStatus.off);
    assert.equal((await ledger.ledger.read("lost54"))?.owner, "esx12");
  });

  test("the destination dies while it registers the VM: failed, the VM stays on the source, off, and the source took the record back", async () => {
    const { report, source, ledger } = await lostAt(/^registering lost56 on esx12/, "destination", 56);
    assert.equal(report.outcome, Phase.failed);
    assert.equal(report.failure?.code, MigrationFailureCode.destinationUnreachable, report.failure?.message);
    assert.match(report.failure.message, /esx12 may keep a powered-off registration of lost56 .*; esx11 took the ownership record back \(generation 3\)/);
    assert.equal(report.runningOn, "esx11");
    assert.equal(await powerOn(source.client, "lost56"), PowerStatus.off);
    const record = await ledger.ledger.read("lost56");
    assert.deepEqual({ owner: record?.owner, generation: record?.generation }, { owner: "esx11", generation: 3 });
  });
});

describe("a live migration asked to move a powered-off VM", { timeout: 60_000 }, () => {
  test("ends failed VM_NOT_RUNNING in preparing; the VM is still off on esx01, esx02 prepared nothing", async () => {
    const { esx01, esx02, ledger } = mustLab();
    const spec = specOf("off08");
    await esx01.client.createVm(spec);
    const ownership = await ledger.plan(spec.name, "live-off08", [esx01.client, esx02.client]);
    const report = await migrate({ migrationId: "live-off08", vm: spec, source: esx01.client, destination: esx02.client, options: DEFAULT_MIGRATE_OPTIONS, ownership, signal: new AbortController().signal, onProgress: () => undefined, clock: systemClock });
    assert.equal(report.outcome, Phase.failed);
    assert.equal(report.failure?.code, MigrationFailureCode.vmNotRunning, report.failure?.message);
    assert.equal(report.failure.phase, Phase.preparing);
    assert.match(report.failure.message, /off08 is off on esx01, not running: only a running VM migrates live \(a powered-off VM moves cold\)/);
    assert.equal(report.runningOn, "esx01");
    assert.equal(await powerOn(esx01.client, "off08"), PowerStatus.off, "not powered on as a side effect");
    assert.equal(await powerOn(esx02.client, "off08"), "absent");
    const facts = await esx02.client.facts();
    assert.deepEqual({ incoming: facts.migrations.incoming, reserved: facts.reservedMemoryMB }, { incoming: 0, reserved: 0 });
    assert.deepEqual(await esx01.client.listReservations(), []);
  });
});

describe("a cold migration picked up after its controller stopped (reconcileColdMigration)", { timeout: 60_000 }, () => {
  interface ReconcileRow {
    readonly state: string;
    readonly vm: string;
    /** The hosts as the stopped controller left them (the VM is registered off on esx01 first). */
    readonly arrange: (lab: Lab, ledger: LedgerRef, migrationId: string) => Promise<void>;
    /** Picked up without the ownership plan (a VM whose record the controller cannot reopen): the registration's spec decides. */
    readonly unfenced?: boolean;
    readonly expected: { readonly outcome: Phase; readonly code: FailureCode | undefined; readonly registeredOn: "esx01" | "esx02"; readonly record: { readonly owner: string; readonly generation: number } | undefined; readonly onEsx02: PowerStatus | "absent" };
  }
  const rows: readonly ReconcileRow[] = [
    {
      state: "esx02 took the record and registered it; esx01 had not removed it",
      vm: "rec01",
      arrange: async ({ esx01, esx02 }, ledger, migrationId) => {
        await esx01.client.establishOwnership("rec01", ledger);
        await esx02.client.establishOwnership("rec01", ledger, { supersede: 1, migrationId });
        await esx02.client.createVm(specOf("rec01"));
      },
      expected: { outcome: Phase.completed, code: undefined, registeredOn: "esx02", record: { owner: "esx02", generation: 2 }, onEsx02: PowerStatus.off },
    },
    {
      state: "esx02 took the record but never registered it",
      vm: "rec02",
      arrange: async ({ esx01, esx02 }, ledger, migrationId) => {
        await esx01.client.establishOwnership("rec02", ledger);
        await esx02.client.establishOwnership("rec02", ledger, { supersede: 1, migrationId });
      },
      expected: { outcome: Phase.cancelled, code: MigrationFailureCode.aborted, registeredOn: "esx01", record: { owner: "esx01", generation: 3 }, onEsx02: "absent" },
    },
    {
      state: "nothing had moved; esx02 has its own VM of that name",
      vm: "rec03",
      arrange: async ({ esx01, esx02 }, ledger) => {
        await esx01.client.establishOwnership("rec03", ledger);
        await esx02.client.createVm({ name: "rec03", memoryMB: 16, vcpus: 1, nics: [] });
      },
      expected: { outcome: Phase.cancelled, code: MigrationFailureCode.aborted, registeredOn: "esx01", record: { owner: "esx01", generation: 1 }, onEsx02: PowerStatus.off },
    },
    {
      state: "unfenced: esx02 registered the same VM (its MACs)",
      vm: "rec04",
      unfenced: true,
      arrange: async ({ esx02 }) => {
        await esx02.client.createVm((await mustLab().esx01.client.getVm("rec04")).spec ?? specOf("rec04"));
      },
      expected: { outcome: Phase.completed, code: undefined, registeredOn: "esx02", record: undefined, onEsx02: PowerStatus.off },
    },
    {
      state: "unfenced: esx02 has another VM of that name",
      vm: "rec05",
      unfenced: true,
      arrange: async ({ esx02 }) => {
        await esx02.client.createVm({ name: "rec05", memoryMB: 16, vcpus: 1, nics: [] });
      },
      expected: { outcome: Phase.cancelled, code: MigrationFailureCode.aborted, registeredOn: "esx01", record: undefined, onEsx02: PowerStatus.off },
    },
  ];

  for (const row of rows) {
    test(`${row.state} → ${row.expected.outcome}, registered on ${row.expected.registeredOn} only`, async () => {
      const current = mustLab();
      const { esx01, esx02, ledger } = current;
      const spec = specOf(row.vm);
      const migrationId = `cold-${row.vm}`;
      await esx01.client.createVm(spec);
      const ownership = await ledger.plan(row.vm, migrationId, [esx01.client, esx02.client]);
      await row.arrange(current, ownership.ledger, migrationId);
      // Its last event showed 40%: the run picked up never shows less.
      const percents: number[] = [];
      const report = await reconcileColdMigration({ migrationId, vm: spec, source: esx01.client, destination: esx02.client, ownership: row.unfenced === true ? undefined : ownership, signal: new AbortController().signal, onProgress: (p) => percents.push(p.percent), clock: systemClock, lastPercent: 40 });
      assert.ok(percents.length > 0 && percents.every((p, i) => p >= (i === 0 ? 40 : (percents[i - 1] ?? 0))), `percents ${percents.join(", ")}`);
      assert.equal(report.outcome, row.expected.outcome, report.failure?.message);
      assert.equal(report.failure?.code, row.expected.code, report.failure?.message);
      assert.equal(report.runningOn, row.expected.registeredOn);
      const other = row.expected.registeredOn === "esx01" ? esx02 : esx01;
      assert.equal(await powerOn(row.expected.registeredOn === "esx01" ? esx01.client : esx02.client, row.vm), PowerStatus.off);
      if (row.expected.registeredOn === "esx02") assert.equal(await powerOn(other.client, row.vm), "absent");
      assert.equal(await powerOn(esx02.client, row.vm), row.expected.onEsx02);
      const record = await ledger.ledger.read(row.vm);
      assert.deepEqual(record === undefined ? undefined : { owner: record.owner, generation: record.generation }, row.expected.record);
    });
  }
});
