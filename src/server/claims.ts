// The VMs being migrated, as every controller on the store sees them: the store's claims
// (one row per VM, made atomically before any slow work), cached here for the checker and
// the listings, which read them at every call. A claim made or released by this controller
// shows at once; another controller's shows at the next refresh (each lease renewal).
import type { MigrationClaims, VmClaim } from "../core/inventory/claims.ts";
import type { ClaimOutcome, Store, VmClaimRecord } from "../store/store.ts";

export class ClaimsCache implements MigrationClaims {
  readonly #store: Store;
  #byVm = new Map<string, VmClaim>();

  constructor(store: Store) {
    this.#store = store;
  }

  claimOf(vm: string): VmClaim | undefined {
    return this.#byVm.get(vm);
  }

  all(): VmClaim[] {
    return [...this.#byVm.values()];
  }

  /** Reads every claim in the store again. */
  async refresh(): Promise<void> {
    const rows = await this.#store.listClaims();
    this.#byVm = new Map(rows.map((c) => [c.vm, { vm: c.vm, taskId: c.taskId, source: c.source, destination: c.destination }]));
  }

  /** Claims the VM in the store (atomic across controllers); the holder's claim when another task has it. */
  async claim(claim: VmClaimRecord): Promise<ClaimOutcome> {
    const outcome = await this.#store.claimVm(claim);
    const held = outcome.claimed ? claim : outcome.holder;
    this.#byVm.set(held.vm, { vm: held.vm, taskId: held.taskId, source: held.source, destination: held.destination });
    return outcome;
  }

  async release(vm: string, taskId: string): Promise<void> {
    await this.#store.releaseClaim(vm, taskId);
    if (this.#byVm.get(vm)?.taskId === taskId) this.#byVm.delete(vm);
  }
}
