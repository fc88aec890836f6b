// Claims and verdicts under concurrency, through a real controller process and real sim
// agents: two requests for one VM raced 200 times (exactly one 202, the other 409 naming the
// winner's task, never two tasks), a queued migration whose destination loses its VMotion
// port while it waits (refused in validating, saying what changed), and a second controller
// on the same SQLite file (refused with one clear line).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { startLab, type Lab } from "./harness.ts";
import { twinLab } from "../support/twin-lab.ts";
import { taskEnded, waitFor } from "../support/tasks.ts";

interface Task { id: string; state: string; vm: string; source: string; destination: string; body: { report?: { outcome: string; runningOn: string; failure?: { code: string; phase: string; message: string } }; recheck?: { added: { code: string }[] } } }
interface ApiError { code: string; message: string; details?: { migration?: string } }

const BIN = new URL("../../bin/ferry.js", import.meta.url).pathname;
const ended = (lab: Lab, id: string): Promise<Task> => taskEnded<Task>(lab, id);

describe("claims and verdicts under concurrency", () => {
  const site = twinLab(20, 16);
  let lab: Lab;
  before(async () => {
    lab = await startLab(site.yaml, [{ name: "esx01" }, { name: "esx02" }], site.vms);
  });
  after(async () => {
    await lab.stop();
  });

  test("two requests for one VM, raced 200 times: exactly one 202, the other 409 naming the task that holds the VM", async () => {
    const where = new Map(site.vms.map((v) => [v.spec.name, "esx01"]));
    let races = 0;
    for (let round = 0; round < 10; round++) {
      // 20 VMs at once, two requests each: the controller interleaves all 40.
      const outcomes = await Promise.all(
        site.vms.map(async ({ spec }) => {
          const to = where.get(spec.name) === "esx01" ? "esx02" : "esx01";
          const pair = await Promise.all([0, 1].map(() => lab.api<Task | ApiError>("POST", "/migrations", { vm: spec.name, to, bandwidthMbps: 50 })));
          return { vm: spec.name, pair };
        }),
      );
      const winners: Task[] = [];
      for (const { vm, pair } of outcomes) {
        races += 1;
        const statuses = pair.map((r) => r.status).sort();
        assert.deepEqual(statuses, [202, 409], `${vm} in round ${round}: ${JSON.stringify(pair.map((r) => r.body))}`);
        const won = pair.find((r) => r.status === 202)?.body as Task;
        const lost = pair.find((r) => r.status === 409)?.body as ApiError;
        assert.equal(lost.code, "CONFLICT");
        assert.match(lost.message, new RegExp(`^${vm} is already migrating \\(task ${won.id}`));
        assert.equal(lost.details?.migration, won.id);
        winners.push(won);
      }
      // Abort what is still queued or running; each ends somewhere, and the next round goes back.
      await Promise.all(winners.map((t) => lab.api("DELETE", `/migrations/${t.id}`)));
      for (const t of winners) {
        const done = await ended(lab, t.id);
        where.set(t.vm, done.body.report?.runningOn ?? t.source);
      }
    }
    assert.equal(races, 200);
    for (const { spec } of site.vms) {
      const tasks = await lab.api<{ items?: Task[] } | Task[]>("GET", `/migrations?vm=${spec.name}&limit=100`);
      const list = Array.isArray(tasks.body) ? tasks.body : (tasks.body.items ?? []);
      assert.equal(list.filter((t) => t.vm === spec.name).length, 10, `${spec.name}: one task per round, never two`);
    }
  });

  test("a queued migration whose destination lost its VMotion port meanwhile is refused in validating, saying what changed", async () => {
    const vms = await lab.api<{ name: string; host: string }[]>("GET", "/vms");
    const onEsx01 = vms.body.filter((v) => v.host === "esx01").map((v) => v.name);
    assert.ok(onEsx01.length >= 5, `5 VMs on esx01 (${onEsx01.length})`);
    // esx01's 1 Gb/s VMotion link runs 4 at once: four slow moves hold it, the fifth waits.
    const slow = [];
    for (const vm of onEsx01.slice(0, 4)) {
      const r = await lab.api<Task>("POST", "/migrations", { vm, to: "esx02", bandwidthMbps: 2 });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      slow.push(r.body);
    }
    const waiting = await lab.api<Task>("POST", "/migrations", { vm: onEsx01[4], to: "esx02" });
    assert.equal(waiting.status, 202, JSON.stringify(waiting.body));
    await waitFor("the fifth to wait in the queue", async () => {
      const { body } = await lab.api<Task & { body: { waitingReason?: string } }>("GET", `/migrations/${waiting.body.id}`);
      return body.state === "queued" && body.body.waitingReason !== undefined ? body : undefined;
    });
    const changed = await lab.api("PATCH", "/hosts/esx02/network/vmk1", { vmotion: false });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    await Promise.all(slow.map((t) => lab.api("DELETE", `/migrations/${t.id}`)));
    const refused = await ended(lab, waiting.body.id);
    assert.equal(refused.state, "failed");
    assert.deepEqual([refused.body.report?.failure?.code, refused.body.report?.failure?.phase], ["INCOMPATIBLE", "validating"]);
    assert.match(refused.body.report?.failure?.message ?? "", /Checked again when it left the queue; since it was queued, new: VMOTION_NOT_ENABLED \(esx02\)/);
    assert.ok(refused.body.recheck?.added.some((f) => f.code === "VMOTION_NOT_ENABLED"), "the task records the new findings");
    assert.equal(refused.body.report?.runningOn, "esx01");
    for (const t of slow) await ended(lab, t.id);
    const back = await lab.api("PATCH", "/hosts/esx02/network/vmk1", { vmotion: true });
    assert.equal(back.status, 200, JSON.stringify(back.body));
  });

  test("a second controller on the same SQLite store is refused with one line", () => {
    const second = spawnSync(process.execPath, [BIN, "controller", "--data-dir", join(lab.dir, "data"), "--listen", "127.0.0.1:0", "--no-save"], { encoding: "utf8", timeout: 60_000 });
    assert.equal(second.status, 1, second.stderr);
    assert.match(second.stderr, /^ferry: another controller \(pid \d+\) uses the SQLite store .*ferry\.db: SQLite serves one controller; run several on PostgreSQL \(--postgres URL\)\n$/);
  });
});
