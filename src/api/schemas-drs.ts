// DRS in the API contract (issue 14): a cluster's settings, its recommendations with reason,
// gain and cost, unmovable VMs with why, rules, and maintenance mode with its evacuation plan.
// Re-exported by schemas.ts: server, CLI and web import them from there.
import { z } from "@hono/zod-openapi";
import { DrsRuleSchema as InventoryDrsRuleSchema, ObjectNameSchema } from "../core/inventory/schema.ts";

export const DrsAutomationSchema = z.enum(["manual", "partial", "full"]).openapi({ description: "manual: recommendations wait for approval; partial: initial placement only; full: the controller applies them" });

export const DrsConfigSchema = z
  .object({
    automation: DrsAutomationSchema,
    threshold: z.number().int().min(1).max(5).openapi({ description: "Migration threshold: 1 only rule fixes and maintenance, 5 aggressive" }),
    maxMovesPerRun: z.number().int().positive(),
    maxMovesPerHost: z.number().int().positive(),
  })
  .openapi("DrsConfig");

export const DrsConfigPatchSchema = z
  .object({
    automation: DrsAutomationSchema.optional(),
    threshold: z.number().int().min(1, "must be 1 to 5").max(5, "must be 1 to 5").optional(),
    maxMovesPerRun: z.number().int().positive().optional(),
    maxMovesPerHost: z.number().int().positive().optional(),
  })
  .strict()
  .openapi("DrsConfigPatch");

const cost = z.object({ bytes: z.number(), totalMs: z.number(), downtimeMs: z.number() }).openapi("DrsMoveCost", { description: "Ferry's pre-copy prediction of the move" });

export const DrsRecommendationSchema = z
  .object({
    id: z.string(),
    vm: z.string(),
    from: z.string(),
    to: z.string(),
    reason: z.object({ kind: z.enum(["balance", "rule", "maintenance", "overload"]), text: z.string() }),
    gain: z.object({ imbalanceBefore: z.number(), imbalanceAfter: z.number() }).openapi({ description: "Cluster σ before and after this move, in the order the run applies them" }),
    cost,
  })
  .openapi("DrsRecommendation");

export const DrsUnmovableSchema = z.object({ vm: z.string(), reason: z.string() }).openapi("DrsUnmovable");

export const DrsImbalancePointSchema = z
  .object({ at: z.number(), imbalance: z.number().openapi({ description: "σ of normalised host load at `at`" }), target: z.number().openapi({ description: "The target σ the cluster's threshold set then" }) })
  .openapi("DrsImbalancePoint");

export const DrsViewSchema = z
  .object({
    cluster: z.string(),
    config: DrsConfigSchema,
    imbalance: z.number().openapi({ description: "σ of normalised host load now" }),
    targetImbalance: z.number(),
    imbalanceAfter: z.number().openapi({ description: "σ once every recommendation is applied" }),
    recommendations: z.array(DrsRecommendationSchema),
    unmovable: z.array(DrsUnmovableSchema),
    basis: z
      .object({
        demand: z.enum(["measured", "fallback", "mixed"]),
        fallbackVms: z.array(z.string()),
        costFrom: z.enum(["agents", "inventory"]),
        limited: z
          .array(z.object({ vm: z.string(), resource: z.enum(["cpu", "memory"]), pool: z.string(), demand: z.number(), entitlement: z.number() }))
          .default([])
          .openapi({ description: "VMs a resource pool's limit holds below their demand (the nearest limited pool): the balancer counts their entitlement, divided by shares" }),
        text: z.string(),
      })
      .openapi({ description: "Where demand and costs came from: a VM without a usage sample counts its reservation, else its configured memory and 0 CPU; a VM under a pool's limit counts its entitlement" }),
    at: z.number(),
    history: z.array(DrsImbalancePointSchema).openapi({
      description: "The cluster's σ over the last hour, oldest first: one point every usage sampling interval (20 s, 180 points) and one per view; the last is this view's. Kept in memory only: a restarted controller starts with none.",
    }),
  })
  .openapi("DrsView");

const applied = {
  started: z.array(z.object({ id: z.string(), vm: z.string(), from: z.string(), to: z.string(), migration: z.string() })),
  skipped: z.array(z.object({ id: z.string(), reason: z.string() })),
};

export const DrsApplyRequestSchema = z
  .object({ ids: z.array(z.string().min(1)).min(1, "give at least one recommendation id").max(1000) })
  .strict()
  .openapi("DrsApplyRequest");
export const DrsApplyResultSchema = z.object(applied).openapi("DrsApplyResult");
export const DrsRunSchema = DrsViewSchema.extend(applied).openapi("DrsRun");

export const DrsRuleSchema = InventoryDrsRuleSchema.meta({ id: "DrsRule" });
export const DrsRuleListSchema = z.array(DrsRuleSchema).openapi("DrsRuleList");

export const MaintenanceRequestSchema = z
  .object({
    action: z.enum(["enter", "exit"]),
    dryRun: z.boolean().default(false).openapi({ description: "Enter: answer with the evacuation plan and start nothing" }),
    poweredOff: z.enum(["leave", "move-cold"]).default("leave").openapi({ description: "Powered-off VMs: left registered on the host, or moved cold" }),
  })
  .strict()
  .openapi("MaintenanceRequest");

export const EvacuationPlanSchema = z
  .object({
    host: z.string(),
    moves: z.array(DrsRecommendationSchema),
    blocked: z.array(DrsUnmovableSchema).openapi({ description: "Powered-on VMs with nowhere to go: they block entry" }),
    powerOff: z.array(z.string()).openapi({ description: "Powered-off and suspended VMs" }),
    etaMs: z.number().openapi({ description: "Predicted time to evacuate" }),
  })
  .openapi("EvacuationPlan");

export const MaintenanceStatusSchema = z
  .object({
    host: z.string(),
    state: z.enum(["out", "entering", "in", "failed"]),
    plan: EvacuationPlanSchema.optional(),
    poweredOff: z.enum(["leave", "move-cold"]).optional(),
    moves: z.array(z.object({ vm: z.string(), to: z.string(), migration: z.string(), cold: z.boolean(), state: z.string(), percent: z.number() })),
    refused: z.array(z.object({ vm: z.string(), reason: z.string() })),
    message: z.string(),
    startedAt: z.number().optional(),
  })
  .openapi("MaintenanceStatus");

export const MaintenanceAnswerSchema = z
  .object({ host: ObjectNameSchema, dryRun: z.boolean(), plan: EvacuationPlanSchema.optional().openapi({ description: "The evacuation plan (enter); absent for exit" }), status: MaintenanceStatusSchema })
  .openapi("MaintenanceAnswer");

export type DrsView = z.infer<typeof DrsViewSchema>;
export type DrsImbalancePoint = z.infer<typeof DrsImbalancePointSchema>;
export type DrsRun = z.infer<typeof DrsRunSchema>;
export type DrsApplyResult = z.infer<typeof DrsApplyResultSchema>;
export type EvacuationPlanView = z.infer<typeof EvacuationPlanSchema>;
export type MaintenanceStatusView = z.infer<typeof MaintenanceStatusSchema>;
export type MaintenanceAnswer = z.infer<typeof MaintenanceAnswerSchema>;
