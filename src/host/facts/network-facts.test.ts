import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { HostNetworkMappingSchema, type HostNetworkMapping } from "../network-config.ts";
import { fixture } from "./fixtures/fixtures.ts";
import { parseIpAddrs } from "./ip-addr.ts";
import { parseIpLinks } from "./ip-link.ts";
import { parseIpRouteGateways } from "./ip-route.ts";
import { assembleNetwork, selectNicLinks, type NetworkReadings } from "./network-facts.ts";

/** The captured namespace (fixtures/fixtures.ts); eth1 is down, so only eth0's speed was read. */
function readings(speeds: Record<string, string> = { eth0: "10000\n" }): NetworkReadings {
  return {
    links: parseIpLinks(fixture("ip-link-ns.json")),
    addresses: parseIpAddrs(fixture("ip-addr-ns.json")),
    gateways: parseIpRouteGateways(fixture("ip-route-ns.json")),
    speeds: new Map(Object.entries(speeds)),
  };
}

function mapping(extra: { portGroups?: object; vmkernelPorts?: object } = {}): HostNetworkMapping {
  return HostNetworkMappingSchema.parse({
    portGroups: {
      "VM Network": { bridge: "vSwitch0" },
      Production: { bridge: "vSwitch0", vlan: 20 },
      Management: { bridge: "vSwitch0" },
      VMotion: { bridge: "vSwitch1" },
      ...extra.portGroups,
    },
    vmkernelPorts: {
      vmk0: { interface: "vSwitch0", portGroup: "Management" },
      vmk1: { interface: "vmk1", portGroup: "VMotion", vmotion: true },
      ...extra.vmkernelPorts,
    },
  });
}

describe("a host's NICs and vSwitches from its links and the agent's mapping", () => {
  test("the captured namespace, in the inventory's words", () => {
    assert.deepEqual(assembleNetwork(readings(), mapping()), {
      nics: [
        { name: "eth0", speedMbps: 10000 },
        { name: "eth1", speedMbps: 0 },
      ],
      vswitches: [
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
          vmkernelPorts: [{ name: "vmk1", portGroup: "VMotion", ip: "198.19.0.11/16", mtu: 9000, vmotion: true, gateway: "198.19.0.1" }],
        },
      ],
      problems: [],
    });
  });

  test("not NICs: lo, bridges, the tap, Ferry's own veth end, and a VMkernel port's interface", () => {
    const names = selectNicLinks(readings().links, mapping()).nics.map((l) => l.name);
    assert.deepEqual(names, ["eth0", "eth1"]);
    const unmapped = selectNicLinks(readings().links, HostNetworkMappingSchema.parse({})).nics.map((l) => l.name);
    assert.deepEqual(unmapped, ["eth0", "eth1", "vmk1"], "without the mapping vmk1 is just a veth");
  });

  test("the root namespace: its physical eth0 is a NIC, ifb0/ifb1 are not", () => {
    const links = parseIpLinks(fixture("ip-link-root.json"));
    assert.deepEqual(selectNicLinks(links, mapping()).nics.map((l) => l.name), ["eth0"]);
  });

  test("named NICs are exactly those; a named one that is missing is a problem", () => {
    const facts = assembleNetwork(readings(), mapping(), ["eth1", "eth9"]);
    assert.deepEqual(facts.nics, [{ name: "eth1", speedMbps: 0 }]);
    assert.deepEqual(facts.vswitches.map((v) => v.uplinks), [[], ["eth1"]]);
    assert.deepEqual(facts.problems, ["NIC eth9 is named in the configuration but does not exist on this host."]);
  });

  test("an up NIC whose speed cannot be read counts 0 and says so", () => {
    const facts = assembleNetwork(readings({ eth0: "-1\n" }), mapping());
    assert.deepEqual(facts.nics[0], { name: "eth0", speedMbps: 0 });
    assert.deepEqual(facts.problems, ["NIC eth0 is up but its driver reports no link speed; it counts as 0 Mb/s."]);
    assert.equal(assembleNetwork(readings({}), mapping()).nics[0]?.speedMbps, 0);
  });

  test("the mapping's gateway is the one reported, over the routing table's", () => {
    const facts = assembleNetwork(readings(), mapping({ vmkernelPorts: { vmk1: { interface: "vmk1", portGroup: "VMotion", vmotion: true, gateway: "198.19.255.254" } } }));
    assert.equal(facts.vswitches[1]?.vmkernelPorts[0]?.gateway, "198.19.255.254");
  });

  const leftOut: [string, { portGroups?: object; vmkernelPorts?: object }, string[]][] = [
    ["a port group on a bridge that does not exist", { portGroups: { Lost: { bridge: "vSwitch9" } } }, ['Port group "Lost" is left out: its bridge vSwitch9 does not exist on this host.']],
    ["a port group on a link that is no bridge", { portGroups: { Odd: { bridge: "eth0" } } }, ['Port group "Odd" is left out: its bridge eth0 is not a bridge.']],
    [
      "a VMkernel port on a left-out port group",
      { portGroups: { Lost: { bridge: "vSwitch9" } }, vmkernelPorts: { vmk2: { interface: "vmk1", portGroup: "Lost" } } },
      ['Port group "Lost" is left out: its bridge vSwitch9 does not exist on this host.', 'VMkernel port vmk2 is left out: its port group "Lost" is left out.'],
    ],
    ["a VMkernel port on a port group the mapping lacks", { vmkernelPorts: { vmk2: { interface: "vmk1", portGroup: "constructor" } } }, ['VMkernel port vmk2 is left out: its port group "constructor" is not in the mapping.']],
    ["a VMkernel port whose interface is missing", { vmkernelPorts: { vmk2: { interface: "vmk2", portGroup: "VMotion" } } }, ["VMkernel port vmk2 is left out: its interface vmk2 does not exist."]],
    ["a VMkernel port without an IPv4 address", { vmkernelPorts: { vmk2: { interface: "vSwitch1", portGroup: "VMotion" } } }, ["VMkernel port vmk2 is left out: its interface vSwitch1 has no IPv4 address."]],
  ];
  for (const [what, extra, problems] of leftOut) {
    test(`left out with a sentence: ${what}`, () => {
      const facts = assembleNetwork(readings(), mapping(extra));
      assert.deepEqual(facts.problems, problems);
      const ports = facts.vswitches.flatMap((v) => v.vmkernelPorts.map((p) => p.name));
      assert.deepEqual(ports, ["vmk0", "vmk1"], "the sound ports stay");
      assert.deepEqual(facts.vswitches.flatMap((v) => v.portGroups.map((g) => g.name)), ["VM Network", "Production", "Management", "VMotion"]);
    });
  }
});
