import { test } from "node:test";
import assert from "node:assert/strict";
import { EVENT_EVERY_MS, ROW_EVERY_MS, createProgressCadence } from "./cadence.ts";
import { Phase, type MigrationProgress } from "./types.ts";

const T0 = 1_700_000_000_000;

function progress(phase: Phase, percent: number, at: number, pass = 0): MigrationProgress {
  return { migrationId: "m1", vm: "web01", phase, percent, pass, bytesSent: 0, bytesRemaining: 0, dirtyRateBytesPerSec: 0, linkRateBytesPerSec: 0, etaMs: undefined, expectedDowntimeMs: undefined, throttlePercent: 0, message: "", at };
}

test("the first progress, a phase change and a new pass are each an event and a row write", () => {
  const cadence = createProgressCadence();
  assert.deepEqual(cadence.offer(progress(Phase.validating, 0, T0)), { event: true, row: true, newPass: false, phaseChanged: true });
  assert.deepEqual(cadence.offer(progress(Phase.preparing, 0, T0 + 1)), { event: true, row: true, newPass: false, phaseChanged: true });
  assert.deepEqual(cadence.offer(progress(Phase.precopy, 10, T0 + 2, 1)), { event: true, row: true, newPass: true, phaseChanged: true });
  assert.deepEqual(cadence.offer(progress(Phase.precopy, 10.1, T0 + 3, 2)), { event: true, row: true, newPass: true, phaseChanged: false });
  assert.deepEqual(cadence.offer(progress(Phase.switchover, 90, T0 + 4, 2)), { event: true, row: true, newPass: false, phaseChanged: true });
});

test("within a phase: an event at each whole percent or after EVENT_EVERY_MS, the row at most every ROW_EVERY_MS", () => {
  const cadence = createProgressCadence();
  cadence.offer(progress(Phase.precopy, 10, T0, 1));
  const quiet = cadence.offer(progress(Phase.precopy, 10.5, T0 + 10, 1));
  assert.deepEqual(quiet, { event: false, row: false, newPass: false, phaseChanged: false }, "same whole percent, 10 ms later: dropped");
  assert.deepEqual(cadence.offer(progress(Phase.precopy, 10.6, T0 + EVENT_EVERY_MS, 1)), { event: true, row: false, newPass: false, phaseChanged: false }, "the time is up: an event, no row");
  assert.deepEqual(cadence.offer(progress(Phase.precopy, 11, T0 + EVENT_EVERY_MS + 1, 1)), { event: true, row: false, newPass: false, phaseChanged: false }, "a whole percent, but the row was written just now");
  assert.deepEqual(cadence.offer(progress(Phase.precopy, 12, T0 + ROW_EVERY_MS, 1)), { event: true, row: true, newPass: false, phaseChanged: false }, "a whole percent a second after the last row");
});

test("a burst of samples per page batch becomes a few events a second", () => {
  const cadence = createProgressCadence();
  let events = 0;
  let rows = 0;
  // 10 seconds of samples every 5 ms, creeping from 10% to 15%.
  for (let i = 0; i < 2000; i++) {
    const v = cadence.offer(progress(Phase.precopy, 10 + (5 * i) / 2000, T0 + i * 5, 1));
    if (v.event) events++;
    if (v.row) rows++;
  }
  assert.ok(events <= (10_000 / EVENT_EVERY_MS) + 6 + 1, `${events} events`);
  assert.ok(rows <= 10_000 / ROW_EVERY_MS + 2, `${rows} rows`);
  assert.ok(events >= 10_000 / EVENT_EVERY_MS, `${events} events`);
});

test("a cadence told the phase it starts in does not count that phase as a change", () => {
  const cadence = createProgressCadence(Phase.queued);
  assert.equal(cadence.offer(progress(Phase.queued, 0, T0)).phaseChanged, false);
  assert.equal(cadence.offer(progress(Phase.validating, 0, T0 + 1)).phaseChanged, true);
});

test("the first progress past the commit is an event and a row write, whatever the time and percent; later ones are not for that", () => {
  const cadence = createProgressCadence();
  cadence.offer(progress(Phase.switchover, 96, T0));
  assert.deepEqual(cadence.offer({ ...progress(Phase.switchover, 96.2, T0 + 1), committed: true }), { event: true, row: true, newPass: false, phaseChanged: false });
  assert.deepEqual(cadence.offer({ ...progress(Phase.switchover, 96.4, T0 + 2), committed: true }), { event: false, row: false, newPass: false, phaseChanged: false });
});
