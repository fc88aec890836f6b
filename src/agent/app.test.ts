import assert from "node:assert/strict";
import { createServer, type AddressInfo } from "node:net";
import { describe, test } from "node:test";
import { ErrorCode, FerryError, isFerryError } from "../core/errors.ts";
import { memoryLedger } from "../host/ownership/memory-ledger.ts";
import { MigrationFailureCode, Phase } from "../core/migration/types.ts";
import { systemClock } from "../drivers/clock.ts";
import type { Clock } from "../core/clock.ts";
import { createManualClock } from "../core/testing/clock.ts";
import { createAgentApp } from "./app.ts";
import type { AgentFacts, AgentVm, ErrorBody, IncomingMigration, OutgoingEvent, OutgoingView, ReservationView } from "./api.ts";
import { createAgentClient, reportOf } from "./client.ts";
import { createFakeDriver, createFakeNetwork, fakeHostFacts } from "./testing/fake-driver.ts";
import { runningVm, startTestAgent, TEST_TOKEN, testVmSpec } from "./testing/harness.ts";

/** A loopback port nobody listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  return port;
}

const auth = { Authorization: `Bearer ${TEST_TOKEN}` };
const jsonHeaders = { ...auth, "Content-Type": "application/json" };

function twoAgents(options: { memoryMB?: number; faults?: boolean; clock?: Clock } = {}) {
  const network = createFakeNetwork();
  // On a manual clock heartbeats come only as the test advances time, while the client's idle
  // watchdog runs on real time: give it a minute, so a busy machine cannot trip it.
  const agentOptions = { ...options, ...(options.clock === undefined ? {} : { streamIdleMs: 60_000 }) };
  return { network, esx01: startTestAgent(network, "esx01", "127.0.1.1", agentOptions), esx02: startTestAgent(network, "esx02", "127.0.1.2", agentOptions) };
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, pattern?: RegExp): Promise<FerryError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isFerryError(error), `expected a FerryError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern !== undefined) assert.match(error.message, pattern);
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe("agent API: authentication", () => {
  const routes: readonly [string, string, unknown?][] = [
    ["GET", "/v1/facts"],
    ["GET", "/v1/vms"],
    ["GET", "/v1/vms/web01"],
    ["POST", "/v1/vms", testVmSpec("intruder")],
    ["POST", "/v1/vms/web01/power-off", {}],
    ["DELETE", "/v1/vms/web01"],
    ["POST", "/v1/reservations/m1", { cpuMhz: 100, memoryMB: 100 }],
    ["POST", "/v1/migrations/incoming", { migrationId: "m1", spec: testVmSpec("x") }],
    ["POST", "/v1/migrations/outgoing", { migrationId: "m1", vm: "web01", target: { migrationId: "m1", host: "127.0.1.2", port: 1, token: "t" } }],
    ["DELETE", "/v1/migrations/outgoing/m1"],
    ["POST", "/v1/faults", { rules: [] }],
    ["GET", "/v1/usage"],
    ["GET", "/v1/no-such-route"],
  ];
  const presented: readonly [string, Record<string, string>][] = [
    ["no header", {}],
    ["a wrong token", { Authorization: "Bearer not-the-token" }],
    ["a token prefix", { Authorization: `Bearer ${TEST_TOKEN.slice(0, -1)}` }],
    ["the token plus a byte", { Authorization: `Bearer ${TEST_TOKEN}x` }],
    ["another scheme", { Authorization: `Basic ${TEST_TOKEN}` }],
  ];
  for (const [why, headers] of presented) {
    test(`${why}: 401 on every route, and nothing changes`, async () => {
      const { esx01 } = twoAgents({ faults: true });
      await runningVm(esx01, testVmSpec("web01"));
      const before = JSON.stringify(await esx01.driver.list());
      for (const [method, path, body] of routes) {
        const res = await esx01.agent.app.request(path, { method, headers: { ...headers, "Content-Type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
        assert.equal(res.status, 401, `${method} ${path}`);
        assert.equal(res.headers.get("WWW-Authenticate"), 'Bearer realm="ferry-agent"');
        const error = (await res.json()) as ErrorBody;
        assert.equal(error.code, ErrorCode.unauthorized);
      }
      assert.equal(JSON.stringify(await esx01.driver.list()), before);
      assert.deepEqual(await esx01.client.listReservations(), []);
    });
  }

  test("the client maps 401 to UNAUTHORIZED", async () => {
    const { esx01 } = twoAgents();
    const client = createAgentClient({ baseUrl: "http://esx01.test", token: "wrong", fetch: async (i, init) => esx01.agent.app.request(i, init) });
    await rejectsWith(client.facts(), ErrorCode.unauthorized);
  });

  test("an empty token is refused at start", () => {
    const network = createFakeNetwork();
    assert.throws(() => createAgentApp({ driver: createFakeDriver(network, fakeHostFacts("h", "127.0.1.9")), token: "", clock: systemClock, hostName: "h", vmotionIp: "127.0.1.9" }), /non-empty/);
  });
});

describe("agent API: facts and VMs", () => {
  test("facts name the host and its VMotion IP, as the agent was told", async () => {
    const { esx01 } = twoAgents();
    const facts = await esx01.client.facts();
    assert.equal(facts.name, "esx01");
    assert.equal(facts.vmotionIp, "127.0.1.1");
    assert.equal(facts.freeMemoryMB, 4096);
    assert.equal(facts.cpuCapacityMhz, 8 * 2400);
    assert.deepEqual(facts.migrations, { incoming: 0, outgoing: 0 });
    assert.equal(facts.faultsEnabled, false);
  });

  test("create, power on, read, power off, destroy", async () => {
    const { esx01 } = twoAgents();
    const spec = testVmSpec("web01", 128);
    const created = await esx01.client.createVm(spec);
    assert.equal(created.power, "off");
    assert.deepEqual(created.spec, spec);
    assert.equal((await esx01.client.powerOn("web01")).power, "running");
    const read = await esx01.client.getVm("web01");
    assert.equal(read.power, "running");
    assert.deepEqual(read.spec, spec);
    assert.equal((await esx01.client.facts()).freeMemoryMB, 4096 - 128);
    assert.deepEqual((await esx01.client.listVms()).map((v) => v.name), ["web01"]);
    assert.equal((await esx01.client.powerOff("web01")).power, "off");
    await esx01.client.destroyVm("web01");
    assert.deepEqual(await esx01.client.listVms(), []);
  });

  test("bad input is 400 INVALID_INPUT with the issue, naming the field", async () => {
    const { esx01 } = twoAgents();
    const bad: readonly [unknown, RegExp][] = [
      [{ ...testVmSpec("a"), memoryMB: -1 }, /memoryMB/],
      [{ ...testVmSpec("a"), nics: [{ name: "eth0", mac: "zz", portGroup: "VM Network" }] }, /nics\.0\.mac: must be a MAC/],
      [{ ...testVmSpec("a"), extra: 1 }, /extra|unrecognized/i],
      [{ name: "a" }, /memoryMB|vcpus|nics/],
    ];
    for (const [body, pattern] of bad) {
      const res = await esx01.agent.app.request("/v1/vms", { method: "POST", headers: jsonHeaders, body: JSON.stringify(body) });
      assert.equal(res.status, 400);
      const error = (await res.json()) as ErrorBody;
      assert.equal(error.code, ErrorCode.invalidInput);
      assert.match(error.message, pattern);
    }
    const notJson = await esx01.agent.app.request("/v1/vms", { method: "POST", headers: jsonHeaders, body: "{nope" });
    assert.equal(notJson.status, 400);
    assert.match(((await notJson.json()) as ErrorBody).message, /not valid JSON/);
    assert.deepEqual(await esx01.client.listVms(), []);
  });

  test("unknown VM is 404 NOT_FOUND; a second VM of one name is 409 CONFLICT", async () => {
    const { esx01 } = twoAgents();
    const refused = await rejectsWith(esx01.client.getVm("nope"), ErrorCode.notFound, /no VM named "nope" on esx01/);
    assert.equal(refused.failureCode, MigrationFailureCode.vmNotFound);
    await esx01.client.createVm(testVmSpec("web01"));
    await rejectsWith(esx01.client.createVm(testVmSpec("web01")), ErrorCode.conflict, /already has a VM named "web01"/);
    const res = await esx01.agent.app.request("/v1/vms/nope", { method: "DELETE", headers: auth });
    assert.equal(res.status, 404);
    const body = (await res.json()) as ErrorBody;
    assert.equal(body.failureCode, MigrationFailureCode.vmNotFound, "the failure code is a field of the body");
    assert.equal((body.details as { failureCode?: unknown }).failureCode, undefined, "not a detail");
  });

  test("dirty rate: the sim answers its workload's rate, not measured; seconds outside 1..10 is 400; an unknown VM 404", async () => {
    const { esx01 } = twoAgents();
    const spec = { ...testVmSpec("web01", 64), workload: { kind: "steady" as const, dirtyRateBytesPerSec: 3 * 1048576, workingSetBytes: 8 * 1048576, seed: 1 } };
    await esx01.client.createVm(spec);
    await esx01.client.powerOn("web01");
    assert.deepEqual(await esx01.client.dirtyRate("web01", 1), { vm: "web01", bytesPerSec: 3 * 1048576, measured: false });
    for (const seconds of ["0", "11", "1.5", "x"]) {
      const res = await esx01.agent.app.request(`/v1/vms/web01/dirty-rate?seconds=${seconds}`, { headers: auth });
      assert.equal(res.status, 400, seconds);
      assert.match(((await res.json()) as ErrorBody).message, /seconds must be a whole number from 1 to 10/);
    }
    await rejectsWith(esx01.client.dirtyRate("nope", 1), ErrorCode.notFound);
  });

  test("a VM bigger than free memory does not power on, and says both figures", async () => {
    const { esx01 } = twoAgents({ memoryMB: 1024 });
    await esx01.client.createVm(testVmSpec("big", 2048));
    await rejectsWith(esx01.client.powerOn("big"), ErrorCode.refused, /cannot power on big: it needs 2048 MB, 1024 MB are free/);
  });
});

describe("agent API: reservations", () => {
  test("a reservation counts against free memory and is released", async () => {
    const { esx01 } = twoAgents({ memoryMB: 1024 });
    const view: ReservationView = await esx01.client.reserve("m1", { cpuMhz: 720, memoryMB: 600 });
    assert.deepEqual({ ...view, at: 0 }, { migrationId: "m1", cpuMhz: 720, memoryMB: 600, at: 0, memoryInUse: false });
    const facts: AgentFacts = await esx01.client.facts();
    assert.equal(facts.freeMemoryMB, 424);
    assert.equal(facts.reservedMemoryMB, 600);
    assert.equal(facts.reservedCpuMhz, 720);
    await esx01.client.createVm(testVmSpec("app", 512));
    await rejectsWith(esx01.client.powerOn("app"), ErrorCode.refused, /424 MB are free \(600 MB reserved for migrations\)/);
    // The same reservation again is idempotent; a different one under the same id is a clash.
    await esx01.client.reserve("m1", { cpuMhz: 720, memoryMB: 600 });
    await rejectsWith(esx01.client.reserve("m1", { cpuMhz: 1, memoryMB: 1 }), ErrorCode.conflict);
    assert.equal(await esx01.client.release("m1"), true);
    assert.equal(await esx01.client.release("m1"), false);
    assert.equal((await esx01.client.facts()).freeMemoryMB, 1024);
    await esx01.client.powerOn("app");
  });

  test("refused with the reason when the host cannot hold it", async () => {
    const { esx01 } = twoAgents({ memoryMB: 1024 });
    await esx01.client.reserve("m1", { cpuMhz: 0, memoryMB: 800 });
    const refused = await rejectsWith(
      esx01.client.reserve("m2", { cpuMhz: 30_000, memoryMB: 512 }),
      ErrorCode.refused,
      /esx01 cannot reserve resources for migration m2: 512 MB of memory asked, 224 MB free \(800 MB already reserved\); 30000 MHz of CPU asked, 19200 MHz unreserved of 19200 MHz/,
    );
    assert.equal(refused.failureCode, MigrationFailureCode.reservationRefused);
    assert.deepEqual((await esx01.client.listReservations()).map((r) => r.migrationId), ["m1"]);
  });

  test("concurrent reservations cannot both take the last memory", async () => {
    const { esx01 } = twoAgents({ memoryMB: 1000 });
    const results = await Promise.allSettled([esx01.client.reserve("a", { cpuMhz: 0, memoryMB: 600 }), esx01.client.reserve("b", { cpuMhz: 0, memoryMB: 600 })]);
    assert.deepEqual(results.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
  });
});

describe("agent API: incoming migrations", () => {
  test("the destination listens on its VMotion IP and counts its own reservation once", async () => {
    const { esx02 } = twoAgents({ memoryMB: 1024 });
    await esx02.client.reserve("m1", { cpuMhz: 100, memoryMB: 800 });
    const target: IncomingMigration = await esx02.client.prepareIncoming("m1", testVmSpec("web01", 800));
    assert.equal(target.host, "127.0.1.2");
    assert.equal(target.migrationId, "m1");
    assert.equal((await esx02.client.incomingState("m1")).state, "waiting");
    const facts = await esx02.client.facts();
    assert.equal(facts.freeMemoryMB, 224, "the shell holds 800 MB; the reservation's 800 MB no longer counts");
    assert.equal(facts.migrations.incoming, 1);
    // The shell is not the operator's to destroy while the migration may still come.
    await rejectsWith(esx02.client.destroyVm("web01"), ErrorCode.conflict, /incoming migration's shell/);
    assert.equal((await esx02.client.abortIncoming("m1")).state, "aborted");
    assert.deepEqual(await esx02.client.listVms(), []);
  });

  test("out of memory: REFUSED with failureCode DESTINATION_OUT_OF_MEMORY, and others' reservations count", async () => {
    const { esx02 } = twoAgents({ memoryMB: 1024 });
    await esx02.client.reserve("other", { cpuMhz: 0, memoryMB: 512 });
    const refused = await rejectsWith(esx02.client.prepareIncoming("m1", testVmSpec("web01", 768)), ErrorCode.refused, /cannot hold web01's 768 MB of memory: 512 MB free/);
    assert.equal(refused.failureCode, MigrationFailureCode.destinationOutOfMemory);
    assert.deepEqual(await esx02.client.listVms(), []);
  });

  test("an agent without a VMotion IP refuses incoming migrations", async () => {
    const network = createFakeNetwork();
    const app = createAgentApp({ driver: createFakeDriver(network, fakeHostFacts("h", "127.0.1.9")), token: TEST_TOKEN, clock: systemClock, hostName: "h", vmotionIp: undefined });
    const res = await app.request("/v1/migrations/incoming", { method: "POST", headers: jsonHeaders, body: JSON.stringify({ migrationId: "m1", spec: testVmSpec("a") }) });
    assert.equal(res.status, 422);
    assert.match(((await res.json()) as ErrorBody).message, /no VMkernel port enabled for VMotion/);
  });
});

describe("agent API: outgoing migrations", () => {
  test("streams progress as NDJSON and ends with the report; the VM moves", async () => {
    const { esx01, esx02 } = twoAgents();
    await runningVm(esx01, testVmSpec("web01"));
    const target = await esx02.client.prepareIncoming("m1", testVmSpec("web01"));
    const res = await esx01.agent.app.request("/v1/migrations/outgoing", {
      method: "POST",
      headers: jsonHeaders,
      body: JSON.stringify({ migrationId: "m1", vm: "web01", target, destination: "esx02" }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("Content-Type") ?? "", /application\/x-ndjson/);
    const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l) as OutgoingEvent);
    const last = lines[lines.length - 1];
    assert.ok(last?.type === "report", "the last line is the report");
    assert.equal(last.report.outcome, Phase.completed);
    assert.equal(last.report.source, "esx01");
    assert.equal(last.report.destination, "esx02");
    // Raw figures on the wire (the engine's tracker makes the percent): bytes sent never go back.
    const sent = lines.flatMap((e) => (e.type === "progress" ? [e.progress.bytesSent] : []));
    assert.ok(sent.length >= 2);
    assert.deepEqual(sent, [...sent].sort((a, b) => a - b), "bytes sent never go backwards");
    assert.deepEqual(await esx01.client.listVms(), []);
    const moved: AgentVm = await esx02.client.getVm("web01");
    assert.equal(moved.power, "running");
    assert.deepEqual(moved.spec, testVmSpec("web01"), "the destination keeps the spec for the next move");
    const view: OutgoingView = await esx01.client.outgoing("m1");
    assert.equal(view.state, "finished");
    assert.equal(view.report?.outcome, Phase.completed);
    // The stream can be read again after the end: it replays the report.
    const again = await reportOf(esx01.client.followOutgoing("m1"));
    assert.equal(again.outcome, Phase.completed);
  });

  test("refuses before streaming: unknown VM, VM not running, id reused, VM already migrating", async () => {
    // Time stands still: the migration stays in its first pass while the refusals are tried.
    const { esx01, esx02 } = twoAgents({ clock: createManualClock() });
    const target = { migrationId: "m1", host: "127.0.1.2", port: 1, token: "t" };
    const first = async (events: AsyncIterable<OutgoingEvent>): Promise<unknown> => {
      for await (const e of events) return e;
      return undefined;
    };
    await rejectsWith(first(esx01.client.migrateOut({ migrationId: "m1", vm: "nope", target })), ErrorCode.notFound);
    await esx01.client.createVm(testVmSpec("web01"));
    const refused = await rejectsWith(first(esx01.client.migrateOut({ migrationId: "m1", vm: "web01", target })), ErrorCode.refused, /web01 is off on esx01, not running/);
    assert.equal(refused.failureCode, MigrationFailureCode.vmNotRunning);
    await esx01.client.powerOn("web01");
    const real = await esx02.client.prepareIncoming("m1", testVmSpec("web01"));
    const events = esx01.client.migrateOut({ migrationId: "m1", vm: "web01", target: real });
    const iterator = events[Symbol.asyncIterator]();
    const opening = await iterator.next();
    assert.deepEqual(opening.done === true ? undefined : opening.value.type === "progress" ? opening.value.progress.phase : opening.value.type, Phase.preparing);
    await rejectsWith(first(esx01.client.migrateOut({ migrationId: "m1", vm: "web01", target: real })), ErrorCode.conflict, /already ran migration m1/);
    await rejectsWith(first(esx01.client.migrateOut({ migrationId: "m2", vm: "web01", target: real })), ErrorCode.conflict, /migrating out \(migration m1\)/);
    await rejectsWith(esx01.client.powerOff("web01"), ErrorCode.conflict);
    await rejectsWith(esx01.client.destroyVm("web01"), ErrorCode.conflict);
    await esx01.client.abortOutgoing("m1");
    const report = await reportOf({ [Symbol.asyncIterator]: () => iterator });
    assert.equal(report.outcome, Phase.cancelled);
    assert.equal(report.failure?.phase, Phase.preparing, "it never left its first step");
  });

  test("abort: the report says cancelled/ABORTED and the VM runs on the source", async () => {
    const clock = createManualClock();
    const { esx01, esx02 } = twoAgents({ clock });
    await runningVm(esx01, testVmSpec("web01"));
    esx01.driver.faults = { passMs: 100 };
    const target = await esx02.client.prepareIncoming("m1", testVmSpec("web01"));
    const seen: OutgoingEvent[] = [];
    const reading = reportOf(esx01.client.migrateOut({ migrationId: "m1", vm: "web01", target }), (e) => seen.push(e));
    // Exactly one pass: the abort lands in pre-copy, between pass 1 and pass 2.
    await clock.advance(100);
    const progress = seen.flatMap((e) => (e.type === "progress" ? [e.progress] : []));
    assert.deepEqual(progress.map((p) => [p.phase, p.pass]), [[Phase.preparing, 0], [Phase.precopy, 1]]);
    const view = await esx01.client.abortOutgoing("m1");
    assert.equal(view.aborting, true);
    const report = await reading;
    assert.equal(report.outcome, Phase.cancelled);
    assert.equal(report.failure?.code, MigrationFailureCode.aborted);
    assert.equal(report.failure.phase, Phase.precopy);
    assert.equal(report.runningOn, "esx01");
    assert.equal((await esx01.client.getVm("web01")).power, "running");
  });

  test("a reader that goes away does not stop the migration; a new reader follows it", async () => {
    const clock = createManualClock();
    const { esx01, esx02 } = twoAgents({ clock });
    await runningVm(esx01, testVmSpec("web01"));
    esx01.driver.faults = { passMs: 60 };
    const target = await esx02.client.prepareIncoming("m1", testVmSpec("web01"));
    const stop = new AbortController();
    const events = esx01.client.migrateOut({ migrationId: "m1", vm: "web01", target }, { signal: stop.signal });
    await assert.rejects(async () => {
      for await (const e of events) if (e.type === "progress") stop.abort(new Error("reader gone"));
    }, /reader gone/);
    assert.equal((await esx01.client.outgoing("m1")).state, "running");
    const following = reportOf(esx01.client.followOutgoing("m1"));
    await clock.advance(1_000);
    const report = await following;
    assert.equal(report.outcome, Phase.completed);
    assert.equal((await esx02.client.getVm("web01")).power, "running");
  });

  test("a quiet stream carries heartbeats", async () => {
    const clock = createManualClock();
    const { esx01, esx02 } = twoAgents({ clock });
    await runningVm(esx01, testVmSpec("web01"));
    esx01.driver.faults = { holdAfterCommitMs: 200 };
    const target = await esx02.client.prepareIncoming("m1", testVmSpec("web01"));
    const seen: OutgoingEvent[] = [];
    const reading = reportOf(esx01.client.migrateOut({ migrationId: "m1", vm: "web01", target }), (e) => seen.push(e));
    await clock.advance(1_000);
    await reading;
    const switchover = seen.findIndex((e) => e.type === "progress" && e.progress.phase === Phase.switchover);
    const beats = seen.slice(switchover).filter((e) => e.type === "heartbeat");
    // The hold is 200 ms and a beat is due every 50 ms of quiet (the harness's heartbeatMs).
    assert.ok(beats.length >= 3, `heartbeats while the source holds after commit: ${JSON.stringify(seen.map((e) => e.type))}`);
  });
});

describe("agent API: faults", () => {
  test("POST /v1/faults is 404 unless the agent runs with faults enabled", async () => {
    const { esx01 } = twoAgents();
    await rejectsWith(esx01.client.setFaults([{ passMs: 1 }]), ErrorCode.notFound, /not started with faults enabled/);
    const withFaults = twoAgents({ faults: true });
    await withFaults.esx01.client.setFaults([{ passMs: 7 }]);
    assert.equal(withFaults.esx01.driver.faults.passMs, 7);
    await rejectsWith(withFaults.esx01.client.setFaults("nope" as unknown as []), ErrorCode.invalidInput);
  });
});

describe("agent client", () => {
  test("an agent nobody listens for is UNAVAILABLE and retryable", async () => {
    const port = await closedPort();
    const client = createAgentClient({ baseUrl: `http://127.0.0.1:${port}`, token: "t", name: "esx09", timeoutMs: 2000 });
    try {
      await client.facts();
      assert.fail("expected UNAVAILABLE");
    } catch (error) {
      assert.ok(isFerryError(error));
      assert.equal(error.code, ErrorCode.unavailable);
      assert.equal(error.retryable, true);
      assert.match(error.message, new RegExp(`cannot reach the agent of esx09 at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
    }
  });

  test("an agent that does not answer in time is UNAVAILABLE, saying how long it waited", async () => {
    const client = createAgentClient({
      baseUrl: "http://esx01.test",
      token: "t",
      timeoutMs: 50,
      fetch: (_input, init) => new Promise((_, reject) => init.signal?.addEventListener("abort", () => { reject(new Error("aborted")); })),
    });
    await rejectsWith(client.facts(), ErrorCode.unavailable, /did not answer GET \/facts within 50 ms/);
  });

  test("a caller's abort rejects with the caller's reason", async () => {
    const { esx01 } = twoAgents();
    const stop = new AbortController();
    stop.abort(new Error("mine"));
    await assert.rejects(esx01.client.facts({ signal: stop.signal }), /mine/);
  });
});

describe("agent API: power-on and the VM's ownership record", () => {
  const withDisk = { ...testVmSpec("disk01"), disks: [{ name: "disk0", datastore: "shared01", path: "disk01/disk0.qcow2", format: "qcow2" as const }] };

  function agentWithLedger(ledger: ReturnType<typeof memoryLedger>) {
    const network = createFakeNetwork();
    const app = createAgentApp({
      driver: createFakeDriver(network, fakeHostFacts("esx01", "127.0.1.1")),
      token: TEST_TOKEN,
      clock: systemClock,
      hostName: "esx01",
      vmotionIp: "127.0.1.1",
      ledgerFor: (ref) => {
        if (ref.kind === "datastore" && ref.datastoreName === "shared01") return ledger;
        throw new FerryError(ErrorCode.refused, "esx01 does not mount that datastore");
      },
    });
    return createAgentClient({ baseUrl: "http://esx01.test", token: TEST_TOKEN, name: "esx01", fetch: (input, init) => Promise.resolve(app.request(input, init)) });
  }

  test("a VM whose record on its disk's datastore names another host is refused NOT_OWNED; named here, it powers on", async () => {
    const ledger = memoryLedger();
    const client = agentWithLedger(ledger);
    await client.createVm(withDisk);
    await ledger.claim("disk01", 0, "esx02", "cold-1");
    const refused = await rejectsWith(client.powerOn("disk01"), ErrorCode.conflict, /cannot power on disk01 on esx01: esx02 holds disk01 \(generation 1, taken by migration cold-1\) on .*so this registration is stale; power it on at esx02, or take the record over here first \(POST \/v1\/ownership with supersede 1\)/);
    assert.equal(refused.failureCode, MigrationFailureCode.notOwned);
    assert.equal((await client.getVm("disk01")).power, "off");
    // The way out the refusal names: this host takes the record over (esx02 was found not running it).
    const taken = await client.establishOwnership("disk01", { kind: "datastore", datastore: "shared01", datastoreName: "shared01" }, { supersede: 1 });
    assert.deepEqual({ owner: taken.owner, generation: taken.generation }, { owner: "esx01", generation: 2 });
    assert.equal((await client.powerOn("disk01")).power, "running");
  });

  test("taking over a generation of a record this host does not see is refused: its storage is not the holder's", async () => {
    const client = agentWithLedger(memoryLedger());
    await rejectsWith(client.establishOwnership("disk01", { kind: "datastore", datastore: "shared01", datastoreName: "shared01" }, { supersede: 1, migrationId: "cold-2" }), ErrorCode.conflict, /esx01 finds no ownership record of disk01 on .*, so it cannot take over generation 1: it does not see the storage the record's holder sees/);
  });

  test("no record, a VM without disks, or a datastore this host does not mount: power-on is not fenced here", async () => {
    const client = agentWithLedger(memoryLedger());
    await client.createVm(withDisk);
    assert.equal((await client.powerOn("disk01")).power, "running");
    await client.createVm(testVmSpec("plain01"));
    assert.equal((await client.powerOn("plain01")).power, "running");
    await client.createVm({ ...withDisk, name: "local01", disks: [{ name: "disk0", datastore: "local01", path: "local01.raw", format: "raw" }] });
    assert.equal((await client.powerOn("local01")).power, "running");
  });

  test("DELETE ?power=off removes only a powered-off VM (VM_POWERED_ON otherwise)", async () => {
    const client = agentWithLedger(memoryLedger());
    await client.createVm(testVmSpec("web01"));
    await client.powerOn("web01");
    const refused = await rejectsWith(client.destroyVm("web01", { onlyIfOff: true }), ErrorCode.conflict, /web01 is running on esx01: it was asked to be removed only while powered off/);
    assert.equal(refused.failureCode, MigrationFailureCode.vmPoweredOn);
    await client.powerOff("web01");
    await client.destroyVm("web01", { onlyIfOff: true });
    await rejectsWith(client.getVm("web01"), ErrorCode.notFound);
  });
});
