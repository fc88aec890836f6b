// DRS end to end through a real controller process and four real sim agent processes: a
// cluster imbalanced by what the agents measure (six busy VMs started on esx01) balanced by real live migrations through
// `ferry drs recommend` / `apply`; a host evacuated by `ferry host maintenance enter` with the
// plan's ETA printed first and the host empty and in maintenance at the end; a VM pinned to
// its host's CPUs blocks entry and says why; a read-only token cannot apply.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseInventory } from "../../src/core/inventory/parse.ts";
import { labVmSpec } from "../../src/cli/commands/up.ts";
import { runFerry } from "../../src/cli/testing/io.ts";
import { DRS_LAB_BALANCED, DRS_LAB_HOSTS, drsLabInventory, drsLabWorkload } from "../../src/server/testing/drs-lab.ts";
import { startLab, type Lab } from "./harness.ts";
import { waitFor } from "../support/tasks.ts";

const HOSTS = [...DRS_LAB_HOSTS];
const BALANCED: readonly string[] = DRS_LAB_BALANCED;

interface View {
  imbalance: number;
  basis: { demand: string; text: string };
  recommendations: { id: string; vm: string; from: string; to: string; reason: { kind: string } }[];
  unmovable: { vm: string; reason: string }[];
}

interface Task {
  state: string;
  vm: string;
  destination: string;
  body: { request: { reason?: string } };
}

describe("DRS with real sim agents", () => {
  let lab: Lab;
  const inventory = drsLabInventory();
  before(async () => {
    const parsed = parseInventory(JSON.stringify(inventory), "drs-lab.json");
    assert.ok(parsed.ok, parsed.ok ? "" : JSON.stringify(parsed));
    // The six run a steady writer: their measured CPU is what makes esx01 the busy host.
    const vms = parsed.inventory.vms.map((v, i) => {
      const spec = labVmSpec(v, undefined, 11 + i);
      return { host: v.host, spec: BALANCED.includes(v.name) ? { ...spec, workload: drsLabWorkload(11 + i) } : spec };
    });
    // The automation loop runs every 2 s; the cluster is manual until the last test makes it full.
    lab = await startLab(JSON.stringify(inventory), HOSTS.map((name) => ({ name, linkMbps: 1000 })), vms, ["--drs-interval", "2000"]);
  });
  after(async () => {
    await lab.stop();
  });

  const ferry = (...args: string[]) => runFerry([...args, "--controller", lab.controller.url, "--token", lab.controller.token]);

  test("ferry drs recommend / apply balances the cluster by live migration: σ falls, every move completes", async () => {
    // The state the recommendation needs: every VM's demand measured by its host's agent (on a
    // busy machine the first samples come late, and a VM counted at its reservation moves nothing).
    await waitFor("every VM's demand measured", async () => {
      const { body } = await lab.api<View>("GET", "/clusters/Prod/drs");
      return body.basis.demand === "measured" ? body : undefined;
    });
    const shown = await ferry("drs", "recommend", "Prod");
    assert.equal(shown.status, 0, shown.err + shown.out);
    assert.match(shown.out, /σ before → after/);
    assert.match(shown.out, /pinned01/, "the pinned VM is listed as staying, with why");

    const before = (await ferry("drs", "recommend", "Prod", "--json"));
    const view = JSON.parse(before.out) as View;
    assert.ok(view.recommendations.length > 0, before.out);
    assert.ok(view.recommendations.every((r) => r.from === "esx01" && BALANCED.includes(r.vm)), before.out);
    assert.match(view.unmovable.find((u) => u.vm === "pinned01")?.reason ?? "", /CPU affinity/);

    // One move by id here; the automation loop makes the rest (next test).
    const first = view.recommendations[0];
    assert.ok(first !== undefined);
    const applied = await ferry("drs", "apply", first.id, "--wait");
    assert.equal(applied.status, 0, applied.err + applied.out);
    const migrations = [...applied.out.matchAll(/migration (m-[\w-]+)/g)].map((m) => m[1] ?? "");
    assert.equal(migrations.length, 1, applied.out);
    for (const id of migrations) {
      const task = (await lab.api<Task>("GET", `/migrations/${id}`)).body;
      assert.equal(task.state, "completed", `${id}: ${task.state}`);
      assert.match(task.body.request.reason ?? "", /^DRS balance/);
      const where = await lab.agent(task.destination).listVms();
      assert.ok(where.some((v) => v.name === task.vm && v.power === "running"), `${task.vm} runs on ${task.destination}`);
    }
    const after = (await lab.api<View>("GET", "/clusters/Prod/drs")).body;
    assert.ok(after.imbalance < view.imbalance, `σ ${view.imbalance} → ${after.imbalance}`);
  });

  test("a fully automated cluster balances itself: the loop starts the moves, they complete, σ falls", async () => {
    // Threshold 5 (the most aggressive): whatever one move left of the measured imbalance on a
    // busy machine, the five VMs still on esx01 are work for the loop.
    const set = await ferry("drs", "config", "Prod", "--automation", "full", "--threshold", "5");
    assert.equal(set.status, 0, set.err);
    assert.match(set.out, /automation full/);
    const before = (await lab.api<View>("GET", "/clusters/Prod/drs")).body;
    assert.ok(before.recommendations.length > 0, `still imbalanced after one move (σ ${before.imbalance})`);
    // Wait for the state: a migration the loop started (requested by "drs") that completed.
    const done = await waitFor("a DRS-started move completed", async () => {
      const tasks = (await lab.api<(Task & { createdBy: string })[]>("GET", "/migrations?state=completed&limit=100")).body;
      return tasks.find((t) => t.createdBy === "drs" && /^DRS balance/.test(t.body.request.reason ?? ""));
    });
    assert.ok((await lab.agent(done.destination).listVms()).some((v) => v.name === done.vm && v.power === "running"));
    assert.equal((await ferry("drs", "config", "Prod", "--automation", "manual", "--threshold", "3")).status, 0);
    // Later tests start from a quiet cluster: every open migration ended.
    await waitFor("no open migration", async () => {
      const open = (await lab.api<Task[]>("GET", "/migrations?state=queued,validating,preparing,precopy,switchover&limit=100")).body;
      return open.length === 0 ? true : undefined;
    });
    const after = (await lab.api<View>("GET", "/clusters/Prod/drs")).body;
    assert.ok(after.imbalance < before.imbalance, `σ ${before.imbalance} → ${after.imbalance}`);
  });

  test("a read-only token may read DRS but not apply it", async () => {
    const made = await lab.api<{ token: string }>("POST", "/tokens", { name: "viewer", role: "read-only" });
    assert.equal(made.status, 201);
    const asViewer = (...args: string[]) => runFerry([...args, "--controller", lab.controller.url, "--token", made.body.token]);
    assert.equal((await asViewer("drs", "recommend", "Prod")).status, 0);
    const refused = await asViewer("drs", "apply", "any-id");
    assert.equal(refused.status, 1, refused.err);
    assert.match(refused.err, /read-only/);
    assert.doesNotMatch(refused.err, /\n\s+at /, "one line, no stack");
  });

  test("a VM with nowhere to go blocks maintenance mode, naming it and why", async () => {
    const r = await ferry("host", "maintenance", "enter", "esx04");
    assert.equal(r.status, 1, r.err + r.out);
    assert.match(r.err, /pinned01 has nowhere to go \(.*CPU affinity/);
    const host = (await lab.api<{ state: string }>("GET", "/hosts/esx04/maintenance")).body;
    assert.equal(host.state, "out");
  });

  test("ferry host maintenance enter evacuates a host by live migration: plan and ETA first, the host empty and in maintenance at the end", async () => {
    // A move the automation loop started as it was set back to manual may still run (a VM that
    // is migrating blocks maintenance): wait until none is open.
    await waitFor("no open migration", async () => {
      const open = (await lab.api<Task[]>("GET", "/migrations?state=queued,validating,preparing,precopy,switchover&limit=100")).body;
      return open.length === 0 ? true : undefined;
    });
    // The host to evacuate: the one with the most running VMs now. How many the automation loop
    // above moved off esx01 depends on the machine's pace (on a busy one, all of them); esx04
    // holds the VM that cannot move (the test before).
    const now = (await lab.api<{ name: string; host: string; power: string }[]>("GET", "/vms")).body;
    const running = (h: string): number => now.filter((v) => v.host === h && v.power === "on").length;
    const host = HOSTS.filter((h) => h !== "esx04").sort((a, b) => running(b) - running(a))[0] ?? "esx01";
    assert.ok(running(host) > 0, `a host with VMs to evacuate: ${JSON.stringify(now)}`);
    const dry = await ferry("host", "maintenance", "enter", host, "--dry-run");
    assert.equal(dry.status, 0, dry.err + dry.out);
    assert.match(dry.out, new RegExp(`evacuation plan for ${host}: [1-9]\\d* live migration\\(s\\), ETA [\\d.]+ s`));

    const r = await ferry("host", "maintenance", "enter", host);
    assert.equal(r.status, 0, r.err + r.out);
    const eta = r.out.indexOf("ETA");
    const progress = r.out.search(/→ esx0\d: (completed|precopy|queued|preparing|validating|switchover)/);
    assert.ok(eta >= 0 && (progress < 0 || eta < progress), `plan before progress:\n${r.out}`);
    assert.match(r.out, new RegExp(`${host} is in maintenance mode`));
    const vms = (await lab.api<{ name: string; host: string }[]>("GET", "/vms")).body;
    assert.deepEqual(vms.filter((v) => v.host === host).map((v) => v.name), []);
    assert.deepEqual((await lab.agent(host).listVms()).filter((v) => v.power === "running").map((v) => v.name), []);
    const hosts = (await lab.api<{ name: string; maintenance: boolean }[]>("GET", "/hosts")).body;
    assert.equal(hosts.find((h) => h.name === host)?.maintenance, true);

    // A host in maintenance is never a destination: DRS leaves it empty.
    const view = (await lab.api<View>("GET", "/clusters/Prod/drs")).body;
    assert.ok(view.recommendations.every((r2) => r2.to !== host));
    const exit = await ferry("host", "maintenance", "exit", host);
    assert.equal(exit.status, 0, exit.err);
    assert.equal((await lab.api<{ name: string; maintenance: boolean }[]>("GET", "/hosts")).body.find((h) => h.name === host)?.maintenance, false);
  });
});
