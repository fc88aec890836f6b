// The agent as a process: its token guards every route over real HTTP, migration streams
// are accepted only on its VMotion IP, and SIGTERM stops it cleanly.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { ErrorCode, isFerryError } from "../../src/core/errors.ts";
import { createAgentClient } from "../../src/agent/client.ts";
import { startAgentProcess, startAgents, stopAllAgents, TOKEN, type AgentProcess } from "../support/agents.ts";

let esx01: AgentProcess;
let esx02: AgentProcess;

before(async () => {
  [esx01, esx02] = (await startAgents([
    { name: "esx01", index: 1 },
    { name: "esx02", index: 2 },
  ])) as [AgentProcess, AgentProcess];
});
after(async () => {
  await stopAllAgents();
});

/** Whether a TCP connection to host:port is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => {
      resolve(false);
    });
  });
}

const spec = { name: "web01", memoryMB: 16, vcpus: 1, nics: [] };

describe("agent process: tokens", () => {
  test("a wrong or missing token gets 401 on every route over HTTP, and nothing changes", async () => {
    await esx01.client.createVm(spec);
    await esx01.client.powerOn("web01");
    const before = JSON.stringify(await esx01.client.listVms());
    const attempts: readonly [string, string, unknown?][] = [
      ["GET", "/v1/facts"],
      ["POST", "/v1/vms", { ...spec, name: "intruder" }],
      ["POST", "/v1/vms/web01/power-off", {}],
      ["DELETE", "/v1/vms/web01"],
      ["POST", "/v1/reservations/x", { cpuMhz: 1, memoryMB: 1 }],
      ["POST", "/v1/migrations/incoming", { migrationId: "x", spec: { ...spec, name: "shell" } }],
      ["POST", "/v1/faults", { rules: [{ cutStreamAfterBytes: 1 }] }],
    ];
    for (const authorization of [undefined, "Bearer wrong-token", `Bearer ${TOKEN}0`, `Basic ${TOKEN}`]) {
      for (const [method, path, body] of attempts) {
        const headers: Record<string, string> = { "Content-Type": "application/json" };
        if (authorization !== undefined) headers["Authorization"] = authorization;
        const res = await fetch(`${esx01.api}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
        assert.equal(res.status, 401, `${method} ${path} with ${authorization ?? "no header"}`);
        assert.equal(((await res.json()) as { code: string }).code, ErrorCode.unauthorized);
      }
    }
    assert.equal(JSON.stringify(await esx01.client.listVms()), before);
    assert.deepEqual(await esx01.client.listReservations(), []);
    assert.equal((await esx01.client.facts()).migrations.incoming, 0);
    const wrong = createAgentClient({ baseUrl: esx01.api, token: "wrong-token", name: "esx01" });
    await assert.rejects(wrong.facts(), (e: unknown) => isFerryError(e) && e.code === ErrorCode.unauthorized);
    assert.ok(!esx01.log().includes(TOKEN), "the token never appears in the agent's log");
    await esx01.client.powerOff("web01");
    await esx01.client.destroyVm("web01");
  });
});

describe("agent process: the VMotion network", () => {
  test("facts report the VMotion IP the agent was given", async () => {
    const facts = await esx02.client.facts();
    assert.equal(facts.vmotionIp, "127.0.1.2");
    assert.ok(facts.vswitches.some((v) => v.vmkernelPorts.some((p) => p.vmotion && p.ip.startsWith("127.0.1.2/"))));
  });

  test("an incoming migration listens on the VMotion IP only", async () => {
    const target = await esx02.client.prepareIncoming("listen-1", { ...spec, name: "shell01" });
    try {
      assert.equal(target.host, "127.0.1.2");
      assert.equal(await accepts("127.0.0.1", target.port), false, "not on the API's address");
      assert.equal(await accepts("127.0.1.1", target.port), false, "not on another host's VMotion IP");
      assert.equal(await accepts("127.0.1.2", target.port), true, "on the VMotion IP");
    } finally {
      await esx02.client.abortIncoming("listen-1");
    }
    assert.equal(await accepts("127.0.1.2", target.port), false, "the listener is gone after the abort");
    assert.deepEqual(await esx02.client.listVms(), [], "and the shell with it");
  });
});

describe("agent process: fault rules", () => {
  test("known rules are taken; an unknown or mistyped one is INVALID_INPUT", async () => {
    await esx02.client.setFaults([{ delayBeforeReadyMs: 10 }, { corruptMemory: false }]);
    await assert.rejects(esx02.client.setFaults([{ cutStreamAfterBites: 10 }]), (e: unknown) => isFerryError(e) && e.code === ErrorCode.invalidInput && /cutStreamAfterBites/.test(e.message));
    await assert.rejects(esx02.client.setFaults([{ dropAfterCommit: "maybe" }]), (e: unknown) => isFerryError(e) && e.code === ErrorCode.invalidInput && /dropAfterCommit/.test(e.message));
    await esx02.client.setFaults([]);
  });
});

describe("agent process: lifecycle", () => {
  test("SIGTERM stops the agent cleanly (exit 0); a bad config exits 2 with one sentence", async () => {
    const agent = await startAgentProcess({ name: "esx09", index: 9 });
    await agent.client.createVm(spec);
    await agent.client.powerOn("web01");
    assert.equal(await agent.stop(), 0);
    await assert.rejects(agent.client.facts(), (e: unknown) => isFerryError(e) && e.code === ErrorCode.unavailable);
    await assert.rejects(startAgentProcess({ name: "esx10", index: 10, token: "" }), /exited \(2\) before it was ready[\s\S]*needs an API token/);
  });
});
