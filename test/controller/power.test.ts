// Through a real controller and sim agents: powering a VM off, on and through a cycle acts on
// its host's agent and records what the guest booted with, so a CPUID mask set while the VM
// runs stays pending (the checker sees the old features) until the cycle the seed asks for.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseInventory } from "../../src/core/inventory/parse.ts";
import { labVmSpec } from "../../src/cli/commands/up.ts";
import { startLab, type Lab } from "./harness.ts";

const LAB_FILE = new URL("../../examples/lab.yaml", import.meta.url).pathname;
const LAB_TEXT = readFileSync(LAB_FILE, "utf8");
const parsed = parseInventory(LAB_TEXT, LAB_FILE);
if (!parsed.ok) throw new Error("examples/lab.yaml does not parse");
const web01 = parsed.inventory.vms.find((v) => v.name === "web01");
if (web01 === undefined) throw new Error("examples/lab.yaml has no web01");

interface PowerResult { vm: string; host: string; power: string; bootFlags: string[] | null; onAgent: boolean }
interface ErrorBody { code: string; message: string }

let lab: Lab | undefined;
const mustLab = (): Lab => {
  if (lab === undefined) throw new Error("the lab did not start (see before)");
  return lab;
};
before(async () => {
  lab = await startLab(LAB_TEXT, [{ name: web01.host }], [{ host: web01.host, spec: { ...labVmSpec(web01, ["sse2", "pni", "ssse3", "sse4_1", "sse4_2", "popcnt"], 1), memoryMB: 32, touchedBytes: 8 * 1048576 } }]);
});
after(async () => {
  await lab?.stop();
});

test("a power cycle recreates the VM on its agent with the CPU configured now and records it as bootFlags", async () => {
  const cycled = await mustLab().api<PowerResult>("POST", "/vms/web01/power", { action: "cycle" });
  assert.equal(cycled.status, 200, JSON.stringify(cycled.body));
  assert.equal(cycled.body.power, "on");
  assert.equal(cycled.body.onAgent, true);
  assert.ok(cycled.body.bootFlags?.includes("sse4_2"), `booted with ${String(cycled.body.bootFlags)}`);
  const onAgent = await mustLab().agent(web01.host).getVm("web01");
  assert.equal(onAgent.power, "running");
  assert.deepEqual([...(onAgent.spec?.cpuFlags ?? [])].sort(), cycled.body.bootFlags);
  assert.equal(onAgent.spec?.memoryMB, 32, "the agent's own spec is kept (only the CPU changes)");

  // A mask set now is pending: the guest still has what it booted with.
  const masked = await mustLab().api("PATCH", "/vms/web01", { cpuidMask: { nx: false, sse3: false, sse4: true, custom: [] } });
  assert.equal(masked.status, 200, JSON.stringify(masked.body));
  const pending = await mustLab().api<{ bootFlags?: string[] }>("GET", "/vms/web01");
  assert.ok(pending.body.bootFlags?.includes("sse4_2"), "the running guest keeps SSE4.2 until the power cycle");

  const again = await mustLab().api<PowerResult>("POST", "/vms/web01/power", { action: "cycle" });
  assert.equal(again.status, 200);
  assert.ok(again.body.bootFlags !== null && !again.body.bootFlags.includes("sse4_2") && !again.body.bootFlags.includes("sse4_1"), `after the cycle: ${String(again.body.bootFlags)}`);
  const after = await mustLab().agent(web01.host).getVm("web01");
  assert.ok(!(after.spec?.cpuFlags ?? []).includes("sse4_2"), "the agent's VM runs with the masked CPU");
});

test("off and on: the agent's VM follows, off forgets bootFlags, a second on is a conflict", async () => {
  const off = await mustLab().api<PowerResult>("POST", "/vms/web01/power", { action: "off" });
  assert.equal(off.status, 200);
  assert.equal(off.body.power, "off");
  assert.equal(off.body.bootFlags, null);
  assert.equal((await mustLab().agent(web01.host).getVm("web01")).power, "off");
  const on = await mustLab().api<PowerResult>("POST", "/vms/web01/power", { action: "on" });
  assert.equal(on.status, 200);
  assert.equal((await mustLab().agent(web01.host).getVm("web01")).power, "running");
  const twice = await mustLab().api<ErrorBody>("POST", "/vms/web01/power", { action: "on" });
  assert.equal(twice.status, 409);
  assert.match(twice.body.message, /already on; use "cycle"/);
});

test("bad input and roles: an unknown VM, an unknown action, a read-only token", async () => {
  const missing = await mustLab().api<ErrorBody>("POST", "/vms/nope/power", { action: "cycle" });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.code, "NOT_FOUND");
  const bad = await mustLab().api<ErrorBody>("POST", "/vms/web01/power", { action: "reboot" });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.code, "INVALID_INPUT");
  const created = await mustLab().api<{ token: string }>("POST", "/tokens", { name: "viewer", role: "read-only" });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const response = await mustLab().controller.fetch(`${mustLab().controller.url}/api/vms/web01/power`, { method: "POST", headers: { authorization: `Bearer ${created.body.token}`, "content-type": "application/json" }, body: JSON.stringify({ action: "off" }) });
  assert.equal(response.status, 403);
});

test("ferry vm power: the CLI says what the guest booted with; a bad action is a one-line usage error, exit 2", async () => {
  const { spawnSync } = await import("node:child_process");
  const bin = new URL("../../bin/ferry.js", import.meta.url).pathname;
  const env = { ...process.env, FERRY_URL: mustLab().controller.url, FERRY_TOKEN: mustLab().controller.token };
  const ok = spawnSync(process.execPath, [bin, "vm", "power", "web01", "cycle", "--json"], { env, encoding: "utf8" });
  assert.equal(ok.status, 0, ok.stderr);
  const answer = JSON.parse(ok.stdout) as PowerResult;
  assert.equal(answer.power, "on");
  assert.equal(answer.onAgent, true);
  const bad = spawnSync(process.execPath, [bin, "vm", "power", "web01", "reboot"], { env, encoding: "utf8" });
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
  assert.match(bad.stderr, /unknown power action "reboot": use on, off or cycle/);
});
