// Operations: every change asked of the controller (power, settings, host networking, tokens,
// imports, DRS, maintenance) kept as a task with who, when, state and result, as vCenter's and
// Proxmox's task lists keep theirs. Migrations are tasks of their own (migration/schema.ts); the
// task list (GET /api/operations) shows both in one shape. Plain zod, as the migration schema:
// the server validates with it, the CLI and the web parse with it (no Node I/O here).
import { z } from "zod";

/** What the operation acted on: a VM, a host, a cluster... or the whole inventory. */
export const OperationObjectKind = {
  vm: "vm",
  host: "host",
  cluster: "cluster",
  template: "template",
  token: "token",
  inventory: "inventory",
  drsRule: "drsRule",
  migration: "migration",
} as const;
export type OperationObjectKind = (typeof OperationObjectKind)[keyof typeof OperationObjectKind];

/** running until the controller answered (or, for maintenance mode, until the host is in); then one of the ends. */
export const OperationState = { running: "running", succeeded: "succeeded", failed: "failed", cancelled: "cancelled" } as const;
export type OperationState = (typeof OperationState)[keyof typeof OperationState];

export const OPERATION_ENDS: ReadonlySet<OperationState> = new Set([OperationState.succeeded, OperationState.failed, OperationState.cancelled]);

export const OperationObjectSchema = z
  .object({ kind: z.enum(OperationObjectKind), name: z.string() })
  .meta({ description: "What the task acted on (its target)" });

export const OperationStateSchema = z.enum(OperationState).meta({ id: "OperationState", description: "running, then succeeded, failed or cancelled (an aborted migration)" });

export const OperationSchema = z
  .object({
    id: z.string().meta({ description: "op-… for an operation; a migration's own task id for a migration" }),
    kind: z.string().meta({ description: "What was done, stable: vm.power.on, host.network.add, token.create, inventory.import, migration…", example: "vm.power.on" }),
    title: z.string().meta({ description: "The task's name in words", example: "Power on" }),
    object: OperationObjectSchema.nullable(),
    initiator: z.string().nullable().meta({ description: "The API token's name that asked; null when none was valid" }),
    state: OperationStateSchema,
    startedAt: z.number(),
    endedAt: z.number().nullable().meta({ description: "When it ended (ms since the epoch); null while it runs" }),
    result: z.string().nullable().meta({ description: "What it did, or why it failed, in one line" }),
    errorCode: z.string().nullable().meta({ description: "The error's catalogue code when it failed" }),
    requestId: z.string().nullable().meta({ description: "The API request's id: find it in the audit log and the controller's log" }),
    migration: z
      .object({ phase: z.string(), percent: z.number(), source: z.string(), destination: z.string() })
      .nullable()
      .meta({ description: "For a migration: its phase, percent and hosts (GET /api/migrations/{id} has the rest)" }),
  })
  .meta({ id: "Operation", description: "A task: an operation the controller recorded, or a migration" });
export type Operation = z.output<typeof OperationSchema>;

/** The stream's event for an operation that started or ended (task id `op:ID`). */
export const operationEventFields = { type: z.literal("operation"), operation: OperationSchema };
