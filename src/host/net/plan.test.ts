// The planners without a host: refusals in their own words, and the commands (with their undos)
// each op would run. The VLAN commands are checked here too, since not every kernel that runs
// the namespace tests can filter VLANs.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { NetworkOpSchema, type HostNetworkMapping, type NetworkOp } from "../network-config.ts";
import { parseHostView, type HostLink, type HostView } from "./host-view.ts";
import { linkNameProblem, vmkernelPeerName } from "./names.ts";
import { planOp } from "./plan.ts";
import { bridgePortMac } from "./taps.ts";
import { commandText, type Plan, type PluggedTaps } from "./step.ts";

function link(name: string, extra: Partial<HostLink> = {}): HostLink {
  return { name, kind: undefined, master: undefined, peer: undefined, alias: undefined, mtu: 1500, up: true, bridge: undefined, ipv4: [], vlans: [], ...extra };
}

const k1 = vmkernelPeerName("vmk1");
const access = (vid: number) => [{ vid, pvid: true, untagged: true }];

/** A host with a management NIC, a free NIC, vSwitch vs0 (VLAN-capable) with uplink eth2, a VMkernel port on VLAN 200, a VM tap, and a bridge of a kernel without VLAN filtering. */
const host: HostView = {
  links: new Map(
    [
      link("lo", { mtu: 65536, ipv4: [{ ip: "127.0.0.1", prefix: 8 }] }),
      link("eth0", { ipv4: [{ ip: "198.18.200.5", prefix: 24 }] }),
      link("eth1"),
      link("eth2", { master: "vs0", mtu: 9000, vlans: [...access(1), { vid: 200, pvid: false, untagged: false }] }),
      link("vs0", { kind: "bridge", mtu: 9000, bridge: { vlanFiltering: true, defaultPvid: 1 }, vlans: access(1) }),
      link("vmk1", { kind: "veth", peer: k1, mtu: 9000, ipv4: [{ ip: "198.19.0.21", prefix: 16 }] }),
      link(k1, { kind: "veth", peer: "vmk1", alias: `ferry:vmk1`, master: "vs0", mtu: 9000, vlans: access(200) }),
      link("t1", { kind: "tun", master: "vs0", mtu: 9000, vlans: access(1) }),
      link("br-old", { kind: "bridge", bridge: { vlanFiltering: false, defaultPvid: undefined } }),
    ].map((l) => [l.name, l]),
  ),
  routes: [],
};

const mapping: HostNetworkMapping = {
  portGroups: { "VM Network": { bridge: "vs0", vlan: 0 }, VMotion: { bridge: "vs0", vlan: 200 }, Old: { bridge: "br-old", vlan: 0 } },
  vmkernelPorts: { vmk1: { interface: "vmk1", portGroup: "VMotion", vmotion: true } },
};
const plugged: PluggedTaps = new Map([["t1", "VM Network"]]);

const plan = (op: unknown): Plan => planOp(NetworkOpSchema.parse(op), { mapping, plugged, host });
const commands = (p: Plan): string[] => ("steps" in p ? p.steps.flatMap((s) => (s.run === undefined ? [] : [commandText(s.run)])) : [`refused: ${p.refusal}`]);

describe("network ops planned without ip", () => {
  const refusals: { readonly op: Record<string, unknown>; readonly says: RegExp }[] = [
    { op: { op: "addVSwitch", name: "vSwitch-größe1" }, says: /"vSwitch-größe1" is 16 bytes, longer than Linux's 15/ },
    { op: { op: "addVSwitch", name: "vs 1" }, says: /white space/ },
    { op: { op: "addVSwitch", name: "vs0" }, says: /a link named vs0 already exists/ },
    { op: { op: "addVSwitch", name: "vs1", uplinks: ["eth9"] }, says: /^uplink eth9 does not exist on this host \(free NICs: "eth0", "eth1"\)$/ },
    { op: { op: "addVSwitch", name: "vs1", uplinks: ["eth2"] }, says: /uplink eth2 is already enslaved to vs0/ },
    { op: { op: "addVSwitch", name: "vs1", uplinks: ["vmk1"] }, says: /vmk1 is VMkernel port vmk1, not a NIC/ },
    { op: { op: "addVSwitch", name: "vs1", uplinks: [k1] }, says: /is the other end of a VMkernel port/ },
    { op: { op: "addVSwitch", name: "vs1", uplinks: ["eth1", "eth1"] }, says: /eth1 is listed twice/ },
    { op: { op: "removeVSwitch", name: "vs0" }, says: /^vSwitch vs0 still has port groups "VM Network", "VMotion"; remove them first$/ },
    { op: { op: "removeVSwitch", name: "vs9" }, says: /no vSwitch vs9 \(vSwitches: "vs0", "br-old"\)/ },
    { op: { op: "setPortGroup", name: "Storage", vswitch: "vs9" }, says: /no vSwitch vs9/ },
    { op: { op: "setPortGroup", name: "Storage", vswitch: "br-old", vlan: 100 }, says: /kernel cannot filter VLANs .*CONFIG_BRIDGE_VLAN_FILTERING.* "Storage" cannot carry VLAN 100/ },
    { op: { op: "setPortGroup", name: "VM Network", vswitch: "br-old" }, says: /"VM Network" cannot move from vs0 to br-old while VM NIC tap t1 uses it/ },
    { op: { op: "renamePortGroup", name: "VM Network", to: "VMotion" }, says: /port group "VMotion" already exists \(names are case-sensitive\)/ },
    { op: { op: "renamePortGroup", name: "vm network", to: "X" }, says: /no port group "vm network" \(port groups: "VM Network", "VMotion", "Old"\)/ },
    { op: { op: "removePortGroup", name: "VMotion" }, says: /"VMotion" is in use by VMkernel port vmk1/ },
    { op: { op: "removePortGroup", name: "VM Network" }, says: /"VM Network" is in use by VM NIC tap t1/ },
    { op: { op: "removePortGroup", name: "toString" }, says: /no port group "toString"/ },
    { op: { op: "setVmkernelPort", name: "vmk2", portGroup: "VM Network", ip: "198.19.0.21", prefix: 16 }, says: /^198.19.0.21 is already on vmk1 on this host$/ },
    { op: { op: "setVmkernelPort", name: "vmk2", portGroup: "VM Network", ip: "198.19.0.22", prefix: 16, gateway: "198.20.0.1" }, says: /gateway 198.20.0.1 is outside 198.19.0.22\/16/ },
    { op: { op: "setVmkernelPort", name: "vmkernel-port-22", portGroup: "VM Network", ip: "198.19.0.22", prefix: 16 }, says: /longer than Linux's 15/ },
    { op: { op: "setVmkernelPort", name: "vmk2", portGroup: "vmotion", ip: "198.19.0.22", prefix: 16 }, says: /no port group "vmotion"/ },
    { op: { op: "setVmkernelPort", name: "vmk2", portGroup: "VM Network", ip: "198.19.0.22", prefix: 16, mtu: 9216 }, says: /MTU 9216 is larger than vSwitch vs0's 9000/ },
    { op: { op: "setVmkernelPort", name: "eth1", portGroup: "VM Network", ip: "198.19.0.22", prefix: 16 }, says: /a link named eth1 already exists on this host and is not one of Ferry's VMkernel ports/ },
    { op: { op: "removeVmkernelPort", name: "vmk9" }, says: /no VMkernel port vmk9 \(VMkernel ports: "vmk1"\)/ },
  ];
  for (const { op, says } of refusals) {
    test(`refuses ${JSON.stringify(op)}`, () => {
      const result = plan(op);
      assert.ok("refusal" in result, `planned ${commands(result).join(" | ")}`);
      assert.match(result.refusal, says);
    });
  }

  test("the schema refuses an address with an octet above 255 before anything is planned", () => {
    assert.equal(NetworkOpSchema.safeParse({ op: "setVmkernelPort", name: "vmk2", portGroup: "VM Network", ip: "198.19.0.300", prefix: 16 }).success, false);
  });

  test("a prefix outside 1..32 is refused even when the op did not come through the schema", () => {
    for (const prefix of [0, 33]) {
      const op = { op: "setVmkernelPort", name: "vmk2", portGroup: "VM Network", ip: "198.19.0.22", prefix, mtu: 1500, vmotion: false } as const satisfies NetworkOp;
      const result = planOp(op, { mapping, plugged, host });
      assert.ok("refusal" in result && result.refusal === `prefix /${prefix} is outside 1 to 32`);
    }
  });

  test("link names: at most 15 bytes, counted in bytes", () => {
    assert.equal(linkNameProblem("vmk1"), undefined);
    assert.equal(linkNameProblem("a".repeat(15)), undefined);
    assert.match(linkNameProblem("ä".repeat(8)) ?? "", /16 bytes/);
    assert.match(linkNameProblem("..") ?? "", /not a link name/);
    assert.match(linkNameProblem("a/b") ?? "", /"\/"/);
  });

  test("addVSwitch: a VLAN-filtering bridge, its MTU, the uplink at that MTU and enslaved, then up", () => {
    const result = plan({ op: "addVSwitch", name: "vs1", uplinks: ["eth1"], mtu: 9000 });
    assert.deepEqual(commands(result), [
      "ip link add vs1 type bridge vlan_filtering 1",
      "ip link set vs1 mtu 9000",
      "ip link set eth1 mtu 9000",
      "ip link set eth1 master vs1",
      "ip link set vs1 up",
    ]);
    assert.ok("steps" in result);
    assert.deepEqual(result.steps.map((s) => s.undo.map(commandText)), [["ip link delete vs1"], [], ["ip link set eth1 mtu 1500"], ["ip link set eth1 nomaster"], []]);
    assert.equal(result.steps[0]?.unsupported?.run.args.join(" "), "link add vs1 type bridge");
  });

  test("setPortGroup with a VLAN: the VLAN tagged on the uplinks that lack it; the mapping records it", () => {
    const result = plan({ op: "setPortGroup", name: "Storage", vswitch: "vs0", vlan: 300 });
    assert.deepEqual(commands(result), ["bridge vlan add dev eth2 vid 300"]);
    assert.ok("steps" in result);
    assert.deepEqual(result.steps[0]?.undo.map(commandText), ["bridge vlan del dev eth2 vid 300"]);
    assert.deepEqual(result.mapping.portGroups["Storage"], { bridge: "vs0", vlan: 300 });
    assert.deepEqual(commands(plan({ op: "setPortGroup", name: "Storage", vswitch: "vs0", vlan: 200 })), [], "VLAN 200 is on eth2 already");
  });

  test("changing a port group's VLAN moves its VMkernel end and taps; each undo puts the old PVID back first", () => {
    const result = plan({ op: "setPortGroup", name: "VMotion", vswitch: "vs0", vlan: 201 });
    assert.deepEqual(commands(result), ["bridge vlan add dev eth2 vid 201", `bridge vlan add dev ${k1} vid 201 pvid untagged`, `bridge vlan del dev ${k1} vid 200`]);
    assert.ok("steps" in result);
    assert.deepEqual(result.steps[1]?.undo.map(commandText), [`bridge vlan add dev ${k1} vid 200 pvid untagged`, `bridge vlan del dev ${k1} vid 201`]);
    assert.deepEqual(result.steps[2]?.undo.map(commandText), [`bridge vlan add dev ${k1} vid 200 pvid untagged`]);
    const untag = plan({ op: "setPortGroup", name: "VM Network", vswitch: "vs0", vlan: 100 });
    assert.deepEqual(commands(untag), ["bridge vlan add dev eth2 vid 100", "bridge vlan add dev t1 vid 100 pvid untagged", "bridge vlan del dev t1 vid 1"]);
  });

  test("setVmkernelPort on a VLAN port group: a veth whose bridge end is an access port of the VLAN; deleting the pair is the undo", () => {
    const k2 = vmkernelPeerName("vmk2");
    const result = plan({ op: "setVmkernelPort", name: "vmk2", portGroup: "VMotion", ip: "198.19.0.22", prefix: 16, mtu: 9000, gateway: "198.19.0.1", vmotion: true });
    assert.deepEqual(commands(result), [
      `ip link add vmk2 mtu 9000 type veth peer name ${k2} mtu 9000`,
      `ip link set ${k2} alias ferry:vmk2`,
      `ip link set ${k2} address fe:8a:4b:ea:0a:b0`,
      `ip link set ${k2} master vs0`,
      `bridge vlan add dev ${k2} vid 200 pvid untagged`,
      `bridge vlan del dev ${k2} vid 1`,
      `ip link set ${k2} up`,
      "ip addr add 198.19.0.22/16 dev vmk2",
      "ip link set vmk2 up",
    ]);
    assert.ok("steps" in result);
    assert.deepEqual(result.steps.flatMap((s) => s.undo.map(commandText)), ["ip link delete vmk2"]);
    assert.deepEqual(result.mapping.vmkernelPorts["vmk2"], { interface: "vmk2", portGroup: "VMotion", vmotion: true, gateway: "198.19.0.1" });
    assert.ok(result.steps.some((s) => s.does?.includes("gateway 198.19.0.1 recorded (not installed as a route)")));
  });

  test("setVmkernelPort on a port it has: only what differs (address, MTU); moving it to another VLAN makes the pair again", () => {
    assert.deepEqual(commands(plan({ op: "setVmkernelPort", name: "vmk1", portGroup: "VMotion", ip: "198.19.0.21", prefix: 16, mtu: 9000 })), []);
    assert.deepEqual(commands(plan({ op: "setVmkernelPort", name: "vmk1", portGroup: "VMotion", ip: "198.19.0.31", prefix: 24, mtu: 1500 })), [
      "ip -4 addr flush dev vmk1",
      "ip addr add 198.19.0.31/24 dev vmk1",
      "ip link set vmk1 mtu 1500",
    ]);
    const moved = plan({ op: "setVmkernelPort", name: "vmk1", portGroup: "VM Network", ip: "198.19.0.21", prefix: 16, mtu: 9000 });
    assert.deepEqual(commands(moved).slice(0, 2), ["ip link delete vmk1", `ip link add vmk1 mtu 9000 type veth peer name ${k1} mtu 9000`]);
    assert.ok("steps" in moved);
    assert.deepEqual(moved.steps[0]?.undo.map(commandText), [
      `ip link add vmk1 mtu 9000 type veth peer name ${k1} mtu 9000`,
      `ip link set ${k1} alias ferry:vmk1`,
      `ip link set ${k1} address fe:13:b3:d9:c0:fd`,
      `ip link set ${k1} master vs0`,
      `bridge vlan add dev ${k1} vid 200 pvid untagged`,
      `bridge vlan del dev ${k1} vid 1`,
      `ip link set ${k1} up`,
      "ip addr add 198.19.0.21/16 dev vmk1",
      "ip link set vmk1 up",
    ]);
  });

  test("renamePortGroup: names are case-sensitive; VMkernel ports and taps follow the new name", () => {
    const result = plan({ op: "renamePortGroup", name: "VMotion", to: "vMotion" });
    assert.ok("steps" in result);
    assert.deepEqual(commands(result), []);
    assert.deepEqual(Object.keys(result.mapping.portGroups), ["VM Network", "vMotion", "Old"]);
    assert.equal(result.mapping.vmkernelPorts["vmk1"]?.portGroup, "vMotion");
    const taps = plan({ op: "renamePortGroup", name: "VM Network", to: "VMs" });
    assert.ok("steps" in taps);
    assert.deepEqual([...(taps.plugged ?? [])], [["t1", "VMs"]]);
  });

  test("removeVmkernelPort: Ferry's veth is deleted (undo: made again); an admin's interface only loses its address, routes come back on undo", () => {
    const own = plan({ op: "removeVmkernelPort", name: "vmk1" });
    assert.deepEqual(commands(own), ["ip link delete vmk1"]);
    const admin: HostView = {
      links: new Map([...host.links, ["vs0", { ...link("vs0", { kind: "bridge", mtu: 9000, bridge: { vlanFiltering: true, defaultPvid: 1 } }), ipv4: [{ ip: "198.18.0.2", prefix: 24 }] }]]),
      routes: [
        { dst: "198.18.0.0/24", dev: "vs0", protocol: "kernel", scope: "link", prefsrc: "198.18.0.2" },
        { dst: "198.19.128.0/24", dev: "vs0", gateway: "198.18.0.1", protocol: "static", metric: 5 },
      ],
    };
    const adminMapping = { ...mapping, vmkernelPorts: { vmk0: { interface: "vs0", portGroup: "VM Network", vmotion: false } } };
    const result = planOp({ op: "removeVmkernelPort", name: "vmk0" }, { mapping: adminMapping, plugged, host: admin });
    assert.ok("steps" in result);
    assert.deepEqual(result.steps.map((s) => s.run && commandText(s.run)), ["ip -4 addr flush dev vs0"]);
    assert.deepEqual(result.steps[0]?.undo.map(commandText), [
      "ip -4 addr flush dev vs0",
      "ip addr add 198.18.0.2/24 dev vs0",
      "ip route replace 198.19.128.0/24 via 198.18.0.1 dev vs0 proto static metric 5",
    ]);
    assert.deepEqual(result.mapping.vmkernelPorts, {});
  });

  test("removeVSwitch: uplinks released (undo: enslaved again with their VLANs), the bridge deleted (undo: made again)", () => {
    const empty = { portGroups: {}, vmkernelPorts: {} };
    const bare: HostView = { links: new Map([...host.links].filter(([name]) => name !== "t1" && name !== k1)), routes: [] };
    const result = planOp({ op: "removeVSwitch", name: "vs0" }, { mapping: empty, plugged: new Map(), host: bare });
    assert.ok("steps" in result);
    assert.deepEqual(commands(result), ["ip link set eth2 nomaster", "ip link delete vs0"]);
    assert.deepEqual(result.steps[0]?.undo.map(commandText), ["ip link set eth2 master vs0", "bridge vlan add dev eth2 vid 1 pvid untagged", "bridge vlan add dev eth2 vid 200"]);
    assert.deepEqual(result.steps[1]?.undo.map(commandText), ["ip link add vs0 type bridge vlan_filtering 1", "ip link set vs0 mtu 9000", "bridge vlan add dev vs0 vid 1 pvid untagged self", "ip link set vs0 up"]);
    const withTap = planOp({ op: "removeVSwitch", name: "vs0" }, { mapping: empty, plugged: new Map(), host });
    assert.ok("refusal" in withTap && /still has VM NICs or VMkernel ends on it/.test(withTap.refusal));
  });

  test("reads bridge VLAN ranges and the bridge's VLAN capability from ip's and bridge's JSON", () => {
    const view = parseHostView(
      JSON.stringify([
        { ifname: "vs0", mtu: 1500, flags: ["UP"], linkinfo: { info_kind: "bridge", info_data: { vlan_filtering: 1, vlan_default_pvid: 1 } }, addr_info: [{ family: "inet", local: "198.18.0.2", prefixlen: 24 }, { family: "inet6", local: "fe80::1", prefixlen: 64 }] },
        { ifname: "br-old", mtu: 1500, flags: [], linkinfo: { info_kind: "bridge", info_data: { vlan_filtering: 0 } }, addr_info: [] },
        { ifname: "eth2", master: "vs0", mtu: 1500, flags: ["UP"], addr_info: [] },
      ]),
      JSON.stringify([{ ifname: "eth2", vlans: [{ vlan: 1, flags: ["PVID", "Egress Untagged"] }, { vlan: 200, vlanEnd: 202 }] }]),
      "",
    );
    assert.deepEqual(view.links.get("vs0")?.bridge, { vlanFiltering: true, defaultPvid: 1 });
    assert.deepEqual(view.links.get("vs0")?.ipv4, [{ ip: "198.18.0.2", prefix: 24, broadcast: undefined }]);
    assert.deepEqual(view.links.get("br-old")?.bridge, { vlanFiltering: false, defaultPvid: undefined });
    assert.deepEqual(view.links.get("eth2")?.vlans.map((v) => `${v.vid}${v.pvid ? "P" : ""}${v.untagged ? "U" : ""}`), ["1PU", "200", "201", "202"]);
  });
});

describe("bridge port MACs", () => {
  test("a VM NIC's tap takes the guest's MAC with its first byte fe (fa when that is fe): above any NIC's, never the bridge's", () => {
    assert.equal(bridgePortMac("52:54:00:12:00:0B"), "fe:54:00:12:00:0b");
    assert.equal(bridgePortMac("fe:54:00:12:00:0b"), "fa:54:00:12:00:0b");
  });
});
