// observeHost against a real host: a network namespace built like an ESX host's network
// (two NICs on two vSwitches, a management address on vSwitch0, a VMotion VMkernel port on
// vSwitch1), two datastores in temporary directories, and the machine's own QEMU. Every read
// goes through `ip netns exec`, which also remounts /sys for the namespace.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { initDatastore, type DatastoreIdentity } from "../../src/host/datastore.ts";
import { clearQemuFactsCache, observeHost, parseIpLinks, type ObservedHost, type ObserveHostOptions } from "../../src/host/facts/index.ts";
import { HostNetworkMappingSchema } from "../../src/host/network-config.ts";
import { execRunner, type CommandRunner } from "../../src/lab/netns.ts";

const id = randomBytes(2).toString("hex");
const HOST = `ferry-t${id}-host`;
/** The far ends of the NICs' cables, so that the NICs have a carrier. */
const WIRE = `ferry-t${id}-wire`;

const ip = (...args: string[]) => execRunner("ip", args);
const inHost = (...args: string[]) => ip("-n", HOST, ...args);
const run: CommandRunner = (file, args) => execRunner("ip", ["netns", "exec", HOST, file, ...args]);
const readText = (path: string) => run("cat", [path]);

const mapping = HostNetworkMappingSchema.parse({
  portGroups: {
    "VM Network": { bridge: "vSwitch0" },
    Production: { bridge: "vSwitch0", vlan: 20 },
    Management: { bridge: "vSwitch0" },
    VMotion: { bridge: "vSwitch1" },
  },
  vmkernelPorts: {
    vmk0: { interface: "vSwitch0", portGroup: "Management" },
    vmk1: { interface: "vmk1", portGroup: "VMotion", vmotion: true },
  },
});

async function buildHost(): Promise<void> {
  await ip("netns", "add", HOST);
  await ip("netns", "add", WIRE);
  await inHost("link", "set", "lo", "up");
  for (const [nic, bridge, far] of [["eth0", "vSwitch0", "p0"], ["eth1", "vSwitch1", "p1"]] as const) {
    await ip("link", "add", nic, "netns", HOST, "type", "veth", "peer", "name", far, "netns", WIRE);
    await ip("-n", WIRE, "link", "set", far, "up");
    await inHost("link", "add", bridge, "type", "bridge");
    await inHost("link", "set", nic, "master", bridge);
    await inHost("link", "set", nic, "up");
    await inHost("link", "set", bridge, "up");
  }
  await inHost("link", "add", "vmk1", "mtu", "9000", "type", "veth", "peer", "name", "vmk1-p", "mtu", "9000");
  await inHost("link", "set", "vmk1-p", "alias", "ferry:vmk1", "master", "vSwitch1", "up");
  await inHost("link", "set", "vmk1", "up");
  await inHost("addr", "add", "198.19.0.11/16", "dev", "vmk1");
  await inHost("addr", "add", "198.18.255.11/16", "dev", "vSwitch0");
}

/** Waits (polling ip, no fixed sleep) until Linux's link watcher has brought `link` to `state`. */
async function waitForOperstate(link: string, state: string): Promise<void> {
  for (let tries = 0; tries < 250; tries++) {
    const [shown] = parseIpLinks(await inHost("-j", "-d", "link", "show", link));
    if (shown?.operstate === state) return;
    await delay(20);
  }
  assert.fail(`${link} did not become ${state} within 5 s`);
}

function port(host: ObservedHost, name: string) {
  return host.vswitches.flatMap((v) => v.vmkernelPorts).find((p) => p.name === name);
}

describe("observeHost on a real host (a network namespace)", () => {
  let dir = "";
  const stores: DatastoreIdentity[] = [];
  let options: ObserveHostOptions;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ferry-observe-"));
    await buildHost();
    await waitForOperstate("eth0", "up");
    await waitForOperstate("eth1", "up");
    stores.push(await initDatastore(join(dir), "ds-gold"));
    const second = await mkdtemp(join(dir, "ds2-"));
    stores.push(await initDatastore(second, "ds-silver"));
    options = { name: "esx01", mapping, datastorePaths: [dir, second], accelerator: "tcg", run, readText };
  });

  after(async () => {
    for (const ns of [HOST, WIRE]) await ip("netns", "del", ns).catch(() => undefined);
    if (dir !== "") await rm(dir, { recursive: true, force: true });
    const left = await ip("netns", "list");
    assert.ok(!left.includes(`ferry-t${id}-`), `namespaces left behind: ${left}`);
  });

  test("NICs, vSwitches with uplinks, port groups with VLANs, VMkernel ports", async () => {
    const host = await observeHost(options);
    assert.equal(host.name, "esx01");
    assert.deepEqual(host.nics, [
      { name: "eth0", speedMbps: 10000 },
      { name: "eth1", speedMbps: 10000 },
    ]);
    assert.deepEqual(host.vswitches, [
      {
        name: "vSwitch0",
        uplinks: ["eth0"],
        mtu: 1500,
        portGroups: [
          { name: "VM Network", vlan: 0 },
          { name: "Production", vlan: 20 },
          { name: "Management", vlan: 0 },
        ],
        vmkernelPorts: [{ name: "vmk0", portGroup: "Management", ip: "198.18.255.11/16", mtu: 1500, vmotion: false }],
      },
      {
        name: "vSwitch1",
        uplinks: ["eth1"],
        mtu: 1500,
        portGroups: [{ name: "VMotion", vlan: 0 }],
        vmkernelPorts: [{ name: "vmk1", portGroup: "VMotion", ip: "198.19.0.11/16", mtu: 9000, vmotion: true }],
      },
    ]);
    assert.deepEqual(host.problems, []);
  });

  test("CPU, memory, datastores and the hypervisor are the machine's own", async () => {
    const host = await observeHost(options);
    assert.ok(host.cpu.flags.length > 0 && host.cpu.cores >= 1, "the CPU is read from /proc/cpuinfo");
    assert.ok(host.memoryMB > 0);
    assert.deepEqual(
      host.datastores.map((d) => [d.name, d.uuid]),
      stores.map((s) => [s.name, s.uuid]),
    );
    assert.deepEqual(host.datastoreProblems, []);
    assert.ok(host.hypervisor, `QEMU must be installed for this test: apt-get install qemu-system-x86 (${host.problems.join(" ")})`);
    assert.match(host.hypervisor.version, /^\d+\.\d+\.\d+$/);
    assert.ok(host.hypervisor.machineTypes.includes("pc") && host.hypervisor.machineTypes.includes("q35"));
    assert.ok(host.hypervisor.cpuModels.includes("qemu64") && !host.hypervisor.cpuModels.includes("host"), "TCG runs no `host` model");
    assert.equal(host.hypervisor.accelerator, "tcg");
  });

  test("a QEMU binary that is not there: no hypervisor, and a sentence saying so", async () => {
    const host = await observeHost({ ...options, qemuBinary: join(dir, "qemu-system-x86_64") });
    assert.equal(host.hypervisor, undefined);
    assert.deepEqual(host.problems, [`${join(dir, "qemu-system-x86_64")} does not exist: is QEMU installed there?`]);
  });

  test("20 warm refreshes report the same facts; their median time is reported", async (t) => {
    clearQemuFactsCache();
    const cold = await observeHost(options);
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const warm = await observeHost(options);
      times.push(warm.observedInMs);
      // The clock read from `cpu MHz` lines moves with frequency scaling (no "@ GHz" model name).
      assert.deepEqual({ ...warm, observedInMs: 0, cpu: { ...warm.cpu, mhz: 1 } }, { ...cold, observedInMs: 0, cpu: { ...cold.cpu, mhz: 1 } });
    }
    times.sort((a, b) => a - b);
    t.diagnostic(`observeHost through ip netns exec: cold ${cold.observedInMs} ms; warm median ${times[10]} ms (min ${times[0]}, max ${times[19]})`);
  });

  // Last: these change the host.
  test("vmk1 loses its address: the port is left out with a sentence", async () => {
    await inHost("addr", "del", "198.19.0.11/16", "dev", "vmk1");
    const host = await observeHost(options);
    assert.equal(port(host, "vmk1"), undefined);
    assert.ok(port(host, "vmk0"), "vmk0 stays");
    assert.deepEqual(host.problems, ["VMkernel port vmk1 is left out: its interface vmk1 has no IPv4 address."]);
  });

  test("eth1 goes down: its speed is 0 and it stays vSwitch1's uplink", async () => {
    await inHost("link", "set", "eth1", "down");
    await waitForOperstate("eth1", "down");
    const host = await observeHost(options);
    assert.deepEqual(host.nics, [
      { name: "eth0", speedMbps: 10000 },
      { name: "eth1", speedMbps: 0 },
    ]);
    assert.deepEqual(host.vswitches[1]?.uplinks, ["eth1"]);
  });

  test("a datastore's directory renamed: a problem with the reason, the other one stays", async () => {
    const [, second] = options.datastorePaths;
    assert.ok(second);
    await rename(second, `${second}-moved`);
    const host = await observeHost(options);
    assert.deepEqual(host.datastores.map((d) => d.name), ["ds-gold"]);
    assert.deepEqual(host.datastoreProblems, [{ path: second, reason: `${second} does not exist (is the share mounted?).` }]);
  });
});
