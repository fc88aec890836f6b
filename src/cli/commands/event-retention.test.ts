// `ferry controller` / `ferry up` --events-max-age and --events-max-count: days and a count
// become the controller's event retention; anything else is a usage error in one line.
import { test } from "node:test";
import assert from "node:assert/strict";
import { eventRetentionOf } from "./controller.ts";

test("--events-max-age days and --events-max-count become the retention; unset ones keep the defaults", () => {
  assert.deepEqual(eventRetentionOf({}), {});
  assert.deepEqual(eventRetentionOf({ eventsMaxAge: "7", eventsMaxCount: "1000000" }), { maxAgeMs: 7 * 86_400_000, maxCount: 1_000_000 });
  assert.deepEqual(eventRetentionOf({ eventsMaxAge: "0.5" }), { maxAgeMs: 43_200_000 });
});

test("bad retention options are usage errors that say what is expected", () => {
  for (const eventsMaxAge of ["0", "-1", "7d", "", "4000"]) {
    assert.throws(() => eventRetentionOf({ eventsMaxAge }), (error: Error & { code?: string }) => error.code === "USAGE" && /--events-max-age takes days/.test(error.message) && !error.message.includes("\n"));
  }
  for (const eventsMaxCount of ["0", "1.5", "many", "2000000000"]) {
    assert.throws(() => eventRetentionOf({ eventsMaxCount }), (error: Error & { code?: string }) => error.code === "USAGE" && /--events-max-count takes a whole number/.test(error.message));
  }
});
