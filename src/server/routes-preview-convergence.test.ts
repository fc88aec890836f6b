// The preview's convergence part on its own: a post-copy asked of a sim source is refused
// (the sim driver has no post-copy), and nothing is proposed for one.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { MigrationPreview } from "../api/schemas.ts";
import { withConvergence } from "./routes-preview.ts";

function preview(costs: "sim" | "qemu", refusal: string | null = null): MigrationPreview {
  const basis = { linkRateBytesPerSec: 1, linkSource: "nominal" as const, samples: 0, costs, safetyMarginMs: 0, text: "" };
  return {
    vm: "web01", source: "esx01", to: "esx02", pool: null, priority: "high", ok: true, errors: [], warnings: [], refusal, predictedFrom: "agent",
    prediction: { passes: 30, bytes: 1, totalMs: 1, downtimeMs: 900, converges: false, note: "not converging", throttlePercent: 99, basis },
  };
}

test("post-copy asked of a sim source: refused in words, nothing proposed", () => {
  const p = withConvergence(preview("sim"), { kind: "post-copy", afterPasses: 2 });
  assert.match(p.refusal ?? "", /esx01 runs the sim driver, which has no post-copy/);
  assert.equal(p.proposal, undefined);
  assert.equal(withConvergence(preview("sim"), { kind: "auto-converge" }).proposal, undefined, "nothing proposed that the sim cannot do");
  assert.equal(withConvergence(preview("sim", "already migrating"), { kind: "post-copy", afterPasses: 2 }).refusal, "already migrating", "an earlier refusal stays");
});

test("a qemu source that cannot converge: post-copy proposed, no refusal added", () => {
  const p = withConvergence(preview("qemu"), { kind: "auto-converge" });
  assert.equal(p.refusal, null);
  assert.equal(p.proposal?.policy.kind, "post-copy");
});
