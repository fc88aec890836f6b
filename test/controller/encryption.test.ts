// Encrypted VMotion through a real controller and real sim agents: the cluster's setting
// reaches both ends (the destination listens in clear only when the setting says so), a move
// between clusters takes the stronger setting, a request may ask for more and never for less,
// and the task's report says whether the stream was encrypted.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseInventory } from "../../src/core/inventory/parse.ts";
import { labVmSpec } from "../../src/cli/commands/up.ts";
import { type Lab, migrationReport, startLab } from "./harness.ts";

const LAB_FILE = new URL("../../examples/lab.yaml", import.meta.url).pathname;
// Prod (esx01, esx02) sends VMotion in clear; Legacy (esx03) keeps the default, required.
const LAB_TEXT = readFileSync(LAB_FILE, "utf8").replace("  - name: Prod\n", "  - name: Prod\n    vmotionEncryption: disabled\n");
const parsed = parseInventory(LAB_TEXT, LAB_FILE);
if (!parsed.ok) throw new Error("the encryption lab's inventory does not parse");
// web02 may go to esx03 (in Legacy) with warnings only.
const web02 = parsed.inventory.vms.find((v) => v.name === "web02");
if (web02 === undefined) throw new Error("examples/lab.yaml has no web02");

interface Task { id: string; state: string; body: { report?: { outcome: string; runningOn: string; encrypted?: boolean; failure?: { code: string; message: string } } } }

function finished(lab: Lab, id: string): Promise<NonNullable<Task["body"]["report"]>> {
  return migrationReport(lab, id);
}

describe("encrypted VMotion through the controller", () => {
  let lab: Lab;
  before(async () => {
    lab = await startLab(LAB_TEXT, [{ name: "esx01" }, { name: "esx02" }, { name: "esx03" }], [{ host: "esx01", spec: { ...labVmSpec(web02, undefined, 7), memoryMB: 32, touchedBytes: 16 * 1048576 } }]);
  });
  after(async () => {
    await lab.stop();
  });

  const move = async (to: string, extra: Record<string, unknown> = {}): Promise<{ status: number; report?: NonNullable<Task["body"]["report"]>; message?: string }> => {
    const started = await lab.api<Task & { message?: string }>("POST", "/migrations", { vm: "web02", to, acceptWarnings: "all", ...extra });
    if (started.status >= 300) return { status: started.status, message: started.body.message ?? "" };
    return { status: started.status, report: await finished(lab, started.body.id) };
  };

  test("within a cluster set to disabled the stream goes in clear", async () => {
    const { report } = await move("esx02");
    assert.equal(report?.outcome, "completed", report?.failure?.message);
    assert.equal(report.encrypted, false);
  });

  test("a request may ask for more than its cluster: required encrypts", async () => {
    const { report } = await move("esx01", { vmotionEncryption: "required" });
    assert.equal(report?.outcome, "completed", report?.failure?.message);
    assert.equal(report.encrypted, true);
  });

  test("a move into a cluster that requires encryption is encrypted, and a request for less is refused", async () => {
    const weaker = await move("esx03", { vmotionEncryption: "disabled" });
    assert.equal(weaker.status, 422);
    assert.match(weaker.message ?? "", /Legacy sets encrypted VMotion to required; a migration may ask for a stronger setting, not disabled/);
    const { report } = await move("esx03");
    assert.equal(report?.outcome, "completed", report?.failure?.message);
    assert.equal(report.encrypted, true);
  });
});
