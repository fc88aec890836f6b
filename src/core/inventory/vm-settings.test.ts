import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createChecker } from "../check/checker.ts";
import { setCpuidMask } from "./edits.ts";
import { indexInventory } from "./index.ts";
import { parseInventory } from "./parse.ts";
import type { Inventory } from "./schema.ts";
import { keepRunningGuestCpu, setCpuAffinity, vmsInheritingMask } from "./vm-settings.ts";

function lab(): Inventory {
  const parsed = parseInventory(readFileSync(new URL("../../../examples/lab.yaml", import.meta.url), "utf8"), "lab.yaml");
  assert.ok(parsed.ok);
  return structuredClone(parsed.inventory);
}

const codes = (inv: Inventory, vm: string, host: string): string[] => createChecker(indexInventory(inv)).check(vm, host).errors.map((f) => f.code);
/** Whether an error toward `host` is about NX/XD (the feature esx03's BIOS disables). */
const nxError = (inv: Inventory, vm: string, host: string): boolean => createChecker(indexInventory(inv)).check(vm, host).errors.some((f) => f.code === "CPU_FEATURE_MISSING" && /NX/.test(f.message));

test("hiding NX on a running VM whose boot CPU is unrecorded keeps the checker on the CPU it runs with", () => {
  const inv = lab();
  assert.ok(nxError(inv, "web01", "esx03"));
  keepRunningGuestCpu(inv, ["web01"]);
  setCpuidMask(inv, { vm: "web01" }, { nx: true, sse3: false, sse4: false, custom: [] });
  const web01 = inv.vms.find((v) => v.name === "web01");
  assert.ok(web01?.bootFlags?.includes("nx"), "the guest booted seeing nx");
  assert.ok(nxError(inv, "web01", "esx03"), "still NX toward esx03 until a power cycle");

  // Without the boot CPU kept, the same edit would judge a CPU the guest does not have.
  const naive = lab();
  setCpuidMask(naive, { vm: "web01" }, { nx: true, sse3: false, sse4: false, custom: [] });
  assert.ok(!nxError(naive, "web01", "esx03"));
});

test("a recorded boot CPU, a powered-off VM and a second change are left as they are", () => {
  const inv = lab();
  const legacy = structuredClone(inv.vms.find((v) => v.name === "legacy01")?.bootFlags);
  keepRunningGuestCpu(inv, ["legacy01", "old01"]);
  assert.deepEqual(inv.vms.find((v) => v.name === "legacy01")?.bootFlags, legacy);
  assert.equal(inv.vms.find((v) => v.name === "old01")?.bootFlags, undefined);
  keepRunningGuestCpu(inv, ["web01"]);
  const first = inv.vms.find((v) => v.name === "web01")?.bootFlags;
  setCpuidMask(inv, { vm: "web01" }, { nx: true, sse3: false, sse4: false, custom: [] });
  keepRunningGuestCpu(inv, ["web01"]);
  assert.deepEqual(inv.vms.find((v) => v.name === "web01")?.bootFlags, first);
});

test("the VMs a template's mask reaches are those without a mask of their own", () => {
  const inv = lab();
  assert.deepEqual(vmsInheritingMask(inv, "tmpl-debian-nx").sort(), ["dmz01", "web02"]);
  setCpuidMask(inv, { vm: "web02" }, { nx: false, sse3: false, sse4: false, custom: [] });
  assert.deepEqual(vmsInheritingMask(inv, "tmpl-debian-nx"), ["dmz01"]);
});

test("CPU scheduling affinity: set within the host's CPUs, cleared, refused outside them", () => {
  const inv = lab();
  assert.ok(codes(inv, "pinned01", "esx02").includes("CPU_AFFINITY"));
  setCpuAffinity(inv, "pinned01", []);
  assert.deepEqual(inv.vms.find((v) => v.name === "pinned01")?.cpuAffinity, []);
  assert.ok(!codes(inv, "pinned01", "esx02").includes("CPU_AFFINITY"));
  setCpuAffinity(inv, "web01", [3, 1, 3]);
  assert.deepEqual(inv.vms.find((v) => v.name === "web01")?.cpuAffinity, [1, 3]);
  assert.throws(() => { setCpuAffinity(inv, "web01", [2, 12, 40]); }, { code: "INVALID_INPUT", message: "esx01 has physical CPUs 0 to 11: 12, 40 are not among them" });
  assert.throws(() => { setCpuAffinity(inv, "nope", [0]); }, { code: "NOT_FOUND" });
});
