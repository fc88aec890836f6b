// How often a migration's progress is worth recording. Drivers report per batch of pages; clients
// need a few updates a second, and a task list needs far fewer. So a progress event is kept at a
// phase change, a new pass, the commit, each whole percent, and otherwise at most every
// EVENT_EVERY_MS; the task row (what lists show) is written at a phase change, a new pass, the
// commit, and for a whole percent at most every ROW_EVERY_MS. A live view follows the events. Pure: time is the progress's own `at`.
import type { MigrationProgress } from "./types.ts";

export const EVENT_EVERY_MS = 200;
export const ROW_EVERY_MS = 1000;

export interface CadenceVerdict {
  /** Publish this progress as an event. */
  readonly event: boolean;
  /** Write it to the task row too (only ever with an event). */
  readonly row: boolean;
  /** It is the first progress of a pre-copy pass. */
  readonly newPass: boolean;
  /** It is the first progress of its phase. */
  readonly phaseChanged: boolean;
}

export interface ProgressCadence {
  /** What to do with `progress`, the next of one migration's (in the order they came). */
  offer(progress: MigrationProgress): CadenceVerdict;
}

/** `phase`: the phase the migration is already known to be in (its task's state), if any. */
export function createProgressCadence(knownPhase?: string): ProgressCadence {
  let phase = knownPhase;
  let pass = 0;
  let committed = false;
  let event: { readonly percent: number; readonly at: number } | undefined;
  let rowAt: number | undefined;
  return {
    offer(p) {
      const phaseChanged = p.phase !== phase;
      phase = p.phase;
      const newPass = p.pass > pass;
      pass = Math.max(pass, p.pass);
      // The first event past the commit is always kept: a controller that takes over reads it.
      const commits = p.committed === true && !committed;
      committed ||= commits;
      const wholePercent = event === undefined || Math.floor(p.percent) !== Math.floor(event.percent);
      const due = event === undefined || p.at - event.at >= EVENT_EVERY_MS;
      if (!phaseChanged && !newPass && !commits && !wholePercent && !due) return { event: false, row: false, newPass, phaseChanged };
      event = { percent: p.percent, at: p.at };
      const row = phaseChanged || newPass || commits || (wholePercent && (rowAt === undefined || p.at - rowAt >= ROW_EVERY_MS));
      if (row) rowAt = p.at;
      return { event: true, row, newPass, phaseChanged };
    },
  };
}
