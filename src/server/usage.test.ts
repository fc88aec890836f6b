// The usage sampler on a manual clock over in-process agents (the fake driver declares its
// usage): rings per host and per VM, a silent agent leaves a gap, usageFor gives only a
// cluster's fresh samples and only the VMs the latest sample listed.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createFakeNetwork } from "../agent/testing/fake-driver.ts";
import { runningVm, startTestAgent, testVmSpec } from "../agent/testing/harness.ts";
import { createManualClock } from "./testing/manual-clock.ts";
import { DEMAND_WINDOW_SAMPLES, UsageSampler, usageFor } from "./usage.ts";

const MiB = 1024 * 1024;

async function setup() {
  const clock = createManualClock();
  const network = createFakeNetwork();
  const esx01 = startTestAgent(network, "esx01", "198.19.0.1", { clock });
  const esx02 = startTestAgent(network, "esx02", "198.19.0.2", { clock });
  await runningVm(esx01, { ...testVmSpec("web01"), touchedBytes: 16 * MiB, workload: { kind: "steady", dirtyRateBytesPerSec: 8 * MiB, workingSetBytes: 8 * MiB, seed: 1 } });
  await runningVm(esx01, { ...testVmSpec("web02"), touchedBytes: 4 * MiB });
  const agents = new Map([["esx01", esx01], ["esx02", esx02]]);
  const sampler = new UsageSampler({ agents: { hosts: () => [...agents.keys()], get: (h) => agents.get(h)?.client }, clock, historySamples: 3 });
  const inventory = { hosts: [{ name: "esx01", cluster: "Prod" }, { name: "esx02", cluster: "Prod" }, { name: "esx03", cluster: "Dev" }] };
  return { clock, esx01, esx02, sampler, inventory };
}

describe("usage sampler", () => {
  test("each round adds a point per host and per running VM; the ring keeps its newest samples; a silent agent leaves a gap", async () => {
    const { clock, esx02, sampler } = await setup();
    esx02.kill();
    for (let i = 0; i < 4; i++) {
      await sampler.sample();
      await clock.advance(20_000);
    }
    assert.equal(sampler.rounds, 4);
    const host = sampler.hostHistory("esx01");
    assert.equal(host.history.length, 3, "a ring of 3 keeps the newest 3");
    assert.deepEqual(host.capacity, { cpuMhz: 8 * 2400, memoryMB: 4096 });
    // web01: 8 MiB/s is half a core in the sim's model, plus 1% idle: 0.51 × 2400 MHz.
    assert.deepEqual(sampler.vmHistory("web01")?.latest?.cpuMhz, 1224);
    assert.deepEqual(sampler.vmHistory("web02")?.latest?.memoryMB, 4);
    assert.equal(host.latest?.cpuMhz, 1224 + 24);
    assert.deepEqual(sampler.hostHistory("esx02").history, [], "no answer, no sample");
    assert.deepEqual(sampler.runningOn("esx01"), ["web01", "web02"]);
  });

  test("usageFor: a cluster's hosts with a fresh sample and the VMs their latest sample listed; stale samples are not demand", async () => {
    const { clock, esx01, sampler, inventory } = await setup();
    await sampler.sample();
    const prod = usageFor(sampler, inventory, "Prod");
    assert.deepEqual([...prod.hosts.keys()], ["esx01", "esx02"], "esx03 is in another cluster");
    assert.deepEqual([prod.hosts.get("esx02")?.cpuMhz, prod.hosts.get("esx02")?.capacity.cpuMhz], [0, 8 * 2400], "a host with no VMs uses nothing");
    assert.deepEqual([...prod.vms.keys()].sort(), ["web01", "web02"]);
    assert.equal(prod.vms.get("web01")?.host, "esx01");
    assert.equal(usageFor(sampler, inventory, "Dev").hosts.size, 0);

    await esx01.client.powerOff("web02");
    await clock.advance(20_000);
    await sampler.sample();
    assert.deepEqual([...usageFor(sampler, inventory, "Prod").vms.keys()], ["web01"], "a VM powered off is no demand");
    assert.equal(sampler.vmHistory("web02")?.history.length, 1, "its history stays for its chart");

    await clock.advance(61_000);
    const stale = usageFor(sampler, inventory, "Prod");
    assert.deepEqual([stale.hosts.size, stale.vms.size], [0, 0], "three periods without a sample: nothing is current");
  });
  test("DRS gets each VM's demand averaged over the demand window, not one noisy sample", async () => {
    const { clock, esx01, sampler, inventory } = await setup();
    await sampler.sample(); // web01 writes 8 MiB/s: 1224 MHz
    await clock.advance(20_000);
    await esx01.client.powerOff("web01");
    await esx01.client.destroyVm("web01");
    await runningVm(esx01, { ...testVmSpec("web01"), touchedBytes: 16 * MiB, workload: { kind: "idle", dirtyRateBytesPerSec: 0, workingSetBytes: 0, seed: 1 } });
    await sampler.sample(); // idle now: 1% of a core, 24 MHz
    assert.equal(sampler.vmHistory("web01")?.latest?.cpuMhz, 24);
    assert.equal(usageFor(sampler, inventory, "Prod").vms.get("web01")?.cpuMhz, (1224 + 24) / 2, "the mean of both samples in the window");
    for (let i = 1; i < DEMAND_WINDOW_SAMPLES; i++) {
      await clock.advance(20_000);
      await sampler.sample();
    }
    assert.equal(usageFor(sampler, inventory, "Prod").vms.get("web01")?.cpuMhz, 24, "a window later, the busy sample has left it");
  });
});
