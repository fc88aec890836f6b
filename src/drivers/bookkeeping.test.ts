// The drivers' shared bookkeeping on its own: which incoming migrations a host remembers, how a
// settlement is decided once and repeated, what closing does to outgoing migrations, the rules
// a VM's life follows, and the reservation book's arithmetic.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ErrorCode, isFerryError } from "../core/errors.ts";
import type { ClaimResult } from "../core/ownership.ts";
import { MigrationFailureCode, Phase } from "../core/migration/types.ts";
import { checkNewVm, createReservationBook, IncomingRegister, memoryHeldMB, mustBeIdle, OutgoingRuns, Settlements, vmToMigrate } from "./bookkeeping.ts";
import { IncomingState, PowerStatus, type OwnershipFence } from "./driver.ts";

const target = { migrationId: "m1", host: "127.0.1.2", port: 4000, token: "t" };
const code = (expected: string) => (e: unknown) => isFerryError(e) && e.code === expected;

describe("incoming register", () => {
  test("past its bound it forgets the oldest finished migrations, never one under way", () => {
    const register = new IncomingRegister<{ state: IncomingState }>(3);
    register.add("old-running", { state: IncomingState.receiving });
    register.add("done-1", { state: IncomingState.running });
    register.add("done-2", { state: IncomingState.aborted });
    register.add("new", { state: IncomingState.waiting });
    assert.deepEqual([register.state("old-running"), register.state("done-1"), register.state("done-2"), register.state("new")], [IncomingState.receiving, IncomingState.unknown, IncomingState.aborted, IncomingState.waiting]);
    assert.equal(register.size, 3);
  });

  test("a migration id is prepared once", () => {
    const register = new IncomingRegister<{ state: IncomingState }>();
    register.add("m1", { state: IncomingState.failed });
    assert.throws(() => { register.mustBeNew("m1", "esx02"); }, (e: unknown) => code(ErrorCode.conflict)(e) && /esx02 already has incoming migration m1 \(failed\)/.test((e as Error).message));
  });
});

describe("settlements", () => {
  const fence = (won: boolean): OwnershipFence & { claims: number } => {
    const f = {
      where: "the controller's store",
      generation: 2,
      claims: 0,
      claim: (): Promise<ClaimResult> => {
        f.claims++;
        return Promise.resolve({ won, ownership: { vm: "web01", owner: won ? "esx01" : "esx02", generation: 3, at: 0 } });
      },
    };
    return f;
  };

  test("the fence decides, the driver applies it once, and a repeated call gets the same answer", async () => {
    for (const [won, where] of [[true, "source"], [false, "destination"]] as const) {
      const settlements = new Settlements("esx01");
      const f = fence(won);
      const applied: string[] = [];
      settlements.await("m1", "web01", f);
      // The destination's word counts only without a fence: "running" here is overruled by the claim.
      assert.equal(await settlements.settle("web01", "m1", IncomingState.running, (w) => { applied.push(w); }), where);
      assert.equal(await settlements.settle("web01", "m1", IncomingState.failed, (w) => { applied.push(w); }), where);
      assert.deepEqual({ applied, claims: f.claims }, { applied: [where], claims: 1 });
    }
  });

  test("without a fence the destination's word decides; too early a word is refused, retryable", async () => {
    const settlements = new Settlements("esx01");
    settlements.await("m1", "web01", undefined);
    await assert.rejects(settlements.settle("web01", "m1", IncomingState.committing, () => undefined), (e: unknown) => code(ErrorCode.conflict)(e) && (e as { retryable?: boolean }).retryable === true);
    assert.equal(await settlements.settle("web01", "m1", IncomingState.unknown, () => undefined), "source");
  });

  test("a VM with no paused copy waiting here is a conflict", async () => {
    const settlements = new Settlements("esx01");
    settlements.await("m1", "web01", undefined);
    await assert.rejects(settlements.settle("db01", "m1", IncomingState.running, () => undefined), (e: unknown) => code(ErrorCode.conflict)(e) && /esx01 holds no paused copy of db01/.test((e as Error).message));
  });
});

describe("outgoing runs", () => {
  test("close aborts every migration's signal and waits for each to end", async () => {
    const runs = new OutgoingRuns();
    const own = new AbortController();
    const signal = runs.signal(own.signal);
    let ended = false;
    const run = runs.track(
      new Promise<string>((resolve) => {
        signal.addEventListener("abort", () => {
          ended = true;
          resolve("resumed on the source");
        });
      }),
    );
    assert.equal(runs.closed, false);
    await runs.close("the driver is closing");
    assert.deepEqual({ closed: runs.closed, ended, aborted: signal.aborted, own: own.signal.aborted }, { closed: true, ended: true, aborted: true, own: false });
    assert.equal(await run, "resumed on the source");
  });
});

describe("a VM's life", () => {
  test("memory: an off VM holds none; running, paused and shells hold their size", () => {
    const vm = (power: PowerStatus, memoryMB: number) => ({ power, spec: { memoryMB } });
    assert.equal(memoryHeldMB([vm(PowerStatus.off, 512), vm(PowerStatus.running, 256), vm(PowerStatus.paused, 128)]), 384);
  });

  test("a new VM needs a name, a positive whole memory size and a free name", () => {
    assert.throws(() => { checkNewVm("esx01", { name: "", memoryMB: 64 }, false); }, code(ErrorCode.invalidInput));
    assert.throws(() => { checkNewVm("esx01", { name: "web01", memoryMB: 1.5 }, false); }, code(ErrorCode.invalidInput));
    assert.throws(() => { checkNewVm("esx01", { name: "web01", memoryMB: 64 }, true); }, code(ErrorCode.conflict));
    checkNewVm("esx01", { name: "web01", memoryMB: 64 }, false);
  });

  test("power operations wait for a migration", () => {
    assert.throws(() => { mustBeIdle("web01", { power: PowerStatus.running, migratingOut: "m1", incoming: undefined }, "power off"); }, code(ErrorCode.conflict));
    assert.throws(() => { mustBeIdle("web01", { power: PowerStatus.paused, migratingOut: undefined, incoming: "m2" }, "destroy"); }, code(ErrorCode.conflict));
  });

  test("migrateOut is refused before anything moves, naming this host as where the VM is", () => {
    const idle = { power: PowerStatus.running, migratingOut: undefined, incoming: undefined };
    const cases = [
      { vm: idle, closed: "sim", expected: MigrationFailureCode.internal },
      { vm: undefined, closed: undefined, expected: MigrationFailureCode.vmNotFound },
      { vm: { ...idle, incoming: "m0" }, closed: undefined, expected: MigrationFailureCode.vmNotRunning },
      { vm: { ...idle, migratingOut: "m0" }, closed: undefined, expected: MigrationFailureCode.vmNotRunning },
      { vm: { ...idle, power: PowerStatus.off }, closed: undefined, expected: MigrationFailureCode.vmNotRunning },
    ];
    for (const c of cases) {
      const { refused } = vmToMigrate("esx01", "web01", c.vm, target, c.closed);
      assert.ok(refused !== undefined);
      assert.deepEqual({ code: refused.failure?.code, outcome: refused.outcome, phase: refused.failure?.phase, runningOn: refused.runningOn }, { code: c.expected, outcome: Phase.failed, phase: Phase.preparing, runningOn: "esx01" });
    }
    assert.equal(vmToMigrate("esx01", "web01", idle, target, undefined).vm, idle);
  });
});

describe("reservation book", () => {
  const capacity = { hostName: "esx02", freeMemoryMB: 1000, cpuCapacityMhz: 4000 };

  test("holds what fits, refuses what others' reservations took, and stops counting memory a shell holds", () => {
    const book = createReservationBook();
    book.hold("m1", { cpuMhz: 1000, memoryMB: 600 }, capacity, 1);
    assert.throws(
      () => book.hold("m2", { cpuMhz: 100, memoryMB: 600 }, capacity, 2),
      (e: unknown) => code(ErrorCode.refused)(e) && isFerryError(e) && e.failureCode === MigrationFailureCode.reservationRefused && /600 MB of memory asked, 400 MB free \(600 MB already reserved\)/.test((e as Error).message),
    );
    book.markMemoryInUse("m1");
    assert.deepEqual(book.held(), { memoryMB: 0, cpuMhz: 1000 });
    assert.deepEqual(book.held("m1"), { memoryMB: 0, cpuMhz: 0 });
    assert.equal(book.release("m1")?.memoryInUse, true);
    assert.deepEqual(book.list(), []);
  });

  test("a retried request is idempotent; another amount under the same id is a conflict", () => {
    const book = createReservationBook();
    const first = book.hold("m1", { cpuMhz: 100, memoryMB: 100 }, capacity, 1);
    assert.equal(book.hold("m1", { cpuMhz: 100, memoryMB: 100 }, capacity, 2), first);
    assert.throws(() => book.hold("m1", { cpuMhz: 100, memoryMB: 200 }, capacity, 3), code(ErrorCode.conflict));
  });
});
