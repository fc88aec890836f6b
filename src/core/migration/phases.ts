// The migration phase machine: a pure reducer over typed events. The engine feeds it what the
// drivers report and stores the state it returns; nothing here waits, reads a clock or does
// I/O. Phases only move forward along
//   queued → validating → preparing → precopy → switchover → completed
// and any phase that has not ended may end in failed or cancelled; a switchover whose outcome
// nobody could prove (src/core/ownership.ts) ends in needs-attention. A terminal phase has no way
// out: a late "confirmed" after a cancel, or a second "fail", is a bug in the caller, and the
// reducer says so with an INTERNAL FerryError instead of rewriting history.
import { FerryError, ErrorCode } from "../errors.ts";
import type { PassStats } from "./convergence.ts";
import { MigrationFailureCode, Phase, TERMINAL_PHASES, type MigrationFailure } from "./types.ts";

/** What the engine tells the machine. One event type per arrow of the diagram above. */
export type MigrationEvent =
  | { readonly type: "start" }
  | { readonly type: "validated" }
  | { readonly type: "prepared" }
  /** A pre-copy pass was reported (its number grows); `stats` are its figures as then reported. */
  | { readonly type: "pass"; readonly stats: PassStats }
  /** The source quiesced the VM and is sending the last dirty pages and the device state. */
  | { readonly type: "switchover" }
  /** The destination verified the state and runs the VM; the source has released it. */
  | { readonly type: "confirmed" }
  /** After COMMIT neither host could prove it holds the VM's ownership record: it waits paused. */
  | { readonly type: "unsettled"; readonly message: string }
  /** The phase is filled in by the machine: callers cannot get it wrong. */
  | { readonly type: "fail"; readonly failure: Pick<MigrationFailure, "code" | "message"> }
  | { readonly type: "cancel"; readonly reason?: string | undefined };
export type MigrationEventType = MigrationEvent["type"];

export interface PhaseEntry {
  readonly phase: Phase;
  /** Milliseconds since the epoch when the phase was entered (from the injected clock). */
  readonly at: number;
}

export interface MigrationState {
  readonly phase: Phase;
  /** Every phase entered, oldest first; the last entry is the current phase. */
  readonly timeline: readonly PhaseEntry[];
  /** Pre-copy passes finished so far. */
  readonly passes: number;
  readonly lastPass: PassStats | undefined;
  /** The highest throttle auto-converge applied, percent. */
  readonly throttlePercentMax: number;
  /** Set in failed and cancelled (cancelled carries ABORTED). */
  readonly failure: MigrationFailure | undefined;
}

/** Position of each phase on the forward path; failed and cancelled rank past everything. */
export const PHASE_RANK: Readonly<Record<Phase, number>> = {
  queued: 0,
  validating: 1,
  preparing: 2,
  precopy: 3,
  switchover: 4,
  completed: 5,
  failed: 5,
  cancelled: 5,
  "needs-attention": 5,
};

export function isTerminal(phase: Phase): boolean {
  return TERMINAL_PHASES.has(phase);
}

export function initialMigrationState(now: number): MigrationState {
  return { phase: Phase.queued, timeline: [{ phase: Phase.queued, at: now }], passes: 0, lastPass: undefined, throttlePercentMax: 0, failure: undefined };
}

/**
 * The phase `event` leads to from `phase`, or undefined when the event is illegal there.
 * A pass keeps the machine in precopy.
 */
export function nextPhase(phase: Phase, event: MigrationEventType): Phase | undefined {
  if (isTerminal(phase)) return undefined;
  switch (event) {
    case "start":
      return phase === Phase.queued ? Phase.validating : undefined;
    case "validated":
      return phase === Phase.validating ? Phase.preparing : undefined;
    case "prepared":
      return phase === Phase.preparing ? Phase.precopy : undefined;
    case "pass":
      return phase === Phase.precopy ? Phase.precopy : undefined;
    case "switchover":
      // No pass is required first: QEMU can finish a small guest between two query-migrate
      // polls, so the qemu driver may never see a pass before switchover.
      return phase === Phase.precopy ? Phase.switchover : undefined;
    case "confirmed":
      return phase === Phase.switchover ? Phase.completed : undefined;
    case "unsettled":
      return phase === Phase.switchover ? Phase.needsAttention : undefined;
    case "fail":
      return Phase.failed;
    case "cancel":
      return Phase.cancelled;
  }
}

/** Whether `event` is legal in `state`, without throwing. */
export function canApply(state: MigrationState, event: MigrationEvent): boolean {
  if (nextPhase(state.phase, event.type) === undefined) return false;
  return event.type !== "pass" || event.stats.pass > state.passes;
}

function illegal(state: MigrationState, event: MigrationEvent, why: string): FerryError {
  return new FerryError(ErrorCode.internal, `illegal migration event "${event.type}" in phase ${state.phase}: ${why}`, {
    details: { phase: state.phase, event: event.type, passes: state.passes },
  });
}

/**
 * Applies `event` at time `now` (ms since the epoch). Throws an INTERNAL FerryError when the
 * event is illegal in the current phase; the state passed in is never modified.
 */
export function applyMigrationEvent(state: MigrationState, event: MigrationEvent, now: number): MigrationState {
  const to = nextPhase(state.phase, event.type);
  if (to === undefined) {
    throw illegal(state, event, isTerminal(state.phase) ? "the migration has ended" : `${event.type} is not a way out of ${state.phase}`);
  }
  const last = state.timeline[state.timeline.length - 1];
  // The wall clock can step back (NTP); the timeline stays ordered, so an entry never predates
  // the one before it.
  const at = last === undefined ? now : Math.max(now, last.at);
  const entered = to === state.phase ? state.timeline : [...state.timeline, { phase: to, at }];
  switch (event.type) {
    case "pass": {
      // Pass numbers only grow. They may skip: the qemu driver derives them from
      // query-migrate's dirty-sync-count, which can move by more than one between two polls.
      if (event.stats.pass <= state.passes) throw illegal(state, event, `pass ${event.stats.pass} after pass ${state.passes}`);
      return { ...state, passes: event.stats.pass, lastPass: event.stats, throttlePercentMax: Math.max(state.throttlePercentMax, event.stats.throttlePercent) };
    }
    case "fail":
      return { ...state, phase: to, timeline: entered, failure: { code: event.failure.code, message: event.failure.message, phase: state.phase } };
    case "cancel":
      return { ...state, phase: to, timeline: entered, failure: { code: MigrationFailureCode.aborted, message: event.reason ?? "cancelled", phase: state.phase } };
    case "unsettled":
      return { ...state, phase: to, timeline: entered, failure: { code: MigrationFailureCode.ownershipUnknown, message: event.message, phase: state.phase } };
    case "start":
    case "validated":
    case "prepared":
    case "switchover":
    case "confirmed":
      return { ...state, phase: to, timeline: entered };
  }
}

/** Applies events in order from a fresh state; throws at the first illegal one. */
export function replayMigration(events: readonly { readonly event: MigrationEvent; readonly at: number }[], startedAt: number): MigrationState {
  return events.reduce((state, { event, at }) => applyMigrationEvent(state, event, at), initialMigrationState(startedAt));
}

/** Milliseconds spent in each phase entered; the current phase runs until `now`. */
export function phaseDurations(state: MigrationState, now: number): Partial<Record<Phase, number>> {
  const out: Partial<Record<Phase, number>> = {};
  state.timeline.forEach((entry, i) => {
    const end = isTerminal(entry.phase) ? entry.at : (state.timeline[i + 1]?.at ?? Math.max(now, entry.at));
    out[entry.phase] = (out[entry.phase] ?? 0) + (end - entry.at);
  });
  return out;
}

/** The event that leaves each phase of the forward path toward the next (switchover ends by its own events). */
const FORWARD: Partial<Record<Phase, "start" | "validated" | "prepared" | "switchover">> = {
  queued: "start",
  validating: "validated",
  preparing: "prepared",
  precopy: "switchover",
};

/**
 * Moves the machine forward to `phase`, entering every phase on the way: a source reports the
 * phase it is in, and may be seen first in a later one than the engine last knew (QEMU can
 * finish a small guest between two polls; a reconciled migration is picked up where it was).
 * A phase behind the current one, the current one, or a terminal one changes nothing:
 * terminal phases are reached with concludeMigration.
 */
export function advanceTo(state: MigrationState, phase: Phase, now: number): MigrationState {
  if (isTerminal(phase)) return state;
  let s = state;
  for (let step = FORWARD[s.phase]; step !== undefined && PHASE_RANK[s.phase] < PHASE_RANK[phase]; step = FORWARD[s.phase]) {
    s = applyMigrationEvent(s, { type: step }, now);
  }
  return s;
}

/** Records pass `stats.pass` when it is new and the machine is in pre-copy; otherwise changes nothing. */
export function recordPass(state: MigrationState, stats: PassStats, now: number): MigrationState {
  const event: MigrationEvent = { type: "pass", stats };
  return canApply(state, event) ? applyMigrationEvent(state, event, now) : state;
}

/**
 * Ends the machine in `outcome`. Completed and needs-attention are ends of a switchover, so a
 * machine still before it enters it first (a destination that runs the VM proves the
 * switchover happened; an unproven one was under way). Failed and cancelled end any phase.
 */
export function concludeMigration(state: MigrationState, outcome: Phase, failure: Pick<MigrationFailure, "code" | "message"> | undefined, now: number): MigrationState {
  if (isTerminal(state.phase)) return state;
  switch (outcome) {
    case Phase.completed:
      return applyMigrationEvent(advanceTo(state, Phase.switchover, now), { type: "confirmed" }, now);
    case Phase.needsAttention:
      return applyMigrationEvent(advanceTo(state, Phase.switchover, now), { type: "unsettled", message: failure?.message ?? "ownership unknown" }, now);
    case Phase.cancelled:
      return applyMigrationEvent(state, { type: "cancel", reason: failure?.message }, now);
    case Phase.failed:
      return applyMigrationEvent(state, { type: "fail", failure: failure ?? { code: MigrationFailureCode.internal, message: "failed" } }, now);
    case Phase.queued:
    case Phase.validating:
    case Phase.preparing:
    case Phase.precopy:
    case Phase.switchover:
      throw illegal(state, { type: "fail", failure: { code: MigrationFailureCode.internal, message: outcome } }, `${outcome} is not an outcome`);
  }
}
