// One partition row of the fencing table, run inside the network namespace the calling test
// made (fencing-partition.test.ts), with the destination in a second one, the cables between
// them described by FERRY_FENCE_SITE (a PartitionSite as JSON). Exits 0 when the row holds;
// otherwise prints why on stderr and exits 1.
import { requireQemu } from "../../src/drivers/qemu/testing/requirements.ts";
import { stopAllAgents } from "./agents.ts";
import { FENCE_ROWS, type FenceRowId } from "./fence-rows.ts";
import { runFenceRow, type FenceRow, type PartitionSite } from "./fencing.ts";

const id = process.argv[2] as FenceRowId | undefined;
const row: FenceRow | undefined = id === undefined ? undefined : FENCE_ROWS[id];
if (row === undefined) {
  process.stderr.write(`usage: partition-scenario.ts ROW (one of ${Object.keys(FENCE_ROWS).join(", ")})\n`);
  process.exit(2);
}
try {
  const site = JSON.parse(process.env["FERRY_FENCE_SITE"] ?? "null") as PartitionSite | null;
  if (site === null) throw new Error("FERRY_FENCE_SITE is not set: run this through test/engine/fencing-partition.test.ts");
  await runFenceRow(row, { site, ...(row.driver === "qemu" ? { qemu: requireQemu() } : {}) });
  process.stdout.write("ok\n");
} catch (error) {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await stopAllAgents();
}
