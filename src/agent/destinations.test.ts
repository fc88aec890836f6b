import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { systemClock } from "../drivers/clock.ts";
import { createAgent } from "./app.ts";
import { fakeRealHost } from "./testing/fake-host.ts";
import type { IncomingStateView } from "./api.ts";
import { createAgentClient } from "./client.ts";
import { createPeerDirectory, peersFromFile, type AgentPeer } from "./peers.ts";
import { createFakeDriver, createFakeNetwork, fakeHostFacts } from "./testing/fake-driver.ts";

const TOKEN = "peer-token";
const target = (host: string) => ({ migrationId: "m1", host, port: 9000, token: "t" });

/** A fetch that answers GET /v1/migrations/incoming/m1 per host from a table, and counts calls. */
function fakeFetch(answers: Record<string, IncomingStateView | "down">): { fetch: (input: string, init: RequestInit) => Promise<Response>; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    fetch: (input) => {
      const host = new URL(input).hostname;
      asked.push(host);
      const answer = answers[host];
      if (answer === undefined || answer === "down") return Promise.reject(new TypeError("fetch failed"));
      return Promise.resolve(Response.json(answer));
    },
  };
}

describe("peer agents", () => {
  const peers: AgentPeer[] = [
    { host: "esx01", api: "http://esx01.test", token: TOKEN, vmotionIp: "198.19.0.1" },
    { host: "esx02", api: "http://esx02.test", token: TOKEN, vmotionIp: "198.19.0.2" },
    { host: "esx03", api: "http://esx03.test", token: TOKEN, vmotionIp: "198.19.0.3" },
  ];

  test("asks the peer whose VMotion IP the stream went to, and names it", async () => {
    const { fetch, asked } = fakeFetch({ "esx02.test": { migrationId: "m1", state: "running", guest: { state: "reachable", message: "ok" } } });
    const directory = createPeerDirectory({ self: "esx01", load: () => Promise.resolve(peers), fetch });
    const view = await directory.incoming(target("198.19.0.2"));
    assert.equal(view?.state, "running");
    assert.equal(view.guest?.state, "reachable");
    assert.deepEqual(asked, ["esx02.test"]);
    assert.equal(directory.nameOf(target("198.19.0.2")), "esx02");
  });

  test("a VMotion IP that moved since the file was written: the peer that knows the migration answers", async () => {
    const { fetch, asked } = fakeFetch({ "esx02.test": { migrationId: "m1", state: "unknown" }, "esx03.test": { migrationId: "m1", state: "failed", reason: "Unknown ramblock" } });
    const directory = createPeerDirectory({ self: "esx01", load: () => Promise.resolve(peers), fetch });
    const view = await directory.incoming(target("198.19.0.33"));
    assert.deepEqual(view, { migrationId: "m1", state: "failed", reason: "Unknown ramblock" });
    assert.ok(!asked.includes("esx01.test"), "never asks itself");
  });

  test("with no peers file, the destination the controller named is asked, and named", async () => {
    const { fetch, asked } = fakeFetch({ "esx02.test": { migrationId: "m1", state: "running" } });
    const directory = createPeerDirectory({ self: "esx01", load: () => Promise.resolve([]), fetch });
    assert.equal(await directory.incoming(target("198.19.0.2")), undefined, "nobody known yet");
    directory.learn({ host: "esx02", api: "http://esx02.test", token: TOKEN, vmotionIp: "198.19.0.2" });
    directory.learn({ host: "esx01", api: "http://esx01.test", token: TOKEN, vmotionIp: "198.19.0.1" });
    assert.equal((await directory.incoming(target("198.19.0.2")))?.state, "running");
    assert.equal(directory.nameOf(target("198.19.0.2")), "esx02");
    assert.deepEqual(asked, ["esx02.test"], "never itself");
  });

  test("no peer can say: undefined, never a rejection", async () => {
    const { fetch } = fakeFetch({ "esx02.test": "down" });
    const directory = createPeerDirectory({ self: "esx01", load: () => Promise.resolve(peers), fetch });
    assert.equal(await directory.incoming(target("198.19.0.2")), undefined);
  });

  test("the peers file is read when written; a missing or malformed one is no peers", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ferry-peers-"));
    try {
      const file = join(dir, "peers.json");
      const load = peersFromFile(file);
      assert.deepEqual(await load(), []);
      await writeFile(file, JSON.stringify([{ host: "esx02" }]));
      assert.deepEqual(await load(), []);
      await writeFile(file, JSON.stringify(peers));
      assert.deepEqual(await load(), peers);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
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
