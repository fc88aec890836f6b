// One interface for every place a VM's ownership record is kept (src/core/ownership.ts):
// a datastore both hosts mount, or the controller's store. Two implementations, one
// contract suite (contract.ts).
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { claimVerdict, type ClaimResult, type Ownership } from "../../core/ownership.ts";

export interface OwnershipLedger {
  /** Where the record lives, for messages: "datastore shared01", "the controller's store". */
  readonly where: string;
  /** The record now, or undefined when none was ever written. Throws UNAVAILABLE when it cannot be read. */
  read(vm: string): Promise<Ownership | undefined>;
  /**
   * Takes generation `expected + 1` for `owner`: won when the record was still at `expected`
   * (or this very claim had already won and its answer was lost), lost with the record that
   * won otherwise. Exactly one of two claims from the same generation wins. Throws
   * UNAVAILABLE when the ledger cannot be reached: then nobody knows, and nobody may run it.
   */
  claim(vm: string, expected: number, owner: string, migrationId: string | undefined): Promise<ClaimResult>;
  /**
   * Readies the same claim ahead of the switchover, so that the claim itself, inside the VM's
   * downtime, does less (the datastore: the record written and synced under a name no reader
   * takes for a record; the claim only links it). It decides nothing: the claim still wins or
   * loses as without it, and writes the record whole when what was readied is gone. Optional.
   */
  prepare?(vm: string, expected: number, owner: string, migrationId: string | undefined): Promise<void>;
}

/** The record a claim of generation `expected + 1` writes (`at`: when it is written). */
export function nextRecord(vm: string, expected: number, owner: string, migrationId: string | undefined, at: number): Ownership {
  return { vm, owner, generation: expected + 1, ...(migrationId === undefined ? {} : { migrationId }), at };
}

/** The write half of a claim; `create` must fail with "exists" when another took the generation first. `prepared`: the record `prepare` readied, written instead of a new one when it is this claim's. */
export async function claimWith(
  vm: string,
  expected: number,
  owner: string,
  migrationId: string | undefined,
  read: () => Promise<Ownership | undefined>,
  create: (record: Ownership) => Promise<"created" | "exists">,
  now: () => number,
  prepared?: Ownership,
): Promise<ClaimResult> {
  const current = await read();
  const verdict = claimVerdict(current, expected, owner, migrationId);
  if (verdict === "already" && current !== undefined) return { won: true, ownership: current };
  if (verdict === "lost") {
    if (current !== undefined) return { won: false, ownership: current };
    throw new FerryError(ErrorCode.conflict, `${vm} has no ownership record, but the claim started from generation ${expected}: the record was removed`, { details: { vm, expected } });
  }
  // A record readied by `prepare` for this very claim, else one written now.
  const record = prepared !== undefined && claimVerdict(prepared, expected, owner, migrationId) === "already" && prepared.vm === vm ? prepared : nextRecord(vm, expected, owner, migrationId, now());
  if ((await create(record)) === "created") return { won: true, ownership: record };
  // Another claim took that generation between our read and our write: its record decides.
  const after = await read();
  if (after !== undefined && claimVerdict(after, expected, owner, migrationId) === "already") return { won: true, ownership: after };
  return { won: false, ownership: after ?? record };
}
