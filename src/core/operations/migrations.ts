// A migration as a line of the task list: the same shape as every other operation, its phase
// mapped to running/succeeded/failed/cancelled, its result the report's words. Pure: the
// server's list (GET /api/operations) and the web's live rows use it alike.
import { Phase } from "../migration/types.ts";
import { OperationObjectKind, OperationState, type Operation } from "./schema.ts";

export interface MigrationLine {
  readonly id: string;
  readonly vm: string;
  readonly source: string;
  readonly destination: string;
  readonly state: Phase;
  readonly percent: number;
  readonly createdAt: number;
  /** When the row last changed: a migration that ended, ended then. */
  readonly updatedAt: number;
  readonly createdBy: string | null;
  readonly cold?: boolean | undefined;
  readonly report?:
    | {
        readonly runningOn: string;
        readonly downtimeMs?: number | undefined;
        readonly failure?: { readonly code: string; readonly message: string } | undefined;
        readonly warnings?: readonly { readonly code: string }[] | undefined;
      }
    | undefined;
}

/** The task-list state of a migration phase. needs-attention is a failure that waits for an operator's decision. */
export function migrationState(phase: Phase): OperationState {
  switch (phase) {
    case Phase.completed:
      return OperationState.succeeded;
    case Phase.failed:
    case Phase.needsAttention:
      return OperationState.failed;
    case Phase.cancelled:
      return OperationState.cancelled;
    case Phase.queued:
    case Phase.validating:
    case Phase.preparing:
    case Phase.precopy:
    case Phase.switchover:
      return OperationState.running;
  }
}

/** The phases a task-list state covers (the store filters migrations by phase). */
export function phasesOf(states: readonly OperationState[]): Phase[] {
  return Object.values(Phase).filter((p) => states.includes(migrationState(p)));
}

function resultOf(m: MigrationLine): string | null {
  const failure = m.report?.failure;
  switch (m.state) {
    case Phase.completed: {
      const downtime = m.report?.downtimeMs === undefined ? "" : `, downtime ${String(Math.round(m.report.downtimeMs))} ms`;
      const warnings = (m.report?.warnings ?? []).map((w) => w.code);
      return `${m.vm} runs on ${m.report?.runningOn ?? m.destination}${downtime}${warnings.length === 0 ? "" : `, with warnings: ${warnings.join(", ")}`}`;
    }
    case Phase.cancelled:
      return `aborted: ${m.vm} runs on ${m.report?.runningOn ?? m.source}`;
    case Phase.failed:
      return failure === undefined ? `failed: ${m.vm} runs on ${m.report?.runningOn ?? m.source}` : failure.message;
    case Phase.needsAttention:
      return `needs attention: ${failure?.message ?? "decide where it runs"}`;
    case Phase.queued:
    case Phase.validating:
    case Phase.preparing:
    case Phase.precopy:
    case Phase.switchover:
      return null;
  }
}

export function migrationAsOperation(m: MigrationLine): Operation {
  const state = migrationState(m.state);
  return {
    id: m.id,
    kind: "migration",
    title: m.cold === true ? "Migrate (cold)" : "Migrate",
    object: { kind: OperationObjectKind.vm, name: m.vm },
    initiator: m.createdBy,
    state,
    startedAt: m.createdAt,
    endedAt: state === OperationState.running ? null : m.updatedAt,
    result: resultOf(m),
    errorCode: m.report?.failure?.code ?? null,
    requestId: null,
    migration: { phase: m.state, percent: m.percent, source: m.source, destination: m.destination },
  };
}
