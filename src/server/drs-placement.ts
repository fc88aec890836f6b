// Initial placement (issue 14): a VM created without a host goes to the best compatible host
// of its cluster (the balancer's placeVm), and the answer says why. "Compatible" for a VM that
// does not exist yet is what the inventory would accept: the VM created on that host in a
// draft, checked like any edit (its datastores mounted, its port groups present there).
import { placeVm } from "../core/drs/placement.ts";
import type { DrsVm } from "../core/drs/types.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { openDraft } from "../core/inventory/draft.ts";
import { macOwners, validateChange } from "../core/inventory/validate-change.ts";
import { createVm, type NewVm } from "../core/inventory/vm-create.ts";
import { buildDrsInput } from "./drs-input.ts";
import type { DrsService } from "./drs.ts";
import type { InventorySnapshot } from "./inventory-service.ts";

export interface PlacedVm {
  readonly host: string;
  readonly cluster: string;
  readonly why: string;
}

/** The cluster a new VM is placed in: the one asked for, else the datacenter's only cluster. */
function clusterFor(snapshot: InventorySnapshot, asked: string | undefined): string {
  if (asked !== undefined) {
    if (!snapshot.index.clusters.has(asked)) throw new FerryError(ErrorCode.notFound, `no cluster named "${asked}"`);
    return asked;
  }
  const clusters = snapshot.inventory.clusters.map((c) => c.name);
  const only = clusters[0];
  if (clusters.length !== 1 || only === undefined) throw new FerryError(ErrorCode.invalidInput, `give the VM a host, or a cluster to place it in (${clusters.length === 0 ? "there is none" : `one of ${clusters.join(", ")}`})`);
  return only;
}

/** Why the inventory would refuse `spec` on `host`, or undefined when it would take it. */
function refusalOn(snapshot: InventorySnapshot, macs: ReturnType<typeof macOwners>, spec: Omit<NewVm, "host">, host: string): string | undefined {
  const draft = openDraft(snapshot.inventory);
  try {
    createVm(draft, { ...spec, host });
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  const verdict = validateChange(snapshot.index, macs, draft);
  if (verdict.ok) return undefined;
  return verdict.referenceIssues[0]?.message ?? verdict.schemaIssues[0]?.message ?? "the inventory would refuse it";
}

/** The host a new VM should be created on, and why; REFUSED naming every host's reason when none fits. */
export async function placeNewVm(snapshot: InventorySnapshot, drs: DrsService, spec: Omit<NewVm, "host">, cluster: string | undefined): Promise<PlacedVm> {
  const where = clusterFor(snapshot, cluster);
  const { input } = await buildDrsInput(snapshot, where, drs.inputDeps(), drs.now());
  const macs = macOwners(snapshot.inventory);
  const vm: DrsVm = { name: spec.name, host: "", power: "on", vcpus: spec.vcpus, memoryMB: spec.memoryMB, demand: { cpuMhz: 0, memoryMB: spec.memoryMB }, reservation: { cpuMhz: 0, memoryMB: 0 } };
  const placed = placeVm({ ...input, compatible: (v, h) => {
    if (v.name !== vm.name) return input.compatible(v, h);
    const reason = refusalOn(snapshot, macs, spec, h.name);
    return reason === undefined ? { ok: true } : { ok: false, reason };
  } }, vm);
  if (!placed.ok) throw new FerryError(ErrorCode.refused, `no host of cluster ${where} can take ${spec.name}: ${placed.reasons.map((r) => `${r.host}: ${r.reason}`).join("; ")}`, { details: { reasons: placed.reasons } });
  return { host: placed.host, cluster: where, why: placed.why };
}
