// Tasks (issue 15): every operation the controller recorded and every migration, in one shape
// (the core's Operation), with the list's query. GET /api/operations, `ferry tasks`, the web's
// Recent tasks and Tasks page read it.
import { z } from "@hono/zod-openapi";
import { OperationObjectSchema, OperationSchema, OperationState, OperationStateSchema } from "../core/operations/schema.ts";

export { OperationObjectSchema, OperationSchema, OperationState, OperationStateSchema };
export type { Operation } from "../core/operations/schema.ts";

const STATES = new Set<string>(Object.values(OperationState));

export const OperationListQuerySchema = z.object({
  object: z.string().min(1).max(200).optional().openapi({ description: "Only tasks on this object: a VM, host, cluster, template, token or DRS rule's name (a migration's VM)", example: "web01" }),
  user: z.string().min(1).max(200).optional().openapi({ description: "Only tasks this token's name started", example: "admin" }),
  state: z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined) return undefined;
      const states = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
      const bad = states.find((s) => !STATES.has(s));
      if (bad !== undefined) {
        ctx.addIssue({ code: "custom", message: `unknown state "${bad}": give running, succeeded, failed or cancelled, comma-separated` });
        return z.NEVER;
      }
      return states as OperationState[];
    })
    .openapi({ type: "string", description: "Only tasks in these states, comma-separated: running, succeeded, failed, cancelled", example: "running,failed" }),
  kind: z.enum(["all", "operation", "migration"]).default("all").openapi({ description: "operation: no migrations; migration: migrations only" }),
  before: z.coerce.number().int().nonnegative().optional().openapi({ description: "Only tasks started before this time (ms since the epoch): the next page starts at the last one's startedAt" }),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});
export type OperationListQuery = z.output<typeof OperationListQuerySchema>;
