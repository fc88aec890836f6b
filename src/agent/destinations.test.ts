import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { systemClock } from "../drivers/clock.ts";
import { createAgent } from "./app.ts";
import { fakeRealHost } from "./testing/fake-host.ts";
import type { IncomingStateView } from "./api.ts";
import { createAgentClient, reportOf } from "./client.ts";
import { createDestinationDirectory } from "./destinations.ts";
import { STATE_TOKEN_GRACE_MS } from "./migration-tokens.ts";
import { createManualClock } from "../core/testing/clock.ts";
import { createFakeDriver, createFakeNetwork, fakeHostFacts } from "./testing/fake-driver.ts";

const TOKEN = "agent-token";

/** A fetch that answers GET /v1/migrations/incoming/:id per host from a table, and records who was asked with what. */
function fakeFetch(answers: Record<string, IncomingStateView | "down">): { fetch: (input: string, init: RequestInit) => Promise<Response>; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    fetch: (input, init) => {
      const host = new URL(input).hostname;
      asked.push(`${host} ${new Headers(init.headers).get("authorization") ?? ""}`);
      const answer = answers[host];
      if (answer === undefined || answer === "down") return Promise.reject(new TypeError("fetch failed"));
      return Promise.resolve(Response.json(answer));
    },
  };
}

describe("destinations of outgoing migrations", () => {
  const target = (migrationId: string) => ({ migrationId, host: "198.19.0.2", port: 9000, token: "stream" });

  test("asks the destination the controller named for that migration, with that migration's state token, and names it", async () => {
    const { fetch, asked } = fakeFetch({ "esx02.test": { migrationId: "m1", state: "running", guest: { state: "reachable", message: "ok" } } });
    const directory = createDestinationDirectory({ fetch });
    assert.equal(await directory.incoming(target("m1")), undefined, "nobody named yet");
    directory.learn("m1", { host: "esx02", api: "http://esx02.test" }, "state-m1");
    const view = await directory.incoming(target("m1"));
    assert.equal(view?.state, "running");
    assert.equal(view.guest?.state, "reachable");
    assert.equal(directory.nameOf(target("m1")), "esx02");
    assert.equal(await directory.incoming(target("m2")), undefined, "another migration is not asked about with m1's token");
    assert.deepEqual(asked, ["esx02.test Bearer state-m1"]);
    directory.forget("m1");
    assert.equal(directory.size(), 0);
    assert.equal(directory.nameOf(target("m1")), undefined);
  });

  test("a destination that cannot say: undefined, never a rejection", async () => {
    const { fetch } = fakeFetch({ "esx02.test": "down" });
    const directory = createDestinationDirectory({ fetch });
    directory.learn("m1", { host: "esx02", api: "http://esx02.test" }, "state-m1");
    assert.equal(await directory.incoming(target("m1")), undefined);
  });
});

describe("state tokens: a source reads its own migration's incoming state, and nothing else", () => {
  const destination = () => {
    const agent = createAgent({ driver: createFakeDriver(createFakeNetwork(), fakeHostFacts("esx02", "198.19.0.2")), token: TOKEN, clock: systemClock, hostName: "esx02", vmotionIp: "198.19.0.2" });
    const fetch = (input: string, init: RequestInit) => Promise.resolve(agent.app.request(input, init));
    const as = (token: string) => createAgentClient({ baseUrl: "http://esx02.test", token, name: "esx02", fetch });
    return { agent, controller: as(TOKEN), as };
  };
  const spec = (name: string) => ({ name, memoryMB: 128, vcpus: 1, nics: [] });
  const unauthorized = (e: unknown) => e instanceof FerryError && e.code === ErrorCode.unauthorized;

  test("a migration's token opens GET of its incoming state only: not another migration's, not any other route", async () => {
    const { agent, controller, as } = destination();
    const m1 = await controller.prepareIncoming("m1", spec("guest01"));
    const m2 = await controller.prepareIncoming("m2", spec("guest02"));
    assert.notEqual(m1.stateToken, m2.stateToken);
    assert.notEqual(m1.stateToken, TOKEN);
    const source = as(m1.stateToken);
    assert.equal((await source.incomingState("m1")).state, "waiting");
    await assert.rejects(source.incomingState("m2"), unauthorized, "m1's token does not read m2");
    await assert.rejects(source.abortIncoming("m1"), unauthorized, "read-only: it cannot abort its own migration");
    await assert.rejects(source.facts(), unauthorized);
    await assert.rejects(source.listVms(), unauthorized);
    await assert.rejects(source.prepareIncoming("m3", spec("guest03")), unauthorized);
    await assert.rejects(source.destroyVm("guest01"), unauthorized);
    await assert.rejects(as(m2.stateToken).incomingState("m1"), unauthorized, "nor m2's m1");
    const raw = await agent.app.request("/v1/migrations/incoming/m1/", { headers: { authorization: `Bearer ${m1.stateToken}` } });
    assert.equal(raw.status, 401, "not a neighbouring path either");
    assert.equal(agent.stateTokens(), 2);

    await controller.abortIncoming("m1");
    await assert.rejects(source.incomingState("m1"), unauthorized, "the migration ended here: its token with it");
    assert.equal((await as(m2.stateToken).incomingState("m2")).state, "waiting");
    assert.equal(agent.stateTokens(), 1);
  });

  test("the source's agent learns the destination and its state token from the request, its driver never sees the token, and it forgets both when the run ends", async () => {
    const network = createFakeNetwork();
    const destClock = createManualClock();
    const dest = createAgent({ driver: createFakeDriver(network, fakeHostFacts("esx02", "198.19.0.2")), token: "esx02-own", clock: destClock, hostName: "esx02", vmotionIp: "198.19.0.2" });
    const destFetch = (input: string, init: RequestInit) => Promise.resolve(dest.app.request(input, init));
    const directory = createDestinationDirectory({ fetch: destFetch });
    const seen: { learned?: string | undefined; view?: IncomingStateView | undefined; target?: unknown } = {};
    const sourceDriver = createFakeDriver(network, fakeHostFacts("esx01", "198.19.0.1"));
    const migrateOut = sourceDriver.migrateOut.bind(sourceDriver);
    const src = createAgent({
      driver: {
        ...sourceDriver,
        migrateOut: async (vm, target, options, hooks) => {
          seen.target = target;
          // What a qemu driver does after the stream: ask the destination, through the agent's directory.
          seen.view = await directory.incoming(target);
          return migrateOut(vm, target, options, hooks);
        },
      },
      token: "esx01-own",
      clock: systemClock,
      hostName: "esx01",
      vmotionIp: "198.19.0.1",
      destinations: {
        learn: (id, agent, token) => {
          seen.learned = `${id} ${agent.host} ${agent.api}`;
          directory.learn(id, agent, token);
        },
        forget: (id) => {
          directory.forget(id);
        },
      },
    });
    const source = createAgentClient({ baseUrl: "http://esx01.test", token: "esx01-own", name: "esx01", fetch: (input, init) => Promise.resolve(src.app.request(input, init)) });
    const destination = createAgentClient({ baseUrl: "http://esx02.test", token: "esx02-own", name: "esx02", fetch: destFetch });
    const spec01 = spec("web01");
    await source.createVm(spec01);
    await source.powerOn("web01");
    const prepared = await destination.prepareIncoming("m9", spec01);
    const report = await reportOf(source.migrateOut({ migrationId: "m9", vm: "web01", target: prepared, destination: "esx02", destinationAgent: { host: "esx02", api: "http://esx02.test" } }));
    assert.equal(report.outcome, "completed");
    assert.equal(seen.learned, "m9 esx02 http://esx02.test");
    assert.ok(seen.view !== undefined && seen.view.migrationId === "m9", "the source read the destination's state with the migration's token");
    assert.ok(!JSON.stringify(seen.target).includes(prepared.stateToken), "the driver's target holds no state token");
    assert.equal(directory.size(), 0, "forgotten when the run ended");
    const asSource = createAgentClient({ baseUrl: "http://esx02.test", token: prepared.stateToken, name: "esx02", fetch: destFetch });
    assert.equal((await asSource.incomingState("m9")).state, "running", "the source's last questions (the guest check) come after the VM runs");
    await destClock.advance(STATE_TOKEN_GRACE_MS + 1);
    await assert.rejects(asSource.incomingState("m9"), (e) => e instanceof FerryError && e.code === ErrorCode.unauthorized, "the grace after the end has passed: the token is dead");
    assert.equal(dest.stateTokens(), 0);
    await assert.rejects(
      reportOf(source.migrateOut({ migrationId: "m10", vm: "web01", target: prepared, destinationAgent: { host: "esx02", api: "http://esx02.test", token: "esx02-own" } as never })),
      (e) => e instanceof FerryError && e.code === ErrorCode.invalidInput,
      "an agent's own token is refused in an outgoing request",
    );
  });
});

describe("agent API: incoming details and a real host's network", () => {
  const agentWith = (real: boolean) => {
    const facts = fakeHostFacts("esx02", "198.19.0.2");
    const plain = createFakeDriver(createFakeNetwork(), facts);
    const host = real ? fakeRealHost(plain, facts.vswitches) : undefined;
    const agent = createAgent({
      driver: host?.driver ?? plain,
      token: TOKEN,
      clock: systemClock,
      hostName: "esx02",
      vmotionIp: "198.19.0.2",
      host: host?.control,
      incomingDetails: () => Promise.resolve({ reason: "Size mismatch: pc.ram", guest: { state: "unreachable", message: "198.18.0.11 silent" } }),
    });
    return createAgentClient({ baseUrl: "http://esx02.test", token: TOKEN, name: "esx02", fetch: (input, init) => Promise.resolve(agent.app.request(input, init)) });
  };

  test("GET incoming keeps its shape and adds the driver's reason and guest check for a migration it knows", async () => {
    const client = agentWith(false);
    assert.deepEqual(await client.incomingState("m-none"), { migrationId: "m-none", state: "unknown" });
    await client.prepareIncoming("m1", { name: "guest01", memoryMB: 128, vcpus: 1, nics: [] });
    const view = await client.incomingState("m1");
    assert.deepEqual({ ...view, state: undefined }, { migrationId: "m1", state: undefined, reason: "Size mismatch: pc.ram", guest: { state: "unreachable", message: "198.18.0.11 silent" } });
  });

  test("an agent that does not manage its network says so; a real host's moves its VMotion IP with the port", async () => {
    const plain = agentWith(false);
    assert.equal((await plain.facts()).networkControl, false);
    await assert.rejects(plain.applyNetwork([{ op: "removeVmkernelPort", name: "vmk1" }]), (e) => e instanceof FerryError && e.code === ErrorCode.notFound && /does not manage its host's network/.test(e.message));

    const managed = agentWith(true);
    assert.equal((await managed.facts()).networkControl, true);
    const view = await managed.applyNetwork([{ op: "setVmkernelPort", name: "vmk1", portGroup: "VMotion", ip: "198.19.0.22", prefix: 16, mtu: 1500, vmotion: true }]);
    assert.deepEqual(view, { applied: ["setVmkernelPort vmk1 198.19.0.22/16 vmotion=true mtu=1500"], vmotionIp: "198.19.0.22" });
    assert.equal((await managed.facts()).vmotionIp, "198.19.0.22");
    await managed.applyNetwork([{ op: "setVmkernelPort", name: "vmk2", portGroup: "VMotion", ip: "198.19.1.2", prefix: 16, mtu: 1500, vmotion: false }]);
    assert.equal((await managed.facts()).vmotionIp, "198.19.0.22", "another port without VMotion changes nothing");
    await managed.applyNetwork([{ op: "removeVmkernelPort", name: "vmk1" }]);
    assert.equal((await managed.facts()).vmotionIp, undefined, "the VMotion port gone: no incoming migrations");
    await assert.rejects(managed.prepareIncoming("m2", { name: "guest02", memoryMB: 128, vcpus: 1, nics: [] }), (e) => e instanceof FerryError && e.code === ErrorCode.refused && /no VMkernel port enabled for VMotion/.test(e.message));
    await assert.rejects(managed.applyNetwork([{ op: "setVmkernelPort", name: "vmk1", portGroup: "VMotion", ip: "198.19.0.300", prefix: 16, mtu: 1500, vmotion: true }]), (e) => e instanceof FerryError && e.code === ErrorCode.invalidInput, "the op's schema refuses a bad address before the host sees it");
  });
});
