// The inventory as the screens see it: GET /api/inventory, loaded once and again after every
// edit the UI makes, whenever a migration starts or ends (task events from SSE) and whenever an
// operation succeeds (operation events: an edit from the CLI or another browser), so power
// and "migrating" badges and a VM's host follow the controller without a reload. Beside it,
// each host's liveness (GET /api/hosts: connected or not responding), reloaded when a host's
// state changes or it is reconciled (host events from SSE).
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { apiGetSequenced, messageOf } from "../api.ts";
import { useFerryEvents, type ConnectionState, type FerryEvent } from "../events.ts";
import type { Inventory as InventoryDocument } from "../../../src/core/inventory/schema.ts";
import type { HostSummary, Inventory, VmSummary } from "../types.ts";

export type HostState = HostSummary["state"];

export interface InventoryState {
  readonly inventory: Inventory | null;
  /** Each host's state by the controller's heartbeats; a host missing here is taken as connected. */
  readonly hostStates: ReadonlyMap<string, HostState>;
  /** The last load's failure, in plain words; the previous inventory stays shown. */
  readonly error: string | null;
  /** The live event stream's state (the shell shows "reconnecting"). */
  readonly connection: ConnectionState;
  readonly reload: () => Promise<void>;
}

const InventoryContext = createContext<InventoryState | null>(null);

export function useInventory(): InventoryState {
  const state = useContext(InventoryContext);
  if (state === null) throw new Error("useInventory outside <InventoryProvider>");
  return state;
}

/**
 * Events that change what the tree shows: a migration queued (VM migrating) or ended (VM moved),
 * a host that stopped or started answering, a reconciliation that corrected power or placement.
 */
function changesInventory(event: FerryEvent): boolean {
  // An operation that succeeded (power, settings, host networking, an import…) changed the
  // inventory, whoever made it: another browser or the CLI.
  if (event.type === "operation") return event.operation.state === "succeeded";
  return event.type === "task" || event.type === "report" || event.type === "host" || event.type === "reconciled";
}

/** A VM's power as the screens show it: unknown while its host does not answer. */
export function shownPower(power: Inventory["vms"][number]["power"], hostState: HostState | undefined): Inventory["vms"][number]["power"] | "unknown" {
  return hostState === "notResponding" ? "unknown" : power;
}

export function InventoryProvider({ children }: { children: ReactNode }) {
  const [inventory, setInventory] = useState<Inventory | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [hostStates, setHostStates] = useState<ReadonlyMap<string, HostState>>(new Map());
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  // The event sequence the first load was current at: the stream starts after it (list-then-watch).
  const [watchFrom, setWatchFrom] = useState<number | null>(null);
  const [failures, setFailures] = useState(0);

  const reload = useCallback(async (): Promise<void> => {
    try {
      const answers = await Promise.all([apiGetSequenced<InventoryDocument>("/inventory"), apiGetSequenced<HostSummary[]>("/hosts"), apiGetSequenced<VmSummary[]>("/vms")]);
      const [{ body: next }, { body: hosts }, { body: vms }] = answers;
      // Each was read after its sequence: the oldest one misses nothing of any.
      setWatchFrom((from) => from ?? Math.min(...answers.map((a) => a.sequence)));
      // Whether a VM migrates is its open task's claim, not inventory: the VM list says it.
      const migrating = new Set(vms.filter((vm) => vm.migrating).map((vm) => vm.name));
      setInventory({ ...next, vms: next.vms.map((vm) => ({ ...vm, migrating: migrating.has(vm.name) })) });
      setHostStates(new Map(hosts.map((h) => [h.name, h.state])));
      setError(null);
    } catch (e) {
      setError(`Cannot load the inventory: ${messageOf(e)}`);
      setFailures((n) => n + 1);
    }
  }, []);

  // Until a first load arrives there is no stream to bring news: ask again every 2 s.
  useEffect(() => {
    if (watchFrom !== null || failures === 0) return undefined;
    const retry = setTimeout(() => {
      void reload();
    }, 2000);
    return () => {
      clearTimeout(retry);
    };
  }, [watchFrom, failures, reload]);

  useEffect(() => {
    void reload();
  }, [reload]);

  // Bursts of events (a replay after reconnecting) make one reload, not one each.
  const connection = useFerryEvents(
    (event) => {
      if (!changesInventory(event)) return;
      if (timer.current !== null) clearTimeout(timer.current);
      timer.current = setTimeout(() => {
        timer.current = null;
        void reload();
      }, 250);
    },
    { after: watchFrom },
    () => {
      // Events this page needed were pruned: read the inventory again; the stream goes on.
      void reload();
    },
  );

  // After a reconnect, events missed meanwhile are replayed, but reload anyway: edits made
  // by others (another browser, the CLI) do not come as task events.
  const previous = useRef(connection);
  useEffect(() => {
    if (previous.current === "reconnecting" && connection === "open") void reload();
    previous.current = connection;
  }, [connection, reload]);

  const value = useMemo<InventoryState>(() => ({ inventory, hostStates, error, connection, reload }), [inventory, hostStates, error, connection, reload]);
  return <InventoryContext.Provider value={value}>{children}</InventoryContext.Provider>;
}
