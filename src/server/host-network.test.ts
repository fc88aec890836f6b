// The controller's host-networking routes acting through hosts' agents, in-process: a real
// controller app and store, real agent apps (fake driver) reached without a socket, and a
// recording VMkernel control standing in for the lab's namespaces (test/lab covers those).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createAgent, type VmkernelControl } from "../agent/app.ts";
import type { VmkernelRequest } from "../agent/api.ts";
import { createAgentClient, type AgentClient } from "../agent/client.ts";
import { createFakeDriver, createFakeNetwork, fakeHostFacts } from "../agent/testing/fake-driver.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import type { Inventory } from "../core/inventory/schema.ts";
import { systemClock } from "../drivers/clock.ts";
import { createControllerApp } from "./app.ts";
import { agentHostNetwork, vmkernelDiff } from "./host-network.ts";
import { testController } from "./testing/controller.ts";

const TOKEN = "agent-token-host-network";

/** A VMkernel control that records calls and refuses an address ending in .99, as the lab refuses one outside its range. */
function recordingControl(): { control: VmkernelControl; calls: string[] } {
  const calls: string[] = [];
  const control: VmkernelControl = {
    apply(port: string, request: VmkernelRequest) {
      if (request.ip.endsWith(".99")) return Promise.reject(new FerryError(ErrorCode.invalidInput, `Address "${request.ip}/${request.prefix}" is outside the lab's range.`));
      calls.push(`apply ${port} ${request.ip}/${request.prefix} vmotion=${String(request.vmotion)} mtu=${request.mtu}${request.gateway === undefined ? "" : ` gw=${request.gateway}`}`);
      return Promise.resolve([`${request.ip}/${request.prefix} on ${port}`]);
    },
    remove(port: string) {
      calls.push(`remove ${port}`);
      return Promise.resolve([`deleted ${port}`]);
    },
  };
  return { control, calls };
}

function agentClient(host: string, vmotionIp: string, control: VmkernelControl | undefined): { client: AgentClient; down: () => void } {
  let up = true;
  const agent = createAgent({
    driver: createFakeDriver(createFakeNetwork(), fakeHostFacts(host, vmotionIp)),
    token: TOKEN,
    clock: systemClock,
    hostName: host,
    vmotionIp,
    vmotionPort: "vmk1",
    vmkernel: control,
  });
  const client = createAgentClient({
    baseUrl: `http://${host}.agents.test`,
    token: TOKEN,
    name: host,
    fetch: async (input, init) => {
      if (!up) throw new TypeError("fetch failed", { cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }) });
      return agent.app.request(input, init);
    },
  });
  return { client, down: () => { up = false; } };
}

async function setup() {
  const controller = await testController();
  const esx01 = recordingControl();
  const agents = new Map<string, ReturnType<typeof agentClient>>([
    ["esx01", agentClient("esx01", "198.19.0.11", esx01.control)],
    ["esx02", agentClient("esx02", "198.19.0.12", undefined)],
  ]);
  const app = createControllerApp({ ...controller.parts, clock: systemClock, hostNetwork: agentHostNetwork((host) => agents.get(host)?.client, controller.parts.inventory) });
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: { code?: string; message?: string } }> => {
    const response = await app.request(path, { method, headers: { authorization: `Bearer ${controller.tokens.admin}`, "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: response.status, body: (await response.json()) as { code?: string; message?: string } };
  };
  const port = (host: string, name: string) => controller.inventory.current.inventory.hosts.find((h) => h.name === host)?.vswitches.flatMap((v) => v.vmkernelPorts).find((p) => p.name === name);
  return { controller, agents, calls: esx01.calls, call, port };
}

describe("host networking through the agents", () => {
  test("an edit is applied by the host's agent first, and moves where it takes migrations", async () => {
    const { agents, calls, call, port } = await setup();
    const edited = await call("PATCH", "/api/hosts/esx01/network/vmk1", { ip: "198.19.0.21/24", mtu: 9000 });
    assert.equal(edited.status, 200, edited.body.message);
    assert.deepEqual(calls, ["apply vmk1 198.19.0.21/24 vmotion=true mtu=9000"]);
    assert.equal(port("esx01", "vmk1")?.ip, "198.19.0.21/24");
    const facts = await agents.get("esx01")?.client.facts();
    assert.equal(facts?.vmotionIp, "198.19.0.21");
    assert.equal(facts.vmkernelControl, true);

    const off = await call("PATCH", "/api/hosts/esx01/network/vmk1", { vmotion: false });
    assert.equal(off.status, 200, off.body.message);
    assert.equal((await agents.get("esx01")?.client.facts())?.vmotionIp, undefined, "VMotion off: the host takes no migrations");
  });

  test("adding and removing a VMkernel port creates and deletes it on the host", async () => {
    const { calls, call, port } = await setup();
    const added = await call("POST", "/api/hosts/esx01/network", { vswitch: "vSwitch1", portGroup: "VMotion-2", port: "vmk2", vmotion: false, ip: "198.19.1.11/24", gateway: "198.19.1.1" });
    assert.equal(added.status, 200, added.body.message);
    assert.deepEqual(calls, ["apply vmk2 198.19.1.11/24 vmotion=false mtu=1500 gw=198.19.1.1"]);
    assert.ok(port("esx01", "vmk2") !== undefined);
    const removed = await call("DELETE", "/api/hosts/esx01/network/vmk2");
    assert.equal(removed.status, 200, removed.body.message);
    assert.deepEqual(calls.slice(1), ["remove vmk2"]);
    assert.equal(port("esx01", "vmk2"), undefined);
  });

  test("an agent's refusal, or an agent that cannot be reached, writes nothing", async () => {
    const { agents, calls, call, port } = await setup();
    const refused = await call("PATCH", "/api/hosts/esx01/network/vmk1", { ip: "198.19.0.99/24" });
    assert.equal(refused.status, 422);
    assert.equal(refused.body.code, "REFUSED");
    assert.match(refused.body.message ?? "", /esx01 refused the network change: .*outside the lab's range.*the inventory was not changed/);
    assert.equal(port("esx01", "vmk1")?.ip, "198.19.0.11/24");
    assert.deepEqual(calls, []);

    agents.get("esx01")?.down();
    const unreachable = await call("PATCH", "/api/hosts/esx01/network/vmk1", { ip: "198.19.0.31/24" });
    assert.equal(unreachable.status, 503);
    assert.match(unreachable.body.message ?? "", /cannot apply the network change on esx01: its agent did not answer .*nothing was changed/);
    assert.equal(port("esx01", "vmk1")?.ip, "198.19.0.11/24");
  });

  test("hosts whose agent does not manage its network, or that have none, change in the inventory only", async () => {
    const { call, port } = await setup();
    const sim = await call("PATCH", "/api/hosts/esx02/network/vmk1", { ip: "198.19.0.42/24" });
    assert.equal(sim.status, 200, sim.body.message);
    assert.equal(port("esx02", "vmk1")?.ip, "198.19.0.42/24");
    const none = await call("PATCH", "/api/hosts/esx03/network/vmk1", { mtu: 9000 });
    assert.equal(none.status, 200, none.body.message);
  });

  test("the diff names changed and removed ports of one host only", () => {
    const host = (name: string, ports: { name: string; ip: string }[]) => ({
      name,
      vswitches: [{ name: "vSwitch1", uplinks: [], mtu: 1500, portGroups: [], vmkernelPorts: ports.map((p) => ({ ...p, portGroup: "VMotion", mtu: 1500, vmotion: true })) }],
    });
    const before = { hosts: [host("a", [{ name: "vmk1", ip: "198.19.0.1/16" }, { name: "vmk2", ip: "198.19.1.1/16" }]), host("b", [{ name: "vmk1", ip: "198.19.0.2/16" }])] } as unknown as Inventory;
    const after = { hosts: [host("a", [{ name: "vmk1", ip: "198.19.0.9/16" }, { name: "vmk3", ip: "198.19.3.1/16" }]), host("b", [{ name: "vmk1", ip: "198.19.0.7/16" }])] } as unknown as Inventory;
    const diff = vmkernelDiff("a", before, after);
    assert.deepEqual(diff.set.map((p) => `${p.name} ${p.ip}`), ["vmk1 198.19.0.9/16", "vmk3 198.19.3.1/16"]);
    assert.deepEqual(diff.removed, ["vmk2"]);
    assert.deepEqual(vmkernelDiff("a", before, before), { set: [], removed: [] });
  });
});
