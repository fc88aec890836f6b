// A VM's ownership record: which host may run it, with a generation that only goes up.
// Both hosts of a migration look at the same record, held where both can see it (a lock file
// on the VM's datastore, as VMFS locks are for vSphere; the controller's store for VMs without
// files), so ownership is decided by something both sides can see and never by silence: the
// destination takes the next generation before it resumes the VM, the source takes it back
// before it resumes after a failed switchover, and exactly one of them can win.
import { z } from "zod";

export const OwnershipSchema = z
  .object({
    vm: z.string().min(1),
    /** The host that may run the VM. */
    owner: z.string().min(1),
    /** 1 for the first record; each claim takes the next one. */
    generation: z.number().int().positive(),
    /** The migration that took this generation, if one did. */
    migrationId: z.string().optional(),
    /** When it was written (ms since the epoch): when it was taken, or when the stream began, for a claim readied while the stream ran. */
    at: z.number(),
  })
  .strict();
export type Ownership = z.output<typeof OwnershipSchema>;

/** A claim's outcome: won (this host holds `ownership`), or lost to the record that won. */
export type ClaimResult = { readonly won: true; readonly ownership: Ownership } | { readonly won: false; readonly ownership: Ownership };

/** Where a VM's record is kept; what the controller tells both hosts of a migration. */
export const LedgerRefSchema = z.discriminatedUnion("kind", [
  z
    .object({
      kind: z.literal("datastore"),
      /** The datastore's uuid (its identity file), which both hosts mount. */
      datastore: z.string().min(1),
      /** Its name, for messages. */
      datastoreName: z.string().min(1),
    })
    .strict(),
  z
    .object({
      kind: z.literal("controller"),
      /** The controller's base URL, as the agents reach it. */
      url: z.url(),
      /** Other controllers on the same store, asked when `url` cannot be reached (the record and the capability are in the shared store). */
      alternates: z.array(z.url()).optional(),
      /** A secret for this migration only: it may read and claim this VM's record and nothing else. */
      capability: z.string().min(16),
    })
    .strict(),
]);
export type LedgerRef = z.output<typeof LedgerRefSchema>;

/** What both agents of a migration get: the record's place and the generation the source held at the start. */
export const FenceSchema = z
  .object({
    ledger: LedgerRefSchema,
    generation: z.number().int().positive(),
    source: z.string().min(1),
    destination: z.string().min(1),
  })
  .strict();
export type Fence = z.output<typeof FenceSchema>;

/**
 * The pure rule of a claim: given the record now and the generation the claimant started from,
 * whether the claim may be written, is already this claimant's (a retried claim whose answer was
 * lost), or lost.
 */
export function claimVerdict(current: Ownership | undefined, expected: number, owner: string, migrationId: string | undefined): "write" | "already" | "lost" {
  const now = current?.generation ?? 0;
  if (now === expected) return "write";
  if (current !== undefined && now === expected + 1 && current.owner === owner && current.migrationId === migrationId) return "already";
  return "lost";
}

export function ownershipWords(o: Ownership): string {
  return `${o.owner} holds ${o.vm} (generation ${o.generation}${o.migrationId === undefined ? "" : `, taken by migration ${o.migrationId}`})`;
}
