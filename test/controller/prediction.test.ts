// Through a real controller and sim agent processes: the prediction's basis is the nominal
// VMotion NIC speed until the host pair carried a migration (or the reverse direction did, or a
// pair that shares its source), then the rate that pair learned
// (kept in the store, shown with each host by GET /api/hosts); and a migration whose downtime
// exceeds its limit ends completed with DOWNTIME_OVER_LIMIT. The overshoot is made certain,
// not timed: an idle VM switches over after one pass with nothing left to send, so the engine
// takes it whatever the limit, and its pause (device state, digest, COMMIT, the ownership
// claim at the controller, RUNNING) cannot fit in 1 ms.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseInventory } from "../../src/core/inventory/parse.ts";
import { labVmSpec } from "../../src/cli/commands/up.ts";
import type { LinkRate } from "../../src/api/schemas.ts";
import type { MigrationReport, PredictionBasis } from "../../src/core/migration/types.ts";
import { startLab, type Lab } from "./harness.ts";
import { taskEnded } from "../support/tasks.ts";
import { runFerry } from "../../src/cli/testing/io.ts";

const LAB_FILE = new URL("../../examples/lab.yaml", import.meta.url).pathname;
const LAB_TEXT = readFileSync(LAB_FILE, "utf8");
const parsed = parseInventory(LAB_TEXT, LAB_FILE);
if (!parsed.ok) throw new Error("examples/lab.yaml does not parse");
const web01 = parsed.inventory.vms.find((v) => v.name === "web01")!;
const web02 = parsed.inventory.vms.find((v) => v.name === "web02")!;
const MiB = 1048576;

interface Preview { prediction: { totalMs: number; basis?: PredictionBasis } | null }
interface MigrationTask { id: string; state: string; body: { prediction?: { basis?: PredictionBasis }; report?: MigrationReport } }

let lab: Lab;
before(async () => {
  lab = await startLab(LAB_TEXT, [{ name: "esx01", linkMbps: 400 }, { name: "esx02", linkMbps: 400 }], [
    { host: "esx01", spec: { ...labVmSpec(web01, undefined, 3), memoryMB: 32, touchedBytes: 16 * MiB } },
    { host: "esx01", spec: { ...labVmSpec(web02, undefined, 4), memoryMB: 16, touchedBytes: 4 * MiB, workload: { kind: "idle", dirtyRateBytesPerSec: 0, workingSetBytes: 0, seed: 4 } } },
  ]);
});
after(async () => {
  await lab.stop();
});

async function migrate(request: Record<string, unknown>): Promise<MigrationTask> {
  const started = await lab.api<{ id: string }>("POST", "/migrations", request);
  assert.equal(started.status, 202, JSON.stringify(started.body));
  return taskEnded<MigrationTask>(lab, started.body.id);
}

test("a pair predicts from the nominal NIC speed, then from the rate its first migration taught", async () => {
  const first = await lab.api<Preview>("POST", "/migrations/preview", { vm: "web01", to: "esx02" });
  assert.equal(first.status, 200);
  const nominal = first.body.prediction?.basis;
  assert.equal(nominal?.linkSource, "nominal");
  assert.equal(nominal.costs, "sim", "the source host's driver's costs");
  assert.equal(nominal.samples, 0);
  // The inventory's VMotion NIC on esx01 is 1 Gb/s.
  assert.equal(nominal.linkRateBytesPerSec, 125e6);

  const there = await migrate({ vm: "web01", to: "esx02" });
  assert.equal(there.state, "completed");
  assert.equal(there.body.prediction?.basis?.linkSource, "nominal");
  const back = await migrate({ vm: "web01", to: "esx01" });
  assert.equal(back.state, "completed");
  // Nothing learned esx02 -> esx01 yet: the other direction of the same link predicts it.
  const reverse = back.body.prediction?.basis;
  assert.equal(reverse?.linkSource, "reverse");
  assert.equal(reverse.samples, 1);
  assert.match(reverse.text, /^nothing learned this way yet: the link rate learned the other way between these hosts, from 1 migration: \d+ Mb\/s$/);

  const again = await lab.api<Preview>("POST", "/migrations/preview", { vm: "web01", to: "esx02" });
  const learned = again.body.prediction?.basis;
  assert.equal(learned?.linkSource, "learned");
  assert.equal(learned.samples, 1);
  assert.match(learned.text, /^link rate learned from 1 migration: \d+ Mb\/s$/);
  // The agents pace the stream at 400 Mb/s, not the inventory's 1 Gb/s: the pair learned that.
  // (Pacing lets a late flow catch up by a batch, so a short migration runs a little over it.)
  assert.ok(learned.linkRateBytesPerSec < 0.6 * nominal.linkRateBytesPerSec, `${learned.linkRateBytesPerSec} B/s learned`);
  const task = await migrate({ vm: "web01", to: "esx02" });
  assert.equal(task.body.prediction?.basis?.linkSource, "learned");

  // web01 is on esx02 now; esx02 -> esx03 has carried nothing either way: the pair that shares its source predicts it, named.
  const nearby = (await lab.api<Preview>("POST", "/migrations/preview", { vm: "web01", to: "esx03" })).body.prediction?.basis;
  assert.equal(nearby?.linkSource, "nearby");
  assert.ok(nearby.samples >= 1, `${nearby.samples} migrations`);
  assert.match(nearby.text, /^nothing learned between these hosts yet: the link rate learned from esx02 to esx01, from \d+ migrations?: \d+ Mb\/s$/);
  assert.ok(nearby.linkRateBytesPerSec < 0.6 * nominal.linkRateBytesPerSec, "the paced rate esx02 -> esx01 learned, not the nominal NIC's");

  const hosts = await lab.api<{ name: string; links: LinkRate[] }[]>("GET", "/hosts");
  assert.equal(hosts.status, 200);
  const links = hosts.body.flatMap((h) => h.links.map((l) => `${h.name}: ${l.source}>${l.destination}:${l.samples}`));
  assert.deepEqual(links, ["esx01: esx01>esx02:2", "esx02: esx02>esx01:1"]);

  // `ferry hosts` lists them under the hosts; `--json` carries them on each host.
  process.env["FERRY_CA_FILE"] = lab.controller.caFile;
  const cli = (...args: string[]) => runFerry([...args, "--controller", lab.controller.url, "--token", lab.controller.token]);
  const table = await cli("hosts");
  assert.equal(table.status, 0, table.err);
  assert.match(table.out, /VMotion links learned from migrations:/);
  assert.match(table.out, /esx01\s+│ esx02\s+│ \d+ Mb\/s\s+│ 2\s+│/);
  const json = await cli("hosts", "--json");
  assert.deepEqual((JSON.parse(json.out) as { name: string; links: LinkRate[] }[]).map((h) => [h.name, h.links.map((l) => l.destination)]), [["esx01", ["esx02"]], ["esx02", ["esx01"]], ["esx03", []]]);
});

test("a downtime over the limit ends completed with DOWNTIME_OVER_LIMIT, judged by the user's limit", async () => {
  const task = await migrate({ vm: "web02", to: "esx02", downtimeMs: 1 });
  assert.equal(task.state, "completed");
  const report = task.body.report;
  assert.ok(report !== undefined && report.downtimeMs > 1, `downtime ${report?.downtimeMs} ms`);
  assert.deepEqual(report.warnings?.map((w) => w.code), ["DOWNTIME_OVER_LIMIT"]);
  const [warning] = report.warnings ?? [];
  assert.match(warning?.message ?? "", /over its 1 ms downtime limit/);
  const within = await migrate({ vm: "web02", to: "esx01", downtimeMs: 60_000 });
  assert.equal(within.state, "completed");
  assert.deepEqual(within.body.report?.warnings ?? [], []);
});
