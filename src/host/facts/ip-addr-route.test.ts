import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fixture } from "./fixtures/fixtures.ts";
import { formatCidr, parseIpAddrs } from "./ip-addr.ts";
import { parseIpRouteGateways } from "./ip-route.ts";

describe("ip -j addr show", () => {
  test("each interface's IPv4 addresses with prefixes; IPv6 and address-less links give none", () => {
    const addrs = parseIpAddrs(fixture("ip-addr-ns.json"));
    assert.deepEqual(addrs.get("vmk1"), [{ address: "198.19.0.11", prefix: 16 }]);
    assert.deepEqual(addrs.get("vSwitch0"), [{ address: "198.18.255.11", prefix: 16 }]);
    assert.deepEqual(addrs.get("lo"), [{ address: "127.0.0.1", prefix: 8 }]);
    assert.deepEqual(addrs.get("eth0"), [], "eth0 has only its IPv6 link-local address");
    assert.equal(addrs.get("nothere"), undefined);
  });

  test("primary first, then secondaries, as ip prints them; an empty output is no interface", () => {
    const text = JSON.stringify([
      {
        ifname: "vmk2",
        addr_info: [
          { family: "inet", local: "198.19.0.12", prefixlen: 16 },
          { family: "inet", local: "198.19.0.13", prefixlen: 16, secondary: true },
          { family: "inet6", local: "fe80::1", prefixlen: 64 },
        ],
      },
      { ifname: "tap0" },
    ]);
    const addrs = parseIpAddrs(text);
    assert.deepEqual(addrs.get("vmk2")?.map(formatCidr), ["198.19.0.12/16", "198.19.0.13/16"]);
    assert.deepEqual(addrs.get("tap0"), []);
    assert.equal(parseIpAddrs("").size, 0);
  });
});

describe("ip -j route show", () => {
  test("a `via` route gives its interface a gateway; on-link routes give none", () => {
    const gateways = parseIpRouteGateways(fixture("ip-route-ns.json"));
    assert.deepEqual([...gateways], [["vmk1", "198.19.0.1"]]);
  });

  test("the default route's gateway (this machine's root namespace)", () => {
    assert.deepEqual([...parseIpRouteGateways(fixture("ip-route-root.json"))], [["eth0", "192.0.2.1"]]);
  });

  test("on one interface the default route's gateway wins over an earlier `via` route", () => {
    const text = JSON.stringify([
      { dst: "198.19.128.0/24", gateway: "198.19.0.2", dev: "vmk1", flags: [] },
      { dst: "198.19.129.0/24", gateway: "198.19.0.3", dev: "vmk1", flags: [] },
      { dst: "default", gateway: "198.19.0.1", dev: "vmk1", flags: [] },
      { dst: "198.18.128.0/24", gateway: "198.18.0.2", dev: "vSwitch0", flags: [] },
      { dst: "198.18.0.0/16", dev: "vSwitch0", protocol: "kernel", scope: "link", flags: [] },
      { type: "blackhole", dst: "198.18.9.0/24", flags: [] },
    ]);
    assert.deepEqual(Object.fromEntries(parseIpRouteGateways(text)), { vmk1: "198.19.0.1", vSwitch0: "198.18.0.2" });
  });
});
