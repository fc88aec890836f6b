// An ownership ledger in memory: the reference the contract suite holds the others to, and
// the fake that unit tests of the engine and drivers use. `reachable` is how a test cuts it off.
import { ErrorCode, FerryError } from "../../core/errors.ts";
import type { Ownership } from "../../core/ownership.ts";
import { claimWith, type OwnershipLedger } from "./ledger.ts";

export interface MemoryLedger extends OwnershipLedger {
  reachable: boolean;
  readonly records: Map<string, Ownership>;
}

export function memoryLedger(now: () => number = Date.now): MemoryLedger {
  const records = new Map<string, Ownership>();
  const ledger: MemoryLedger = {
    where: "memory",
    reachable: true,
    records,
    read(vm) {
      if (!ledger.reachable) return Promise.reject(new FerryError(ErrorCode.unavailable, `the ownership record of ${vm} cannot be reached (memory ledger cut off)`, { retryable: true }));
      return Promise.resolve(records.get(vm));
    },
    claim(vm, expected, owner, migrationId) {
      return claimWith(vm, expected, owner, migrationId, () => ledger.read(vm), (record) => {
        if (!ledger.reachable) return Promise.reject(new FerryError(ErrorCode.unavailable, `the ownership record of ${vm} cannot be reached (memory ledger cut off)`, { retryable: true }));
        if ((records.get(vm)?.generation ?? 0) >= record.generation) return Promise.resolve("exists" as const);
        records.set(vm, record);
        return Promise.resolve("created" as const);
      }, now);
    },
  };
  return ledger;
}
