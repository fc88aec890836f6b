// A host's inventory record from what its agent reports. A real host's agent observes its
// facts (src/host/facts): the record becomes what the host has, its datastores matched by
// identity, so "shared storage" in the checker is what hosts really see. A declared host
// (sim agents) reports what its config says, and the record takes that.
//
// The controller refreshes a host when it joins, after a network change it made there, and
// when asked (`ferry host refresh H`, POST /api/hosts/{name}/refresh). Cluster and maintenance
// mode stay the controller's.
import type { AgentFacts } from "../agent/api.ts";
import type { AgentClient } from "../agent/client.ts";
import { ErrorCode, FerryError, isFerryError } from "../core/errors.ts";
import { findHost } from "../core/inventory/edits.ts";
import { mergeObservedHost, type ObservedHost as ObservedHostFacts } from "../core/inventory/facts.ts";
import type { Host, Inventory } from "../core/inventory/schema.ts";
import type { InventoryService } from "./inventory-service.ts";

/** What a refresh did, in words for the caller. */
export interface RefreshResult {
  readonly host: string;
  /** "observed" (read from the host) or "declared" (the agent's config). */
  readonly source: "observed" | "declared";
  readonly notes: readonly string[];
  /** Configured datastore paths the host cannot use, with the reason. */
  readonly datastoreProblems: readonly { readonly path: string; readonly reason: string }[];
  readonly problems: readonly string[];
  /** How long the agent took to observe its host. */
  readonly observedInMs: number | undefined;
  readonly generation: number;
}

/** The observed facts in the core's words, or undefined for a declared host. */
export function observedOf(facts: AgentFacts): ObservedHostFacts | undefined {
  const o = facts.observed;
  if (o === undefined) return undefined;
  const hypervisor = o.hypervisor === undefined ? undefined : { kind: o.hypervisor.kind, version: o.hypervisor.version, machineTypes: [...o.hypervisor.machineTypes], accelerator: o.hypervisor.accelerator };
  return {
    name: facts.name,
    cpu: facts.cpu,
    memoryMB: facts.memoryMB,
    nics: [...facts.nics],
    vswitches: structuredClone([...facts.vswitches]),
    datastores: o.datastoreIds.map((d) => ({ ...d })),
    datastoreProblems: o.datastoreProblems.map((p) => ({ ...p })),
    ...(hypervisor === undefined ? {} : { hypervisor }),
  };
}

/** Writes a declared host's facts into its record (creating it when new). */
function applyDeclared(draft: Inventory, facts: AgentFacts): void {
  // The draft's own copy of the host (findHost): the snapshot's records are never written.
  const existing = draft.hosts.some((h) => h.name === facts.name) ? findHost(draft, facts.name) : undefined;
  const fromFacts: Pick<Host, "cpu" | "memoryMB" | "nics" | "vswitches" | "datastores" | "connected"> = {
    cpu: facts.cpu,
    memoryMB: facts.memoryMB,
    nics: [...facts.nics],
    vswitches: structuredClone([...facts.vswitches]),
    datastores: [...facts.datastores],
    connected: true,
  };
  if (existing === undefined) draft.hosts.push({ name: facts.name, maintenance: false, datastoreProblems: [], ...fromFacts });
  else Object.assign(existing, fromFacts);
}

/** Replaces every section of `draft` with `next`'s (inventory.change edits a draft in place). */
function replaceDraft(draft: Inventory, next: Inventory): void {
  Object.assign(draft, next);
}

/** Asks the agent of `host` for its facts and writes them into the inventory. */
export async function refreshHost(inventory: InventoryService, agent: AgentClient, host: string, options: { readonly observeNow: boolean; readonly onlyObserved?: boolean }): Promise<RefreshResult | undefined> {
  let facts: AgentFacts;
  try {
    facts = options.observeNow ? await agent.refreshFacts() : await agent.facts();
  } catch (error) {
    if (isFerryError(error) && error.code === ErrorCode.unauthorized) throw new FerryError(ErrorCode.invalidInput, `the agent at ${agent.baseUrl} refused the token`);
    throw new FerryError(ErrorCode.unavailable, `cannot reach the agent of ${host} at ${agent.baseUrl}: ${error instanceof Error ? error.message : String(error)}`, { retryable: true, details: { host } });
  }
  if (facts.name !== host) throw new FerryError(ErrorCode.invalidInput, `the agent at ${agent.baseUrl} is host "${facts.name}", not "${host}"`);
  const observed = observedOf(facts);
  // A declared host's record is the inventory's own (edits live there), unless it is joining.
  if (observed === undefined && options.onlyObserved === true) return undefined;
  let notes: readonly string[] = [];
  const { snapshot } = await inventory.change((draft) => {
    if (observed === undefined) {
      applyDeclared(draft, facts);
      return;
    }
    const merged = mergeObservedHost(draft, observed);
    notes = merged.notes;
    replaceDraft(draft, merged.inventory);
  });
  return {
    host,
    source: observed === undefined ? "declared" : "observed",
    notes,
    datastoreProblems: facts.observed?.datastoreProblems ?? [],
    problems: facts.observed?.problems ?? [],
    observedInMs: facts.observed?.observedInMs,
    generation: snapshot.generation,
  };
}
