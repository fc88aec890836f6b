import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isFerryError } from "../../core/errors.ts";
import { fixture } from "./fixtures/fixtures.ts";
import { LinkKind, Operstate, parseIpLinks, toOperstate, type Link } from "./ip-link.ts";

function byName(links: readonly Link[], name: string): Link {
  const link = links.find((l) => l.name === name);
  assert.ok(link, `${name} is among the links`);
  return link;
}

// This test machine's kernel has no 8021q module, so a VLAN sub-interface could not be
// captured; this one follows iproute2 6.1's print_opt of the vlan link type.
const vlanLink = JSON.stringify([
  {
    ifindex: 9,
    link: "eth0",
    ifname: "eth0.20",
    flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
    mtu: 1500,
    operstate: "UP",
    linkinfo: { info_kind: "vlan", info_data: { protocol: "802.1Q", id: 20, flags: ["REORDER_HDR"] } },
  },
]);

describe("ip -j -d link show", () => {
  const links = parseIpLinks(fixture("ip-link-ns.json"));

  test("reads every link of the namespace in ifindex order", () => {
    assert.deepEqual(
      links.map((l) => [l.ifindex, l.name, l.kind]),
      [
        [1, "lo", LinkKind.physical],
        [2, "eth0", LinkKind.veth],
        [3, "eth1", LinkKind.veth],
        [4, "vSwitch0", LinkKind.bridge],
        [5, "vSwitch1", LinkKind.bridge],
        [6, "vmk1-p", LinkKind.veth],
        [7, "vmk1", LinkKind.veth],
        [8, "tap0", LinkKind.tuntap],
      ],
    );
  });

  test("a veth NIC: its bridge, state, MTU, and its peer in another namespace by ifindex", () => {
    assert.deepEqual(byName(links, "eth0"), {
      name: "eth0",
      ifindex: 2,
      kind: LinkKind.veth,
      infoKind: "veth",
      master: "vSwitch0",
      operstate: Operstate.up,
      mtu: 1500,
      alias: undefined,
      vlanId: undefined,
      lower: undefined,
      peer: { name: undefined, ifindex: 2, inOtherNamespace: true },
    });
    assert.equal(byName(links, "eth1").operstate, Operstate.down, "its peer is down: NO-CARRIER");
  });

  test("a VMkernel veth: its end on the bridge carries Ferry's alias and names its peer", () => {
    const end = byName(links, "vmk1-p");
    assert.equal(end.alias, "ferry:vmk1");
    assert.equal(end.master, "vSwitch1");
    assert.deepEqual(end.peer, { name: "vmk1", ifindex: undefined, inOtherNamespace: false });
    assert.equal(byName(links, "vmk1").mtu, 9000);
    assert.equal(byName(links, "vmk1").master, undefined);
  });

  test("a tap enslaved to a bridge; lo's state is UNKNOWN", () => {
    assert.equal(byName(links, "tap0").master, "vSwitch0");
    assert.equal(byName(links, "tap0").infoKind, "tun");
    assert.equal(byName(links, "lo").operstate, Operstate.unknown);
  });

  test("the root namespace: a physical NIC has no linkinfo; ifb is some other kind", () => {
    const root = parseIpLinks(fixture("ip-link-root.json"));
    assert.equal(byName(root, "eth0").kind, LinkKind.physical);
    assert.equal(byName(root, "eth0").peer, undefined);
    assert.equal(byName(root, "ifb0").kind, LinkKind.other);
    assert.equal(byName(root, "ifb0").infoKind, "ifb");
  });

  test("a VLAN sub-interface: its VLAN ID and the link it sits on", () => {
    const [vlan] = parseIpLinks(vlanLink);
    assert.equal(vlan?.kind, LinkKind.vlan);
    assert.equal(vlan.vlanId, 20);
    assert.equal(vlan.lower, "eth0");
    assert.equal(vlan.peer, undefined);
  });

  test("edge cases: no output, a peer ip cannot name, an empty alias, an unknown state", () => {
    assert.deepEqual(parseIpLinks(""), []);
    const [odd] = parseIpLinks(JSON.stringify([{ ifindex: 4, ifname: "v0", link: null, mtu: 1500, operstate: "LOWERLAYERDOWN", ifalias: "", linkinfo: { info_kind: "veth" } }]));
    assert.deepEqual(odd?.peer, { name: undefined, ifindex: undefined, inOtherNamespace: false });
    assert.equal(odd.alias, undefined);
    assert.equal(odd.operstate, Operstate.lowerLayerDown);
    assert.equal(toOperstate("BOGUS"), Operstate.unknown);
    assert.equal(toOperstate("up\n"), Operstate.up);
  });

  test("text that is not ip's JSON is one INVALID_INPUT sentence", () => {
    for (const [text, message] of [
      ["1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536", /did not print JSON/],
      ['[{"ifindex":"one","ifname":"lo","mtu":1}]', /does not understand at 0\.ifindex/],
      ['{"ifindex":1}', /does not understand/],
    ] as const) {
      assert.throws(() => parseIpLinks(text), (e) => isFerryError(e) && e.code === "INVALID_INPUT" && message.test(e.message));
    }
  });
});
