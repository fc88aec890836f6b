// The commit window's decision, shared by every driver. A migration with a fence (every one
// the controller runs) is settled by the VM's ownership record: the source resumes the VM only
// if its own claim wins, and a record that cannot be reached decides nothing (settleByFence,
// claimUntilDecided). Only without a fence — tests of the stream alone, where both agents are
// in the test's hands — does the destination's word decide (settlementFor): running there
// releases the paused source copy; failed, aborted or unknown there resumes it; waiting,
// receiving, verified or committing is too early to tell.
import type { Clock } from "../core/clock.ts";
import { ErrorCode, FerryError, isFerryError } from "../core/errors.ts";
import type { ClaimResult } from "../core/ownership.ts";
import { IncomingState, type OwnershipFence, type SettledOn } from "./driver.ts";

export function settlementFor(destination: IncomingState, vm: string, migrationId: string): SettledOn {
  switch (destination) {
    case IncomingState.running:
      return "destination";
    case IncomingState.failed:
    case IncomingState.aborted:
    case IncomingState.unknown:
      return "source";
    case IncomingState.waiting:
    case IncomingState.receiving:
    case IncomingState.verified:
    case IncomingState.committing:
      throw new FerryError(ErrorCode.conflict, `the destination of migration ${migrationId} has not settled (${destination}); abort it there (abortIncoming), then settle`, {
        retryable: true,
        details: { vm, migrationId, destination },
      });
  }
}

/**
 * The source's side of settling an uncertain switchover, by the ownership record both hosts
 * see: it claims the next generation, and runs the VM only if that claim won; a lost claim
 * means the destination took it first (and runs the VM, or will as soon as it can). A record
 * that cannot be reached throws UNAVAILABLE: the VM stays paused here. Without a fence (tests
 * of the stream alone) the destination's word decides, as settlementFor says.
 */
export async function settleByFence(fence: OwnershipFence | undefined, destination: IncomingState, vm: string, migrationId: string): Promise<SettledOn> {
  if (fence === undefined) return settlementFor(destination, vm, migrationId);
  const result = await fence.claim();
  return result.won ? "source" : "destination";
}

/**
 * The destination's claim before it runs the VM: asked again while the record cannot be
 * reached (an answer lost on the way is not a refusal: a repeated claim that had won wins
 * again), until it is won or lost. `retryMs` paces the attempts.
 */
export async function claimUntilDecided(fence: OwnershipFence, clock: Clock, retryMs = 250, onWait?: (error: unknown) => void): Promise<ClaimResult> {
  for (;;) {
    try {
      return await fence.claim();
    } catch (error) {
      if (!isFerryError(error) || error.code !== ErrorCode.unavailable) throw error;
      onWait?.(error);
      await clock.sleep(retryMs);
    }
  }
}
