import { claimsOf } from "./claims.ts";
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { bentInventory, must, type Bend } from "../testing/inventory.ts";
import { applyCorrections, DifferenceKind, reconcileHost, type AgentAnswer } from "./reconcile.ts";

/** web01 on esx01 (on), db01 on esx02 (on), old01 on esx01 (off). */
const twoHosts: Bend = (i) => {
  const web01 = must(i.vms[0], "web01");
  i.vms.push({ ...structuredClone(web01), name: "db01", host: "esx02", nics: [{ name: "nic0", portGroup: "Production", mac: "00:50:56:00:00:02" }] });
  i.vms.push({ ...structuredClone(web01), name: "old01", power: "off", nics: [{ name: "nic0", portGroup: "Production", mac: "00:50:56:00:00:03" }] });
};

const answer = (vms: AgentAnswer["vms"], incoming: string[] = []): AgentAnswer => ({ vms, incoming });

interface Case {
  readonly name: string;
  readonly bend?: Bend;
  /** VMs open migration tasks hold. */
  readonly claimed?: readonly string[];
  readonly esx01: AgentAnswer;
  readonly esx02?: AgentAnswer;
  /** kind vm correction (or "-") for each difference esx01's answer shows, in order. */
  readonly expected: readonly string[];
}

const cases: readonly Case[] = [
  { name: "the agent runs what the inventory says", esx01: answer([{ name: "web01", power: "running" }, { name: "old01", power: "off" }]), expected: [] },
  { name: "a VM powered off behind the controller's back", esx01: answer([{ name: "web01", power: "off" }, { name: "old01", power: "off" }]), expected: ["powerDiffers web01 power:off"] },
  { name: "a VM powered on behind the controller's back", esx01: answer([{ name: "web01", power: "running" }, { name: "old01", power: "running" }]), expected: ["powerDiffers old01 power:on"] },
  { name: "a VM gone from its host, nobody runs it", esx01: answer([{ name: "old01", power: "off" }]), esx02: answer([{ name: "db01", power: "running" }]), expected: ["vmGone web01 power:off"] },
  { name: "a powered-off VM gone: recorded, nothing to correct", esx01: answer([{ name: "web01", power: "running" }]), expected: ["vmGone old01 -"] },
  { name: "a VM gone from its host runs on another", esx01: answer([{ name: "old01", power: "off" }]), esx02: answer([{ name: "db01", power: "running" }, { name: "web01", power: "running" }]), expected: ["vmMoved web01 move:esx02"] },
  { name: "a VM found running here, its inventory host does not run it", esx01: answer([{ name: "web01", power: "running" }, { name: "old01", power: "off" }, { name: "db01", power: "running" }]), esx02: answer([]), expected: ["vmMoved db01 move:esx01"] },
  { name: "a VM found running here and on its inventory host", esx01: answer([{ name: "web01", power: "running" }, { name: "old01", power: "off" }, { name: "db01", power: "running" }]), esx02: answer([{ name: "db01", power: "running" }]), expected: ["vmOnTwoHosts db01 -"] },
  { name: "a VM the inventory does not know", esx01: answer([{ name: "web01", power: "running" }, { name: "old01", power: "off" }, { name: "rogue", power: "running" }]), expected: ["vmUnknown rogue -"] },
  { name: "a powered-off copy of a VM that lives elsewhere", esx01: answer([{ name: "web01", power: "running" }, { name: "old01", power: "off" }, { name: "db01", power: "off" }]), esx02: answer([{ name: "db01", power: "running" }]), expected: ["vmCopy db01 -"] },
  {
    name: "a migrating VM (an open task claims it) is the engine's: no difference either side",
    claimed: ["web01"],
    esx01: answer([{ name: "old01", power: "off" }, { name: "db01", power: "paused" }], ["db01"]),
    expected: [],
  },
  { name: "a VM migrating out and an incoming shell are skipped", esx01: answer([{ name: "web01", power: "paused", migratingOut: "m-1" }, { name: "old01", power: "off" }, { name: "db01", power: "paused" }], ["db01"]), expected: [] },
];

describe("reconciliation: an agent's answer against the inventory", () => {
  for (const c of cases) {
    test(c.name, () => {
      const { inventory } = bentInventory(c.bend ?? twoHosts);
      const others = new Map(c.esx02 === undefined ? [] : [["esx02", c.esx02] as const]);
      const found = reconcileHost(inventory, "esx01", c.esx01, others, claimsOf((c.claimed ?? []).map((vm) => ({ vm, taskId: "m-1", source: "esx01", destination: "esx02" }))));
      assert.deepEqual(
        found.map((d) => `${d.kind} ${d.vm} ${d.correction === undefined ? "-" : d.correction.op === "power" ? `power:${d.correction.power}` : `move:${d.correction.to}`}`),
        c.expected,
      );
      for (const d of found) assert.match(d.message, new RegExp(d.vm));
    });
  }

  test("corrections apply to the VM as it was asked about, and not after a migration changed it", () => {
    const { inventory } = bentInventory(twoHosts);
    const differences = reconcileHost(inventory, "esx01", answer([{ name: "old01", power: "off" }, { name: "db01", power: "running" }]), new Map([["esx02", answer([])]]));
    assert.deepEqual(differences.map((d) => d.kind), [DifferenceKind.vmGone, DifferenceKind.vmMoved]);
    const draft = structuredClone(inventory);
    // web01 started migrating after the agents were asked: its correction waits for the engine.
    const applied = applyCorrections(draft, differences, claimsOf([{ vm: "web01", taskId: "m-1", source: "esx01", destination: "esx02" }]));
    assert.deepEqual(applied.map((d) => d.vm), ["db01"]);
    const db01 = must(draft.vms.find((v) => v.name === "db01"), "db01");
    assert.equal(db01.host, "esx01");
    assert.equal(db01.pool, "Prod-root", "the pool belongs to the new host's cluster: kept");
    assert.equal(must(draft.vms.find((v) => v.name === "web01"), "web01").power, "on");
  });
});
