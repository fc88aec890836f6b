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
}

/** The write half of a claim; `create` must fail with "exists" when another took the generation first. */
export async function claimWith(
  vm: string,
  expected: number,
  owner: string,
  migrationId: string | undefined,
  read: () => Promise<Ownership | undefined>,
  create: (record: Ownership) => Promise<"created" | "exists">,
  now: () => number,
): Promise<ClaimResult> {
  const current = await read();
  const verdict = claimVerdict(current, expected, owner, migrationId);
  if (verdict === "already" && current !== undefined) return { won: true, ownership: current };
  if (verdict === "lost") {
    if (current !== undefined) return { won: false, ownership: current };
    throw new FerryError(ErrorCode.conflict, `${vm} has no ownership record, but the claim started from generation ${expected}: the record was removed`, { details: { vm, expected } });
  }
  const record: Ownership = { vm, owner, generation: expected + 1, ...(migrationId === undefined ? {} : { migrationId }), at: now() };
  if ((await create(record)) === "created") return { won: true, ownership: record };
  // Another claim took that generation between our read and our write: its record decides.
  const after = await read();
  if (after !== undefined && claimVerdict(after, expected, owner, migrationId) === "already") return { won: true, ownership: after };
  return { won: false, ownership: after ?? record };
}
