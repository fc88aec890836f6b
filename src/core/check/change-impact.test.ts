import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createChecker } from "./checker.ts";
import { changeImpact, PairStatus } from "./change-impact.ts";
import { FindingCode as C } from "./findings.ts";
import { deepFreeze, openDraft } from "../inventory/draft.ts";
import { addVmkernelNetworking, editVmkernelPort, removeVmkernelPort } from "../inventory/edits.ts";
import { indexInventory } from "../inventory/index.ts";
import type { Draft } from "../inventory/edits.ts";
import { bentInventory, must, type Bend } from "../testing/inventory.ts";

/** The base inventory bent by `bend`, then changed by `edit` on a draft: the checker on both. */
function judge(bend: Bend | undefined, edit: (draft: Draft) => void, host = "esx02") {
  // Frozen as the inventory service's snapshots are: a draft copies what it changes.
  const inventory = deepFreeze(bentInventory(bend).inventory);
  const index = indexInventory(inventory);
  const draft = openDraft(inventory);
  edit(draft);
  const after = indexInventory(draft);
  return changeImpact({ index, checker: createChecker(index) }, { index: after, checker: createChecker(after) }, host);
}

const codes = (findings: readonly { code: string }[]) => findings.map((f) => f.code);

describe("changeImpact", () => {
  test("a second VMotion port on another vSwitch, first in file order, breaks the migrations to the host", () => {
    const impact = judge(undefined, (d) => {
      addVmkernelNetworking(d, "esx02", { vswitch: "vSwitch0", portGroup: "VMotion-0", port: "vmk0", vmotion: true, ip: "198.19.9.2/24" });
    });
    assert.equal(impact.host, "esx02");
    assert.equal(impact.pairsChecked, 1, "web01 on esx01 → esx02 is the one pair with esx02 at an end");
    const pair = must(impact.pairs[0], "the pair");
    assert.deepEqual([pair.vm, pair.from, pair.to, pair.before, pair.after], ["web01", "esx01", "esx02", PairStatus.compatible, PairStatus.errors]);
    assert.deepEqual(codes(pair.broken).sort(), [C.vmotionUnreachable, C.vmotionVswitchMismatch].sort());
    assert.deepEqual(pair.fixed, []);
  });

  test("removing that port again fixes exactly what it broke", () => {
    const bend: Bend = (i) => {
      must(must(i.hosts[1], "esx02").vswitches?.[0], "vSwitch0").vmkernelPorts = [{ name: "vmk0", portGroup: "VM Network", ip: "198.19.9.2/24", vmotion: true }];
    };
    const impact = judge(bend, (d) => {
      removeVmkernelPort(d, "esx02", "vmk0");
    });
    const pair = must(impact.pairs[0], "the pair");
    assert.deepEqual([pair.before, pair.after], [PairStatus.errors, PairStatus.compatible]);
    assert.deepEqual(codes(pair.fixed).sort(), [C.vmotionUnreachable, C.vmotionVswitchMismatch].sort());
    assert.deepEqual(pair.broken, []);
  });

  test("an MTU edit adds the mismatch warning, and its repair clears it; a change of words alone is no change", () => {
    const raised = judge(undefined, (d) => {
      editVmkernelPort(d, "esx02", "vmk1", { mtu: 9000 });
    });
    assert.deepEqual(raised.pairs.map((p) => [p.vm, p.after, codes(p.newWarnings)]), [["web01", PairStatus.warnings, [C.vmotionMtuMismatch]]]);

    const jumbo: Bend = (i) => {
      must(must(must(i.hosts[1], "esx02").vswitches?.[1], "vSwitch1").vmkernelPorts?.[0], "vmk1").mtu = 9000;
    };
    const repaired = judge(jumbo, (d) => {
      editVmkernelPort(d, "esx02", "vmk1", { mtu: 1500 });
    });
    assert.deepEqual(repaired.pairs.map((p) => [p.before, p.after, codes(p.clearedWarnings)]), [[PairStatus.warnings, PairStatus.compatible, [C.vmotionMtuMismatch]]]);

    const reworded = judge(jumbo, (d) => {
      editVmkernelPort(d, "esx02", "vmk1", { mtu: 4000 });
    });
    assert.deepEqual(reworded.pairs, [], "still one MTU mismatch between the same ports");
  });

  test("the host's own VMs are judged toward every other host, and broken pairs come first", () => {
    const bend: Bend = (i) => {
      const vm = must(i.vms[0], "web01");
      i.vms.push({ ...vm, name: "web02", host: "esx02", nics: [{ name: "nic0", portGroup: "Production", mac: "00:50:56:00:00:02" }] });
    };
    const impact = judge(bend, (d) => {
      editVmkernelPort(d, "esx02", "vmk1", { vmotion: false });
    });
    assert.equal(impact.pairsChecked, 2);
    assert.deepEqual(impact.pairs.map((p) => [p.vm, p.from, p.to, codes(p.broken)]), [
      ["web01", "esx01", "esx02", [C.vmotionNotEnabled]],
      ["web02", "esx02", "esx01", [C.vmotionNotEnabled]],
    ]);
  });

  test("a change that alters no finding reports no pair", () => {
    const impact = judge(undefined, (d) => {
      editVmkernelPort(d, "esx02", "vmk1", { gateway: "198.19.0.254" });
    });
    assert.equal(impact.pairsChecked, 1);
    assert.deepEqual(impact.pairs, []);
  });
});
