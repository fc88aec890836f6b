// The liveness state machine with in-process agents (fake drivers) and a manual clock: a
// frozen agent's heartbeats time out on the clock, never on the wall.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { AgentClient } from "../agent/client.ts";
import { createFakeNetwork } from "../agent/testing/fake-driver.ts";
import { runningVm, startTestAgent, testVmSpec, type TestAgent } from "../agent/testing/harness.ts";
import { InventorySchema } from "../core/inventory/schema.ts";
import { baseInventory, must } from "../core/testing/inventory.ts";
import type { TaskEventBody } from "../core/migration/schema.ts";
import { openSqliteStore } from "../store/sqlite.ts";
import { EventHub } from "./events.ts";
import { InventoryService } from "./inventory-service.ts";
import { HostState, Liveness, hostEventStream } from "./liveness.ts";
import { createManualClock } from "./testing/manual-clock.ts";
import { testController } from "./testing/controller.ts";

/** An agent whose heartbeat can be frozen (the request hangs until its caller gives up) or answered by another agent. */
function freezable(agent: TestAgent): { client: AgentClient; freeze(frozen: boolean): void; answerAs(other: TestAgent): void; restart(): void } {
  let frozen = false;
  let answering = agent;
  let restarts = 0;
  const client: AgentClient = {
    ...agent.client,
    health: async (call) => {
      if (!frozen) {
        const health = await answering.client.health(call);
        return { ...health, startedAt: health.startedAt + restarts };
      }
      return new Promise((_, reject) => {
        const signal = call?.signal;
        if (signal === undefined) return;
        signal.addEventListener("abort", () => { reject(signal.reason as Error); }, { once: true });
      });
    },
  };
  return { client, freeze: (value) => { frozen = value; }, answerAs: (other) => { answering = other; }, restart: () => { restarts += 1; } };
}

async function setup(options: { knownAtStart: boolean }) {
  const clock = createManualClock();
  const network = createFakeNetwork();
  const esx01 = startTestAgent(network, "esx01", "198.19.0.1", { clock });
  const esx02 = startTestAgent(network, "esx02", "198.19.0.2", { clock });
  // web01 runs on esx01 as the inventory says; db01 is in the inventory on esx02, and runs there.
  await runningVm(esx01, testVmSpec("web01"));
  await runningVm(esx02, { ...testVmSpec("db01"), nics: [{ name: "eth0", mac: "00:50:56:00:00:02", ip: "198.18.0.11", portGroup: "VM Network" }] });
  const raw = baseInventory();
  const web01 = must(raw.vms[0], "web01");
  raw.vms.push({ ...structuredClone(web01), name: "db01", host: "esx02", nics: [{ name: "nic0", portGroup: "Production", mac: "00:50:56:00:00:02" }] });
  const store = openSqliteStore(":memory:");
  await store.migrateToLatest();
  const late: { liveness?: Liveness } = {};
  const inventory = await InventoryService.open(store, { liveness: { notResponding: (host) => late.liveness?.notResponding(host) === true } });
  await inventory.replace(InventorySchema.parse(raw));
  const events = new EventHub(store);
  const agents = new Map([["esx01", freezable(esx01)], ["esx02", freezable(esx02)]]);
  const directory = { hosts: () => (options.knownAtStart ? [...agents.keys()] : []), get: (host: string) => agents.get(host)?.client };
  const liveness = new Liveness({ agents: directory, inventory, events, clock, intervalMs: 10_000, timeoutMs: 3_000, missedBeats: 3 });
  late.liveness = liveness;
  // Hosts joined after start are listed only from now on.
  directory.hosts = () => [...agents.keys()];
  const hostEvents = async (host: string) => (await store.eventsAfter(0, { taskId: hostEventStream(host) })).map((e) => e.body);
  return { clock, esx01, esx02, agents, inventory, liveness, store, hostEvents };
}

type Setup = Awaited<ReturnType<typeof setup>>;

/** One heartbeat round that times out on the manual clock for frozen agents. */
async function round(s: Setup): Promise<void> {
  const beat = s.liveness.beat();
  // Frozen agents' beats wait on the clock: move it past the timeout once they are asleep.
  await s.clock.advance(3_000);
  await beat;
}

describe("liveness: heartbeats", () => {
  test("three missed beats make a host not responding: an event, HOST_DISCONNECTED either way, and it is connected again at its next answer", async () => {
    const s = await setup({ knownAtStart: false });
    await round(s);
    assert.equal(s.liveness.stateOf("esx02"), HostState.connected);
    assert.equal(s.liveness.lastSeenAt("esx02"), s.clock.now() - 3_000);
    must(s.agents.get("esx02"), "esx02").freeze(true);
    await round(s);
    await round(s);
    assert.equal(s.liveness.stateOf("esx02"), HostState.connected, "two missed beats are not enough");
    await round(s);
    assert.equal(s.liveness.stateOf("esx02"), HostState.notResponding);
    assert.equal(s.liveness.stateOf("esx01"), HostState.connected);
    const down = must((await s.hostEvents("esx02"))[0], "an event");
    assert.equal(down["type"], "host");
    assert.equal(down["state"], HostState.notResponding);
    assert.match(String(down["message"]), /esx02 is not responding: its agent missed 3 heartbeats/);

    const checker = s.inventory.current.checker;
    const to = checker.check("web01", "esx02");
    assert.deepEqual(to.errors.map((f) => f.code), ["HOST_DISCONNECTED"]);
    assert.match(must(to.errors[0], "finding").message, /The destination host esx02 is not responding/);
    const from = checker.check("db01", "esx01");
    assert.ok(from.errors.some((f) => f.code === "HOST_DISCONNECTED" && f.message.includes("The source host esx02")), JSON.stringify(from.errors));
    const matrix = checker.matrix();
    assert.ok(matrix.errors.some((mask) => mask !== 0), "the matrix marks the silent host too");

    must(s.agents.get("esx02"), "esx02").freeze(false);
    await round(s);
    assert.equal(s.liveness.stateOf("esx02"), HostState.connected);
    assert.deepEqual(checker.check("web01", "esx02").errors, [], "the same checker sees the host again");
    const types = (await s.hostEvents("esx02")).map((e) => [e["type"], e["state"]].filter((v) => typeof v === "string").join(":"));
    assert.deepEqual(types, ["host:notResponding", "host:connected", "reconciled"]);
  });

  test("a host that comes back is reconciled: what changed behind the controller's back is recorded, and corrected where the agent is the truth", async () => {
    const s = await setup({ knownAtStart: false });
    await round(s);
    must(s.agents.get("esx02"), "esx02").freeze(true);
    for (let i = 0; i < 3; i++) await round(s);
    assert.equal(s.liveness.stateOf("esx02"), HostState.notResponding);
    // Meanwhile, on esx02: db01 is powered off and a VM nobody knows is started.
    await s.esx02.client.powerOff("db01");
    await runningVm(s.esx02, { ...testVmSpec("rogue01"), nics: [] });
    must(s.agents.get("esx02"), "esx02").freeze(false);
    await round(s);
    const reconcile = (await s.hostEvents("esx02")).filter((e) => e["type"] === "reconcile");
    assert.deepEqual(reconcile.map((e) => [e["kind"], e["vm"], e["corrected"]]), [
      ["powerDiffers", "db01", true],
      ["vmUnknown", "rogue01", false],
    ]);
    assert.equal(s.inventory.current.index.vms.get("db01")?.power, "off");
  });

  test("hosts known at start are reconciled at their first answer; a VM found running elsewhere moves in the inventory", async () => {
    const s = await setup({ knownAtStart: true });
    // web01 was moved to esx02 while the controller was away.
    await s.esx01.client.powerOff("web01");
    await s.esx01.client.destroyVm("web01");
    await runningVm(s.esx02, testVmSpec("web01"));
    await round(s);
    assert.equal(s.inventory.current.index.vms.get("web01")?.host, "esx02");
    const moved = [...(await s.hostEvents("esx01")), ...(await s.hostEvents("esx02"))].filter((e) => e["type"] === "reconcile");
    assert.deepEqual(moved.map((e) => [e["kind"], e["vm"], e["corrected"]]), [["vmMoved", "web01", true]]);
    // Reconciled once: the next round records nothing new.
    const before = (await s.store.eventsAfter(0)).length;
    await round(s);
    assert.equal((await s.store.eventsAfter(0)).length, before);
  });

  test("an agent restarted between two beats is reconciled at its next answer", async () => {
    const s = await setup({ knownAtStart: false });
    await round(s);
    // The agent restarted quickly (no beat missed) and came back without db01 running.
    await s.esx02.client.powerOff("db01");
    must(s.agents.get("esx02"), "esx02").restart();
    await round(s);
    const events = await s.hostEvents("esx02");
    assert.deepEqual(events.map((e) => e["type"]), ["host", "reconcile", "reconciled"]);
    assert.equal(events[0]?.["restarted"], true);
    assert.deepEqual([events[1]?.["kind"], events[1]?.["vm"]], ["powerDiffers", "db01"]);
    assert.equal(s.inventory.current.index.vms.get("db01")?.power, "off");
  });

  test("an agent answering as another host is a missed beat", async () => {
    const s = await setup({ knownAtStart: false });
    must(s.agents.get("esx02"), "esx02").answerAs(s.esx01);
    for (let i = 0; i < 3; i++) await round(s);
    assert.equal(s.liveness.stateOf("esx02"), HostState.notResponding);
  });

  test("an agent that joins again (a new client) is connected at once and not reconciled: whoever joined it starts its VMs next", async () => {
    const s = await setup({ knownAtStart: true });
    const esx02 = must(s.agents.get("esx02"), "esx02");
    esx02.freeze(true);
    for (let i = 0; i < 3; i++) await round(s);
    assert.equal(s.liveness.stateOf("esx02"), HostState.notResponding);
    // The agent restarted empty and joined again.
    await s.esx02.client.powerOff("db01");
    await s.esx02.client.destroyVm("db01");
    s.agents.set("esx02", freezable(s.esx02));
    await round(s);
    assert.equal(s.liveness.stateOf("esx02"), HostState.connected);
    const events = (await s.hostEvents("esx02")).map((e) => e["type"]);
    assert.deepEqual(events, ["host", "host"], "no reconciliation: db01 is not powered off in the inventory");
    assert.equal(s.inventory.current.index.vms.get("db01")?.power, "on");
  });

  test("beats keep their cadence while an agent is silent: not responding after three intervals, not three intervals plus timeouts", async () => {
    const s = await setup({ knownAtStart: false });
    must(s.agents.get("esx02"), "esx02").freeze(true);
    const t0 = s.clock.now();
    s.liveness.start();
    // Rounds start at 0, 10 and 20 s; each waits 3 s for esx02.
    await s.clock.advance(20_000 + 3_000);
    assert.equal(s.liveness.stateOf("esx02"), HostState.notResponding);
    const down = must((await s.hostEvents("esx02"))[0], "an event");
    assert.equal(down["lastSeenAt"], null);
    assert.equal((await s.store.eventsAfter(0, { taskId: hostEventStream("esx02") }))[0]?.at, t0 + 23_000);
    await s.liveness.stop();
  });

  test("start() beats at once and then every interval of the clock; stop() ends the loop", async () => {
    const s = await setup({ knownAtStart: false });
    s.liveness.start();
    await s.clock.advance(0);
    const first = s.liveness.lastSeenAt("esx01");
    assert.equal(first, s.clock.now());
    await s.clock.advance(10_000);
    assert.equal(s.liveness.lastSeenAt("esx01"), first + 10_000);
    await s.liveness.stop();
    await s.clock.advance(10_000);
    assert.equal(s.liveness.lastSeenAt("esx01"), first + 10_000, "no beat after stop");
  });
});

describe("GET /api/host-events", () => {
  test("lists hosts' events oldest first, per host or all, the newest `limit`; an unknown host is 404", async () => {
    const controller = await testController();
    const publish = (host: string, body: TaskEventBody) => controller.events.publish(hostEventStream(host), 1, body);
    await publish("esx01", { type: "host", host: "esx01", state: "notResponding", message: "esx01 is not responding" });
    await publish("esx02", { type: "reconcile", host: "esx02", kind: "powerDiffers", vm: "db01", corrected: true, message: "db01 is off on esx02" });
    await publish("esx01", { type: "host", host: "esx01", state: "connected", message: "esx01 is connected again" });
    await publish("esx01", { type: "reconciled", host: "esx01", differences: 0, corrections: 0, message: "esx01 runs what the inventory says" });
    const all = await controller.call("GET", "/api/host-events");
    assert.equal(all.status, 200, all.text);
    assert.deepEqual((all.body as { host: string; type: string }[]).map((e) => `${e.host} ${e.type}`), ["esx01 host", "esx02 reconcile", "esx01 host", "esx01 reconciled"]);
    const newest = await controller.call("GET", "/api/host-events?host=esx01&limit=2");
    assert.deepEqual((newest.body as { state?: string; type: string }[]).map((e) => e.state ?? e.type), ["connected", "reconciled"]);
    const unknown = await controller.call("GET", "/api/host-events?host=esx99");
    assert.deepEqual([unknown.status, (unknown.body as { message: string }).message], [404, 'no host named "esx99"']);
  });
});
