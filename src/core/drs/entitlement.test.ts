import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { divideByShares, entitle, poolShares, type DrsPool } from "./entitlement.ts";
import { vm } from "./test-cluster.ts";

function pool(name: string, cpuLimit: number | undefined, over: Partial<DrsPool> = {}): DrsPool {
  return { name, cpu: { limit: cpuLimit, shares: poolShares("cpu", "normal") }, memory: { shares: poolShares("memory", "normal") }, ...over };
}

const cpuOf = (vms: ReturnType<typeof entitle>["vms"]) => Object.fromEntries(vms.map((v) => [v.name, v.demand.cpuMhz]));

test("without a limit every VM is entitled to its demand", () => {
  const vms = [vm("a", "h1", 2000, 1000), vm("b", "h1", 3000, 1000)];
  const r = entitle(vms, [pool("Dev", undefined)], new Map([["a", "Dev"]]));
  assert.deepEqual(cpuOf(r.vms), { a: 2000, b: 3000 });
  assert.deepEqual(r.limited, []);
});

test("a pool's limit holds its VMs' combined demand, divided by their shares, and says which pool", () => {
  const vms = [vm("a", "h1", 4000, 1000, { vcpus: 4 }), vm("b", "h1", 4000, 1000, { vcpus: 1 }), vm("outside", "h2", 4000, 1000)];
  const r = entitle(vms, [pool("Dev", 2500)], new Map([["a", "Dev"], ["b", "Dev"]]));
  assert.deepEqual(cpuOf(r.vms), { a: 2000, b: 500, outside: 4000 }, "4 vCPUs weigh 4000 shares against 1000");
  assert.deepEqual(r.limited.map((l) => [l.vm, l.resource, l.pool, l.demand, l.entitlement]), [["a", "cpu", "Dev", 4000, 2000], ["b", "cpu", "Dev", 4000, 500]]);
});

test("what one VM does not use goes to the others (water-filling)", () => {
  const vms = [vm("small", "h1", 200, 1000), vm("big", "h1", 4000, 1000)];
  const r = entitle(vms, [pool("Dev", 2000)], new Map([["small", "Dev"], ["big", "Dev"]]));
  assert.deepEqual(cpuOf(r.vms), { small: 200, big: 1800 });
});

test("a parent's limit is divided among child pools by their shares; the parent is named", () => {
  const vms = [vm("a", "h1", 3000, 1000), vm("b", "h1", 3000, 1000)];
  const pools = [pool("Parent", 3000), pool("Gold", undefined, { parent: "Parent", cpu: { shares: poolShares("cpu", "high") } }), pool("Bronze", undefined, { parent: "Parent" })];
  const r = entitle(vms, pools, new Map([["a", "Gold"], ["b", "Bronze"]]));
  assert.deepEqual(cpuOf(r.vms), { a: 2000, b: 1000 });
  assert.deepEqual(r.limited.map((l) => l.pool), ["Parent", "Parent"]);
});

test("a reservation is a floor; a powered-off VM demands nothing", () => {
  const vms = [vm("reserved", "h1", 3000, 1000, { reservation: { cpuMhz: 1500, memoryMB: 0 } }), vm("other", "h1", 3000, 1000), vm("off", "h1", 3000, 1000, { power: "off" })];
  const r = entitle(vms, [pool("Dev", 2000)], new Map([["reserved", "Dev"], ["other", "Dev"], ["off", "Dev"]]));
  assert.deepEqual(cpuOf(r.vms), { reserved: 1500, other: 1000, off: 3000 }, "off keeps its record; the balancer counts no demand for it");
});

test("memory limits hold memory the same way", () => {
  const vms = [vm("a", "h1", 100, 4000), vm("b", "h1", 100, 4000)];
  const r = entitle(vms, [pool("Dev", undefined, { memory: { limit: 4000, shares: poolShares("memory", "normal") } })], new Map([["a", "Dev"], ["b", "Dev"]]));
  assert.deepEqual(r.vms.map((v) => v.demand.memoryMB), [2000, 2000]);
  assert.deepEqual(r.limited.map((l) => l.resource), ["memory", "memory"]);
});

test("property: water-filling never grants more than asked or than the cap, and uses the cap when demand exceeds it", () => {
  const claimant = fc.record({ weight: fc.integer({ min: 1, max: 10_000 }), want: fc.integer({ min: 0, max: 10_000 }) });
  fc.assert(
    fc.property(fc.array(claimant, { maxLength: 12 }), fc.integer({ min: 0, max: 50_000 }), (claimants, cap) => {
      const grants = divideByShares(claimants, cap);
      const total = grants.reduce((s, g) => s + g, 0);
      const wanted = claimants.reduce((s, c) => s + c.want, 0);
      grants.forEach((g, i) => { assert.ok(g <= (claimants[i]?.want ?? 0) + 1e-6 && g >= 0); });
      assert.ok(total <= cap + 1e-6);
      assert.ok(Math.abs(total - Math.min(cap, wanted)) < 1e-6, `granted ${total} of ${Math.min(cap, wanted)}`);
    }),
  );
});

test("property: a limited pool's VMs are entitled to at most its limit (reservations aside), none to more than its demand", () => {
  const demand = fc.integer({ min: 0, max: 8000 });
  fc.assert(
    fc.property(fc.array(fc.tuple(demand, fc.integer({ min: 1, max: 8 }), fc.boolean()), { minLength: 1, maxLength: 10 }), fc.integer({ min: 100, max: 20_000 }), (specs, limit) => {
      const vms = specs.map(([cpu, vcpus], i) => vm(`v${i}`, "h1", cpu, 1000, { vcpus }));
      const poolOf = new Map<string, string>(specs.flatMap(([, , inPool], i) => (inPool ? [[`v${i}`, "Dev"] as const] : [])));
      const r = entitle(vms, [pool("Dev", limit)], poolOf);
      const inPool = r.vms.filter((v) => poolOf.has(v.name)).reduce((s, v) => s + v.demand.cpuMhz, 0);
      assert.ok(inPool <= limit + 1e-6, `${inPool} > ${limit}`);
      r.vms.forEach((v, i) => { assert.ok(v.demand.cpuMhz <= (vms[i]?.demand.cpuMhz ?? 0) + 1e-6); });
    }),
  );
});
