import assert from "node:assert/strict";
import { test } from "node:test";
import { hostLoad, imbalance, minimumGain, overloaded, targetImbalance, TARGET_IMBALANCE } from "./imbalance.ts";
import { host, vm } from "./test-cluster.ts";

test("host load is the mean of the CPU and memory shares; overloaded when either passes 1", () => {
  const h = host("a", { cpuMhz: 1000, memoryMB: 1000 });
  const l = hostLoad(h, { cpuMhz: 800, memoryMB: 200 });
  assert.equal(l.cpu, 0.8);
  assert.equal(l.memory, 0.2);
  assert.equal(l.load, 0.5);
  assert.equal(overloaded(l), false);
  assert.equal(overloaded(hostLoad(h, { cpuMhz: 1100, memoryMB: 0 })), true);
  assert.equal(overloaded(hostLoad(h, { cpuMhz: 0, memoryMB: 1001 })), true);
});

test("σ is the population standard deviation over connected hosts outside maintenance; powered-off VMs demand nothing", () => {
  const hosts = [host("a", { cpuMhz: 1000, memoryMB: 1000 }), host("b", { cpuMhz: 1000, memoryMB: 1000 }), host("m", { maintenance: true }), host("d", { connected: false })];
  // a: load (0.6 + 0.2)/2 = 0.4, b: 0; σ = 0.2. The off VM, and hosts m and d, change nothing.
  const vms = [vm("x", "a", 600, 200), vm("off", "b", 900, 900, { power: "off" }), vm("y", "m", 5000, 5000), vm("z", "d", 5000, 5000)];
  assert.ok(Math.abs(imbalance({ hosts, vms }) - 0.2) < 1e-12);
  assert.equal(imbalance({ hosts: [hosts[0] ?? host("a")], vms }), 0);
});

test("thresholds: 1 allows no balance target a cluster can reach; the target falls as the threshold rises", () => {
  assert.equal(targetImbalance(1), 1);
  const ts = ([1, 2, 3, 4, 5] as const).map((t) => TARGET_IMBALANCE[t]);
  for (let i = 1; i < ts.length; i++) assert.ok((ts[i] ?? 0) < (ts[i - 1] ?? 0));
  assert.equal(minimumGain(0, 2), 0.002);
  assert.ok(Math.abs(minimumGain(0.5, 5) - 0.005) < 1e-12);
});
