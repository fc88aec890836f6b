// The source's post-copy switch against a scripted monitor: migrate-start-postcopy goes once,
// when MIGRATION_PASS says the policy's passes are done; the switch is QEMU's postcopy-active,
// timed by QEMU's own timestamp; the report carries the phase only when QEMU switched.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createManualClock } from "../../core/testing/clock.ts";
import { parseMigrationInfo } from "./migration-info.ts";
import { PostcopySwitch, switchPass, type PostcopyQmp } from "./postcopy.ts";
import type { QmpEvent } from "./qmp.ts";

function monitor(): { qmp: PostcopyQmp; emit: (event: string, data: Record<string, unknown>, atMs?: number) => void; commands: string[] } {
  const listeners = new Set<{ fn: (e: QmpEvent) => void; names: readonly string[] | undefined }>();
  const commands: string[] = [];
  const qmp: PostcopyQmp = {
    onEvent: (fn, names) => {
      const entry = { fn, names };
      listeners.add(entry);
      return () => listeners.delete(entry);
    },
    execute: (command) => {
      commands.push(command);
      return Promise.resolve({});
    },
  };
  const emit = (event: string, data: Record<string, unknown>, atMs = 0): void => {
    for (const l of listeners) if (l.names === undefined || l.names.includes(event)) l.fn({ event, data, timestamp: { seconds: Math.floor(atMs / 1000), microseconds: (atMs % 1000) * 1000 } });
  };
  return { qmp, emit, commands };
}

test("pass N is done when sync N+1 starts (sync 1 is QEMU's setup)", () => {
  assert.equal(switchPass(1), 2);
  assert.equal(switchPass(3), 4);
});

test("migrate-start-postcopy goes once, after the policy's passes; the switch is QEMU's postcopy-active with its timestamp", () => {
  const { qmp, emit, commands } = monitor();
  const heard: string[] = [];
  const sw = new PostcopySwitch(qmp, createManualClock(), 2, (what) => heard.push(what));
  emit("MIGRATION_PASS", { pass: 1 });
  emit("MIGRATION_PASS", { pass: 2 });
  assert.deepEqual(commands, [], "two syncs: one pass done");
  emit("MIGRATION_PASS", { pass: 3 });
  emit("MIGRATION_PASS", { pass: 4 });
  assert.deepEqual(commands, ["migrate-start-postcopy"], "sent once");
  assert.equal(sw.requestedAfterPass, 2);
  assert.equal(sw.switched, false);
  assert.equal(sw.report(parseMigrationInfo({ status: "completed" }), undefined, undefined), undefined, "no switch, no post-copy in the report");
  emit("MIGRATION", { status: "postcopy-active" }, 1_700_000_000_500);
  emit("MIGRATION", { status: "postcopy-active" }, 1_700_000_009_999);
  assert.deepEqual(heard, ["requested", "switched"]);
  assert.equal(sw.switchedAt, 1_700_000_000_500);
  const report = sw.report(parseMigrationInfo({ status: "completed", ram: { "postcopy-requests": 12 } }), 1_700_000_001_250, 7);
  assert.deepEqual(report, { afterPass: 2, switchedAt: 1_700_000_000_500, durationMs: 750, requestedPages: 12, blocktimeMs: 7 });
  sw.close();
  emit("MIGRATION_PASS", { pass: 9 });
  assert.equal(commands.length, 1, "closed: deaf");
});
