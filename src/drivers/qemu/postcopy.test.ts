// Post-copy against real QEMU under TCG and the test guest (issue 16 part 2), two drivers on
// loopback addresses: a guest that keeps dirtying memory under a 1 ms downtime limit cannot
// finish pre-copy, so the `post-copy after 1 pass` policy switches; the destination claims the
// VM's ownership record before the VM runs there; the MD5 the guest itself computes over its
// 16 MiB of filled memory is the same on the destination as it was on the source. And a destination QEMU killed after the switch: POSTCOPY_VM_LOST,
// running nowhere, the source copy paused and never resumed. Fails (never skips) without QEMU
// or the guest, saying what to install; every QEMU is ended by the drivers' close.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import type { SourceProgress } from "../../core/migration/progress.ts";
import { DEFAULT_MIGRATE_OPTIONS, MigrationFailureCode, Phase, type MigrateOptions } from "../../core/migration/types.ts";
import type { ClaimResult } from "../../core/ownership.ts";
import { systemClock } from "../clock.ts";
import { IncomingState, PowerStatus, type MigrationHooks, type OwnershipFence, type VmSpec } from "../driver.ts";
import { simHost } from "../sim/testing.ts";
import { createQemuDriver, type QemuDriver } from "./driver.ts";
import { guestBooted, nextFillChecksum } from "./testing/guest-console.ts";
import { requireQemu } from "./testing/requirements.ts";

const MiB = 1024 * 1024;
// A writer of 4 MiB/s over 16 MiB and a stream capped at 32 MiB/s: QEMU's switchover threshold
// (bandwidth x downtime limit) is 32 KiB, so pre-copy cannot complete and the policy switches.
// Beside it, 16 MiB filled with random data at boot and left: its MD5, printed by the guest
// every second, must not change across the move.
const spec: VmSpec = { name: "pc01", memoryMB: 128, vcpus: 1, nics: [], workload: { kind: "steady", dirtyRateBytesPerSec: 4 * MiB, workingSetBytes: 16 * MiB, seed: 1 }, touchedBytes: 16 * MiB };
const postcopyOptions: MigrateOptions = { ...DEFAULT_MIGRATE_OPTIONS, downtimeLimitMs: 1, bandwidthLimitBytesPerSec: 32 * 1024 * 1024, vmotionEncryption: "disabled", convergence: { kind: "post-copy", afterPasses: 1 } };

interface Pair {
  readonly source: QemuDriver;
  readonly destination: QemuDriver;
  /** Where each driver writes its QEMUs' consoles. */
  readonly runDir: string;
  readonly destinationRunDir: string;
}

async function withPair(body: (pair: Pair) => Promise<void>): Promise<void> {
  const images = requireQemu();
  const drivers: QemuDriver[] = [];
  const runDir = await mkdtemp(join(tmpdir(), "ferry-postcopy-"));
  const destinationRunDir = await mkdtemp(join(tmpdir(), "ferry-postcopy-"));
  const make = (name: string, ip: string, peer: () => QemuDriver | undefined): QemuDriver =>
    createQemuDriver({
      host: simHost(name, ip, 1024),
      runDir: name === "esx01" ? runDir : destinationRunDir,
      boot: { kernel: images.kernel, initrd: images.initrd, prefixLength: 16, fillCheckSeconds: 1 },
      destinationReason: (target) => Promise.resolve(peer()?.incomingFailure(target.migrationId)),
      destinationState: async (target) => (await peer()?.incomingState(target.migrationId)) ?? IncomingState.unknown,
      destinationPostcopyBlocktime: (target) => Promise.resolve(peer()?.incomingPostcopyBlocktime(target.migrationId)),
    });
  const source = make("esx01", "127.0.1.1", () => drivers[1]);
  const destination = make("esx02", "127.0.1.2", () => drivers[0]);
  drivers.push(source, destination);
  try {
    await body({ source, destination, runDir, destinationRunDir });
  } finally {
    await Promise.all(drivers.map((d) => d.close()));
    await Promise.all([runDir, destinationRunDir].map((dir) => rm(dir, { recursive: true, force: true })));
  }
}

function hooks(events: SourceProgress[]): MigrationHooks {
  return { signal: new AbortController().signal, clock: systemClock, onProgress: (p) => events.push(p) };
}

/** A fence whose claim runs `onClaim` first (what the destination's QEMU looks like then), and wins. */
function fence(onClaim: () => Promise<void>): OwnershipFence & { claims: number } {
  const f = {
    where: "the test",
    generation: 2,
    claims: 0,
    async claim(): Promise<ClaimResult> {
      f.claims++;
      await onClaim();
      return { won: true, ownership: { vm: spec.name, owner: "esx02", generation: 2, at: Date.now() } };
    },
  };
  return f;
}

test("post-copy after 1 pass: the switch is reported, the destination claims the VM before it runs there, and the guest's filled memory has the same MD5 there", { timeout: 240_000 }, async () => {
  await withPair(async ({ source, destination, runDir, destinationRunDir }) => {
    await source.create(spec);
    await source.powerOn(spec.name);
    await guestBooted(runDir, spec.name);
    const before = await nextFillChecksum(runDir, spec.name);
    const statesAtClaim: string[] = [];
    const ownership = fence(async () => {
      statesAtClaim.push(await destination.runState(spec.name));
    });
    const target = await destination.prepareIncoming(spec, { migrationId: "pc-ok", listenHost: "127.0.1.2", encryption: "disabled", fence: ownership, postcopy: true });
    assert.equal(target.streamChannels, undefined, "QEMU 7.2 has no post-copy with multifd: one stream");
    const events: SourceProgress[] = [];
    const report = await source.migrateOut(spec.name, target, postcopyOptions, hooks(events));
    assert.equal(report.outcome, Phase.completed, report.failure?.message);
    assert.ok(report.postcopy !== undefined, `no post-copy in the report: ${JSON.stringify(report)}`);
    assert.equal(report.postcopy.afterPass, 1);
    assert.ok(report.postcopy.durationMs >= 0 && report.postcopy.switchedAt > 0, JSON.stringify(report.postcopy));
    assert.ok(report.postcopy.requestedPages !== undefined, "the source counts the destination's page requests");
    assert.ok(report.postcopy.blocktimeMs !== undefined, "the destination measured its vCPUs' blocked time");
    // The claim came at the switch, with the VM not yet running on the destination.
    assert.equal(ownership.claims, 1);
    assert.ok(statesAtClaim.length === 1 && statesAtClaim[0] !== "running", `the destination ran ${spec.name} before its claim: ${statesAtClaim.join()}`);
    // The switch is in the progress: pre-copy, the request, then post-copy as the switchover.
    const switched = events.findIndex((e) => /switched to post-copy/.test(e.message));
    assert.ok(events.some((e) => /switching to post-copy/.test(e.message)), "the request is shown");
    assert.ok(switched > 0 && events[switched]?.phase === Phase.switchover && events[switched].committed === true, JSON.stringify(events[switched]));
    assert.equal(await destination.incomingState("pc-ok"), IncomingState.running);
    assert.equal(await destination.runState(spec.name), "running");
    assert.deepEqual(source.pids(), [], "the source QEMU was ended");
    // The guest's own MD5 of its filled memory, computed on the destination (its console there
    // starts at the resume): a page lost or misplaced in post-copy changes it.
    assert.equal(await nextFillChecksum(destinationRunDir, spec.name), before, "the filled memory changed across the post-copy move");
  });
});

test("a destination QEMU killed during post-copy: POSTCOPY_VM_LOST, running nowhere, the source copy paused and never resumed", { timeout: 240_000 }, async () => {
  await withPair(async ({ source, destination, runDir }) => {
    await source.create(spec);
    await source.powerOn(spec.name);
    await guestBooted(runDir, spec.name);
    // The destination dies at the switch: its claim is the first thing it does in post-copy.
    const ownership = fence(async () => {
      for (const pid of destination.pids()) process.kill(pid, "SIGKILL");
      await Promise.resolve();
      throw new FerryError(ErrorCode.internal, "the destination died");
    });
    const target = await destination.prepareIncoming(spec, { migrationId: "pc-lost", listenHost: "127.0.1.2", encryption: "disabled", fence: ownership, postcopy: true });
    const report = await source.migrateOut(spec.name, target, postcopyOptions, hooks([]));
    assert.equal(ownership.claims, 1, "the destination reached the switch");
    assert.equal(report.outcome, Phase.failed);
    assert.equal(report.failure?.code, MigrationFailureCode.postcopyVmLost, report.failure?.message);
    assert.match(report.failure.message, /is lost; its copy on esx01 stays paused and is never resumed/);
    assert.equal(report.runningOn, "");
    assert.ok(report.postcopy !== undefined);
    assert.equal((await source.get(spec.name))?.power, PowerStatus.paused);
    const state = await source.runState(spec.name);
    assert.notEqual(state, "running", `the source copy runs again (${state})`);
    assert.equal(source.pids().length, 1, "the source QEMU stays, paused, for an operator");
  });
});

test("the source QEMU killed during post-copy: POSTCOPY_VM_LOST, saying the pages the destination lacked went with it; never a cancel, never INTERNAL", { timeout: 240_000 }, async () => {
  await withPair(async ({ source, destination, runDir }) => {
    await source.create(spec);
    await source.powerOn(spec.name);
    await guestBooted(runDir, spec.name);
    const events: SourceProgress[] = [];
    // The source dies once it has seen the switch itself (its own postcopy-active), before the destination runs the VM.
    const ownership = fence(async () => {
      const deadline = Date.now() + 60_000;
      while (!events.some((e) => /switched to post-copy/.test(e.message)) && Date.now() < deadline) await systemClock.sleep(10);
      for (const pid of source.pids()) process.kill(pid, "SIGKILL");
    });
    const target = await destination.prepareIncoming(spec, { migrationId: "pc-source-lost", listenHost: "127.0.1.2", encryption: "disabled", fence: ownership, postcopy: true });
    const report = await source.migrateOut(spec.name, target, postcopyOptions, hooks(events));
    assert.equal(ownership.claims, 1, "the destination reached the switch");
    assert.equal(report.outcome, Phase.failed);
    assert.equal(report.failure?.code, MigrationFailureCode.postcopyVmLost, report.failure?.message);
    assert.match(report.failure.message, /^pc01 is lost: its QEMU on esx01 ended during post-copy \(.*\), with the pages 127\.0\.1\.2 had not received; the copy there must not be trusted/);
    assert.equal(report.runningOn, "");
    assert.ok(report.postcopy !== undefined, "the report keeps the post-copy phase");
    // The report follows QMP's closed socket; the process's exit may be reaped a moment later on a busy machine.
    for (const deadline = Date.now() + 10_000; source.pids().length > 0 && Date.now() < deadline; ) await systemClock.sleep(20);
    assert.deepEqual(source.pids(), [], "the source QEMU is gone");
    assert.notEqual((await source.get(spec.name))?.power, PowerStatus.running);
  });
});
