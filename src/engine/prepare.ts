// Validating and preparing: the checker's verdict (nothing contacted), then the source's VM,
// the reservations of a high-priority migration, the VM's ownership fence, and the
// destination's shell. Each refusal becomes a Failure with the agent's words and code.
import { postcopyAfterPasses } from "../core/migration/postcopy.ts";
import type { PreparedIncoming, ReservationRequest } from "../agent/api.ts";
import { ErrorCode, isFerryError } from "../core/errors.ts";
import { MigrationFailureCode, Phase } from "../core/migration/types.ts";
import { PowerStatus, type VmStatus } from "../drivers/driver.ts";
import { establishFence } from "./fence.ts";
import { Failure, abortedFailure, preparingFailure, validationFailure } from "./outcome.ts";
import { destinationReservation, sourceReservation } from "./reservation.ts";
import type { Agent, MigrationRun } from "./run.ts";

/** Why the migration may not start, or undefined: the checker's verdict, then the caller's abort. */
export function validate(run: MigrationRun): { readonly failure: Failure } | undefined {
  const { vm, destination, request } = run;
  run.say(Phase.validating, 0, `validating ${vm.name} → ${destination.name}`);
  const refused = validationFailure(vm.name, destination.name, request.check, request.acceptedWarnings);
  if (refused !== undefined) return { failure: new Failure(MigrationFailureCode.incompatible, refused) };
  if (run.aborted) return { failure: abortedFailure(run) };
  return undefined;
}

/** One call on an agent while preparing: refused at once after an abort, its error in the engine's words. */
async function step<T>(run: MigrationRun, agent: Agent, role: "source" | "destination", op: () => Promise<T>): Promise<T> {
  if (run.aborted) throw abortedFailure(run);
  try {
    return await op();
  } catch (error) {
    throw preparingFailure(error, agent, role);
  }
}

/**
 * Only a running VM migrates live: a powered-off (or paused) one is refused before any host is
 * prepared, and nothing after a refusal powers it on (settling resumes, never boots). Returns
 * the VM's status on the source (its hypervisor version goes to the destination).
 */
async function requireRunning(run: MigrationRun): Promise<VmStatus> {
  const { source, vm } = run;
  const status = await step(run, source, "source", () => source.getVm(vm.name));
  if (status.power === PowerStatus.running) return status;
  throw new Failure(MigrationFailureCode.vmNotRunning, `${vm.name} is ${status.power} on ${source.name}, not running: only a running VM migrates live${status.power === PowerStatus.off ? " (a powered-off VM moves cold)" : ""}`);
}

async function reserveOn(run: MigrationRun, agent: Agent, role: "source" | "destination", what: ReservationRequest): Promise<void> {
  await step(run, agent, role, async () => {
    try {
      await agent.reserve(run.id, what);
    } catch (error) {
      if (isFerryError(error) && (error.code === ErrorCode.refused || error.failureCode === MigrationFailureCode.reservationRefused)) {
        throw new Failure(MigrationFailureCode.reservationRefused, error.message);
      }
      throw error;
    }
    run.reserved.push(agent);
  });
}

/** High priority: CPU on both hosts and memory on the destination, held until the migration ends. */
async function reserve(run: MigrationRun): Promise<void> {
  const { source, destination, vm } = run;
  const [sourceFacts, destinationFacts] = await Promise.all([step(run, source, "source", () => source.facts()), step(run, destination, "destination", () => destination.facts())]);
  const onSource = sourceReservation(sourceFacts);
  const onDestination = destinationReservation(destinationFacts, vm.memoryMB);
  run.say(Phase.preparing, 0.1, `high priority: reserving ${onSource.cpuMhz} MHz on ${source.name}, ${onDestination.cpuMhz} MHz and ${onDestination.memoryMB} MB on ${destination.name}`);
  await reserveOn(run, source, "source", onSource);
  await reserveOn(run, destination, "destination", onDestination);
}

/** Preparing, to the destination listening for the stream. Throws a Failure. */
export async function prepare(run: MigrationRun): Promise<PreparedIncoming> {
  const { source, destination, vm, request } = run;
  run.say(Phase.preparing, 0, `preparing ${destination.name} to receive ${vm.name}`);
  const running = await requireRunning(run);
  if (request.options.priority === "high") await reserve(run);
  const plan = request.ownership;
  if (plan !== undefined) {
    const fence = await step(run, source, "source", () => establishFence(plan, vm.name, source, destination));
    run.fence = fence;
    run.say(Phase.preparing, 0.2, `${source.name} holds ${vm.name}'s ownership record (generation ${fence.generation})`);
  }
  run.incomingAsked = true;
  const fence = run.fence;
  // The post-copy policy: the destination must know before it listens (QEMU's postcopy-ram).
  const postcopy = postcopyAfterPasses(request.options.convergence) !== undefined;
  const prepared = await step(run, destination, "destination", () => destination.prepareIncoming(run.id, vm, { fence, ...(postcopy ? { postcopy } : {}), sourceHypervisorVersion: running.hypervisorVersion }));
  run.say(Phase.preparing, 0.3, `${destination.name} listens on ${prepared.host}:${prepared.port} for ${vm.name}`);
  if (run.aborted) throw abortedFailure(run);
  return prepared;
}
