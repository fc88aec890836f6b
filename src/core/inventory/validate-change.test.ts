// An edit validated by what it changed must get the verdict the whole inventory's validation
// (schema and every reference) gives: random edit sequences, both ways, compared step by step.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { generateInventory } from "../lab/generate.ts";
import { deepFreeze, openDraft, own } from "./draft.ts";
import { findHost, findVm, moveVm, setDeviceConnected } from "./edits.ts";
import { indexInventory, reindex, type InventoryIndex } from "./index.ts";
import { checkReferences } from "./references.ts";
import { InventorySchema, type Inventory } from "./schema.ts";
import { macOwners, updateMacOwners, validateChange } from "./validate-change.ts";

/** The old way: the whole inventory through the schema and the reference check. */
function wholeVerdict(candidate: unknown): Inventory | undefined {
  const parsed = InventorySchema.safeParse(candidate);
  if (!parsed.success) return undefined;
  return checkReferences(parsed.data).length === 0 ? parsed.data : undefined;
}

interface Step {
  readonly op: number;
  readonly a: number;
  readonly b: number;
}

const pick = <T>(items: readonly T[], n: number): T | undefined => (items.length === 0 ? undefined : items[n % items.length]);
const at = (items: readonly unknown[], n: number): number => (items.length === 0 ? -1 : n % items.length);

/** Edits that keep or break the inventory, written as the edit helpers write (own copies only). */
const EDITS: readonly ((d: Inventory, a: number, b: number) => void)[] = [
  (d, a, b) => { const vm = pick(d.vms, a); const host = pick(d.hosts, b); if (vm !== undefined && host !== undefined) moveVm(d, vm.name, host.name, vm.pool); },
  (d, a, b) => { const vm = pick(d.vms, a); const host = pick(d.hosts, b); if (vm !== undefined && host !== undefined) moveVm(d, vm.name, host.name, undefined); },
  (d, a) => { const i = at(d.vms, a); if (i >= 0) d.vms.splice(i, 1); },
  (d, a) => { const i = at(d.hosts, a); if (i >= 0) d.hosts = d.hosts.filter((_, j) => j !== i); },
  (d, a) => { const i = at(d.datastores, a); if (i >= 0) d.datastores.splice(i, 1); },
  (d, a) => { const i = at(d.resourcePools, a); if (i >= 0) d.resourcePools.splice(i, 1); },
  (d, a) => { const i = at(d.clusters, a); if (i >= 0) d.clusters.splice(i, 1); },
  (d, a) => { const i = at(d.templates, a); if (i >= 0) d.templates.splice(i, 1); },
  (d, a, b) => { const i = at(d.vms, a); const other = pick(d.vms, b); if (i >= 0 && other?.nics[0] !== undefined) { const vm = own(d.vms, i); const nic = vm.nics[0]; if (nic !== undefined) nic.mac = other.nics[0].mac; } },
  (d, a, b) => { const i = at(d.vms, a); const other = pick(d.vms, b); if (i >= 0 && other !== undefined) own(d.vms, i).name = other.name; },
  (d, a, b) => { const vm = pick(d.vms, a); if (vm !== undefined) d.vms.push({ ...structuredClone(vm), name: `copy-${a}-${b}`, nics: [] }); },
  (d, a, b) => { const vm = pick(d.vms, a); if (vm !== undefined) d.vms.push({ ...structuredClone(vm), name: `clash-${b}` }); },
  (d, a, b) => { const host = pick(d.hosts, a); const cluster = pick(d.clusters, b); if (host !== undefined) findHost(d, host.name).cluster = b % 5 === 0 ? "nowhere" : cluster?.name; },
  (d, a, b) => { const vm = pick(d.vms, a); const pool = pick(d.resourcePools, b); if (vm !== undefined) findVm(d, vm.name).pool = b % 4 === 0 ? undefined : pool?.name; },
  (d, a) => { const vm = pick(d.vms, a); if (vm !== undefined) findVm(d, vm.name).memoryMB = a % 3 === 0 ? -1 : 2048; },
  (d, a) => { const host = pick(d.hosts, a); if (host !== undefined) { const h = findHost(d, host.name); h.vswitches = h.vswitches.map((v) => ({ ...v, portGroups: v.portGroups.slice(1) })); } },
  (d, a) => { const host = pick(d.hosts, a); if (host !== undefined) { const h = findHost(d, host.name); h.datastores = h.datastores.slice(1); } },
  (d, a, b) => { const host = pick(d.hosts, a); const ds = pick(d.datastores, b); if (host !== undefined && ds !== undefined) findHost(d, host.name).datastores.push(ds.name); },
  (d, a) => { const i = at(d.datastores, a); if (i >= 0) { const ds = own(d.datastores, i); ds.shared = !ds.shared; } },
  (d, a) => { const vm = pick(d.vms, a); const device = vm?.devices[0]; if (vm !== undefined && device !== undefined) setDeviceConnected(d, vm.name, device.name, !device.connected); },
  (d, a) => { const i = at(d.hosts, a); const other = pick(d.hosts, a + 1); if (i >= 0 && other !== undefined) own(d.hosts, i).name = other.name; },
  (d, a) => { const vm = pick(d.vms, a); if (vm !== undefined) findVm(d, vm.name).template = a % 2 === 0 ? "no-such-template" : (d.templates[0]?.name ?? "none"); },
  (d) => { d.datacenter = d.datacenter === "Datacenter" ? "DC2" : "bad/name"; },
];

function indexEqual(a: InventoryIndex, b: InventoryIndex): void {
  for (const key of ["vms", "templates", "datastores", "clusters", "pools"] as const) {
    assert.deepEqual([...a[key].keys()].sort(), [...b[key].keys()].sort(), key);
    for (const [name, value] of b[key]) assert.equal(JSON.stringify(a[key].get(name)), JSON.stringify(value), `${key} ${name}`);
  }
  assert.deepEqual([...a.hosts.keys()].sort(), [...b.hosts.keys()].sort(), "hosts");
  for (const [name, view] of b.hosts) {
    const mine = a.hosts.get(name);
    assert.equal(JSON.stringify(mine?.host), JSON.stringify(view.host), `host ${name}`);
    assert.equal(JSON.stringify(mine?.cluster), JSON.stringify(view.cluster), `host ${name}'s cluster`);
  }
  for (const [host, vms] of b.vmsByHost) assert.deepEqual(a.vmsByHost.get(host)?.map((vm) => vm.name), vms.map((vm) => vm.name));
}

describe("an edit validated by what it changed", () => {
  test("gives the whole inventory's verdict and result, step after step, and never changes the snapshot it started from", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 50 }), fc.array(fc.record({ op: fc.nat(EDITS.length - 1), a: fc.nat(1000), b: fc.nat(1000) }), { minLength: 1, maxLength: 12 }), (seed, steps: Step[]) => {
        let index = indexInventory(deepFreeze(InventorySchema.parse(generateInventory({ hosts: 5, vms: 24, seed }))));
        const macs = macOwners(index.inventory);
        for (const step of steps) {
          const edit = EDITS[step.op];
          if (edit === undefined) continue;
          const before = JSON.stringify(index.inventory);
          const plain = structuredClone<Inventory>(index.inventory);
          edit(plain, step.a, step.b);
          const expected = wholeVerdict(plain);
          const draft = openDraft(index.inventory);
          edit(draft, step.a, step.b);
          const verdict = validateChange(index, macs, draft);
          assert.equal(JSON.stringify(index.inventory), before, "the snapshot did not change under the edit");
          assert.equal(verdict.ok, expected !== undefined, `edit ${step.op}: ${verdict.ok ? "accepted" : JSON.stringify(verdict)} where the whole check ${expected === undefined ? "refuses" : "accepts"}`);
          if (!verdict.ok || expected === undefined) continue;
          assert.equal(JSON.stringify(verdict.inventory), JSON.stringify(expected), "the same inventory");
          const next = reindex(index, deepFreeze(verdict.inventory), verdict.changes);
          indexEqual(next, indexInventory(expected));
          updateMacOwners(macs, index, verdict.changes);
          assert.deepEqual([...macs.entries()].sort(), [...macOwners(expected).entries()].sort(), "the MAC owners follow");
          index = next;
        }
      }),
      { numRuns: 150 },
    );
  });

  test("a refused edit names the problem as the whole check does", () => {
    const index = indexInventory(deepFreeze(generateInventory({ hosts: 3, vms: 6, seed: 3 })));
    const draft = openDraft(index.inventory);
    const vm = draft.vms[0];
    assert.ok(vm !== undefined);
    findVm(draft, vm.name).host = "esx-nowhere";
    const verdict = validateChange(index, macOwners(index.inventory), draft);
    assert.equal(verdict.ok, false);
    assert.deepEqual(verdict.referenceIssues.map((i) => i.message), [`VM ${vm.name} is on host "esx-nowhere", which does not exist`]);
    assert.equal(verdict.referenceIssues[0]?.path, "vms[0].host");
  });

  test("a snapshot's objects are frozen: writing one that no helper copied throws instead of changing what readers hold", () => {
    const index = indexInventory(deepFreeze(generateInventory({ hosts: 2, vms: 2, seed: 1 })));
    const draft = openDraft(index.inventory);
    assert.throws(() => {
      (draft.vms[0] as { memoryMB: number }).memoryMB = 1;
    }, TypeError);
  });
});
