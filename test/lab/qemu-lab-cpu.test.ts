// QEMU does not check CPU compatibility (QEMU-NOTES trap 1): a guest moved to a CPU without a
// feature it uses "migrates", then crashes on the first such instruction. This shows Ferry
// refusing exactly that move before any byte is sent, as a user meets it: `ferry lab up
// --cpus Nehalem,Penryn` gives each host's agent `qemu.tcgCpuModel` (under TCG the CPU a
// guest gets is QEMU's emulation, so a host presents the model its agent names, and its
// observed facts carry that model's features; no cluster baseline), guest01 booted on the
// Nehalem and seeing SSE4.2, `ferry migrate guest01 --to esx02` refused in validating (exit 1)
// with the reason and its fix, the Penryn's agent never asked for anything; the CPUID mask the
// fix names is pending while the guest runs; `ferry vm power guest01 cycle` boots it with the
// mask, and the same move runs and the guest answers on the Penryn. Needs root, QEMU and the
// guest: without them it FAILS saying what to install.
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import type { MigrationReport } from "../../src/core/migration/types.ts";
import { requireQemu, requireRoot } from "../../src/drivers/qemu/testing/requirements.ts";
import { waitForGuest } from "../../src/cli/commands/lab-qemu.ts";
import { listLab } from "../../src/lab/netns.ts";
import { NamespaceProber, ProbeAnswer } from "../../src/lab/prober.ts";
import { agentGet, keepLabLogs, labCli } from "./support.ts";

const labId = `k${(process.pid % 46656).toString(36)}`;
const cli = labCli("lab-cpu");
const { ferry, home } = cli;

after(async () => {
  keepLabLogs(home, labId);
  await cli.cleanup(labId);
});

/** `ferry migrate --json`'s last line: the report, and the exit code. */
async function migrate(vm: string, to: string): Promise<{ code: number; report: MigrationReport | undefined; stderr: string; stdout: string }> {
  const run = await ferry("migrate", vm, "--to", to, "--watch", "--json");
  const lines = run.stdout.trim().split("\n").filter((l) => l !== "");
  let report: MigrationReport | undefined;
  try {
    report = (JSON.parse(lines[lines.length - 1] ?? "{}") as { report?: MigrationReport }).report;
  } catch {
    report = undefined;
  }
  return { code: run.code, report, stderr: run.stderr, stdout: run.stdout };
}

test("a guest that saw SSE4.2 is refused towards a Penryn before any byte moves; after the SSE4 + POPCNT mask and a power cycle it moves", { timeout: 360_000 }, async (t) => {
  requireRoot();
  requireQemu();
  // A guest's boot under TCG on a busy machine takes 30 s and more.
  const lab = await cli.up(["--driver", "qemu", "--hosts", "2", "--cpus", "Nehalem,Penryn", "--id", labId, "--listen", "127.0.0.1:0"], 180_000);
  t.diagnostic(`lab up: ${lab.startedInMs} ms (accelerator ${lab.accelerator})`);
  const proc = cli.upProcess;
  assert.ok(proc !== undefined);
  assert.deepEqual(lab.hosts.map((h) => `${h.name} ${h.cpu}`), ["esx01 Nehalem", "esx02 Penryn"]);
  const saved = JSON.parse(readFileSync(join(home, "controller.json"), "utf8")) as { url: string; token: string };
  const api = async <T>(path: string): Promise<T> => (await (await fetch(`${saved.url}/api${path}`, { headers: { authorization: `Bearer ${saved.token}` } })).json()) as T;
  const agentPki = join(lab.dir, "data", "pki");
  const esx02 = lab.hosts[1];
  assert.ok(esx02 !== undefined);
  const esx02Vms = (): Promise<unknown[]> => agentGet<unknown[]>(esx02.namespace, esx02.api, "/v1/vms", agentPki);

  // 0. Each TCG host presents the model its agent's config names, and its observed facts say so.
  for (const [host, model] of [["esx01", "Nehalem"], ["esx02", "Penryn"]] as const) {
    const config = JSON.parse(readFileSync(join(lab.dir, `agent-${host}.yaml`), "utf8")) as { qemu?: { tcgCpuModel?: string } };
    assert.equal(config.qemu?.tcgCpuModel, model, `${host}'s agent presents ${model}`);
    const record = await api<{ cpu: { modelName: string; flags: string[] } }>(`/hosts/${host}`);
    assert.equal(record.cpu.modelName, `${model} (QEMU TCG)`);
    assert.equal(record.cpu.flags.includes("sse4_2"), model === "Nehalem", `${host}: ${record.cpu.flags.join(" ")}`);
  }

  // 1. Refused: SSE4.2 (and POPCNT) named with the mask that fixes it; nothing reached esx02.
  const vm = await api<{ bootFlags?: string[] }>("/vms/guest01");
  assert.ok(vm.bootFlags?.includes("sse4_2"), "the inventory records what the guest booted with");
  const check = await ferry("check", "--vm", "guest01", "--to", "esx02");
  assert.equal(check.code, 1);
  assert.match(check.stdout, /CPU_FEATURE_MISSING[\s\S]*SSE4\.2/);
  const refused = await migrate("guest01", "esx02");
  assert.equal(refused.code, 1, refused.stdout + refused.stderr);
  assert.match(refused.stdout + refused.stderr, /SSE4\.2|sse4_2/);
  if (refused.report !== undefined) {
    assert.equal(refused.report.failure?.code, "INCOMPATIBLE");
    assert.equal(refused.report.bytesSent, 0);
  }
  assert.deepEqual(await esx02Vms(), [], "the Penryn's agent got no shell, no stream");

  // 2. The mask the fix names, set while the guest runs: pending, still refused.
  const masked = await ferry("vm", "set", "guest01", "--mask", "sse4,custom:popcnt");
  assert.equal(masked.code, 0, masked.stderr);
  const pending = await migrate("guest01", "esx02");
  assert.equal(pending.code, 1);
  assert.match(pending.stdout + pending.stderr, /power cycle/i);
  assert.deepEqual(await esx02Vms(), []);

  // 3. The power cycle: QEMU restarts with the masked CPU; the same move now runs.
  const cycled = await ferry("vm", "power", "guest01", "cycle", "--json");
  assert.equal(cycled.code, 0, cycled.stderr);
  const booted = JSON.parse(cycled.stdout) as { bootFlags: string[] };
  assert.ok(!booted.bootFlags.includes("sse4_2") && !booted.bootFlags.includes("popcnt"), booted.bootFlags.join(" "));
  const prober = new NamespaceProber(lab.client.namespace);
  try {
    const bootMs = await waitForGuest(lab.client.namespace, "198.18.0.11", 120_000);
    t.diagnostic(`guest01 answered ${Math.round(bootMs)} ms after the power cycle`);
    const moved = await migrate("guest01", "esx02");
    assert.equal(moved.code, 0, moved.stdout + moved.stderr);
    assert.equal(moved.report?.outcome, "completed");
    assert.equal(moved.report.runningOn, "esx02");
    assert.equal(moved.report.failure, undefined, JSON.stringify(moved.report.failure));
    t.diagnostic(`masked guest01 → Penryn: total ${moved.report.totalMs} ms, downtime ${moved.report.downtimeMs} ms`);
    assert.equal(await prober.probe("198.18.0.11", 7000, 2000), ProbeAnswer.open, "the guest answers from the Penryn host");
  } finally {
    prober.close();
  }

  const upExited = once(proc, "exit");
  const down = await ferry("lab", "down", "--id", labId);
  assert.equal(down.code, 0, down.stderr);
  await upExited;
  assert.deepEqual(await listLab(labId), { namespaces: [], links: [] });
});
