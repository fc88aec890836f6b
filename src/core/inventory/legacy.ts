// Fields older inventories carried that are no longer inventory, dropped where an inventory is
// read (a file, an import, the store's rows), so that an old file still loads.

/**
 * `vms[].migrating`: whether a VM migrates is its open task's claim now (claims.ts), never a
 * file's word; a file that still says `migrating: true` loads, and the flag is ignored.
 * Changes `data` in place (a freshly parsed document) and returns it.
 */
export function dropLegacyFields(data: unknown): unknown {
  if (typeof data !== "object" || data === null) return data;
  const vms = (data as { vms?: unknown }).vms;
  if (Array.isArray(vms)) for (const vm of vms) dropLegacyVmFields(vm);
  return data;
}

/** The same for one VM's record (a store row). */
export function dropLegacyVmFields(vm: unknown): unknown {
  if (typeof vm === "object" && vm !== null && "migrating" in vm) delete (vm as { migrating?: unknown }).migrating;
  return vm;
}
