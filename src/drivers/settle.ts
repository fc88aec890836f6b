// The commit window's decision, shared by every driver: when the confirmation of a
// switchover was lost, the destination's word decides where the VM runs. Running there: the
// paused source copy is released. Failed, aborted or unknown there: the VM resumes on the
// source. Still waiting, receiving or verified there: too early to tell — the destination
// must be aborted first, so the VM can never end up running twice.
import { ErrorCode, FerryError } from "../core/errors.ts";
import { IncomingState, type SettledOn } from "./driver.ts";

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
      throw new FerryError(ErrorCode.conflict, `the destination of migration ${migrationId} has not settled (${destination}); abort it there (abortIncoming), then settle`, {
        retryable: true,
        details: { vm, migrationId, destination },
      });
  }
}
