import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ErrorCode, isFerryError } from "../errors.ts";
import type { PassStats } from "./convergence.ts";
import {
  PHASE_RANK,
  advanceTo,
  applyMigrationEvent,
  canApply,
  concludeMigration,
  initialMigrationState,
  isTerminal,
  nextPhase,
  phaseDurations,
  recordPass,
  replayMigration,
  type MigrationEvent,
  type MigrationState,
} from "./phases.ts";
import { MigrationFailureCode, Phase } from "./types.ts";

const T0 = 1_700_000_000_000;

function stats(pass: number, throttlePercent = 0): PassStats {
  return { pass, memoryBytes: 1 << 20, bytesSentTotal: pass << 18, remainingBytes: 4096, linkRateBytesPerSec: 1e8, dirtyRateBytesPerSec: 1e6, throttlePercent };
}

function isInternal(error: unknown): boolean {
  return isFerryError(error) && error.code === ErrorCode.internal;
}

const HAPPY: readonly MigrationEvent[] = [{ type: "start" }, { type: "validated" }, { type: "prepared" }, { type: "pass", stats: stats(1) }, { type: "pass", stats: stats(2, 20) }, { type: "switchover" }, { type: "confirmed" }];

test("the happy path walks every phase once, in order, with the times it was given", () => {
  const state = replayMigration(
    HAPPY.map((event, i) => ({ event, at: T0 + (i + 1) * 100 })),
    T0,
  );
  assert.equal(state.phase, Phase.completed);
  assert.deepEqual(
    state.timeline.map((e) => e.phase),
    [Phase.queued, Phase.validating, Phase.preparing, Phase.precopy, Phase.switchover, Phase.completed],
  );
  assert.deepEqual(
    state.timeline.map((e) => e.at),
    [T0, T0 + 100, T0 + 200, T0 + 300, T0 + 600, T0 + 700],
  );
  assert.equal(state.passes, 2);
  assert.equal(state.throttlePercentMax, 20);
  assert.equal(state.failure, undefined);
  assert.deepEqual(phaseDurations(state, T0 + 9999), { queued: 100, validating: 100, preparing: 100, precopy: 300, switchover: 100, completed: 0 });
});

test("switchover may come without a pass (QEMU can finish between two polls)", () => {
  const state = replayMigration(
    [{ type: "start" }, { type: "validated" }, { type: "prepared" }, { type: "switchover" }, { type: "confirmed" }].map((event) => ({ event: event as MigrationEvent, at: T0 })),
    T0,
  );
  assert.equal(state.phase, Phase.completed);
  assert.equal(state.passes, 0);
});

// One table: where each way out is taken, what is recorded.
const ENDINGS: readonly { readonly name: string; readonly after: number; readonly event: MigrationEvent; readonly phase: Phase; readonly code: string }[] = [
  { name: "fail while queued", after: 0, event: { type: "fail", failure: { code: MigrationFailureCode.internal, message: "x" } }, phase: Phase.failed, code: MigrationFailureCode.internal },
  { name: "fail while validating", after: 1, event: { type: "fail", failure: { code: MigrationFailureCode.incompatible, message: "x" } }, phase: Phase.failed, code: MigrationFailureCode.incompatible },
  { name: "fail while preparing", after: 2, event: { type: "fail", failure: { code: MigrationFailureCode.destinationOutOfMemory, message: "x" } }, phase: Phase.failed, code: MigrationFailureCode.destinationOutOfMemory },
  { name: "fail in pre-copy", after: 4, event: { type: "fail", failure: { code: MigrationFailureCode.notConverging, message: "x" } }, phase: Phase.failed, code: MigrationFailureCode.notConverging },
  { name: "fail at switchover", after: 6, event: { type: "fail", failure: { code: MigrationFailureCode.checksumMismatch, message: "x" } }, phase: Phase.failed, code: MigrationFailureCode.checksumMismatch },
  { name: "cancel while queued", after: 0, event: { type: "cancel" }, phase: Phase.cancelled, code: MigrationFailureCode.aborted },
  { name: "cancel in pre-copy", after: 5, event: { type: "cancel", reason: "operator asked" }, phase: Phase.cancelled, code: MigrationFailureCode.aborted },
  { name: "cancel at switchover", after: 6, event: { type: "cancel" }, phase: Phase.cancelled, code: MigrationFailureCode.aborted },
];

for (const ending of ENDINGS) {
  test(`${ending.name}: ends in ${ending.phase} with ${ending.code} and the phase it left`, () => {
    const before = replayMigration(
      HAPPY.slice(0, ending.after).map((event) => ({ event, at: T0 })),
      T0,
    );
    const after = applyMigrationEvent(before, ending.event, T0 + 5);
    assert.equal(after.phase, ending.phase);
    assert.equal(after.failure?.code, ending.code);
    assert.equal(after.failure.phase, before.phase);
    assert.deepEqual(after.timeline.at(-1), { phase: ending.phase, at: T0 + 5 });
    for (const event of [...HAPPY, ending.event, { type: "cancel" } as const]) {
      assert.throws(() => applyMigrationEvent(after, event, T0 + 6), isInternal, `${event.type} after ${ending.phase}`);
    }
  });
}

test("illegal events are refused with INTERNAL and leave the state as it was", () => {
  const queued = initialMigrationState(T0);
  const frozen = structuredClone(queued);
  for (const event of [{ type: "validated" }, { type: "prepared" }, { type: "pass", stats: stats(1) }, { type: "switchover" }, { type: "confirmed" }] as const) {
    assert.throws(() => applyMigrationEvent(queued, event, T0), (e: unknown) => isInternal(e) && e instanceof Error && e.message.includes(`"${event.type}" in phase queued`));
    assert.equal(canApply(queued, event), false);
  }
  assert.deepEqual(queued, frozen);
  const inPrecopy = replayMigration(
    HAPPY.slice(0, 4).map((event) => ({ event, at: T0 })),
    T0,
  );
  assert.throws(() => applyMigrationEvent(inPrecopy, { type: "pass", stats: stats(1) }, T0), isInternal, "a pass number never repeats");
  assert.equal(applyMigrationEvent(inPrecopy, { type: "pass", stats: stats(5) }, T0).passes, 5, "pass numbers may skip");
});

test("a clock that steps back never disorders the timeline", () => {
  const state = replayMigration(
    [
      { event: { type: "start" }, at: T0 + 1000 },
      { event: { type: "validated" }, at: T0 + 500 },
    ],
    T0,
  );
  assert.deepEqual(
    state.timeline.map((e) => e.at),
    [T0, T0 + 1000, T0 + 1000],
  );
});

test("nextPhase: terminal phases have no way out", () => {
  for (const phase of Object.values(Phase)) {
    for (const type of ["start", "validated", "prepared", "pass", "switchover", "confirmed", "unsettled", "fail", "cancel"] as const) {
      const to = nextPhase(phase, type);
      if (isTerminal(phase)) assert.equal(to, undefined);
      else if (to !== undefined) assert.ok(PHASE_RANK[to] >= PHASE_RANK[phase], `${phase} -${type}-> ${to}`);
    }
  }
});

// Model-based test: random command sequences, legal or not, against a tiny model of the
// machine. Each command checks the real reducer against the model and the invariants.
interface Model {
  phase: Phase;
  passes: number;
  now: number;
}
interface Real {
  state: MigrationState;
}

const FORWARD: Partial<Record<MigrationEvent["type"], readonly [Phase, Phase]>> = {
  start: [Phase.queued, Phase.validating],
  validated: [Phase.validating, Phase.preparing],
  prepared: [Phase.preparing, Phase.precopy],
  switchover: [Phase.precopy, Phase.switchover],
  confirmed: [Phase.switchover, Phase.completed],
  unsettled: [Phase.switchover, Phase.needsAttention],
};

function checkInvariants(before: MigrationState, after: MigrationState): void {
  if (isTerminal(before.phase)) assert.equal(after.phase, before.phase, "left a terminal phase");
  assert.ok(PHASE_RANK[after.phase] >= PHASE_RANK[before.phase], `moved back from ${before.phase} to ${after.phase}`);
  assert.equal(after.timeline.at(-1)?.phase, after.phase, "the timeline ends at the current phase");
  for (let i = 1; i < after.timeline.length; i++) {
    const a = after.timeline[i - 1]!;
    const b = after.timeline[i]!;
    assert.ok(b.at >= a.at, "timeline out of order");
    assert.ok(PHASE_RANK[b.phase] > PHASE_RANK[a.phase], `timeline goes ${a.phase} then ${b.phase}`);
  }
  assert.ok(after.passes >= before.passes);
  assert.equal(after.failure !== undefined, after.phase === Phase.failed || after.phase === Phase.cancelled || after.phase === Phase.needsAttention);
}

class EventCommand implements fc.Command<Model, Real> {
  private event: MigrationEvent | undefined;
  constructor(
    private readonly pick: (model: Model) => MigrationEvent,
    readonly dt: number,
    private readonly label: string,
  ) {}
  check(): boolean {
    return true; // illegal events are part of the test: they must be refused.
  }
  run(model: Model, real: Real): void {
    const event = this.pick(model);
    this.event = event;
    model.now += this.dt;
    const expected = expectedPhase(model, event);
    const before = real.state;
    if (expected === undefined) {
      assert.throws(() => applyMigrationEvent(before, event, model.now), isInternal);
      assert.equal(canApply(before, event), false);
      return;
    }
    assert.equal(canApply(before, event), true);
    const after = applyMigrationEvent(before, event, model.now);
    checkInvariants(before, after);
    assert.equal(after.phase, expected);
    if (event.type === "pass") model.passes = event.stats.pass;
    assert.equal(after.passes, model.passes);
    if (expected !== before.phase) assert.equal(after.timeline.at(-1)?.at, Math.max(model.now, before.timeline.at(-1)!.at));
    model.phase = expected;
    real.state = after;
    reached.add(expected);
  }
  toString(): string {
    const e = this.event;
    return `${this.label}:${e === undefined ? "?" : e.type}${e?.type === "pass" ? `(${e.stats.pass})` : ""}@+${this.dt}`;
  }
}

function expectedPhase(model: Model, event: MigrationEvent): Phase | undefined {
  if (isTerminal(model.phase)) return undefined;
  switch (event.type) {
    case "fail":
      return Phase.failed;
    case "cancel":
      return Phase.cancelled;
    case "pass":
      return model.phase === Phase.precopy && event.stats.pass > model.passes ? Phase.precopy : undefined;
    case "start":
    case "validated":
    case "prepared":
    case "switchover":
    case "confirmed":
    case "unsettled": {
      const [from, to] = FORWARD[event.type]!;
      return model.phase === from ? to : undefined;
    }
  }
}

/** The legal forward step from the model's phase (a pass or two in pre-copy first). */
function advance(model: Model): MigrationEvent {
  switch (model.phase) {
    case Phase.queued:
      return { type: "start" };
    case Phase.validating:
      return { type: "validated" };
    case Phase.preparing:
      return { type: "prepared" };
    case Phase.precopy:
      return model.passes < 2 ? { type: "pass", stats: stats(model.passes + 1) } : { type: "switchover" };
    case Phase.switchover:
      // Now and then the switchover's outcome cannot be proven.
      return model.now % 7 === 0 ? { type: "unsettled", message: "nobody could prove who holds it" } : { type: "confirmed" };
    case Phase.completed:
    case Phase.failed:
    case Phase.cancelled:
    case Phase.needsAttention:
      return { type: "start" };
  }
}

const reached = new Set<Phase>();

// Mostly legal forward steps so runs reach deep phases, mixed with arbitrary (often illegal)
// events and endings; clock deltas may be negative (the clock steps back).
const dt = fc.integer({ min: -50, max: 1000 });
const anyForward = fc.constantFrom<MigrationEvent>({ type: "start" }, { type: "validated" }, { type: "prepared" }, { type: "switchover" }, { type: "confirmed" }, { type: "unsettled", message: "nobody could prove who holds it" });
const command = fc.oneof(
  { weight: 12, arbitrary: dt.map((d) => new EventCommand(advance, d, "advance")) },
  { weight: 2, arbitrary: fc.tuple(anyForward, dt).map(([e, d]) => new EventCommand(() => e, d, "any")) },
  { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 99 }), dt).map(([p, th, d]) => new EventCommand(() => ({ type: "pass", stats: stats(p, th) }), d, "pass")) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...Object.values(MigrationFailureCode)), dt).map(([code, d]) => new EventCommand(() => ({ type: "fail", failure: { code, message: `failed: ${code}` } }), d, "fail")) },
  { weight: 1, arbitrary: dt.map((d) => new EventCommand(() => ({ type: "cancel" }), d, "cancel")) },
);

test("model-based: never leaves a terminal phase, only moves forward, timeline ordered, illegal events refused", () => {
  fc.assert(
    fc.property(fc.commands([command], { maxCommands: 40 }), (cmds) => {
      fc.modelRun(() => ({ model: { phase: Phase.queued, passes: 0, now: T0 }, real: { state: initialMigrationState(T0) } }), cmds);
    }),
    { numRuns: 500 },
  );
  // The generator must actually drive runs deep: every phase, every ending.
  assert.deepEqual([...reached].sort(), Object.values(Phase).filter((p) => p !== Phase.queued).sort());
});

test("advanceTo enters every phase on the way to the one a source reports, and never goes back", () => {
  const start = initialMigrationState(T0);
  const atSwitchover = advanceTo(start, Phase.switchover, T0 + 5);
  assert.deepEqual(
    atSwitchover.timeline.map((e) => e.phase),
    [Phase.queued, Phase.validating, Phase.preparing, Phase.precopy, Phase.switchover],
  );
  assert.ok(atSwitchover.timeline.slice(1).every((e) => e.at === T0 + 5));
  assert.equal(advanceTo(atSwitchover, Phase.precopy, T0 + 6), atSwitchover, "a late pre-copy sample changes nothing");
  assert.equal(advanceTo(atSwitchover, Phase.switchover, T0 + 6), atSwitchover);
  assert.equal(advanceTo(atSwitchover, Phase.completed, T0 + 6), atSwitchover, "outcomes come by concludeMigration");
});

test("recordPass takes new pass numbers in pre-copy only, skips included", () => {
  const precopy = advanceTo(initialMigrationState(T0), Phase.precopy, T0);
  assert.equal(recordPass(initialMigrationState(T0), stats(1), T0).passes, 0, "not before pre-copy");
  const third = recordPass(recordPass(precopy, stats(1), T0 + 1), stats(3, 30), T0 + 2);
  assert.equal(third.passes, 3);
  assert.equal(third.throttlePercentMax, 30);
  assert.equal(recordPass(third, stats(2), T0 + 3), third, "an older pass changes nothing");
});

const CONCLUSIONS: readonly { readonly from: Phase; readonly outcome: Phase; readonly code: MigrationFailureCode | undefined; readonly through: readonly Phase[] }[] = [
  { from: Phase.precopy, outcome: Phase.completed, code: undefined, through: [Phase.switchover, Phase.completed] },
  { from: Phase.switchover, outcome: Phase.completed, code: undefined, through: [Phase.completed] },
  { from: Phase.precopy, outcome: Phase.needsAttention, code: MigrationFailureCode.ownershipUnknown, through: [Phase.switchover, Phase.needsAttention] },
  { from: Phase.preparing, outcome: Phase.failed, code: MigrationFailureCode.streamBroken, through: [Phase.failed] },
  { from: Phase.validating, outcome: Phase.cancelled, code: MigrationFailureCode.aborted, through: [Phase.cancelled] },
];

for (const c of CONCLUSIONS) {
  test(`concludeMigration from ${c.from} to ${c.outcome} enters ${c.through.join(", ")}`, () => {
    const before = advanceTo(initialMigrationState(T0), c.from, T0);
    const after = concludeMigration(before, c.outcome, { code: c.code ?? MigrationFailureCode.internal, message: "why" }, T0 + 1);
    assert.equal(after.phase, c.outcome);
    assert.deepEqual(after.timeline.slice(before.timeline.length).map((e) => e.phase), c.through);
    assert.equal(after.failure?.code, c.code);
    assert.equal(concludeMigration(after, Phase.failed, undefined, T0 + 2), after, "an ended machine stays ended");
  });
}

test("concludeMigration refuses a phase that is not an outcome", () => {
  assert.throws(() => concludeMigration(initialMigrationState(T0), Phase.precopy, undefined, T0), isInternal);
});
