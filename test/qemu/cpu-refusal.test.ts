// QEMU does not check CPU compatibility (QEMU-NOTES trap 1): a guest moved to a CPU without a
// feature it uses "migrates successfully" and crashes on the first such instruction. Ferry must
// refuse exactly that move before any byte is sent. Two qemu agents (in this process, QEMU in
// their lab namespaces): esx01 stands for a Nehalem (SSE4.2), esx02 for a Penryn (SSE4.1, no
// SSE4.2). A guest booted on esx01 saw SSE4.2 (its bootFlags): the engine refuses the move in
// `validating` and neither host gets anything. A CPUID mask hiding SSE4 (and POPCNT) is pending until the
// power cycle the mask needs; after it the guest's QEMU CPU lacks SSE4.x and the same move is
// accepted and the guest answers on the Penryn host. Needs root and QEMU: fails saying what to
// install otherwise.
import assert from "node:assert/strict";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { createAgentClient, type AgentClient } from "../../src/agent/client.ts";
import { startAgent, type RunningAgent } from "../../src/agent/main.ts";
import { createChecker } from "../../src/core/check/checker.ts";
import { guestCpu } from "../../src/core/cpu/guest.ts";
import { findCpuModel } from "../../src/core/cpu/models.ts";
import { indexInventory } from "../../src/core/inventory/index.ts";
import type { Inventory, Vm } from "../../src/core/inventory/schema.ts";
import { DEFAULT_MIGRATE_OPTIONS, MigrationFailureCode, Phase, type MigrationProgress } from "../../src/core/migration/types.ts";
import { systemClock } from "../../src/drivers/clock.ts";
import type { VmSpec } from "../../src/drivers/driver.ts";
import { requireQemu, requireRoot } from "../../src/drivers/qemu/testing/requirements.ts";
import { migrate } from "../../src/engine/migrate.ts";
import { labHostNetwork } from "../../src/lab/host-network.ts";
import { LabNetwork, teardown } from "../../src/lab/netns.ts";
import { buildQemuLabNetwork, LAB_PORT_GROUP, qemuLabGuests, qemuLabInventory, qemuLabLayout, type QemuLabLayout } from "../../src/lab/qemu-lab.ts";

const labId = `c${(process.pid % 46656).toString(36)}`;
const net = new LabNetwork(labId);
const token = "cpu-refusal-test-token";
let dir = "";
let layout: QemuLabLayout | undefined;
const agents = new Map<string, RunningAgent>();
const clients = new Map<string, AgentClient>();

/** The lab's inventory with esx02 turned into a Penryn and no cluster baseline: each host's own CPU counts. */
function inventory(vmChange: (vm: Vm) => Vm = (vm) => vm): Inventory {
  if (layout === undefined) throw new Error("no lab");
  const base = qemuLabInventory(layout, qemuLabGuests(layout, 1));
  const penryn = findCpuModel("Penryn");
  const nehalem = findCpuModel("Nehalem");
  if (penryn === undefined || nehalem === undefined) throw new Error("catalogue models missing");
  return {
    ...base,
    clusters: base.clusters.map((c) => ({ name: c.name })),
    hosts: base.hosts.map((h) => ({ ...h, cpu: { ...h.cpu, model: h.name === "esx02" ? 23 : 26, modelName: h.name === "esx02" ? "Penryn" : "Nehalem", flags: [...(h.name === "esx02" ? penryn : nehalem).flags] } })),
    vms: base.vms.map(vmChange),
  };
}

function client(host: string): AgentClient {
  const c = clients.get(host);
  if (c === undefined) throw new Error(`no agent ${host}`);
  return c;
}

/** The VM as its QEMU is started: the guest CPU features from the inventory (host minus mask). */
function specOf(inv: Inventory): { spec: VmSpec; flags: string[] } {
  const index = indexInventory(inv);
  const vm = index.vms.get("guest01");
  if (vm === undefined) throw new Error("no guest01");
  const view = index.hosts.get(vm.host);
  const guest = guestCpu({ ...vm, bootFlags: undefined }, view?.host, view?.cluster, index.templates);
  if (!guest.ok) throw new Error("no guest CPU");
  const flags = [...guest.cpu.flags].sort();
  return { spec: { name: vm.name, memoryMB: vm.memoryMB, vcpus: 1, nics: vm.nics.map((n) => ({ name: n.name, mac: n.mac, ip: n.ip, portGroup: n.portGroup })), cpuFlags: flags }, flags };
}

async function waitReachable(host: string, ip: string): Promise<boolean> {
  const h = layout?.hosts.find((x) => x.name === host);
  if (h === undefined) return false;
  const network = labHostNetwork(net, h.namespace, h.bridges, { probeFrom: h.probeFrom });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (await network.reachable(LAB_PORT_GROUP, ip, 1000)) return true;
    await systemClock.sleep(250);
  }
  return false;
}

before(async () => {
  requireRoot();
  const images = requireQemu();
  await teardown(labId);
  layout = qemuLabLayout(net, 2);
  await buildQemuLabNetwork(net, layout);
  dir = mkdtempSync(join(tmpdir(), "ferry-cpu-"));
  const peersFile = join(dir, "peers.json");
  writeFileSync(peersFile, "[]");
  const inv = inventory();
  for (const h of layout.hosts) {
    const host = inv.hosts.find((x) => x.name === h.name);
    if (host === undefined) throw new Error(`no host ${h.name}`);
    const agent = await startAgent({
      name: host.name,
      host,
      vmotionIp: h.vmk.ip,
      listen: { host: "127.0.0.1", port: 0 },
      token,
      driver: "qemu",
      faults: false,
      qemu: { kernel: images.kernel, initrd: images.initrd, prefixLength: 16, accelerator: "tcg", peersFile, lab: { labId, namespace: h.namespace, bridges: h.bridges, probeFrom: h.probeFrom } },
      clock: systemClock,
    });
    agents.set(h.name, agent);
    clients.set(h.name, createAgentClient({ baseUrl: agent.api, token, name: h.name }));
  }
  writeFileSync(peersFile, JSON.stringify(layout.hosts.map((h) => ({ host: h.name, api: agents.get(h.name)?.api ?? "", token, vmotionIp: h.vmk.ip }))));
});

after(async () => {
  await Promise.all([...agents.values()].map((a) => a.close()));
  await teardown(labId);
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
});

test("a guest that saw SSE4.2 is refused towards a Penryn before any byte moves, and moves once its SSE4 mask is in force after a power cycle", { timeout: 180_000 }, async () => {
  // Power on esx01's guest with the Nehalem features; the inventory records what it booted with.
  const booted = specOf(inventory());
  assert.ok(booted.flags.includes("sse4_2"), "the guest sees SSE4.2 on the Nehalem host");
  await client("esx01").createVm(booted.spec);
  await client("esx01").powerOn(booted.spec.name);
  assert.ok(await waitReachable("esx01", "198.18.0.11"), "the guest boots and answers on esx01");
  const withBoot = (flags: readonly string[], mask?: Vm["cpuidMask"]) => (vm: Vm): Vm => ({ ...vm, bootFlags: [...flags], ...(mask === undefined ? {} : { cpuidMask: mask }) });

  const attempt = async (inv: Inventory) => {
    const verdict = createChecker(indexInventory(inv)).check("guest01", "esx02");
    const events: MigrationProgress[] = [];
    const { spec } = specOf(inv);
    const report = await migrate({
      migrationId: `cpu-${events.length}-${Date.now()}`,
      vm: { ...spec, cpuFlags: inv.vms[0]?.bootFlags ?? spec.cpuFlags },
      source: client("esx01"),
      destination: client("esx02"),
      options: { ...DEFAULT_MIGRATE_OPTIONS, stallTimeoutMs: 10_000 },
      check: verdict,
      signal: new AbortController().signal,
      onProgress: (p) => events.push(p),
      clock: systemClock,
    });
    return { verdict, report, events };
  };

  // 1. No mask: refused in validating, naming SSE4.2, and neither host saw anything of it.
  const refused = await attempt(inventory(withBoot(booted.flags)));
  assert.equal(refused.report.outcome, Phase.failed);
  assert.equal(refused.report.failure?.code, MigrationFailureCode.incompatible);
  assert.equal(refused.report.failure.phase, Phase.validating);
  assert.match(refused.report.failure.message, /SSE4\.2|sse4_2/);
  assert.equal(refused.report.bytesSent, 0);
  assert.deepEqual(await client("esx02").listVms(), [], "the destination never got a shell");
  assert.equal((await client("esx01").getVm("guest01")).power, "running");

  // 2. A mask hiding SSE4 set while the guest runs: pending until the power cycle, still refused.
  // The checker names everything a Penryn lacks: SSE4.1/4.2 (the SSE4 mask) and POPCNT (custom).
  const mask = { nx: false, sse3: false, sse4: true, custom: ["popcnt"] };
  const pending = await attempt(inventory(withBoot(booted.flags, mask)));
  assert.equal(pending.report.failure?.code, MigrationFailureCode.incompatible, "a mask is not in force before a power cycle");
  assert.match(pending.report.failure.message, /power cycle|power-cycle|powered on/i);
  assert.deepEqual(await client("esx02").listVms(), []);

  // 3. The power cycle: the guest's QEMU restarts with the masked CPU (no SSE4.x); now it may move.
  const masked = specOf(inventory((vm) => ({ ...vm, cpuidMask: mask })));
  assert.ok(!masked.flags.includes("sse4_2") && !masked.flags.includes("sse4_1"), `masked guest CPU: ${masked.flags.join(" ")}`);
  await client("esx01").powerOff("guest01");
  await client("esx01").destroyVm("guest01");
  await client("esx01").createVm(masked.spec);
  await client("esx01").powerOn("guest01");
  assert.ok(await waitReachable("esx01", "198.18.0.11"), "the guest boots again with the masked CPU");
  const accepted = await attempt(inventory(withBoot(masked.flags, mask)));
  assert.deepEqual(accepted.verdict.errors, [], "no error once the mask is in force");
  assert.equal(accepted.report.outcome, Phase.completed, accepted.report.failure?.message);
  assert.equal(accepted.report.runningOn, "esx02");
  assert.equal((await client("esx02").getVm("guest01")).power, "running");
  assert.ok(await waitReachable("esx02", "198.18.0.11"), "the guest answers on the Penryn host");
});
