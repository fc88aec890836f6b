// The transaction and the state file with a fake `ip`: a VLAN-capable host described in ip's own
// JSON, commands recorded, one failing by rule. (The namespace tests in ../network.test.ts run
// the real commands; this one also covers the VLAN undos on kernels that cannot filter VLANs.)
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { FerryError, isFerryError } from "../../core/errors.ts";
import type { CommandRunner } from "../../lab/netns.ts";
import { createLinuxHostNetwork } from "../network.ts";
import { vmkernelPeerName } from "./names.ts";

const addrJson = JSON.stringify([
  { ifname: "lo", mtu: 65536, flags: ["LOOPBACK", "UP"], addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8 }] },
  { ifname: "eth2", master: "vs0", mtu: 9000, flags: ["UP"], linkinfo: { info_kind: "veth", info_slave_kind: "bridge" }, addr_info: [] },
  { ifname: "vs0", mtu: 9000, flags: ["UP"], linkinfo: { info_kind: "bridge", info_data: { vlan_filtering: 0, vlan_default_pvid: 1 } }, addr_info: [{ family: "inet", local: "198.18.0.2", prefixlen: 24 }] },
]);
const vlanJson = JSON.stringify([{ ifname: "eth2", vlans: [{ vlan: 1, flags: ["PVID", "Egress Untagged"] }] }]);

/** A host that never changes as far as reads go; records every other command and fails the first matching `failOn`. */
function fakeHost(failOn?: string): { run: CommandRunner; changes: string[] } {
  const changes: string[] = [];
  const run: CommandRunner = (file, args) => {
    const joined = [file, ...args].join(" ");
    if (joined === "ip -j -d addr show") return Promise.resolve(addrJson);
    if (joined === "bridge -j vlan show") return Promise.resolve(vlanJson);
    if (joined.startsWith("ip -4 -j route show")) return Promise.resolve("[]");
    changes.push(joined);
    if (failOn !== undefined && joined === failOn) {
      return Promise.reject(new FerryError("IO", `\`${joined}\` failed: RTNETLINK answers: File exists`, { details: { stderr: "RTNETLINK answers: File exists" } }));
    }
    return Promise.resolve("");
  };
  return { run, changes };
}

const dir = await mkdtemp(join(tmpdir(), "ferry-host-net-"));
after(async () => {
  await rm(dir, { recursive: true, force: true });
});
let files = 0;
const stateFile = (): string => join(dir, `state-${++files}.json`);

const storage = { op: "setPortGroup", name: "Storage", vswitch: "vs0", vlan: 300 } as const;
const vmk2 = { op: "setVmkernelPort", name: "vmk2", portGroup: "Storage", ip: "198.19.0.22", prefix: 16, mtu: 1500, vmotion: true } as const;

describe("host network transaction (fake ip)", () => {
  test("a failing command undoes every earlier step, newest first, and the state file is not written", async () => {
    const { run, changes } = fakeHost("ip addr add 198.19.0.22/16 dev vmk2");
    const file = stateFile();
    const net = createLinuxHostNetwork({ stateFile: file, run });
    const k2 = vmkernelPeerName("vmk2");
    await assert.rejects(net.apply([storage, vmk2]), (e) => {
      assert.ok(isFerryError(e) && e.code === "IO");
      assert.equal(e.message, "setVmkernelPort vmk2: `ip addr add 198.19.0.22/16 dev vmk2` failed: RTNETLINK answers: File exists; nothing was changed.");
      return true;
    });
    assert.deepEqual(changes, [
      "ip link set vs0 type bridge vlan_filtering 1",
      "bridge vlan add dev eth2 vid 300",
      `ip link add vmk2 mtu 1500 type veth peer name ${k2} mtu 9000`,
      `ip link set ${k2} alias ferry:vmk2`,
      `ip link set ${k2} address fe:8a:4b:ea:0a:b0`,
      `ip link set ${k2} master vs0`,
      `bridge vlan add dev ${k2} vid 300 pvid untagged`,
      `bridge vlan del dev ${k2} vid 1`,
      `ip link set ${k2} up`,
      "ip addr add 198.19.0.22/16 dev vmk2",
      // the undos
      "ip link delete vmk2",
      "bridge vlan del dev eth2 vid 300",
      "ip link set vs0 type bridge vlan_filtering 0",
    ]);
    await assert.rejects(stat(file), /ENOENT/);
    assert.deepEqual(net.mapping(), { portGroups: {}, vmkernelPorts: {} });
  });

  test("a refusal after steps that ran undoes them too and says REFUSED", async () => {
    const { run, changes } = fakeHost();
    const net = createLinuxHostNetwork({ stateFile: stateFile(), run });
    await assert.rejects(net.apply([storage, { ...vmk2, ip: "198.18.0.2", prefix: 24 }]), (e) => {
      assert.ok(isFerryError(e) && e.code === "REFUSED");
      assert.equal(e.message, "setVmkernelPort vmk2: 198.18.0.2 is already on vs0 on this host; nothing was changed.");
      return true;
    });
    assert.deepEqual(changes, ["ip link set vs0 type bridge vlan_filtering 1", "bridge vlan add dev eth2 vid 300", "bridge vlan del dev eth2 vid 300", "ip link set vs0 type bridge vlan_filtering 0"]);
  });

  test("an undo that fails too is said: the host may be half-changed", async () => {
    const { run } = fakeHost("bridge vlan del dev eth2 vid 300");
    const net = createLinuxHostNetwork({ stateFile: stateFile(), run });
    await assert.rejects(net.apply([storage, { op: "removePortGroup", name: "Nope" }]), (e) => {
      assert.ok(isFerryError(e) && e.code === "IO");
      assert.match(e.message, /^removePortGroup "Nope": this host has no port group "Nope" .*; undoing the steps before it failed too \(`bridge vlan del dev eth2 vid 300` failed: .*\), so the host may be half-changed\.$/);
      return true;
    });
  });

  test("success writes the mapping to the state file (0600) and a new backend loads it; the steps come back in words", async () => {
    const { run } = fakeHost();
    const file = stateFile();
    const net = createLinuxHostNetwork({ stateFile: file, run, initial: { portGroups: { "VM Network": { bridge: "vs0", vlan: 0 } }, vmkernelPorts: {} } });
    const done = await net.apply([storage, { op: "renamePortGroup", name: "VM Network", to: "VMs" }]);
    assert.deepEqual(done, ["VLAN filtering on for vs0", "VLAN 300 tagged on uplink eth2", 'port group "Storage" on vs0, VLAN 300', 'renamed port group "VM Network" to "VMs"']);
    const expected = { portGroups: { VMs: { bridge: "vs0", vlan: 0 }, Storage: { bridge: "vs0", vlan: 300 } }, vmkernelPorts: {} };
    assert.deepEqual(JSON.parse(await readFile(file, "utf8")), expected);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(createLinuxHostNetwork({ stateFile: file, run, initial: { portGroups: {}, vmkernelPorts: {} } }).mapping(), expected);
  });

  test("a corrupt state file is one clear INVALID_INPUT sentence naming the file", async () => {
    const { run } = fakeHost();
    const notJson = stateFile();
    await writeFile(notJson, "{ portGroups: ");
    assert.throws(() => createLinuxHostNetwork({ stateFile: notJson, run }), (e) => isFerryError(e) && e.code === "INVALID_INPUT" && e.message.startsWith(`The network state file ${notJson} is not JSON`));
    const wrong = stateFile();
    await writeFile(wrong, JSON.stringify({ portGroups: { A: { bridge: "vs0", vlan: 5000 } } }));
    assert.throws(() => createLinuxHostNetwork({ stateFile: wrong, run }), (e) => isFerryError(e) && e.code === "INVALID_INPUT" && e.message.includes("is not a network mapping at portGroups.A.vlan"));
  });

  test("a kernel without VLAN filtering: the bridge is made plain, and the words say so", async () => {
    const { run, changes } = fakeHost();
    const unsupported: CommandRunner = (file, args) =>
      args.includes("vlan_filtering") && args.includes("add")
        ? Promise.reject(new FerryError("IO", "`ip link add` failed: RTNETLINK answers: Operation not supported", { details: { stderr: "RTNETLINK answers: Operation not supported" } }))
        : run(file, args);
    const net = createLinuxHostNetwork({ stateFile: stateFile(), run: unsupported });
    const done = await net.apply([{ op: "addVSwitch", name: "vs1", uplinks: [], mtu: 1500 }]);
    assert.equal(done[0], "created bridge vs1 (vSwitch; this kernel cannot filter VLANs: VLAN 0 port groups only)");
    assert.equal(changes[0], "ip link add vs1 type bridge");
  });

  test("plug refuses a port group the host does not have, naming the ones it has; reachable refuses a bad IP", async () => {
    const { run, changes } = fakeHost();
    const net = createLinuxHostNetwork({ stateFile: stateFile(), run, initial: { portGroups: { "VM Network": { bridge: "vs0", vlan: 0 } }, vmkernelPorts: {} }, probe: () => Promise.resolve("open") });
    const nic = { name: "nic0", portGroup: "vm network", mac: "52:54:00:00:00:11", ip: "198.18.0.11" };
    await assert.rejects(net.plug("guest01", nic, "src"), (e) => isFerryError(e) && e.code === "INVALID_INPUT" && e.message === 'This host has no port group "vm network" for NIC nic0 of guest01 (port groups: "VM Network").');
    await assert.rejects(net.reachable("VM Network", "198.18.0.11; rm -rf /", 500), (e) => isFerryError(e) && e.code === "INVALID_INPUT");
    assert.deepEqual(changes, []);
    assert.equal(await net.reachable("VM Network", "198.18.0.11", 500), true);
  });
});
