// What replacing one inventory with another would do, object by object: the import's dry
// run, and the guard that refuses an import removing running VMs or hosts with agents.
import type { Inventory } from "./schema.ts";

export const DIFF_KINDS = ["datastores", "clusters", "resourcePools", "hosts", "templates", "vms", "drsRules"] as const;
export type DiffKind = (typeof DIFF_KINDS)[number];

/** Names by kind; a kind appears only when it has names. */
export interface InventoryDiff {
  readonly added: Record<string, string[]>;
  readonly removed: Record<string, string[]>;
  readonly changed: Record<string, string[]>;
}

/** Names added, removed and changed per kind (only kinds with something to say appear). */
export function diffInventories(before: Inventory, after: Inventory): InventoryDiff {
  const added: Record<string, string[]> = {};
  const removed: Record<string, string[]> = {};
  const changed: Record<string, string[]> = {};
  for (const kind of DIFF_KINDS) {
    const old = new Map<string, unknown>(before[kind].map((o) => [o.name, o]));
    const next = new Map<string, unknown>(after[kind].map((o) => [o.name, o]));
    const put = (into: Record<string, string[]>, name: string): void => {
      (into[kind] ??= []).push(name);
    };
    for (const [name, body] of next) {
      const was = old.get(name);
      if (was === undefined) put(added, name);
      else if (JSON.stringify(was) !== JSON.stringify(body)) put(changed, name);
    }
    for (const name of old.keys()) if (!next.has(name)) put(removed, name);
  }
  return { added, removed, changed };
}

/** Running VMs of `before` that `after` no longer has. */
export function removedRunningVms(before: Inventory, after: Inventory): string[] {
  const kept = new Set(after.vms.map((vm) => vm.name));
  return before.vms.filter((vm) => vm.power === "on" && !kept.has(vm.name)).map((vm) => vm.name);
}
