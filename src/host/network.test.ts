// The Linux host network on real links: a namespace stands for the host and the backend runs
// INSIDE it (every `ip` and `bridge` through `ip netns exec`, the probe too), as an agent runs on
// its host. A second namespace at the far end of the uplink (eth1 ↔ eth0) stands for the rest of
// the VM network: a machine on the same L2.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { FerryError, isFerryError } from "../core/errors.ts";
import { parseProbeAnswer, probeScript, tapName } from "../lab/host-network.ts";
import { LabNetwork, execRunner, teardown, type CommandRunner } from "../lab/netns.ts";
import type { NetworkOp } from "./network-config.ts";
import { createLinuxHostNetwork, type LinuxHostNetwork, type LinuxHostNetworkOptions } from "./network.ts";
import { vmkernelPeerName } from "./net/names.ts";
import type { Probe } from "./net/probe.ts";

const isRoot = process.getuid?.() === 0;
const rootSkip = isRoot ? false : "needs root to create network namespaces";

interface LinkJson {
  readonly ifname: string;
  readonly master?: string;
  readonly mtu: number;
  readonly flags: readonly string[];
  readonly ifalias?: string;
  readonly linkinfo?: { readonly info_kind?: string; readonly info_data?: { readonly type?: string } };
  readonly addr_info?: readonly { readonly family: string; readonly local: string; readonly prefixlen: number }[];
}
interface VlanJson {
  readonly ifname: string;
  readonly vlans: readonly { readonly vlan: number; readonly flags?: readonly string[] }[];
}

/** Whether this kernel's bridges filter VLANs (CONFIG_BRIDGE_VLAN_FILTERING), asked in a namespace of its own. */
async function kernelFiltersVlans(): Promise<boolean> {
  if (!isRoot) return false;
  const labId = `t${randomBytes(2).toString("hex")}`;
  const lab = new LabNetwork(labId);
  try {
    const ns = await lab.addNamespace("vlancheck");
    await execRunner("ip", ["-n", ns, "link", "add", "br-check", "type", "bridge", "vlan_filtering", "1"]);
    return true;
  } catch (error) {
    if (isFerryError(error) && error.message.includes("Operation not supported")) return false;
    throw error;
  } finally {
    await teardown(labId);
  }
}
const vlans = await kernelFiltersVlans();
const noVlanKernel = "this kernel was built without CONFIG_BRIDGE_VLAN_FILTERING (a bridge with vlan_filtering 1 answers Operation not supported); net/plan.test.ts and net/apply.test.ts check the VLAN commands and their undos instead";

interface TestHost {
  readonly host: string;
  readonly wire: string;
  readonly run: CommandRunner;
  readonly stateFile: string;
  network(options?: Partial<LinuxHostNetworkOptions>): LinuxHostNetwork;
  links(): Promise<Map<string, LinkJson>>;
  bridgeVlans(): Promise<Map<string, VlanJson["vlans"]>>;
}

/** The host namespace with NIC eth1 cabled to eth0 (198.18.0.11/16) in the wire namespace; all removed after the test. */
async function testHost(t: TestContext): Promise<TestHost> {
  const labId = `t${randomBytes(2).toString("hex")}`;
  const lab = new LabNetwork(labId);
  const dir = await mkdtemp(join(tmpdir(), "ferry-host-net-"));
  t.after(async () => {
    await teardown(labId);
    await rm(dir, { recursive: true, force: true });
  });
  const host = await lab.addNamespace("host");
  const wire = await lab.addNamespace("wire");
  await lab.addVeth({ name: "eth1", namespace: host }, { name: "eth0", namespace: wire });
  await lab.addAddress(wire, "eth0", "198.18.0.11/16");
  await lab.assertNoDefaultRoute(host);
  const run: CommandRunner = (file, args) => execRunner("ip", ["netns", "exec", host, file, ...args]);
  const probe: Probe = async (ip, port, timeoutMs, from) => {
    const output = await execRunner("ip", ["netns", "exec", host, process.execPath, "-e", probeScript, ip, String(port), String(timeoutMs), ...(from === undefined ? [] : [from])]);
    const answer = parseProbeAnswer(output);
    if (answer === undefined) throw new FerryError("IO", `the probe printed "${output}"`);
    return answer;
  };
  const stateFile = join(dir, "network.json");
  return {
    host,
    wire,
    run,
    stateFile,
    network: (options = {}) => createLinuxHostNetwork({ stateFile, run, probe, ...options }),
    links: async () => new Map((JSON.parse(await run("ip", ["-j", "-d", "addr", "show"])) as LinkJson[]).map((l) => [l.ifname, l])),
    bridgeVlans: async () => new Map((JSON.parse((await run("bridge", ["-j", "vlan", "show"])) || "[]") as VlanJson[]).map((p) => [p.ifname, p.vlans])),
  };
}

/**
 * What `ip -j link`, `ip -j -4 addr` and `bridge -j vlan` print: the host's network as a
 * whole. IPv4 only: the kernel's own IPv6 link-local addresses change by themselves (their
 * duplicate-address detection ends a moment after a link comes up), which is not a change
 * anyone made.
 */
async function snapshot(h: TestHost): Promise<string[]> {
  return [await h.run("ip", ["-j", "link", "show"]), await h.run("ip", ["-j", "-4", "addr", "show"]), await h.run("bridge", ["-j", "vlan", "show"])];
}

const ipv4 = (l: LinkJson | undefined): string[] => (l?.addr_info ?? []).filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`);
const up = (l: LinkJson | undefined): boolean => l?.flags.includes("UP") === true;

/** Refused with exactly `message`. */
async function refused(promise: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(promise, (e) => {
    assert.ok(isFerryError(e), String(e));
    assert.equal(e.message, message);
    assert.equal(e.code, "REFUSED");
    return true;
  });
}

/** A TCP server in the wire namespace at 198.18.0.11:7000 that prints each caller's address. */
async function listener(t: TestContext, wire: string): Promise<string[]> {
  const server = spawn("ip", ["netns", "exec", wire, process.execPath, "-e", "const s=require('net').createServer(c=>{console.log('peer '+c.remoteAddress);c.destroy()});s.listen(7000,'198.18.0.11',()=>console.log('listening'))"], { stdio: ["ignore", "pipe", "inherit"] });
  t.after(() => {
    if (server.exitCode === null) server.kill();
  });
  const lines: string[] = [];
  server.stdout.setEncoding("utf8");
  server.stdout.on("data", (chunk: string) => lines.push(...chunk.split("\n").filter((l) => l !== "")));
  await once(server.stdout, "data");
  assert.deepEqual(lines, ["listening"]);
  return lines;
}

describe("Linux host network, inside a namespace", () => {
  test("a vSwitch on a NIC, a port group, a VMkernel port and a tap; probes; a rename; then all removed in reverse", { skip: rootSkip, timeout: 30_000 }, async (t) => {
    const h = await testHost(t);
    const before = await h.links();
    const net = h.network();
    const k1 = vmkernelPeerName("vmk1");
    const done = await net.apply([
      { op: "addVSwitch", name: "vs0", uplinks: ["eth1"], mtu: 9000 },
      { op: "setPortGroup", name: "VM Network", vswitch: "vs0", vlan: 0 },
      { op: "setVmkernelPort", name: "vmk1", portGroup: "VM Network", ip: "198.18.255.1", prefix: 16, mtu: 8000, vmotion: true },
    ]);
    assert.ok(done.includes("uplink eth1 enslaved to vs0") && done.includes('port group "VM Network" on vs0, no VLAN'), done.join(" | "));
    const links = await h.links();
    assert.equal(links.get("vs0")?.linkinfo?.info_kind, "bridge");
    assert.deepEqual([links.get("vs0")?.mtu, up(links.get("vs0"))], [9000, true]);
    assert.deepEqual([links.get("eth1")?.master, links.get("eth1")?.mtu], ["vs0", 9000]);
    assert.deepEqual([links.get("vmk1")?.mtu, up(links.get("vmk1")), ipv4(links.get("vmk1"))], [8000, true, ["198.18.255.1/16"]]);
    assert.deepEqual([links.get(k1)?.ifalias, links.get(k1)?.master, links.get(k1)?.mtu, up(links.get(k1))], ["ferry:vmk1", "vs0", 9000, true]);
    const mapping = { portGroups: { "VM Network": { bridge: "vs0", vlan: 0 } }, vmkernelPorts: { vmk1: { interface: "vmk1", portGroup: "VM Network", vmotion: true } } };
    assert.deepEqual(net.mapping(), mapping);
    assert.deepEqual(JSON.parse(await readFile(h.stateFile, "utf8")), mapping);
    assert.equal((await stat(h.stateFile)).mode & 0o777, 0o600);

    const nic = { name: "nic0", portGroup: "VM Network", mac: "52:54:00:00:00:11", ip: "198.18.0.11" };
    const tap = await net.plug("guest01", nic, "src");
    assert.equal(tap, tapName("guest01", "nic0", "src"));
    const tapLink = (await h.links()).get(tap);
    assert.deepEqual([tapLink?.linkinfo?.info_kind, tapLink?.linkinfo?.info_data?.type, tapLink?.master, tapLink?.mtu, up(tapLink)], ["tun", "tap", "vs0", 9000, true]);

    // Across the bridge and the uplink to the wire namespace, from the VMkernel port's address.
    const lines = await listener(t, h.wire);
    assert.equal(await net.reachable("VM Network", "198.18.0.11", 3000), true);
    while (!lines.some((l) => l.startsWith("peer"))) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(lines.slice(1, 2), ["peer 198.18.255.1"]);
    assert.equal(await net.vmotionReachable?.("198.18.0.11", 3000), true);
    assert.equal(await net.reachable("VM Network", "198.18.0.12", 500), false, "nobody holds 198.18.0.12: silence until the timeout");

    await refused(net.apply([{ op: "removeVSwitch", name: "vs0" }]), 'removeVSwitch vs0: vSwitch vs0 still has port group "VM Network"; remove it first; nothing was changed.');
    await refused(net.apply([{ op: "addVSwitch", name: "vs1", uplinks: ["eth7"], mtu: 1500 }]), "addVSwitch vs1: uplink eth7 does not exist on this host (free NICs: none); nothing was changed.");
    await net.apply([{ op: "setPortGroup", name: "Backup", vswitch: "vs0", vlan: 0 }]);
    await refused(net.apply([{ op: "renamePortGroup", name: "Backup", to: "VM Network" }]), 'renamePortGroup "Backup" to "VM Network": port group "VM Network" already exists (names are case-sensitive); nothing was changed.');
    await net.apply([{ op: "renamePortGroup", name: "VM Network", to: "VM Net" }]);
    assert.deepEqual(net.mapping().vmkernelPorts["vmk1"]?.portGroup, "VM Net");
    await refused(net.apply([{ op: "removePortGroup", name: "VM Net" }]), `removePortGroup "VM Net": port group "VM Net" is in use by VMkernel port vmk1, VM NIC tap ${tap}; nothing was changed.`);
    assert.equal(await net.reachable("VM Net", "198.18.0.11", 3000), true, "the renamed port group still probes from vmk1");

    await net.unplug(tap);
    await net.unplug(tap);
    await net.apply([{ op: "removeVmkernelPort", name: "vmk1" }, { op: "removePortGroup", name: "VM Net" }, { op: "removePortGroup", name: "Backup" }, { op: "removeVSwitch", name: "vs0" }]);
    const after = await h.links();
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), "vs0, vmk1, its other end and the tap are gone");
    assert.equal(after.get("eth1")?.master, undefined);
    assert.deepEqual(JSON.parse(await readFile(h.stateFile, "utf8")), { portGroups: {}, vmkernelPorts: {} });
  });

  const failures: readonly { readonly fault: string; readonly ip: string; readonly failOn?: string; readonly code: string; readonly message: RegExp }[] = [
    { fault: "the VMkernel port's IP is on the host already", ip: "198.18.254.9", code: "REFUSED", message: /^setVmkernelPort vmk9: 198\.18\.254\.9 is already on lo on this host; nothing was changed\.$/ },
    { fault: "`ip addr add` fails", ip: "198.18.254.10", failOn: "addr add 198.18.254.10/16 dev vmk9", code: "IO", message: /^setVmkernelPort vmk9: `ip addr add 198\.18\.254\.10\/16 dev vmk9` failed: injected; nothing was changed\.$/ },
  ];
  for (const { fault, ip, failOn, code, message } of failures) {
    test(`a transaction whose third op fails (${fault}) leaves links, addresses, VLANs and the state file as they were`, { skip: rootSkip, timeout: 30_000 }, async (t) => {
      const h = await testHost(t);
      await h.run("ip", ["addr", "add", "198.18.254.9/32", "dev", "lo"]);
      const run: CommandRunner = (file, args) => (failOn !== undefined && args.join(" ") === failOn ? Promise.reject(new FerryError("IO", `\`${file} ${failOn}\` failed: injected`)) : h.run(file, args));
      const net = h.network({ run });
      await net.apply([{ op: "addVSwitch", name: "vsA", uplinks: [], mtu: 1500 }, { op: "setPortGroup", name: "Base", vswitch: "vsA", vlan: 0 }]);
      const state = await readFile(h.stateFile, "utf8");
      const mapping = net.mapping();
      const hostBefore = await snapshot(h);
      const ops: NetworkOp[] = [
        { op: "addVSwitch", name: "vs9", uplinks: ["eth1"], mtu: 9000 },
        { op: "setPortGroup", name: "Nine", vswitch: "vs9", vlan: vlans ? 100 : 0 },
        { op: "setVmkernelPort", name: "vmk9", portGroup: "Nine", ip, prefix: 16, mtu: 1500, vmotion: false },
      ];
      await assert.rejects(net.apply(ops), (e) => isFerryError(e) && e.code === code && message.test(e.message));
      assert.deepEqual(await snapshot(h), hostBefore);
      assert.equal(await readFile(h.stateFile, "utf8"), state);
      assert.deepEqual(net.mapping(), mapping);
    });
  }

  test("a VMkernel port the admin mapped to the bridge itself: its address set in place, given back with its routes when the transaction fails, taken off on removal", { skip: rootSkip, timeout: 30_000 }, async (t) => {
    const h = await testHost(t);
    const initial = { portGroups: { Management: { bridge: "vs0", vlan: 0 } }, vmkernelPorts: { vmk0: { interface: "vs0", portGroup: "Management", vmotion: false } } };
    const net = h.network({ initial });
    const vmk0 = { op: "setVmkernelPort", name: "vmk0", portGroup: "Management", prefix: 16, mtu: 1500, vmotion: false } as const;
    const done = await net.apply([{ op: "addVSwitch", name: "vs0", uplinks: ["eth1"], mtu: 1500 }, { ...vmk0, ip: "198.18.255.2" }]);
    assert.ok(done.includes("198.18.255.2/16 on vs0"), done.join(" | "));
    const links = await h.links();
    assert.deepEqual([ipv4(links.get("vs0")), links.has("vmk0")], [["198.18.255.2/16"], false]);
    // The admin's route through that address: a flush takes it, the undo must bring it back.
    await h.run("ip", ["route", "add", "198.19.128.0/24", "via", "198.18.0.11", "dev", "vs0", "proto", "static", "metric", "5"]);
    const routes = (): Promise<string> => h.run("ip", ["-4", "-j", "route", "show", "table", "main"]);
    const before = [...(await snapshot(h)), await routes()];
    await assert.rejects(net.apply([{ ...vmk0, ip: "198.18.255.3" }, { op: "removePortGroup", name: "Nope" }]), (e) => isFerryError(e) && e.code === "REFUSED");
    assert.deepEqual([...(await snapshot(h)), await routes()], before);
    assert.match(before[3] ?? "", /198\.19\.128\.0\/24/);

    const lines = await listener(t, h.wire);
    assert.equal(await net.reachable("Management", "198.18.0.11", 3000), true);
    while (!lines.some((l) => l.startsWith("peer"))) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(lines.slice(1, 2), ["peer 198.18.255.2"], "probed from the VMkernel port's address on the bridge");

    await net.apply([{ op: "removeVmkernelPort", name: "vmk0" }]);
    const after = await h.links();
    assert.deepEqual([after.get("vs0")?.linkinfo?.info_kind, ipv4(after.get("vs0"))], ["bridge", []]);
  });

  test("VLANs: the uplink carries the port group's VLAN tagged; the VMkernel end and the tap are access ports of it; a VLAN change re-tags them", { skip: isRoot ? (vlans ? false : noVlanKernel) : rootSkip, timeout: 30_000 }, async (t) => {
    const h = await testHost(t);
    const net = h.network();
    await net.apply([
      { op: "addVSwitch", name: "vs0", uplinks: ["eth1"], mtu: 1500 },
      { op: "setPortGroup", name: "VLAN 100", vswitch: "vs0", vlan: 100 },
      { op: "setVmkernelPort", name: "vmk2", portGroup: "VLAN 100", ip: "198.19.0.2", prefix: 16, mtu: 1500, vmotion: true },
    ]);
    const tap = await net.plug("guest01", { name: "nic0", portGroup: "VLAN 100", mac: "52:54:00:00:00:12", ip: "198.19.0.12" }, "src");
    const k2 = vmkernelPeerName("vmk2");
    const shown = async (): Promise<Record<string, string[]>> => {
      const byPort = await h.bridgeVlans();
      const words = (port: string): string[] => (byPort.get(port) ?? []).map((v) => [String(v.vlan), ...(v.flags ?? [])].join(" "));
      return { eth1: words("eth1"), [k2]: words(k2), [tap]: words(tap) };
    };
    assert.deepEqual(await shown(), { eth1: ["1 PVID Egress Untagged", "100"], [k2]: ["100 PVID Egress Untagged"], [tap]: ["100 PVID Egress Untagged"] });
    await net.apply([{ op: "setPortGroup", name: "VLAN 100", vswitch: "vs0", vlan: 200 }]);
    assert.deepEqual(await shown(), { eth1: ["1 PVID Egress Untagged", "100", "200"], [k2]: ["200 PVID Egress Untagged"], [tap]: ["200 PVID Egress Untagged"] });
  });

  test("a kernel without VLAN filtering: vSwitches and VLAN 0 port groups work, a VLAN port group is refused in words", { skip: isRoot ? (vlans ? "this kernel filters VLANs: the VLAN test runs instead" : false) : rootSkip, timeout: 30_000 }, async (t) => {
    const h = await testHost(t);
    const net = h.network();
    const done = await net.apply([{ op: "addVSwitch", name: "vs0", uplinks: ["eth1"], mtu: 1500 }]);
    assert.equal(done[0], "created bridge vs0 (vSwitch; this kernel cannot filter VLANs: VLAN 0 port groups only)");
    await refused(
      net.apply([{ op: "setPortGroup", name: "VLAN 100", vswitch: "vs0", vlan: 100 }]),
      'setPortGroup "VLAN 100": this host\'s kernel cannot filter VLANs on bridges (built without CONFIG_BRIDGE_VLAN_FILTERING), so port group "VLAN 100" cannot carry VLAN 100; use VLAN 0 or a kernel with VLAN filtering; nothing was changed.',
    );
    assert.equal((await h.links()).get("eth1")?.master, "vs0");
  });
});
