// The controller's host-networking routes acting through hosts' agents, in-process: a real
// controller app and store, real agent apps (fake driver) reached without a socket, and a
// fake real host whose network changes as the agent's ops say (src/agent/testing/fake-host.ts;
// test/lab covers the Linux backend in namespaces).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createAgent } from "../agent/app.ts";
import { createAgentClient, type AgentClient } from "../agent/client.ts";
import { createFakeDriver, createFakeNetwork, fakeHostFacts } from "../agent/testing/fake-driver.ts";
import { fakeRealHost, type FakeRealHost } from "../agent/testing/fake-host.ts";
import type { Inventory } from "../core/inventory/schema.ts";
import { systemClock } from "../drivers/clock.ts";
import { createControllerApp } from "./app.ts";
import { agentHostNetwork, hostNetworkOps, vmkernelDiff } from "./host-network.ts";
import { registerHostRoutes } from "./routes-hosts.ts";
import { testController } from "./testing/controller.ts";

const TOKEN = "agent-token-host-network";

/** An agent reached in-process; `real` makes it a real host's (observed facts, network ops). */
function agentClient(host: string, vmotionIp: string, real: boolean): { client: AgentClient; down: () => void; host: FakeRealHost | undefined } {
  let up = true;
  const facts = fakeHostFacts(host, vmotionIp);
  const plain = createFakeDriver(createFakeNetwork(), facts);
  const fake = real ? fakeRealHost(plain, facts.vswitches) : undefined;
  const agent = createAgent({
    driver: fake?.driver ?? plain,
    token: TOKEN,
    clock: systemClock,
    hostName: host,
    vmotionIp,
    host: fake?.control,
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
  return { client, down: () => { up = false; }, host: fake };
}

async function setup() {
  const controller = await testController();
  const agents = new Map<string, ReturnType<typeof agentClient>>([
    ["esx01", agentClient("esx01", "198.19.0.11", true)],
    ["esx02", agentClient("esx02", "198.19.0.12", false)],
  ]);
  const hostNetwork = agentHostNetwork((host) => agents.get(host)?.client, controller.parts.inventory);
  const app = createControllerApp({ ...controller.parts, clock: systemClock, hostNetwork });
  registerHostRoutes(app, { inventory: controller.parts.inventory, agents: { get: (host: string) => agents.get(host)?.client }, hostNetwork });
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: { code?: string; message?: string } }> => {
    const response = await app.request(path, { method, headers: { authorization: `Bearer ${controller.tokens.admin}`, "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: response.status, body: (await response.json()) as { code?: string; message?: string } };
  };
  const hostOf = (name: string) => controller.inventory.current.inventory.hosts.find((h) => h.name === name);
  const port = (host: string, name: string) => hostOf(host)?.vswitches.flatMap((v) => v.vmkernelPorts).find((p) => p.name === name);
  const applied = agents.get("esx01")?.host?.applied ?? [];
  return { controller, agents, applied, call, port, hostOf };
}

describe("host networking through the agents", () => {
  test("an edit is carried out on a real host first, its record then observed, and migrations arrive on the new IP", async () => {
    const { agents, applied, call, port } = await setup();
    const edited = await call("PATCH", "/api/hosts/esx01/network/vmk1", { ip: "198.19.0.21/24", mtu: 9000 });
    assert.equal(edited.status, 200, edited.body.message);
    assert.deepEqual(applied, ["setVmkernelPort vmk1 198.19.0.21/24 vmotion=true mtu=9000"]);
    assert.equal(port("esx01", "vmk1")?.ip, "198.19.0.21/24");
    const facts = await agents.get("esx01")?.client.facts();
    assert.equal(facts?.vmotionIp, "198.19.0.21");
    assert.equal(facts.networkControl, true);

    const off = await call("PATCH", "/api/hosts/esx01/network/vmk1", { vmotion: false });
    assert.equal(off.status, 200, off.body.message);
    assert.equal((await agents.get("esx01")?.client.facts())?.vmotionIp, undefined, "VMotion off: the host takes no migrations");
  });

  test("Add networking makes the vSwitch, port group and VMkernel port on the host, in that order; removing takes the port away", async () => {
    const { applied, call, port } = await setup();
    const added = await call("POST", "/api/hosts/esx01/network", { vswitch: "vSwitch2", nic: "vmnic1", portGroup: "VMotion-2", port: "vmk2", vmotion: false, ip: "198.19.1.11/24", gateway: "198.19.1.1" });
    assert.equal(added.status, 409, "vmnic1 uplinks vSwitch1 already: the controller refuses before the host is asked");
    assert.deepEqual(applied, []);
    const onExisting = await call("POST", "/api/hosts/esx01/network", { vswitch: "vSwitch1", portGroup: "VMotion-2", port: "vmk2", vmotion: false, ip: "198.19.1.11/24", gateway: "198.19.1.1" });
    assert.equal(onExisting.status, 200, onExisting.body.message);
    assert.deepEqual(applied, ["setPortGroup VMotion-2 on vSwitch1 vlan=0", "setVmkernelPort vmk2 198.19.1.11/24 vmotion=false mtu=1500 gw=198.19.1.1"]);
    assert.ok(port("esx01", "vmk2") !== undefined);
    const removed = await call("DELETE", "/api/hosts/esx01/network/vmk2");
    assert.equal(removed.status, 200, removed.body.message);
    assert.deepEqual(applied.slice(2), ["removeVmkernelPort vmk2", "removePortGroup VMotion-2"]);
    assert.equal(port("esx01", "vmk2"), undefined);
  });

  test("VM port groups: created, renamed and removed on the host, then in the inventory", async () => {
    const { applied, call, hostOf } = await setup();
    const groups = () => hostOf("esx01")?.vswitches.flatMap((v) => v.portGroups.map((g) => `${v.name}/${g.name}`));
    const created = await call("PUT", "/api/hosts/esx01/portgroups/Staging", { vswitch: "vSwitch1" });
    assert.equal(created.status, 200, created.body.message);
    assert.deepEqual(groups(), ["vSwitch1/VMotion", "vSwitch1/Staging"]);
    const renamed = await call("POST", "/api/hosts/esx01/portgroups/Staging/rename", { to: "Test" });
    assert.equal(renamed.status, 200, renamed.body.message);
    assert.deepEqual(groups(), ["vSwitch1/VMotion", "vSwitch1/Test"]);
    const clash = await call("POST", "/api/hosts/esx01/portgroups/Test/rename", { to: "VMotion" });
    assert.equal(clash.status, 409);
    const inUse = await call("DELETE", "/api/hosts/esx01/portgroups/VMotion");
    assert.equal(inUse.status, 409);
    assert.match(inUse.body.message ?? "", /carries VMkernel port vmk1/);
    const removed = await call("DELETE", "/api/hosts/esx01/portgroups/Test");
    assert.equal(removed.status, 200, removed.body.message);
    assert.deepEqual(applied, ["setPortGroup Staging on vSwitch1 vlan=0", "renamePortGroup Staging to Test", "removePortGroup Test"]);
    assert.deepEqual(groups(), ["vSwitch1/VMotion"]);
  });

  test("a host's refusal, or an agent that cannot be reached, writes nothing", async () => {
    const { agents, applied, call, port } = await setup();
    const refused = await call("PATCH", "/api/hosts/esx01/network/vmk1", { ip: "198.19.0.99/24" });
    assert.equal(refused.status, 422);
    assert.equal(refused.body.code, "REFUSED");
    assert.match(refused.body.message ?? "", /esx01 refused the network change: .*already on another interface of this host; nothing was changed on the host or in the inventory$/);
    assert.equal(port("esx01", "vmk1")?.ip, "198.19.0.11/24");
    assert.deepEqual(applied, []);

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

  test("refresh: a real host's record becomes what it reports, datastores by identity", async () => {
    const { call, hostOf, controller } = await setup();
    const answer = await call("POST", "/api/hosts/esx01/refresh");
    assert.equal(answer.status, 200, answer.body.message);
    assert.equal((answer.body as { source?: string }).source, "observed");
    assert.deepEqual(hostOf("esx01")?.datastores, ["shared-ds"]);
    assert.equal(controller.inventory.current.inventory.datastores.find((d) => d.name === "shared-ds")?.uuid, "0b6f5c1e-shared");
    assert.equal((await call("POST", "/api/hosts/esx03/refresh")).status, 404, "no agent: nothing to ask");
  });

  test("the ops that take a host from one network to another, in an order it can carry out", () => {
    const host = (vswitches: Inventory["hosts"][number]["vswitches"]) => ({ hosts: [{ name: "a", vswitches }] }) as unknown as Inventory;
    const before = host([{ name: "vSwitch0", uplinks: ["eth0"], mtu: 1500, portGroups: [{ name: "Old", vlan: 0 }, { name: "VM", vlan: 0 }], vmkernelPorts: [{ name: "vmk9", portGroup: "Old", ip: "198.19.9.1/16", mtu: 1500, vmotion: false }] }]);
    const after = host([
      { name: "vSwitch0", uplinks: ["eth0"], mtu: 1500, portGroups: [{ name: "VM", vlan: 0 }], vmkernelPorts: [] },
      { name: "vSwitch1", uplinks: ["eth1"], mtu: 9000, portGroups: [{ name: "VMotion", vlan: 0 }], vmkernelPorts: [{ name: "vmk1", portGroup: "VMotion", ip: "198.19.0.1/16", mtu: 9000, vmotion: true }] },
    ]);
    assert.deepEqual(hostNetworkOps("a", before, after).map((o) => `${o.op} ${"name" in o ? o.name : ""}`), ["removeVmkernelPort vmk9", "removePortGroup Old", "addVSwitch vSwitch1", "setPortGroup VMotion", "setVmkernelPort vmk1"]);
    assert.deepEqual(hostNetworkOps("a", after, after), []);
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
