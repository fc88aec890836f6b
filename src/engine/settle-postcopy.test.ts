// A migration lost during post-copy (qemu: POSTCOPY_VM_LOST) is final for the engine: it is not
// settled by the ownership record, since a source claim that won would resume a copy whose
// newer self ran on the destination. Neither host is asked anything.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createManualClock } from "../core/testing/clock.ts";
import { DEFAULT_MIGRATE_OPTIONS, MigrationFailureCode, Phase, type MigrationReport } from "../core/migration/types.ts";
import type { AgentClient } from "../agent/client.ts";
import { createFakeNetwork } from "../agent/testing/fake-driver.ts";
import { startTestAgent, testVmSpec } from "../agent/testing/harness.ts";
import { MigrationRun } from "./run.ts";
import { settle } from "./settle.ts";

/** The agent, with every call it gets written down. */
function recorded(client: AgentClient, calls: string[]): AgentClient {
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

test("POSTCOPY_VM_LOST is settled as reported: failed, running nowhere, no host asked", async () => {
  const network = createFakeNetwork();
  const calls: string[] = [];
  const run = new MigrationRun(
    {
      migrationId: "m-pc",
      vm: testVmSpec("web01", 64),
      source: recorded(startTestAgent(network, "esx01", "127.0.1.1").client, calls),
      destination: recorded(startTestAgent(network, "esx02", "127.0.1.2").client, calls),
      options: { ...DEFAULT_MIGRATE_OPTIONS, convergence: { kind: "post-copy", afterPasses: 2 } },
      signal: new AbortController().signal,
      onProgress: () => undefined,
      clock: createManualClock(),
    },
    true,
  );
  const lost: MigrationReport = {
    migrationId: "m-pc", vm: "web01", source: "esx01", destination: "esx02", outcome: Phase.failed, runningOn: "", downtimeMs: 0, totalMs: 900, bytesSent: 1, passes: 2, pagesSent: 0, zeroPages: 0, throttlePercentMax: 0, verified: false, warnings: [],
    failure: { code: MigrationFailureCode.postcopyVmLost, message: "the stream to esx02 broke during post-copy: web01 is lost", phase: Phase.switchover },
  };
  assert.deepEqual(await settle(run, lost, true), lost);
  assert.deepEqual(calls, [], "no claim, no settle, no abort: the paused source copy is left alone");
});
