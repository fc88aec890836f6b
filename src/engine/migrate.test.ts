// The engine against in-process agents over fake drivers: every fault as a row of one table
// (STYLE.md lesson 11), each checked for the one rule — the VM runs on exactly one host —
// and for a failure that carries a code, a phase and a reason.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FindingCode, Severity, SubjectKind, type Finding } from "../core/check/findings.ts";
import { DEFAULT_MIGRATE_OPTIONS, MigrationFailureCode, Phase, TERMINAL_PHASES, type MigrateOptions, type MigrationFailureCode as FailureCode, type MigrationProgress } from "../core/migration/types.ts";
import { systemClock } from "../drivers/clock.ts";
import type { PrepareIncomingOptions } from "../drivers/driver.ts";
import { createFakeNetwork } from "../agent/testing/fake-driver.ts";
import { runningVm, startTestAgent, testVmSpec, type TestAgent } from "../agent/testing/harness.ts";
import type { AgentClient } from "../agent/client.ts";
import { migrate, reconcileMigration, type CheckVerdict } from "./migrate.ts";

interface Lab {
  readonly esx01: TestAgent;
  readonly esx02: TestAgent;
  readonly progress: MigrationProgress[];
}

function lab(memoryMB = 4096): Lab {
  const network = createFakeNetwork();
  return { esx01: startTestAgent(network, "esx01", "127.0.1.1"), esx02: startTestAgent(network, "esx02", "127.0.1.2", { memoryMB }), progress: [] };
}

const finding = (code: FindingCode, severity: Severity, message: string): Finding => ({ code, severity, subject: { kind: SubjectKind.vm, name: "web01" }, message, fix: "fix it", ui: { text: "Fix it." } });

/** Counts requests, to prove that nothing was contacted. */
function counting(client: AgentClient, calls: string[]): AgentClient {
  return new Proxy(client, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.push(`${target.name}.${String(key)}`);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

interface Row {
  readonly fault: string;
  readonly memoryMB?: number;
  readonly options?: Partial<MigrateOptions>;
  readonly check?: CheckVerdict;
  /** Prepares the fault before the migration starts. */
  readonly arrange?: (lab: Lab) => void | Promise<void>;
  /** Acts on the first progress event for which it returns true. */
  readonly when?: (p: MigrationProgress) => boolean;
  readonly act?: (lab: Lab, abort: AbortController) => void;
  readonly expected: { readonly outcome: Phase; readonly code: FailureCode | undefined; readonly phase?: Phase; readonly runningOn: "esx01" | "esx02"; readonly message?: RegExp };
  /** Hosts whose VMs died with them (a killed agent): not checked for the VM. */
  readonly dead?: readonly ("esx01" | "esx02")[];
}

const inPrecopy = (p: MigrationProgress): boolean => p.phase === Phase.precopy && p.pass >= 1;

const rows: readonly Row[] = [
  { fault: "none", expected: { outcome: Phase.completed, code: undefined, runningOn: "esx02" } },
  { fault: "none, low priority", options: { priority: "low" }, expected: { outcome: Phase.completed, code: undefined, runningOn: "esx02" } },
  {
    fault: "the checker found an error",
    check: { errors: [finding(FindingCode.cpuVendorMismatch, Severity.error, "esx02's CPU is AuthenticAMD, web01 booted on GenuineIntel.")], warnings: [] },
    expected: { outcome: Phase.failed, code: MigrationFailureCode.incompatible, phase: Phase.validating, runningOn: "esx01", message: /web01 cannot move to esx02: 1 error found by the compatibility check\. esx02's CPU is AuthenticAMD/ },
  },
  {
    fault: "a warning not accepted",
    check: { errors: [], warnings: [finding(FindingCode.deviceHostOnly, Severity.warning, "floppy0 is mapped to esx01's drive but not connected.")] },
    expected: { outcome: Phase.failed, code: MigrationFailureCode.incompatible, phase: Phase.validating, runningOn: "esx01", message: /1 warning not accepted/ },
  },
  {
    fault: "high priority, the destination cannot reserve the memory",
    memoryMB: 32,
    expected: { outcome: Phase.failed, code: MigrationFailureCode.reservationRefused, phase: Phase.preparing, runningOn: "esx01", message: /esx02 cannot reserve resources for migration m1: 64 MB of memory asked, 32 MB free/ },
  },
  {
    fault: "low priority on a destination without the memory",
    memoryMB: 32,
    options: { priority: "low" },
    expected: { outcome: Phase.failed, code: MigrationFailureCode.destinationOutOfMemory, phase: Phase.preparing, runningOn: "esx01", message: /esx02 cannot hold web01's 64 MB/ },
  },
  {
    fault: "the destination's driver refuses for memory",
    arrange: ({ esx02 }) => { esx02.driver.faults = { prepareOutOfMemory: true }; },
    expected: { outcome: Phase.failed, code: MigrationFailureCode.destinationOutOfMemory, phase: Phase.preparing, runningOn: "esx01" },
  },
  {
    fault: "the stream is cut in pre-copy",
    arrange: ({ esx01 }) => { esx01.driver.faults = { failIn: { phase: Phase.precopy, code: MigrationFailureCode.streamBroken } }; },
    expected: { outcome: Phase.failed, code: MigrationFailureCode.streamBroken, phase: Phase.precopy, runningOn: "esx01" },
  },
  {
    fault: "the destination agent dies in pre-copy",
    arrange: ({ esx01 }) => { esx01.driver.faults = { passMs: 60 }; },
    when: inPrecopy,
    act: ({ esx02 }) => { esx02.kill(); },
    dead: ["esx02"],
    expected: { outcome: Phase.failed, code: MigrationFailureCode.destinationLost, phase: Phase.precopy, runningOn: "esx01", message: /destination agent esx02 went away during precopy/ },
  },
  {
    fault: "abort in pre-copy",
    arrange: ({ esx01 }) => { esx01.driver.faults = { passMs: 60 }; },
    when: inPrecopy,
    act: (_lab, abort) => { abort.abort(new Error("operator said stop")); },
    expected: { outcome: Phase.cancelled, code: MigrationFailureCode.aborted, phase: Phase.precopy, runningOn: "esx01" },
  },
  {
    fault: "abort while preparing",
    when: (p) => p.phase === Phase.preparing,
    act: (_lab, abort) => { abort.abort(new Error("operator said stop")); },
    expected: { outcome: Phase.cancelled, code: MigrationFailureCode.aborted, phase: Phase.preparing, runningOn: "esx01", message: /operator said stop/ },
  },
  {
    fault: "the source agent dies after the destination confirmed",
    arrange: ({ esx01 }) => { esx01.driver.faults = { holdAfterCommitMs: 5000 }; },
    when: (p) => p.phase === Phase.switchover,
    act: (l) => {
      // Kill once the destination runs the VM (the fake commits right after switchover starts).
      const poll = setInterval(() => {
        void l.esx02.driver.get("web01").then((s) => {
          if (s?.power === "running") {
            clearInterval(poll);
            l.esx01.kill();
          }
        });
      }, 2);
    },
    dead: ["esx01"],
    expected: { outcome: Phase.completed, code: MigrationFailureCode.sourceLost, phase: Phase.switchover, runningOn: "esx02", message: /esx02 confirmed it runs web01/ },
  },
  {
    fault: "the source agent dies in pre-copy",
    arrange: ({ esx01 }) => { esx01.driver.faults = { passMs: 60 }; },
    when: inPrecopy,
    act: ({ esx01 }) => { esx01.kill(); },
    dead: ["esx01"],
    expected: { outcome: Phase.failed, code: MigrationFailureCode.sourceLost, phase: Phase.precopy, runningOn: "esx01", message: /esx02 had not resumed it/ },
  },
  {
    fault: "the link drops after COMMIT, the destination had resumed",
    arrange: ({ esx01 }) => { esx01.driver.faults = { dropAfterCommit: "running" }; },
    expected: { outcome: Phase.completed, code: MigrationFailureCode.destinationLost, phase: Phase.switchover, runningOn: "esx02", message: /settled with esx02's state "running": web01 runs on esx02/ },
  },
  {
    fault: "the link drops after COMMIT, the destination had not resumed",
    arrange: ({ esx01 }) => { esx01.driver.faults = { dropAfterCommit: "not-running" }; },
    expected: { outcome: Phase.failed, code: MigrationFailureCode.destinationLost, phase: Phase.switchover, runningOn: "esx01", message: /settled with esx02's state "failed": web01 runs on esx01/ },
  },
  {
    fault: "the stream breaks but the source lives on",
    arrange: ({ esx01 }) => { esx01.driver.faults = { passMs: 60 }; },
    when: inPrecopy,
    act: ({ esx01 }) => { esx01.breakStreams(); },
    expected: { outcome: Phase.completed, code: undefined, runningOn: "esx02" },
  },
];

describe("engine: migrate, fault by fault", () => {
  for (const row of rows) {
    test(`${row.fault} → ${row.expected.outcome}${row.expected.code === undefined ? "" : ` ${row.expected.code}`}`, async () => {
      const l = lab(row.memoryMB);
      const spec = testVmSpec("web01", 64);
      await runningVm(l.esx01, spec);
      await row.arrange?.(l);
      const abort = new AbortController();
      let acted = false;
      const calls: string[] = [];
      const report = await migrate({
        migrationId: "m1",
        vm: spec,
        source: counting(l.esx01.client, calls),
        destination: counting(l.esx02.client, calls),
        options: { ...DEFAULT_MIGRATE_OPTIONS, ...row.options },
        check: row.check,
        signal: abort.signal,
        clock: systemClock,
        timings: { reattachMs: 300, retryMs: 20 },
        onProgress: (p) => {
          l.progress.push(p);
          if (!acted && row.when?.(p) === true) {
            acted = true;
            row.act?.(l, abort);
          }
        },
      });
      const { expected } = row;
      assert.equal(report.outcome, expected.outcome, JSON.stringify(report.failure));
      assert.equal(report.failure?.code, expected.code, report.failure?.message);
      if (expected.phase !== undefined) assert.equal(report.failure?.phase, expected.phase);
      if (expected.message !== undefined) assert.match(report.failure?.message ?? "", expected.message);
      if (expected.code !== undefined) assert.ok((report.failure?.message ?? "").length > 10, "the failure says why");
      assert.equal(report.runningOn, expected.runningOn);
      if (row.when !== undefined) assert.ok(acted, "the fault was injected");

      // The one rule: the VM runs on exactly one host, and nothing is left behind.
      const live = [l.esx01, l.esx02].filter((a) => !(row.dead ?? []).includes(a.name as "esx01"));
      for (const agent of live) {
        const vms = await agent.client.listVms();
        if (agent.name === expected.runningOn) {
          assert.deepEqual(vms.map((v) => [v.name, v.power]), [["web01", "running"]], `${agent.name} runs web01`);
        } else {
          assert.deepEqual(vms, [], `${agent.name} holds no copy or shell`);
        }
        assert.deepEqual(await agent.client.listReservations(), [], `${agent.name}'s reservations are released`);
      }
      // Percent never goes backwards; the last event is the outcome.
      const percents = l.progress.map((p) => p.percent);
      assert.deepEqual(percents, [...percents].sort((a, b) => a - b));
      assert.equal(l.progress[l.progress.length - 1]?.phase, expected.outcome);
      assert.deepEqual(l.progress.filter((p) => TERMINAL_PHASES.has(p.phase)).map((p) => p.phase), [expected.outcome], "one outcome, announced once");
      if (expected.code === MigrationFailureCode.incompatible) assert.deepEqual(calls, [], "nothing was contacted");
      if (row.options?.priority === "low") assert.ok(!calls.some((c) => c.endsWith(".reserve")), "low priority reserves nothing");
    });
  }

  test("high priority reserves on both hosts while it runs, then releases", async () => {
    const l = lab();
    const spec = testVmSpec("web01", 64);
    await runningVm(l.esx01, spec);
    l.esx01.driver.faults = { passMs: 40 };
    const seen: { host: string; cpuMhz: number; memoryMB: number }[] = [];
    const report = await migrate({
      migrationId: "m1", vm: spec, source: l.esx01.client, destination: l.esx02.client, options: DEFAULT_MIGRATE_OPTIONS, signal: new AbortController().signal, clock: systemClock,
      onProgress: (p) => {
        if (p.phase === Phase.precopy && seen.length === 0) {
          seen.push({ host: "pending", cpuMhz: 0, memoryMB: 0 });
          void Promise.all([l.esx01.client.listReservations(), l.esx02.client.listReservations()]).then(([a, b]) => {
            seen.splice(0, 1, ...a.map((r) => ({ host: "esx01", cpuMhz: r.cpuMhz, memoryMB: r.memoryMB })), ...b.map((r) => ({ host: "esx02", cpuMhz: r.cpuMhz, memoryMB: r.memoryMB })));
          });
        }
      },
    });
    assert.equal(report.outcome, Phase.completed);
    // 30% of a 2400 MHz core on each 1 Gb/s host; the VM's memory on the destination only.
    assert.deepEqual(seen, [{ host: "esx01", cpuMhz: 720, memoryMB: 0 }, { host: "esx02", cpuMhz: 720, memoryMB: 64 }]);
    assert.deepEqual(await l.esx01.client.listReservations(), []);
    assert.deepEqual(await l.esx02.client.listReservations(), []);
  });

  test("the prediction is stored beside the measurement", async () => {
    const l = lab();
    const spec = testVmSpec("web01", 64);
    await runningVm(l.esx01, spec);
    const prediction = { passes: 3, bytes: 1, totalMs: 10, downtimeMs: 1, converges: true, note: "idle", throttlePercent: 0 };
    const report = await migrate({ migrationId: "m1", vm: spec, source: l.esx01.client, destination: l.esx02.client, options: DEFAULT_MIGRATE_OPTIONS, prediction, signal: new AbortController().signal, clock: systemClock, onProgress: () => undefined });
    assert.deepEqual(report.prediction, prediction);
  });

  test("the destination is told the version of the hypervisor that runs the VM on the source (qemu: multifd needs both ends fixed, trap 18)", async () => {
    const l = lab();
    const spec = testVmSpec("web01", 64);
    await runningVm(l.esx01, spec);
    const get = l.esx01.driver.get.bind(l.esx01.driver);
    l.esx01.driver.get = async (name) => {
      const status = await get(name);
      return status === undefined ? undefined : { ...status, hypervisorVersion: "9.2.1" };
    };
    const asked: PrepareIncomingOptions[] = [];
    const prepare = l.esx02.driver.prepareIncoming.bind(l.esx02.driver);
    l.esx02.driver.prepareIncoming = (vm, options) => {
      asked.push(options);
      return prepare(vm, options);
    };
    const report = await migrate({ migrationId: "m1", vm: spec, source: l.esx01.client, destination: l.esx02.client, options: DEFAULT_MIGRATE_OPTIONS, signal: new AbortController().signal, clock: systemClock, onProgress: () => undefined });
    assert.equal(report.outcome, Phase.completed);
    assert.deepEqual(asked.map((o) => o.sourceHypervisorVersion), ["9.2.1"]);
  });
});

describe("engine: reconcileMigration, after a controller restart", () => {
  /** Starts the migration as a controller would, then "dies": reads `events` events and stops. */
  async function startThenDie(l: Lab, spec: ReturnType<typeof testVmSpec>, events: number): Promise<void> {
    const target = await l.esx02.client.prepareIncoming("m1", spec);
    const stop = new AbortController();
    let seen = 0;
    try {
      for await (const e of l.esx01.client.migrateOut({ migrationId: "m1", vm: spec.name, target, destination: "esx02" }, { signal: stop.signal })) {
        if (++seen >= events || e.type === "report") stop.abort(new Error("controller died"));
      }
    } catch {
      // The reader went away, as a dead controller's does.
    }
  }

  const reconcileM1 = (l: Lab, spec: ReturnType<typeof testVmSpec>) =>
    reconcileMigration({ migrationId: "m1", vm: spec, source: l.esx01.client, destination: l.esx02.client, signal: new AbortController().signal, clock: systemClock, timings: { reattachMs: 300, retryMs: 20 }, onProgress: (p) => l.progress.push(p) });

  test("a migration the source still runs is followed to its end", async () => {
    const l = lab();
    const spec = testVmSpec("web01");
    await runningVm(l.esx01, spec);
    l.esx01.driver.faults = { passMs: 60 };
    await startThenDie(l, spec, 1);
    assert.equal((await l.esx01.client.outgoing("m1")).state, "running");
    const report = await reconcileM1(l, spec);
    assert.equal(report.outcome, Phase.completed);
    assert.equal(report.runningOn, "esx02");
    assert.equal((await l.esx02.client.getVm("web01")).power, "running");
    assert.deepEqual(await l.esx01.client.listVms(), []);
  });

  test("a finished migration gives its report, and reservations are released", async () => {
    const l = lab();
    const spec = testVmSpec("web01");
    await runningVm(l.esx01, spec);
    await l.esx01.client.reserve("m1", { cpuMhz: 720, memoryMB: 0 });
    await l.esx02.client.reserve("m1", { cpuMhz: 720, memoryMB: 64 });
    await startThenDie(l, spec, 1000);
    const report = await reconcileM1(l, spec);
    assert.equal(report.outcome, Phase.completed);
    assert.deepEqual(await l.esx01.client.listReservations(), []);
    assert.deepEqual(await l.esx02.client.listReservations(), []);
  });

  test("a migration that never got under way is cancelled; the shell goes, the VM stays", async () => {
    const l = lab();
    const spec = testVmSpec("web01");
    await runningVm(l.esx01, spec);
    await l.esx02.client.prepareIncoming("m1", spec);
    const report = await reconcileM1(l, spec);
    assert.equal(report.outcome, Phase.cancelled);
    assert.equal(report.failure?.code, MigrationFailureCode.aborted);
    assert.match(report.failure.message, /the controller restarted before migration m1 got under way on esx01/);
    assert.deepEqual(await l.esx02.client.listVms(), []);
    assert.equal((await l.esx01.client.getVm("web01")).power, "running");
  });

  test("an uncertain switchover the old controller never settled is settled", async () => {
    const l = lab();
    const spec = testVmSpec("web01");
    await runningVm(l.esx01, spec);
    l.esx01.driver.faults = { dropAfterCommit: "running" };
    await startThenDie(l, spec, 1000);
    assert.equal((await l.esx01.client.getVm("web01")).power, "paused", "the source holds its paused copy");
    const report = await reconcileM1(l, spec);
    assert.equal(report.outcome, Phase.completed);
    assert.equal(report.runningOn, "esx02");
    assert.deepEqual(await l.esx01.client.listVms(), []);
  });
});
