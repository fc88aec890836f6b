// The controller's store: one interface, two databases. SQLite (better-sqlite3, one file,
// the embedded default) and PostgreSQL (pg, for big sites and several controllers) share
// one implementation over Kysely (kysely-store.ts) and one contract suite (contract.ts).
// Only the composition root chooses which (openStore in index.ts).
import type { LinkRecord } from "../core/migration/link-learning.ts";

/** Kinds of inventory object the controller keeps, each a JSON document by name. */
export const ObjectKind = {
  datacenter: "datacenter",
  datastore: "datastore",
  cluster: "cluster",
  resourcePool: "resourcePool",
  host: "host",
  template: "template",
  vm: "vm",
  /** A DRS rule (the inventory's drsRules). */
  drsRule: "drsRule",
  /** A host's agent: its URL and the token the controller presents (never served by the API). */
  agent: "agent",
  /** A VM's ownership records (src/server/ownership.ts): one object per generation, `vm#N`, and the head `vm`. */
  ownership: "ownership",
} as const;
export type ObjectKind = (typeof ObjectKind)[keyof typeof ObjectKind];

export interface StoredObject<T = unknown> {
  readonly kind: ObjectKind;
  readonly name: string;
  readonly body: T;
  /** Bumped on every write; a write that names an older version is refused (optimistic locking). */
  readonly version: number;
  readonly updatedAt: number;
}

export interface ObjectVersion {
  readonly kind: ObjectKind;
  readonly name: string;
  readonly version: number;
}

export interface ObjectChange {
  readonly kind: ObjectKind;
  readonly name: string;
  /** The new document, or null to delete. */
  readonly body: unknown;
  readonly expectedVersion?: number | undefined;
}

export interface TaskRecord {
  readonly id: string;
  readonly kind: "migration";
  readonly vm: string;
  readonly source: string;
  readonly destination: string;
  /** The task's phase (a migration Phase). */
  readonly state: string;
  readonly percent: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Who asked (the API token's name). */
  readonly createdBy: string;
  /** Everything else, as JSON: options, accepted warnings, prediction, timeline, report. */
  readonly body: Readonly<Record<string, unknown>>;
  readonly version: number;
  /** The controller that runs the task (its id); undefined for tasks stored before owners existed. */
  readonly owner?: string | undefined;
  /** Until when the owner's hold is good (ms since the epoch); renewed while the task runs. */
  readonly leaseUntil?: number | undefined;
}

export interface TaskPatch {
  readonly state?: string;
  readonly percent?: number;
  readonly body?: Readonly<Record<string, unknown>>;
}

/** A VM claimed by one migration: the store's unique key makes the claim atomic across controllers. */
export interface VmClaimRecord {
  readonly vm: string;
  readonly taskId: string;
  readonly source: string;
  readonly destination: string;
  /** The controller that made the claim. */
  readonly controller: string;
  readonly at: number;
}

export type ClaimOutcome = { readonly claimed: true } | { readonly claimed: false; readonly holder: VmClaimRecord };

/** What a migration admitted to run holds: counted by every controller against the per-host and per-datastore limits. */
export interface AdmissionRecord {
  readonly taskId: string;
  readonly source: string;
  readonly destination: string;
  readonly datastores: readonly string[];
  readonly priority: string;
  readonly controller: string;
  readonly admittedAt: number;
  /** undefined while the migration runs. */
  readonly releasedAt: number | undefined;
}

export type NewAdmission = Omit<AdmissionRecord, "admittedAt" | "releasedAt" | "controller">;

/** A controller process: alive while its lease is renewed. */
export interface ControllerLease {
  readonly id: string;
  readonly address: string;
  readonly startedAt: number;
  readonly leaseUntil: number;
}

/** Where the event log stands: what a client may resume from, and what is gone. */
export interface EventBounds {
  /** The oldest kept event's sequence; `latest + 1` when none is kept. */
  readonly oldest: number;
  /** The sequence to resume from for "everything from now on": the newest event's, or the last pruned one's. */
  readonly latest: number;
  /** The highest sequence ever pruned (0: none): a client resuming before it may have missed events. */
  readonly prunedThrough: number;
}

export interface EventPruneOptions {
  /** Events older than this (ms since the epoch) go... */
  readonly before: number;
  /** ...and so do all but the newest `keep`. */
  readonly keep: number;
  /** Task states that mean the task ended: the events of a task in any other state are kept. */
  readonly ended: readonly string[];
}

/**
 * Events appended by any process on the same store (PostgreSQL: LISTEN/NOTIFY). A store
 * without one (SQLite: one controller) has only its own process's events.
 */
export interface EventFeed {
  /**
   * Calls `onAppended(seq)` after an append of `seq` committed, in commit order, and
   * `onResumed()` after the feed's connection came back (notifications may have been lost
   * meanwhile: read the store). Resolves once listening, with a function that stops.
   */
  listen(handlers: { readonly onAppended: (seq: number) => void; readonly onResumed: () => void }): Promise<() => Promise<void>>;
}

export interface TaskQuery {
  readonly states?: readonly string[];
  readonly vm?: string;
  readonly limit?: number;
  /** Tasks created before this id's creation (paging, newest first). */
  readonly before?: string;
  /** Only tasks this token's name asked for. */
  readonly createdBy?: string;
  /** Only tasks created before this time (ms since the epoch): paging the task list by time. */
  readonly createdBefore?: number;
}

export interface TaskEvent {
  /** Increasing across the whole store: the SSE event id, for Last-Event-ID. */
  readonly seq: number;
  readonly taskId: string;
  readonly at: number;
  readonly body: Readonly<Record<string, unknown>>;
}

/** admin, operator and read-only are people's; `agent` is a host agent's, and may only join. */
export const Role = { admin: "admin", operator: "operator", readOnly: "read-only", agent: "agent" } as const;
export type Role = (typeof Role)[keyof typeof Role];

export interface ApiToken {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly createdAt: number;
  readonly revokedAt: number | undefined;
  /** When it stops being accepted (ms since the epoch); undefined: never. */
  readonly expiresAt: number | undefined;
}

/** One line of the audit log: who did what, when, with what result. */
export interface AuditEntry {
  /** Increasing across the store. */
  readonly seq: number;
  readonly at: number;
  /** The token's name; undefined when the request presented no valid token. */
  readonly actor: string | undefined;
  /** The client's address as the controller saw it ("local" on the unix socket). */
  readonly address: string | undefined;
  readonly method: string;
  /** The route as declared, `/api/vms/{name}`; the request path when no route matched. */
  readonly route: string;
  /** The request path with its query, `/api/inventory?force=true`: names the object. */
  readonly path: string;
  readonly status: number;
  readonly requestId: string;
  /** The error's message for a refused or failed request. */
  readonly message: string | undefined;
}

export interface AuditQuery {
  /** Entries at or after this time (ms since the epoch). */
  readonly since?: number | undefined;
  readonly actor?: string | undefined;
  readonly limit?: number | undefined;
}

/** An operation as the store keeps it (the wire's Operation without a migration's fields). */
export interface OperationRecord {
  readonly id: string;
  readonly kind: string;
  readonly title: string;
  readonly object: { readonly kind: string; readonly name: string } | undefined;
  readonly initiator: string | undefined;
  /** running, succeeded, failed or cancelled. */
  readonly state: string;
  readonly startedAt: number;
  readonly endedAt: number | undefined;
  readonly result: string | undefined;
  readonly errorCode: string | undefined;
  readonly requestId: string | undefined;
  /** The controller that runs it (its lease id); absent in rows older than the column. */
  readonly controller?: string | undefined;
}

export interface OperationEnd {
  readonly state: string;
  readonly endedAt: number;
  readonly result: string | undefined;
  readonly errorCode: string | undefined;
}

export interface OperationQuery {
  /** Only operations on an object of this name. */
  readonly object?: string | undefined;
  /** Only those this token's name asked for. */
  readonly initiator?: string | undefined;
  readonly states?: readonly string[] | undefined;
  /** Only those started before this time (ms since the epoch): paging, newest first. */
  readonly startedBefore?: number | undefined;
  readonly limit?: number | undefined;
}

export interface Store {
  readonly dialect: "sqlite" | "postgres";
  /** Brings the schema up to date (Kysely's Migrator); idempotent. */
  migrateToLatest(): Promise<void>;
  close(): Promise<void>;

  /** Writes objects; with `expectedVersion`, refuses (CONFLICT) when the stored one moved on. */
  putObject<T>(kind: ObjectKind, name: string, body: T, expectedVersion?: number): Promise<StoredObject<T>>;
  /**
   * Replaces every object of the kinds in `objects` (and of `kinds`, which may have none left)
   * at once: all written, or none. Each written object is at version 1.
   */
  replaceObjects(objects: readonly { readonly kind: ObjectKind; readonly name: string; readonly body: unknown }[], kinds?: readonly ObjectKind[]): Promise<void>;
  /**
   * Writes and deletes (body null) objects in one transaction: all or none. An entry with
   * `expectedVersion` refuses the whole batch (CONFLICT) when that object moved on.
   */
  applyObjects(changes: readonly ObjectChange[]): Promise<void>;
  getObject<T>(kind: ObjectKind, name: string): Promise<StoredObject<T> | undefined>;
  listObjects<T>(kind: ObjectKind): Promise<StoredObject<T>[]>;
  deleteObject(kind: ObjectKind, name: string): Promise<boolean>;

  createTask(task: Omit<TaskRecord, "version" | "updatedAt">): Promise<TaskRecord>;
  /**
   * Applies a patch; with `expectedVersion`, refuses (CONFLICT) when the task moved on; with
   * `owner`, refuses (CONFLICT) when another controller took the task over.
   */
  updateTask(id: string, patch: TaskPatch, expectedVersion?: number, owner?: string): Promise<TaskRecord>;
  getTask(id: string): Promise<TaskRecord | undefined>;
  listTasks(query?: TaskQuery): Promise<TaskRecord[]>;

  appendEvent(taskId: string, at: number, body: Readonly<Record<string, unknown>>): Promise<TaskEvent>;
  /** Events after `seq` (exclusive), oldest first, optionally of one task. */
  eventsAfter(seq: number, options?: { readonly taskId?: string; readonly limit?: number }): Promise<TaskEvent[]>;
  /** The newest event of `taskId` whose body's `type` is `type` (a run taken over starts where its stream left off). */
  latestEvent(taskId: string, type: string): Promise<TaskEvent | undefined>;
  /** The oldest and newest sequence, and the highest pruned. */
  eventBounds(): Promise<EventBounds>;
  /** Removes old events (by age and count), never those of a task that has not ended; returns how many. */
  pruneEvents(options: EventPruneOptions): Promise<number>;
  /** Events other processes append (PostgreSQL); undefined when this process is the only writer. */
  readonly eventFeed?: EventFeed | undefined;

  /** Stores a token's hash (never the secret itself). A name in use is CONFLICT; a full store is UNAVAILABLE. */
  addToken(token: { readonly id: string; readonly name: string; readonly role: Role; readonly hash: string; readonly createdAt: number; readonly expiresAt?: number | undefined }): Promise<ApiToken>;
  /** The unrevoked token with this hash, expired or not (the caller tells the client which). */
  findTokenByHash(hash: string): Promise<ApiToken | undefined>;
  listTokens(): Promise<ApiToken[]>;
  revokeToken(name: string, at: number): Promise<boolean>;

  /**
   * Claims `claim.vm` for one migration: the claim is made, or the claim that holds the VM is
   * returned. Atomic across controllers (the VM is the primary key).
   */
  claimVm(claim: VmClaimRecord): Promise<ClaimOutcome>;
  /** Ends the claim of `vm` by `taskId` (a claim by another task is left alone); true when one ended. */
  releaseClaim(vm: string, taskId: string): Promise<boolean>;
  listClaims(): Promise<VmClaimRecord[]>;

  /**
   * Admission, serialised across controllers: `decide` sees every running admission (of every
   * controller) and returns those to add, which are written before the next caller decides.
   */
  admit(controller: string, decide: (running: readonly AdmissionRecord[]) => readonly NewAdmission[]): Promise<readonly NewAdmission[]>;
  releaseAdmission(taskId: string): Promise<void>;
  /** Admissions, newest first; `open` only those still running. */
  listAdmissions(query?: { readonly open?: boolean; readonly limit?: number }): Promise<AdmissionRecord[]>;

  /** Writes the controller's lease and extends the leases of the open tasks it owns (`open` states) to `until`. */
  renewLease(controller: { readonly id: string; readonly address: string; readonly startedAt: number }, until: number, open: readonly string[]): Promise<void>;
  listControllers(): Promise<ControllerLease[]>;
  removeController(id: string): Promise<void>;
  /**
   * Makes `controller` the owner of task `id` with a lease to `until`, if the task is in one of
   * `open` states and its lease expired at `now` (or it has no owner, or `controller` owns it
   * already). Atomic: of two controllers taking one task, one gets it. The task when taken.
   */
  takeTask(id: string, controller: string, now: number, until: number, open: readonly string[]): Promise<TaskRecord | undefined>;

  /**
   * What another controller may have changed: how many inventory objects there are, and the
   * kind, name and version of those written at or after `since` (ms; a writer's clock, so
   * callers look back with a margin). Bodies are read with getObject, for those that moved.
   */
  objectsChangedSince(since: number): Promise<{ readonly count: number; readonly changed: readonly ObjectVersion[] }>;

  /**
   * What each VMotion host pair's migrations taught (src/core/migration/link-learning.ts).
   * `learnLinkRate` reads the pair's record and writes what `fold` makes of it in one
   * transaction, so two controllers finishing migrations on one pair each fold theirs in.
   */
  learnLinkRate(source: string, destination: string, fold: (previous: LinkRecord | undefined) => LinkRecord | undefined): Promise<LinkRecord | undefined>;
  getLinkRate(source: string, destination: string): Promise<LinkRecord | undefined>;
  /** Every pair's record, by source then destination. */
  listLinkRates(): Promise<LinkRecord[]>;

  appendAudit(entry: Omit<AuditEntry, "seq">): Promise<void>;
  /** Newest first. */
  listAudit(query?: AuditQuery): Promise<AuditEntry[]>;
  /** Keeps the newest `keep` entries; returns how many it removed. */
  pruneAudit(keep: number): Promise<number>;

  /** Records an operation as it starts (state running). An id in use is CONFLICT. */
  startOperation(operation: OperationRecord): Promise<void>;
  /** Ends a running operation; an operation that ended already is left as it is. The operation after, or undefined when unknown. */
  finishOperation(id: string, end: OperationEnd): Promise<OperationRecord | undefined>;
  getOperation(id: string): Promise<OperationRecord | undefined>;
  /** Newest first. */
  listOperations(query?: OperationQuery): Promise<OperationRecord[]>;
  /**
   * Ends, as failed with `result`, every operation still running that started before `before`:
   * what a controller that stopped mid-request left (SQLite: one controller, so all of them).
   */
  failStaleOperations(before: number, at: number, result: string): Promise<number>;
  /** Ends as failed (UNAVAILABLE, `result`) the running operations of `controller`; returns them as they now are. */
  failOperationsOf(controller: string, at: number, result: string): Promise<OperationRecord[]>;
  /** Keeps the newest `keep` operations; returns how many it removed. */
  pruneOperations(keep: number): Promise<number>;
}
