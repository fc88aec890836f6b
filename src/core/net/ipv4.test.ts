import { test } from "node:test";
import assert from "node:assert/strict";
import { inSubnet, ipv4ToNumber, parseCidr, subnetText } from "./ipv4.ts";

test("parses addresses and rejects malformed ones", () => {
  assert.equal(ipv4ToNumber("198.19.0.1"), 198 * 2 ** 24 + 19 * 2 ** 16 + 1);
  assert.equal(ipv4ToNumber("255.255.255.255"), 2 ** 32 - 1);
  for (const bad of ["198.19.0", "198.19.0.256", "a.b.c.d", "1.2.3.4.5", ""]) assert.equal(ipv4ToNumber(bad), undefined, bad);
  assert.equal(parseCidr("198.19.0.1/33"), undefined);
  assert.equal(parseCidr("198.19.0.1"), undefined);
});

test("subnet membership is seen from the first interface's prefix", () => {
  const a = parseCidr("198.19.1.10/24")!;
  assert.equal(inSubnet(a, ipv4ToNumber("198.19.1.200")!), true);
  assert.equal(inSubnet(a, ipv4ToNumber("198.19.2.10")!), false);
  const wide = parseCidr("198.19.1.10/16")!;
  assert.equal(inSubnet(wide, ipv4ToNumber("198.19.2.10")!), true);
  assert.equal(subnetText(a), "198.19.1.0/24");
  assert.equal(subnetText(parseCidr("255.255.255.255/1")!), "128.0.0.0/1");
  assert.equal(inSubnet(parseCidr("198.18.0.1/0")!, 1), true);
});
