// Which VMs are being migrated, and by which task. This is not inventory: it comes from the
// open migration tasks (the store's claims, one row per VM a task holds, written in the same
// transaction that claims it), so starting or ending a migration edits nothing here and a
// file import cannot forget a running migration.

/** A VM held by an open migration task, from its source to its destination. */
export interface VmClaim {
  readonly vm: string;
  readonly taskId: string;
  readonly source: string;
  readonly destination: string;
}

/** Read at every check and every listing: a claim lasts as long as its task is open. */
export interface MigrationClaims {
  claimOf(vm: string): VmClaim | undefined;
}

/** No VM is claimed: a checker outside the controller (the CLI's file checks) sees no migrations. */
export const NO_CLAIMS: MigrationClaims = { claimOf: () => undefined };

/** Claims from a fixed list (tests, and clients that read the open tasks once). */
export function claimsOf(claims: readonly VmClaim[]): MigrationClaims {
  const byVm = new Map(claims.map((c) => [c.vm, c]));
  return { claimOf: (vm) => byVm.get(vm) };
}
