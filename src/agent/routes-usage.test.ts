// GET /v1/usage through the agent's app and its client, over a real sim driver (its usage is
// measured from the guests' writes): a busy guest above an idle one, an off VM not listed.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { systemClock } from "../drivers/clock.ts";
import { createSimDriver } from "../drivers/sim/driver.ts";
import { simHost, smallSpec } from "../drivers/sim/testing.ts";
import { createAgent } from "./app.ts";
import type { UsageView } from "./api.ts";
import { createAgentClient } from "./client.ts";
import { TEST_TOKEN } from "./testing/harness.ts";

const MiB = 1024 * 1024;

describe("agent API: usage", () => {
  test("GET /v1/usage answers the driver's measure under the agent's host name: CPU, memory, sums and capacity", async () => {
    const driver = createSimDriver({ host: simHost("esx01", "127.0.1.1"), clock: systemClock });
    const agent = createAgent({ driver, token: TEST_TOKEN, clock: systemClock, hostName: "esx01", vmotionIp: "127.0.1.1" });
    const client = createAgentClient({ baseUrl: "http://esx01.test", token: TEST_TOKEN, name: "esx01", fetch: (input, init) => Promise.resolve(agent.app.request(input, init)) });
    try {
      await client.createVm(smallSpec("idle01"));
      await client.powerOn("idle01");
      await client.createVm(smallSpec("busy01", { workload: { kind: "steady", dirtyRateBytesPerSec: 8 * MiB, workingSetBytes: 16 * MiB, seed: 3 }, nics: [] }));
      await client.powerOn("busy01");
      await client.createVm(smallSpec("off01", { nics: [] }));
      let usage: UsageView = await client.usage();
      // Ask until the busy guest's writes were counted over a window (a second at least).
      const deadline = Date.now() + 20_000;
      while (!((usage.vms.find((v) => v.vm === "busy01")?.cpuMhz ?? 0) > (usage.vms.find((v) => v.vm === "idle01")?.cpuMhz ?? 0) * 2)) {
        if (Date.now() > deadline) assert.fail(`the busy guest never showed above the idle one: ${JSON.stringify(usage.vms)}`);
        await systemClock.sleep(200);
        usage = await client.usage();
      }
      assert.equal(usage.host, "esx01");
      assert.deepEqual(usage.vms.map((v) => v.vm).sort(), ["busy01", "idle01"], "the powered-off VM is not listed");
      assert.deepEqual(usage.capacity, { cpuMhz: 8 * 2400, memoryMB: 4096 });
      const idle = usage.vms.find((v) => v.vm === "idle01");
      assert.equal(idle?.memoryMB, 8, "the idle guest holds the 8 MiB it touched at boot");
      assert.ok(Math.abs(usage.cpuMhz - usage.vms.reduce((sum, v) => sum + v.cpuMhz, 0)) < 0.5);
    } finally {
      await driver.close();
    }
  });
});
