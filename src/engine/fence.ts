// The engine's part of fencing (src/core/ownership.ts): before anything moves, the source
// takes or confirms the VM's ownership record; the generation it holds is what both hosts
// claim from. A record held by another host stops the migration, unless that host is asked
// and answers that it does not run the VM (a record left behind by a VM deleted and made
// again, or moved by hand): then the source takes it over. Silence proves nothing, so a host
// that cannot be asked keeps its record.
import type { AgentPort } from "./agent-port.ts";
import { ErrorCode, FerryError, isFerryError } from "../core/errors.ts";
import { MigrationFailureCode } from "../core/migration/types.ts";
import { OwnershipSchema, ownershipWords, type Fence, type LedgerRef, type Ownership } from "../core/ownership.ts";
import { PowerStatus } from "../drivers/driver.ts";

/** Where the VM's record is kept, and how to ask a third host whether it runs the VM. */
export interface OwnershipPlan {
  readonly ledger: LedgerRef;
  /** Whether `host` runs `vm` now (true/false), or undefined when it cannot be asked. */
  readonly runsOn?: ((host: string, vm: string) => Promise<boolean | undefined>) | undefined;
}

function heldIn(error: unknown): Ownership | undefined {
  if (!isFerryError(error) || error.code !== ErrorCode.conflict) return undefined;
  const parsed = OwnershipSchema.safeParse((error.details as { ownership?: unknown } | null | undefined)?.ownership);
  return parsed.success ? parsed.data : undefined;
}

/** Whether an agent runs `vm` (running or paused), or undefined when it does not answer. */
export async function agentRuns(agent: AgentPort, vm: string): Promise<boolean | undefined> {
  try {
    const status = await agent.getVm(vm);
    return status.power !== PowerStatus.off;
  } catch (error) {
    if (isFerryError(error) && error.code === ErrorCode.notFound) return false;
    return undefined;
  }
}

export async function establishFence(plan: OwnershipPlan, vm: string, source: AgentPort, destination: AgentPort): Promise<Fence> {
  let held: Ownership;
  try {
    held = await source.establishOwnership(vm, plan.ledger);
  } catch (error) {
    const other = heldIn(error);
    if (other === undefined) throw error;
    const runs = other.owner === destination.name ? await agentRuns(destination, vm) : await plan.runsOn?.(other.owner, vm);
    if (runs !== false) {
      const why = runs === undefined ? `${other.owner} could not be asked whether it runs ${vm}` : `${other.owner} runs ${vm}`;
      throw new FerryError(ErrorCode.conflict, `${ownershipWords(other)}, not ${source.name}, and ${why}: ${vm} must not move from ${source.name}. Find out which host really runs it; when ${other.owner} does not, migrate again once it answers`, {
        failureCode: MigrationFailureCode.notOwned, details: { ownership: other },
      });
    }
    // The recorded owner answered that it does not run the VM: the source takes the record over.
    held = await source.establishOwnership(vm, plan.ledger, { supersede: other.generation });
  }
  return { ledger: plan.ledger, generation: held.generation, source: source.name, destination: destination.name };
}
