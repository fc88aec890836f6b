// The agent as the engine needs it: the calls a migration (live or cold) makes on its source
// and destination hosts. The engine owns this port; src/agent/client.ts implements it over
// HTTP, and tests may implement it in-process. Its types are the agent's wire types
// (src/agent/api.ts), never the client module's internals.
import type { Fence, LedgerRef, Ownership } from "../core/ownership.ts";
import type { VmotionEncryption } from "../core/migration/types.ts";
import type {
  AgentFacts,
  AgentVm,
  IncomingState,
  IncomingStateView,
  OutgoingEvent,
  OutgoingRequest,
  OutgoingView,
  PreparedIncoming,
  ReservationRequest,
  ReservationView,
  SettleView,
  VmSpec,
} from "../agent/api.ts";

export interface CallOptions {
  readonly signal?: AbortSignal | undefined;
}

export interface AgentPort {
  /** The host's name, for messages and reports. */
  readonly name: string;
  /** Where the agent's API is: handed to a migration's source so it can ask the destination. */
  readonly baseUrl: string;
  facts(options?: CallOptions): Promise<AgentFacts>;
  listVms(options?: CallOptions): Promise<AgentVm[]>;
  getVm(name: string, options?: CallOptions): Promise<AgentVm>;
  createVm(spec: VmSpec, options?: CallOptions): Promise<AgentVm>;
  powerOn(name: string, options?: CallOptions): Promise<AgentVm>;
  powerOff(name: string, options?: CallOptions): Promise<AgentVm>;
  /**
   * Removes the VM; its disks stay unless `removeDisks`. `onlyIfOff`: refused (CONFLICT, failure
   * code VM_POWERED_ON) unless the VM is powered off, checked in the agent's turn with power-on,
   * so a VM that was powered on meanwhile is never ended by it.
   */
  destroyVm(name: string, options?: CallOptions & { readonly removeDisks?: boolean; readonly onlyIfOff?: boolean }): Promise<void>;
  listReservations(options?: CallOptions): Promise<ReservationView[]>;
  reserve(migrationId: string, request: ReservationRequest, options?: CallOptions): Promise<ReservationView>;
  /** Resolves whether a reservation was held; releasing twice is not an error. */
  release(migrationId: string, options?: CallOptions): Promise<boolean>;
  /**
   * Prepares the destination. `encryption`: the stream's setting (default required). The answer
   * carries the migration's state token: the one credential the source gets for this migration's
   * incoming state on the destination.
   */
  prepareIncoming(migrationId: string, spec: VmSpec, options?: CallOptions & { readonly encryption?: VmotionEncryption | undefined; readonly fence?: Fence | undefined; readonly postcopy?: boolean | undefined; readonly sourceHypervisorVersion?: string | undefined }): Promise<PreparedIncoming>;
  incomingState(migrationId: string, options?: CallOptions): Promise<IncomingStateView>;
  abortIncoming(migrationId: string, options?: CallOptions): Promise<IncomingStateView>;
  /**
   * Starts an outgoing migration and yields its events; the last is the report. Throws
   * UNAVAILABLE when the stream breaks or stays silent before the report. Aborting `signal`
   * only stops reading: the migration goes on (abort it with abortOutgoing).
   */
  migrateOut(request: OutgoingRequest, options?: CallOptions): AsyncIterable<OutgoingEvent>;
  /** Follows an outgoing migration already running (after a lost stream). */
  followOutgoing(migrationId: string, options?: CallOptions): AsyncIterable<OutgoingEvent>;
  outgoing(migrationId: string, options?: CallOptions): Promise<OutgoingView>;
  abortOutgoing(migrationId: string, options?: CallOptions): Promise<OutgoingView>;
  /** Settles an uncertain outcome with the destination's incoming state (see HypervisorDriver.settle). */
  settleOutgoing(migrationId: string, destination: IncomingState, options?: CallOptions): Promise<SettleView>;
  /**
   * This host takes or confirms the VM's ownership record; CONFLICT when another host holds it.
   * `migrationId`: the migration the new generation is taken for (a cold migration's destination).
   */
  establishOwnership(vm: string, ledger: LedgerRef, options?: CallOptions & { readonly supersede?: number | undefined; readonly migrationId?: string | undefined }): Promise<Ownership>;
  /** The VM's ownership record as this host sees it; NOT_FOUND when there is none. */
  readOwnership(vm: string, ledger: LedgerRef, options?: CallOptions): Promise<Ownership>;
}
