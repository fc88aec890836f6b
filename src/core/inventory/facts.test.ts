import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createChecker } from "../check/checker.ts";
import { FindingCode } from "../check/findings.ts";
import { bentInventory, must } from "../testing/inventory.ts";
import { datastoreBaseName, distinctDatastoreName, mergeObservedHost, ObservedHostSchema, type ObservedDatastore, type ObservedHost } from "./facts.ts";
import { indexInventory } from "./index.ts";
import { checkReferences } from "./references.ts";
import type { Hypervisor, Inventory } from "./schema.ts";

const SHARED = "0f6f1a52-9d1e-4b7a-8c51-2d4f0e7b9a10";
const OTHER = "7c2e44d0-51aa-4f0e-9b3c-88d1f2a6c3e4";
const LOCAL1 = "a1b2c3d4-0000-4000-8000-000000000001";
const LOCAL2 = "a1b2c3d4-0000-4000-8000-000000000002";
const QEMU: Hypervisor = { kind: "qemu", version: "7.2.22", machineTypes: ["pc-q35-7.2", "pc-i440fx-7.2"], accelerator: "tcg" };

/** What host `name` of the test inventory would report: its own CPU, NICs and vSwitches, and these datastores. */
function observedOf(inventory: Inventory, name: string, datastores: readonly ObservedDatastore[], extra: Partial<ObservedHost> = {}): ObservedHost {
  const host = inventory.hosts.find((h) => h.name === name) ?? must(inventory.hosts[0], "a host");
  return { name, cpu: host.cpu, memoryMB: host.memoryMB, nics: host.nics, vswitches: host.vswitches, datastores: [...datastores], datastoreProblems: [], hypervisor: QEMU, ...extra };
}

const ds = (name: string, uuid: string, path = `/srv/ferry/${name}`): ObservedDatastore => ({ name, uuid, path });

/** The test inventory after both hosts reported: esx01 sees `first`, esx02 sees `second`. */
function afterBoth(first: readonly ObservedDatastore[], second: readonly ObservedDatastore[]): { inventory: Inventory; notes: string[] } {
  const { inventory } = bentInventory();
  const one = mergeObservedHost(inventory, observedOf(inventory, "esx01", first));
  const two = mergeObservedHost(one.inventory, observedOf(one.inventory, "esx02", second));
  return { inventory: two.inventory, notes: [...one.notes, ...two.notes] };
}

const datastore = (inventory: Inventory, name: string) => must(inventory.datastores.find((d) => d.name === name), `datastore ${name}`);
const host = (inventory: Inventory, name: string) => must(inventory.hosts.find((h) => h.name === name), `host ${name}`);

describe("mergeObservedHost", () => {
  test("an observed host replaces its facts, keeps cluster and maintenance, is connected, and the input is left alone", () => {
    const { inventory } = bentInventory((i) => {
      i.hosts[0]!.maintenance = true;
      i.hosts[0]!.connected = false;
    });
    const before = structuredClone(inventory);
    const observed = observedOf(inventory, "esx01", [ds("shared-ds", SHARED), ds("esx01-local", LOCAL1)], {
      memoryMB: 16384,
      nics: [{ name: "eth0", speedMbps: 10000 }],
      vswitches: [{ name: "br0", uplinks: ["eth0"], mtu: 1500, portGroups: [{ name: "Production", vlan: 0 }], vmkernelPorts: [] }],
      datastoreProblems: [{ path: "/srv/ferry/gone", reason: "no such directory" }],
    });
    const { inventory: after, notes } = mergeObservedHost(inventory, observed);
    assert.deepEqual(inventory, before, "the input inventory changed");
    const esx01 = host(after, "esx01");
    assert.equal(esx01.cluster, "Prod");
    assert.equal(esx01.maintenance, true);
    assert.equal(esx01.connected, true);
    assert.equal(esx01.memoryMB, 16384);
    assert.deepEqual(esx01.nics, observed.nics);
    assert.deepEqual(esx01.vswitches, observed.vswitches);
    assert.deepEqual(esx01.datastores, ["shared-ds", "esx01-local"]);
    assert.deepEqual(esx01.hypervisor, QEMU);
    assert.deepEqual(esx01.datastoreProblems, [{ path: "/srv/ferry/gone", reason: "no such directory" }]);
    assert.deepEqual(after.vms, inventory.vms);
    assert.deepEqual(host(after, "esx02"), host(inventory, "esx02"));
    // The inventory's datastores without an identity are claimed by the reported ones of the same name.
    assert.equal(datastore(after, "shared-ds").uuid, SHARED);
    assert.equal(datastore(after, "esx01-local").uuid, LOCAL1);
    assert.deepEqual(notes, []);
    assert.deepEqual(checkReferences(after), []);
  });

  test("a host not in the inventory is added, standalone and connected, with its datastores", () => {
    const { inventory } = bentInventory();
    const observed = observedOf(inventory, "kvm03", [ds("vmstore", OTHER)]);
    const { inventory: after } = mergeObservedHost(inventory, observed);
    const kvm03 = host(after, "kvm03");
    assert.equal(kvm03.cluster, undefined);
    assert.equal(kvm03.maintenance, false);
    assert.equal(kvm03.connected, true);
    assert.deepEqual(kvm03.datastores, ["vmstore"]);
    assert.deepEqual(datastore(after, "vmstore"), { name: "vmstore", uuid: OTHER, shared: false });
    assert.equal(after.hosts.length, inventory.hosts.length + 1);
    assert.deepEqual(checkReferences(after), []);
  });

  test("the same uuid on two hosts is one shared datastore, and the storage check passes", () => {
    const { inventory, notes } = afterBoth([ds("shared-ds", SHARED, "/srv/a")], [ds("shared-ds", SHARED, "/mnt/elsewhere")]);
    assert.deepEqual(notes, []);
    assert.equal(inventory.datastores.filter((d) => d.uuid === SHARED).length, 1);
    assert.equal(datastore(inventory, "shared-ds").shared, true);
    assert.deepEqual(host(inventory, "esx02").datastores, ["shared-ds"]);
    const result = createChecker(indexInventory(inventory)).check("web01", "esx02");
    assert.deepEqual([...result.errors, ...result.warnings], []);
    assert.deepEqual(checkReferences(inventory), []);
  });

  test("the same uuid under another name mounts the existing record, and a note says so", () => {
    const { inventory, notes } = afterBoth([ds("shared-ds", SHARED)], [ds("san-b", SHARED, "/mnt/san-b")]);
    assert.deepEqual(host(inventory, "esx02").datastores, ["shared-ds"]);
    assert.equal(inventory.datastores.some((d) => d.name === "san-b"), false);
    assert.equal(datastore(inventory, "shared-ds").shared, true);
    assert.deepEqual(notes, [`esx02: datastore "san-b" at /mnt/san-b has identity ${SHARED}, which the inventory knows as "shared-ds"; keeping the name "shared-ds".`]);
    assert.equal(createChecker(indexInventory(inventory)).check("web01", "esx02").ok, true);
  });

  test("the same name with another uuid is other storage: recorded apart, and the checker names both", () => {
    const { inventory, notes } = afterBoth([ds("shared-ds", SHARED)], [ds("shared-ds", OTHER, "/srv/b")]);
    const apart = distinctDatastoreName("shared-ds", OTHER);
    assert.equal(apart, "shared-ds (7c2e44d0)");
    assert.deepEqual(host(inventory, "esx02").datastores, [apart]);
    assert.deepEqual(datastore(inventory, apart), { name: apart, uuid: OTHER, shared: false });
    assert.equal(datastore(inventory, "shared-ds").shared, false, "one host mounts it now");
    assert.equal(datastoreBaseName(datastore(inventory, apart)), "shared-ds");
    assert.deepEqual(notes, [
      `esx02: datastore "shared-ds" at /srv/b has identity ${OTHER}, but the inventory's "shared-ds" is ${SHARED}: a different datastore with the same name, recorded as "${apart}".`,
    ]);
    const result = createChecker(indexInventory(inventory)).check("web01", "esx02");
    assert.deepEqual(result.errors.map((f) => f.code), [FindingCode.storageNotVisible]);
    const message = must(result.errors[0], "finding").message;
    assert.match(message, /on datastore "shared-ds" \(local to its host\), which esx02 does not mount/);
    assert.match(message, /esx02 mounts "shared-ds \(7c2e44d0\)", a different datastore with the same name/);
    assert.deepEqual(checkReferences(inventory), []);
  });

  test("a host that stops seeing a datastore unshares it, and its VMs left on it are named", () => {
    const { inventory } = afterBoth([ds("shared-ds", SHARED)], [ds("shared-ds", SHARED)]);
    assert.equal(datastore(inventory, "shared-ds").shared, true);
    const { inventory: after, notes } = mergeObservedHost(inventory, observedOf(inventory, "esx01", [ds("esx01-local", LOCAL1)]));
    assert.equal(datastore(after, "shared-ds").shared, false);
    assert.deepEqual(notes, ['esx01: VM web01 uses datastore "shared-ds", which esx01 no longer mounts.']);
  });

  test("datastore problems and the hypervisor are replaced by each report, empty or absent included", () => {
    const { inventory } = bentInventory();
    assert.equal(host(inventory, "esx01").datastoreProblems, undefined, "a declared host has none recorded");
    const first = mergeObservedHost(inventory, observedOf(inventory, "esx01", [], { datastoreProblems: [{ path: "/srv/x", reason: "no .ferry-datastore.json (run `ferry datastore init`)" }] }));
    assert.deepEqual(host(first.inventory, "esx01").datastoreProblems, [{ path: "/srv/x", reason: "no .ferry-datastore.json (run `ferry datastore init`)" }]);
    const withoutHypervisor: ObservedHost = { ...observedOf(first.inventory, "esx01", []) };
    delete withoutHypervisor.hypervisor;
    const second = mergeObservedHost(first.inventory, withoutHypervisor);
    // Recorded even when empty: an observed host is one whose datastoreProblems is set.
    assert.deepEqual(host(second.inventory, "esx01").datastoreProblems, []);
    assert.equal(host(second.inventory, "esx01").hypervisor, undefined);
  });

  test("one datastore reported at two paths is mounted once, with a note", () => {
    const { inventory } = bentInventory();
    const { inventory: after, notes } = mergeObservedHost(inventory, observedOf(inventory, "esx01", [ds("shared-ds", SHARED, "/srv/a"), ds("shared-ds", SHARED, "/srv/b")]));
    assert.deepEqual(host(after, "esx01").datastores, ["shared-ds"]);
    assert.deepEqual(notes, [`esx01: datastore "shared-ds" (${SHARED}) is mounted twice; /srv/b is the same storage as an earlier path.`]);
  });

  test("two datastores of one host with the same name and different uuids stay two", () => {
    const { inventory } = bentInventory();
    const { inventory: after, notes } = mergeObservedHost(inventory, observedOf(inventory, "kvm09", [ds("data", LOCAL1, "/disk1"), ds("data", LOCAL2, "/disk2")]));
    assert.deepEqual(host(after, "kvm09").datastores, ["data", "data (a1b2c3d4)"]);
    assert.equal(notes.length, 1);
    // Both uuids start alike: a third namesake would not fit in eight characters, so it takes the whole uuid.
    const third = "a1b2c3d4-0000-4000-8000-000000000003";
    const again = mergeObservedHost(after, observedOf(after, "kvm10", [ds("data", third)]));
    assert.deepEqual(host(again.inventory, "kvm10").datastores, [`data (${third})`]);
    assert.deepEqual(checkReferences(again.inventory), []);
  });

  test("the observed-host schema is what crosses the wire: a bad report is refused", () => {
    const { inventory } = bentInventory();
    const good = observedOf(inventory, "esx01", [ds("shared-ds", SHARED)]);
    assert.deepEqual(ObservedHostSchema.parse(good), good);
    assert.equal(ObservedHostSchema.safeParse({ ...good, datastores: [{ name: "x", path: "/srv/x" }] }).success, false);
    assert.equal(ObservedHostSchema.safeParse({ ...good, hypervisor: { ...QEMU, version: "7.2" } }).success, false);
  });
});
