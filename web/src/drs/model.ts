// DRS and usage as the UI reads them: the API's own types (src/api/schemas-drs.ts and
// schemas-usage.ts, type-only: nothing of the server is bundled), and the few pure words and
// numbers the DRS screens share.
import type { z } from "zod";
import type { DrsConfigSchema, DrsRuleSchema } from "../../../src/api/schemas.ts";
import { formatBytes, formatDuration } from "../tasks/format.ts";

export type { DrsApplyResult, DrsImbalancePoint, DrsView, EvacuationPlanView, MaintenanceAnswer, MaintenanceStatusView, UsageReport, UsagePointView } from "../../../src/api/schemas.ts";
export type DrsConfig = z.infer<typeof DrsConfigSchema>;
export type DrsAutomation = DrsConfig["automation"];
/** A rule as GET /api/drs/rules answers it (defaults filled in). */
export type DrsRule = z.output<typeof DrsRuleSchema>;
export type DrsRuleKind = DrsRule["kind"];

export const AUTOMATION_WORDS: Record<DrsAutomation, string> = {
  manual: "Manual: recommendations wait for approval",
  partial: "Partially automated: initial placement only",
  full: "Fully automated: the controller applies them",
};

/** The migration threshold's words (docs/drs.md, Thresholds). */
export const THRESHOLD_WORDS: Record<number, string> = {
  1: "1 — only rule fixes and maintenance",
  2: "2 — conservative",
  3: "3 — default",
  4: "4",
  5: "5 — aggressive",
};

export const REASON_WORDS = { balance: "balance", rule: "rule", maintenance: "maintenance", overload: "overload" } as const;

/** σ as the balancer reports it, to three decimals (σ of normalised load is 0…~0.5). */
export function sigma(value: number): string {
  return value.toFixed(3);
}

/** A recommendation's predicted cost in one line: GB, time, downtime. */
export function costWords(cost: { bytes: number; totalMs: number; downtimeMs: number }): { bytes: string; time: string; downtime: string } {
  return { bytes: formatBytes(cost.bytes), time: formatDuration(cost.totalMs), downtime: formatDuration(cost.downtimeMs) };
}

/** A rule in words: "web01, web02 kept apart", "db01 must run on esx01, esx02". */
export function ruleWords(rule: DrsRule): string {
  const vms = rule.vms.join(", ");
  switch (rule.kind) {
    case "vm-affinity":
      return `${vms} kept together`;
    case "vm-anti-affinity":
      return `${vms} kept apart`;
    case "vm-host":
      return `${vms} ${rule.mandatory ? "must" : "should"} ${rule.affine ? "" : "not "}run on ${rule.hosts.join(", ")}`;
  }
}
