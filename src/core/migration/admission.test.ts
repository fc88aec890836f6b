import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { admit, BlockKind, hostLimit, VCENTER_LIMITS, vmotionNicMbps, type AdmissionRequest } from "./admission.ts";

const speeds: Record<string, number> = { esx01: 1000, esx02: 1000, esx03: 10_000, esx04: 10_000, esx05: 100 };
const nic = (host: string): number | undefined => speeds[host];
const m = (id: string, source: string, destination: string, datastores?: string[]): AdmissionRequest => ({ migrationId: id, source, destination, datastores });
const many = (n: number, source: string, destination: string, prefix = "m"): AdmissionRequest[] => Array.from({ length: n }, (_, i) => m(`${prefix}${i + 1}`, source, destination));

describe("admission: vCenter's concurrency limits", () => {
  test("4 per host on a 1 Gb/s VMotion NIC: the fifth waits and says why", () => {
    const decision = admit({ running: [], waiting: many(5, "esx01", "esx03"), vmotionNicMbps: nic });
    assert.deepEqual(decision.start, ["m1", "m2", "m3", "m4"]);
    assert.deepEqual(decision.waiting, [
      { migrationId: "m5", reason: "esx01 runs 4 migrations, the limit on a 1 Gb/s VMotion NIC", blockedBy: { kind: BlockKind.host, name: "esx01", count: 4, limit: 4 } },
    ]);
  });

  test("8 per host on a 10 Gb/s VMotion NIC", () => {
    const decision = admit({ running: [], waiting: many(10, "esx03", "esx04"), vmotionNicMbps: nic });
    assert.equal(decision.start.length, 8);
    assert.deepEqual(decision.waiting.map((w) => w.reason), [
      "esx03 runs 8 migrations, the limit on a 10 Gb/s VMotion NIC",
      "esx03 runs 8 migrations, the limit on a 10 Gb/s VMotion NIC",
    ]);
  });

  test("a migration counts against both hosts: the slower one holds it", () => {
    const decision = admit({ running: many(4, "esx02", "esx04", "r"), waiting: [m("w1", "esx03", "esx02")], vmotionNicMbps: nic });
    assert.deepEqual(decision.start, []);
    assert.equal(decision.waiting[0]?.reason, "esx02 runs 4 migrations, the limit on a 1 Gb/s VMotion NIC");
  });

  test("running migrations take slots first; waiting ones fill what is left in arrival order", () => {
    const decision = admit({ running: many(3, "esx01", "esx03", "r"), waiting: [m("a", "esx01", "esx04"), m("b", "esx01", "esx04"), m("c", "esx02", "esx04")], vmotionNicMbps: nic });
    assert.deepEqual(decision.start, ["a", "c"]);
    assert.deepEqual(decision.waiting.map((w) => w.migrationId), ["b"]);
  });

  test("a blocked migration does not block others on free hosts", () => {
    const decision = admit({ running: many(4, "esx01", "esx03", "r"), waiting: [m("blocked", "esx01", "esx02"), m("free", "esx02", "esx04")], vmotionNicMbps: nic });
    assert.deepEqual(decision.start, ["free"]);
  });

  test("slower than 1 Gb/s and unknown speeds get the 1 Gb/s limit, and say so", () => {
    assert.deepEqual(hostLimit(100), { limit: 4, because: "the limit on a 100 Mb/s VMotion NIC" });
    assert.deepEqual(hostLimit(undefined), { limit: 4, because: "the limit when the VMotion NIC's speed is not known" });
    assert.deepEqual(hostLimit(25_000), { limit: 8, because: "the limit on a 25 Gb/s VMotion NIC" });
    assert.deepEqual(hostLimit(2500), { limit: 4, because: "the limit on a 2.5 Gb/s VMotion NIC" });
  });

  test("128 per datastore", () => {
    const running = Array.from({ length: 128 }, (_, i) => m(`r${i}`, `h${i}a`, `h${i}b`, ["shared-ds1"]));
    const decision = admit({ running, waiting: [m("w", "esx03", "esx04", ["shared-ds1", "other"])], vmotionNicMbps: nic, limits: VCENTER_LIMITS });
    assert.deepEqual(decision.waiting, [
      { migrationId: "w", reason: "datastore shared-ds1 has 128 migrations in flight, the limit per datastore", blockedBy: { kind: BlockKind.datastore, name: "shared-ds1", count: 128, limit: 128 } },
    ]);
  });

  test("nothing is ever rejected: every waiting migration either starts or waits with a reason", () => {
    const waiting = [...many(20, "esx01", "esx02", "a"), ...many(20, "esx03", "esx04", "b"), ...many(3, "esx05", "esx03", "c")];
    const decision = admit({ running: [], waiting, vmotionNicMbps: nic });
    assert.equal(decision.start.length + decision.waiting.length, waiting.length);
    assert.ok(decision.waiting.every((w) => w.reason.length > 0));
  });
});

describe("vmotionNicMbps", () => {
  test("the fastest uplink of the vSwitch with the VMotion port", () => {
    const vswitch = (name: string, uplinks: string[], vmotion: boolean) => ({
      name, uplinks, mtu: 1500, portGroups: [],
      vmkernelPorts: vmotion ? [{ name: "vmk1", portGroup: "VMotion", ip: "127.0.1.1/8", mtu: 1500, vmotion: true }] : [],
    });
    const nics = [{ name: "vmnic0", speedMbps: 10_000 }, { name: "vmnic1", speedMbps: 1000 }, { name: "vmnic2", speedMbps: 100 }];
    assert.equal(vmotionNicMbps({ nics, vswitches: [vswitch("vSwitch0", ["vmnic0"], false), vswitch("vSwitch1", ["vmnic1", "vmnic2"], true)] }), 1000);
    assert.equal(vmotionNicMbps({ nics, vswitches: [vswitch("vSwitch0", ["vmnic0"], false)] }), undefined);
    assert.equal(vmotionNicMbps({ nics, vswitches: [vswitch("vSwitch1", [], true)] }), undefined);
  });
});
