// Property tests: random clusters, rules and compatibility; whatever the balancer recommends
// keeps compatibility, capacity, reservations and mandatory rules, and lowers σ or fixes a
// rule; re-planning a steady cluster never moves a VM back; evacuation never targets the
// host itself or a host in maintenance.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { planEvacuation } from "./evacuate.ts";
import { HYSTERESIS_MS, imbalance } from "./imbalance.ts";
import { recommend } from "./recommend.ts";
import { applyMoves, cluster } from "./test-cluster.ts";
import type { DrsHost, DrsInput, DrsRule, DrsThreshold, DrsVm } from "./types.ts";

const hostArb = fc.record({
  cpuMhz: fc.integer({ min: 2000, max: 40_000 }),
  memoryMB: fc.integer({ min: 8192, max: 131_072 }),
  maintenance: fc.constantFrom(false, false, false, true),
  connected: fc.constantFrom(true, true, true, true, false),
});

const vmArb = fc.record({
  host: fc.nat(),
  power: fc.constantFrom("on", "on", "on", "on", "off", "suspended"),
  cpu: fc.integer({ min: 0, max: 8000 }),
  mem: fc.integer({ min: 256, max: 32_768 }),
  resCpu: fc.constantFrom(0, 0, 500, 2000),
  resMemShare: fc.constantFrom(0, 0, 0.5, 1),
  pinned: fc.constantFrom(false, false, false, false, false, true),
  manual: fc.constantFrom(false, false, false, false, false, true),
});

const ruleArb = fc.record({
  kind: fc.constantFrom("vm-affinity", "vm-anti-affinity", "vm-host"),
  vms: fc.uniqueArray(fc.nat({ max: 19 }), { minLength: 1, maxLength: 4 }),
  hosts: fc.uniqueArray(fc.nat({ max: 7 }), { minLength: 1, maxLength: 3 }),
  mandatory: fc.boolean(),
  affine: fc.boolean(),
});

const clusterArb = fc.record({
  hosts: fc.array(hostArb, { minLength: 2, maxLength: 8 }),
  vms: fc.array(vmArb, { minLength: 0, maxLength: 20 }),
  rules: fc.array(ruleArb, { maxLength: 4 }),
  incompatible: fc.integer({ min: 0, max: 2 ** 30 }),
  threshold: fc.constantFrom<DrsThreshold>(1, 2, 3, 4, 5),
  maxMovesPerRun: fc.integer({ min: 1, max: 12 }),
  maxMovesPerHost: fc.integer({ min: 1, max: 4 }),
});

type ClusterCase = typeof clusterArb extends fc.Arbitrary<infer T> ? T : never;

/** A cluster from a case: about one pair in seven (VM, host) incompatible, by a hash of the seed. */
function build(c: ClusterCase): DrsInput {
  const hosts: DrsHost[] = c.hosts.map((h, i) => ({ name: `h${i}`, cpuMhz: h.cpuMhz, memoryMB: h.memoryMB, maintenance: h.maintenance, connected: h.connected }));
  const vms: DrsVm[] = c.vms.map((v, i) => ({
    name: `v${i}`,
    host: `h${v.host % hosts.length}`,
    power: v.power,
    vcpus: 2,
    memoryMB: v.mem,
    demand: { cpuMhz: v.cpu, memoryMB: v.mem },
    reservation: { cpuMhz: v.resCpu, memoryMB: Math.round(v.mem * v.resMemShare) },
    ...(v.pinned ? { pinned: "CPU affinity" } : {}),
    ...(v.manual ? { automation: "manual" as const } : {}),
  }));
  const rules: DrsRule[] = c.rules.map((r, i) =>
    r.kind === "vm-host"
      ? { kind: r.kind, name: `r${i}`, vms: r.vms.map((x) => `v${x}`), hosts: r.hosts.map((x) => `h${x % hosts.length}`), mandatory: r.mandatory, affine: r.affine, enabled: true }
      : { kind: r.kind, name: `r${i}`, vms: r.vms.map((x) => `v${x}`), enabled: true },
  );
  const compatible = (vm: DrsVm, h: DrsHost) => ((Math.imul(c.incompatible ^ (vm.name.length * 7919), 31) + vm.name.charCodeAt(1) * 13 + h.name.charCodeAt(1) * 17) % 7 === 0 ? { ok: false as const, reason: "CPU lacks avx2" } : { ok: true as const });
  return cluster({ hosts, vms, rules, compatible, config: { threshold: c.threshold, maxMovesPerRun: c.maxMovesPerRun, maxMovesPerHost: c.maxMovesPerHost } });
}

/** Whether each enabled mandatory rule holds (VM–VM over powered-on members; VM–host per VM). */
function mandatoryHolds(input: DrsInput, vms: readonly DrsVm[]): Map<string, boolean> {
  const byName = new Map(vms.map((v) => [v.name, v]));
  const out = new Map<string, boolean>();
  for (const rule of input.rules) {
    if (rule.kind === "vm-host") {
      if (!rule.mandatory) continue;
      for (const name of rule.vms) {
        const v = byName.get(name);
        if (v !== undefined) out.set(`${rule.name}/${name}`, v.power !== "on" || rule.hosts.includes(v.host) === rule.affine);
      }
      continue;
    }
    const hosts = [...new Set(rule.vms)].map((n) => byName.get(n)).filter((v) => v?.power === "on").map((v) => v?.host);
    out.set(rule.name, rule.kind === "vm-affinity" ? new Set(hosts).size <= 1 : new Set(hosts).size === hosts.length);
  }
  return out;
}

function assertCapacity(input: DrsInput, vms: readonly DrsVm[], targets: ReadonlySet<string>): void {
  for (const h of input.hosts.filter((x) => targets.has(x.name))) {
    const on = vms.filter((v) => v.host === h.name && v.power === "on");
    const held = on.reduce((s, v) => s + Math.max(v.demand.memoryMB, v.reservation.memoryMB), 0);
    const reserved = on.reduce((s, v) => s + v.reservation.cpuMhz, 0);
    const cpu = on.reduce((s, v) => s + v.demand.cpuMhz, 0);
    assert.ok(held <= h.memoryMB && reserved <= h.cpuMhz && cpu <= h.cpuMhz, `${h.name} over capacity after the run`);
  }
}

test("no recommendation breaks compatibility, capacity, reservations or a mandatory rule; each run lowers σ or fixes something", () => {
  fc.assert(
    fc.property(clusterArb, (c) => {
      const input = build(c);
      const result = recommend(input);
      const byName = new Map(input.vms.map((v) => [v.name, v]));
      const hosts = new Map(input.hosts.map((h) => [h.name, h]));
      assert.ok(result.recommendations.length <= c.maxMovesPerRun);
      for (const m of result.recommendations) {
        const vm = byName.get(m.vm);
        const to = hosts.get(m.to);
        assert.ok(vm !== undefined && to !== undefined);
        assert.ok(vm.power === "on" && vm.pinned === undefined && vm.automation !== "manual", `${m.vm} may not move`);
        assert.ok(to.connected && !to.maintenance && m.to !== m.from);
        assert.ok(input.compatible(vm, to).ok, `${m.vm} → ${m.to} incompatible`);
        if (m.reason.kind === "balance") assert.ok(m.gain.imbalanceAfter < m.gain.imbalanceBefore);
        if (c.threshold === 1) assert.ok(m.reason.kind === "rule" || m.reason.kind === "maintenance");
      }
      const after = applyMoves(input.vms, result.recommendations);
      assertCapacity(input, after, new Set(result.recommendations.map((m) => m.to)));
      const before = mandatoryHolds(input, input.vms);
      const now = mandatoryHolds(input, after);
      for (const [rule, held] of before) if (held) assert.equal(now.get(rule), true, `${rule} broken by the run`);
      assert.ok(Math.abs(imbalance({ hosts: input.hosts, vms: after }) - result.imbalanceAfter) < 1e-9);
      const fixes = result.recommendations.some((m) => m.reason.kind !== "balance");
      if (result.recommendations.length > 0 && !fixes) assert.ok(result.imbalanceAfter < result.imbalance);
      const moved = new Set(result.recommendations.map((m) => m.vm));
      for (const u of result.unmovable) assert.ok(!moved.has(u.vm) && u.reason.length > 0);
    }),
    { numRuns: 400 },
  );
});

// A VM may return to a host it left once the situation changed and the hysteresis window has
// passed (a host overloaded on CPU and memory sends one VM away for each; once both left, one
// may come back when it balances the cluster). Oscillation is coming back within the window,
// or going back and forth: returning to the same host twice.
test("a steady cluster re-planned 20 times after applying each run never moves a VM back within the window, nor back and forth", () => {
  fc.assert(
    fc.property(clusterArb, (c) => {
      let input = build(c);
      const leftAt = new Map<string, number>();
      const returns = new Map<string, number>();
      for (let run = 0; run < 20; run++) {
        const result = recommend(input);
        for (const m of result.recommendations) {
          const at = leftAt.get(`${m.vm}@${m.to}`);
          if (at !== undefined) {
            assert.ok(input.now - at > HYSTERESIS_MS, `run ${run}: ${m.vm} moved back to ${m.to} within the window`);
            returns.set(`${m.vm}@${m.to}`, (returns.get(`${m.vm}@${m.to}`) ?? 0) + 1);
            assert.ok((returns.get(`${m.vm}@${m.to}`) ?? 0) < 2, `run ${run}: ${m.vm} goes back and forth to ${m.to}`);
          }
          leftAt.set(`${m.vm}@${m.from}`, input.now);
        }
        const now = input.now + 5 * 60_000;
        input = { ...input, vms: applyMoves(input.vms, result.recommendations), now, recentMoves: [...input.recentMoves, ...result.recommendations.map((m) => ({ vm: m.vm, from: m.from, to: m.to, at: input.now }))] };
      }
    }),
    { numRuns: 150 },
  );
});

test("an evacuation plan never targets the host itself nor a host in maintenance, and accounts for every VM of the host", () => {
  fc.assert(
    fc.property(clusterArb, fc.nat(), fc.integer({ min: 1, max: 4 }), (c, pick, concurrency) => {
      const input = build(c);
      const host = input.hosts[pick % input.hosts.length]?.name ?? "h0";
      const plan = planEvacuation(input, host, concurrency);
      const hosts = new Map(input.hosts.map((h) => [h.name, h]));
      for (const m of plan.moves) {
        const to = hosts.get(m.to);
        assert.ok(to !== undefined && m.to !== host && !to.maintenance && to.connected, `${m.vm} → ${m.to}`);
        const vm = input.vms.find((v) => v.name === m.vm);
        assert.ok(vm !== undefined && input.compatible(vm, to).ok);
      }
      const on = input.vms.filter((v) => v.host === host && v.power === "on").map((v) => v.name);
      const off = input.vms.filter((v) => v.host === host && v.power !== "on").map((v) => v.name);
      assert.deepEqual([...plan.moves.map((m) => m.vm), ...plan.blocked.map((b) => b.vm)].sort(), on.sort());
      assert.deepEqual([...plan.powerOff].sort(), off.sort());
      assert.ok(plan.etaMs <= plan.moves.reduce((s, m) => s + m.cost.totalMs, 0));
      const after = applyMoves(input.vms, plan.moves);
      assertCapacity(input, after, new Set(plan.moves.map((m) => m.to)));
    }),
    { numRuns: 300 },
  );
});
