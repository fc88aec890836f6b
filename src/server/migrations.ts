// Migrations as persisted tasks. The controller checks the request (the checker's errors
// refuse it; its warnings must be accepted by name), stores a task, marks the VM migrating,
// and hands the migration to the engine's scheduler (per-host and per-datastore limits, a
// queue that says why). Every progress event is stored and streamed; the task records the
// prediction, the phase timeline, the report and who accepted which warnings. After a
// controller restart, `reconcile` finds the tasks that were running and settles each with
// the agents, so every one ends completed or cleanly failed with the VM on exactly one host.
import { agentRuns, type OwnershipPlan } from "../engine/fence.ts";
import { storeLedger, type StoreLedger } from "./ownership.ts";
import { randomBytes } from "node:crypto";
import type { CheckResult, Finding } from "../core/check/findings.ts";
import type { Clock } from "../core/clock.ts";
import { guestCpu } from "../core/cpu/guest.ts";
import { moveVm } from "../core/inventory/edits.ts";
import { clusterConvergence } from "../core/inventory/edits-migration.ts";
import { effectivePolicy, throttles, type ConvergencePolicy } from "../core/migration/postcopy.ts";
import { ErrorCode, FerryError, isFerryError } from "../core/errors.ts";
import { unmovedReport, withDowntimeWarning, withWarning } from "../core/migration/report.ts";
import { Predictor } from "./prediction.ts";
import { streamEncryption } from "../core/migration/encryption.ts";
import { createProgressCadence } from "../core/migration/cadence.ts";
import { DEFAULT_MIGRATE_OPTIONS, MigrationFailureCode, MigrationWarningCode, Phase, TERMINAL_PHASES, type MigrateOptions, type MigrationProgress, type MigrationReport, type PassSample, type Prediction, type Priority, type VmotionEncryption } from "../core/migration/types.ts";
import { MigrationProgressSchema, MigrationTaskBodySchema, PhaseSchema, type MigrationRequestSchema } from "../core/migration/schema.ts";
import type { z } from "zod";
import type { VmSpec } from "../drivers/driver.ts";
import { vmSpecOf } from "./vm-spec.ts";
import { createAgentClient, withStreamEncryption, type AgentClient } from "../agent/client.ts";
import { tlsFetch } from "../pki/tls-fetch.ts";
import { migrate, reconcileMigration, settleOnSource, type CheckVerdict } from "../engine/migrate.ts";
import { coldMigrate, reconcileColdMigration } from "../engine/cold.ts";
import { ownershipWords, type Ownership } from "../core/ownership.ts";
import { createScheduler, type AdmissionSlots, type MigrationScheduler } from "../engine/scheduler.ts";
import type { AdmissionRequest } from "../core/migration/admission.ts";
import type { ClaimsCache } from "./claims.ts";
import { failOrphanedOperations } from "./operations.ts";
import { forgetDeadControllers, HELD_STATES, type TaskLeases } from "./task-leases.ts";
import { ObjectKind, type Store, type TaskRecord } from "../store/store.ts";
import type { EventHub } from "./events.ts";
import type { InventoryService, InventorySnapshot } from "./inventory-service.ts";

/** A migration as asked for (POST /api/migrations, kept as the task's `request`). */
export type MigrationRequest = z.output<typeof MigrationRequestSchema>;

/** Where a host's agent is, and how the controller knows it is that host's. */
export interface AgentEntry {
  readonly host: string;
  readonly url: string;
  /** An agent an admin registered with a bearer token (plain HTTP: tests and agents without a certificate). */
  readonly token?: string | undefined;
  /** SHA-256 (hex) of the certificate the agent was issued at join: the only one the controller accepts from it. */
  readonly fingerprint?: string | undefined;
}

/**
 * What the store keeps per host (objects of kind agent): the agent's address, its pinned
 * certificate, the name of its credential (an agent-role token, stored hashed like every
 * token), and an admin's approval for a new identity. Never served by the API.
 */
export interface AgentRecord {
  readonly host: string;
  readonly url?: string | undefined;
  readonly token?: string | undefined;
  readonly fingerprint?: string | undefined;
  /** The name of the host's agent credential in the tokens table. */
  readonly credential?: string | undefined;
  readonly enrolledAt?: number | undefined;
  /** An admin allowed a (new) agent to join as this host with a join token, once. */
  readonly approval?: { readonly by: string; readonly at: number } | undefined;
}

/** What the controller presents to agents: its client certificate and the CA it trusts them by. */
export interface AgentTlsClient {
  readonly ca: string;
  readonly certificate: string;
  readonly key: string;
}

/** A placeholder bearer for agents reached over mutual TLS: their TLS layer authenticates the caller, not this. */
export const MUTUAL_TLS_BEARER = "mutual-tls";
/**
 * How long the source samples the guest's memory before a prediction. A writer's pace varies
 * from second to second (the lab's 48 MiB/s writer read 14 to 64 MiB/s over single seconds): two
 * average it over twice as long, at one more second before each preview and move.
 */
const GUEST_MEASURE_SECONDS = 2;

export type Log = (level: "info" | "warn" | "error", message: string, fields?: Readonly<Record<string, unknown>>) => void;

/** The agents the controller talks to, kept in the store (their credentials never leave it through the API). */
export class AgentDirectory {
  readonly #store: Store;
  readonly #tls: AgentTlsClient | undefined;
  readonly #clients = new Map<string, AgentClient>();

  constructor(store: Store, tls?: AgentTlsClient) {
    this.#store = store;
    this.#tls = tls;
  }

  /** Reads the agents' records; a client is made again only for a record that changed (another controller on the store may have joined one). */
  async load(): Promise<void> {
    for (const row of await this.#store.listObjects<AgentRecord>(ObjectKind.agent)) {
      const { host, url, token, fingerprint } = row.body;
      const key = `${url ?? ""}\0${token ?? ""}\0${fingerprint ?? ""}`;
      if (this.#loaded.get(host) === key) continue;
      this.#loaded.set(host, key);
      if (url === undefined) this.#clients.delete(host);
      else this.#clients.set(host, this.clientFor({ host, url, token, fingerprint }));
    }
  }

  readonly #loaded = new Map<string, string>();

  /** A client for `entry`: mutual TLS pinned to its certificate, or its bearer token over plain HTTP. */
  clientFor(entry: AgentEntry, timeoutMs?: number): AgentClient {
    const timeout = timeoutMs === undefined ? {} : { timeoutMs };
    if (entry.fingerprint !== undefined) {
      if (this.#tls === undefined) throw new FerryError(ErrorCode.internal, `the controller has no client certificate to reach ${entry.host}'s agent`);
      return createAgentClient({ baseUrl: entry.url, token: MUTUAL_TLS_BEARER, name: entry.host, fetch: tlsFetch({ ...this.#tls, pin: entry.fingerprint }), ...timeout });
    }
    return createAgentClient({ baseUrl: entry.url, token: entry.token ?? "", name: entry.host, ...timeout });
  }

  async record(host: string): Promise<AgentRecord | undefined> {
    return (await this.#store.getObject<AgentRecord>(ObjectKind.agent, host))?.body;
  }

  /** Writes a host's record; a record with an address gets a client, one without loses it. */
  async putRecord(record: AgentRecord): Promise<void> {
    await this.#store.putObject(ObjectKind.agent, record.host, record);
    this.#loaded.set(record.host, `${record.url ?? ""}\0${record.token ?? ""}\0${record.fingerprint ?? ""}`);
    if (record.url === undefined) this.#clients.delete(record.host);
    else this.#clients.set(record.host, this.clientFor({ host: record.host, url: record.url, token: record.token, fingerprint: record.fingerprint }));
  }

  /** Keeps `entry` as its host's agent (merged into the host's record). */
  async register(entry: AgentEntry): Promise<void> {
    const previous = await this.record(entry.host);
    await this.putRecord({ ...previous, host: entry.host, url: entry.url, token: entry.token, fingerprint: entry.fingerprint });
  }

  get(host: string): AgentClient | undefined {
    return this.#clients.get(host);
  }

  hosts(): string[] {
    return [...this.#clients.keys()];
  }
}

/** What a task's JSON body holds, as the controller writes it (the core's schema: src/core/migration/schema.ts). */
export type MigrationTaskBody = z.input<typeof MigrationTaskBodySchema>;

/** What POST /migrations would do with a request, found without starting anything. */
export interface MigrationPreview {
  readonly vm: string;
  readonly source: string;
  readonly to: string;
  readonly pool: string | null;
  readonly priority: Priority;
  readonly ok: boolean;
  readonly errors: readonly Finding[];
  readonly warnings: readonly Finding[];
  /** Why POST /migrations would refuse this request now, in the words it would use; null when it would start. */
  readonly refusal: string | null;
  readonly prediction: Prediction | null;
  /** Where the VM's memory size and workload came from: its source agent, or the inventory when the agent cannot say. */
  readonly predictedFrom: "agent" | "inventory";
}

/**
 * Milliseconds since `began` (performance.now()), for the log. Not CPU time: reading that
 * (getrusage) cost over a millisecond a call on a loaded machine, more than the step itself.
 */
function since(began: number): number {
  return Math.round((performance.now() - began) * 100) / 100;
}

/** A stored task's phase; a row whose state is no phase (never written by Ferry) counts as queued. */
function phaseOf(task: TaskRecord): Phase {
  return PhaseSchema.safeParse(task.state).data ?? Phase.queued;
}

/** A stored task's body, checked against its schema (tasks written by older versions parse too). */
function bodyOf(task: TaskRecord): z.output<typeof MigrationTaskBodySchema> {
  return MigrationTaskBodySchema.parse(task.body);
}

function newMigrationId(now: number): string {
  return `m-${now.toString(36)}-${randomBytes(4).toString("hex")}`;
}

function refusal(vm: string, to: string, check: CheckResult, accepted: readonly string[] | "all" | undefined): FerryError | undefined {
  if (check.errors.length > 0) {
    return new FerryError(ErrorCode.refused, `${vm} cannot move to ${to}: ${check.errors.map((f) => `${f.code}: ${f.message}`).join(" ")}`, { details: { errors: check.errors, warnings: check.warnings } });
  }
  const open: Finding[] = accepted === "all" ? [] : check.warnings.filter((w) => !(accepted ?? []).includes(w.code));
  if (open.length > 0) {
    return new FerryError(ErrorCode.refused, `${vm} to ${to} needs its warnings accepted (--yes, or acceptWarnings: [${[...new Set(open.map((w) => `"${w.code}"`))].join(", ")}]): ${open.map((w) => w.message).join(" ")}`, {
      details: { warnings: open },
    });
  }
  return undefined;
}

function optionsOf(request: MigrationRequest, vmotionEncryption: VmotionEncryption = DEFAULT_MIGRATE_OPTIONS.vmotionEncryption, clusterPolicy?: ConvergencePolicy): MigrateOptions {
  // The convergence policy: the request's, else the source's cluster's, else auto-converge (postcopy.ts).
  const convergence = effectivePolicy(request, clusterPolicy);
  return {
    ...DEFAULT_MIGRATE_OPTIONS,
    vmotionEncryption,
    priority: request.priority,
    downtimeLimitMs: request.downtimeMs ?? DEFAULT_MIGRATE_OPTIONS.downtimeLimitMs,
    autoConverge: throttles(convergence),
    convergence,
    bandwidthLimitBytesPerSec: request.bandwidthMbps === undefined ? undefined : (request.bandwidthMbps * 1e6) / 8,
  };
}

/** The convergence policy of `host`'s cluster, if it sets one. */
function clusterPolicyOf(snapshot: InventorySnapshot, host: string): ConvergencePolicy | undefined {
  const cluster = snapshot.index.hosts.get(host)?.cluster;
  return cluster === undefined ? undefined : clusterConvergence(cluster);
}

/** The stream's encryption: the stronger of the two hosts' clusters' settings, or the request's when stronger still. */
function encryptionOf(snapshot: InventorySnapshot, source: string, destination: string, requested: VmotionEncryption | undefined): VmotionEncryption {
  const settings = [source, destination].map((name) => {
    const cluster = snapshot.index.hosts.get(name)?.cluster;
    return { name: cluster?.name ?? name, setting: cluster?.vmotionEncryption };
  });
  const decision = streamEncryption(settings, requested);
  if (decision.refusal !== undefined) throw new FerryError(ErrorCode.refused, decision.refusal, { details: { vmotionEncryption: requested } });
  return decision.setting;
}

export interface MigrationServiceDeps {
  readonly store: Store;
  readonly inventory: InventoryService;
  readonly events: EventHub;
  readonly agents: AgentDirectory;
  readonly clock: Clock;
  /** The VMs claimed by open migrations (the store's claims, cached). */
  readonly claims: ClaimsCache;
  /** This controller's hold on its tasks. */
  readonly leases: TaskLeases;
  readonly log?: Log | undefined;
}

/** Admission counted in the store, so that every controller on it counts every migration. */
function storeSlots(store: Store, controller: string): AdmissionSlots {
  const request = (a: { taskId: string; source: string; destination: string; datastores: readonly string[]; priority: string }): AdmissionRequest => ({ migrationId: a.taskId, source: a.source, destination: a.destination, datastores: a.datastores, priority: a.priority as Priority });
  return {
    shared: store.dialect === "postgres",
    async admit(decide) {
      const added = await store.admit(controller, (running) => decide(running.map(request)).map((a) => ({ taskId: a.migrationId, source: a.source, destination: a.destination, datastores: a.datastores ?? [], priority: a.priority ?? "normal" })));
      return added.map(request);
    },
    release: (migrationId) => store.releaseAdmission(migrationId),
  };
}

/** What the source's hypervisor measured of a guest just before a prediction. */
interface MeasuredGuest {
  readonly dirtyRate: number;
  readonly touchedBytes: number | undefined;
  readonly workingSetBytes: number | undefined;
}

export class MigrationService {
  readonly #deps: MigrationServiceDeps;
  readonly #scheduler: MigrationScheduler;
  readonly #running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  /** Tasks whose switchover passed the commit: an abort is too late (the destination runs the VM). */
  readonly #committed = new Set<string>();
  /** Hosts whose agent's driver cannot measure a dirty rate. */
  readonly #cannotMeasure = new Set<string>();
  /** The ownership records of VMs without files on a shared datastore (fencing). */
  readonly ledger: StoreLedger;
  /** Where agents reach this controller's ledger; set once the controller listens. */
  #ledgerUrl: string | undefined;
  /** The prediction users see, and what each host pair's migrations taught it (prediction.ts). */
  readonly #predictor: Predictor;

  constructor(deps: MigrationServiceDeps) {
    this.#deps = deps;
    this.#predictor = new Predictor(deps.store);
    this.ledger = storeLedger(deps.store, () => deps.clock.now());
    this.#scheduler = createScheduler({
      clock: deps.clock,
      slots: storeSlots(deps.store, deps.leases.id),
      vmotionNicMbps: (host) => {
        const view = deps.inventory.current.index.hosts.get(host);
        const ref = view?.vmotionPorts[0];
        if (view === undefined || ref === undefined) return undefined;
        return Math.max(0, ...ref.vswitch.uplinks.map((nic) => view.nicSpeed.get(nic) ?? 0));
      },
    });
  }

  #log(level: "info" | "warn" | "error", message: string, fields?: Readonly<Record<string, unknown>>): void {
    this.#deps.log?.(level, message, fields);
  }

  /** Where the VM's ownership record is, as the task records it (a restarted controller settles by it). */
  static #ownershipNote(plan: OwnershipPlan | undefined): MigrationTaskBody["ownership"] {
    if (plan === undefined) return undefined;
    return { kind: plan.ledger.kind, where: plan.ledger.kind === "datastore" ? `datastore ${plan.ledger.datastoreName}` : "the controller's store" };
  }

  /** The controller's own URL as agents reach it, for the ownership ledger of VMs without files. */
  setLedgerUrl(url: string): void {
    this.#ledgerUrl = url;
  }

  /**
   * Where the VM's ownership record is kept: beside its first disk on that datastore (which both
   * hosts mount), else in this controller's store, opened for this migration only. Undefined
   * (unfenced) only for a controller that does not listen (in-process tests).
   */
  async #ownershipPlan(migrationId: string, spec: VmSpec, grant = true): Promise<OwnershipPlan | undefined> {
    const runsOn = async (host: string, vm: string): Promise<boolean | undefined> => {
      const agent = this.#deps.agents.get(host);
      return agent === undefined ? undefined : agentRuns(agent, vm);
    };
    const disk = spec.disks?.[0];
    if (disk !== undefined) {
      const uuid = this.#deps.inventory.current.index.datastores.get(disk.datastore)?.uuid;
      return { ledger: { kind: "datastore", datastore: uuid ?? disk.datastore, datastoreName: disk.datastore }, runsOn };
    }
    if (this.#ledgerUrl === undefined || !grant) return undefined;
    // The other live controllers on the store can answer for this one if it goes away mid-migration.
    const now = this.#deps.clock.now();
    const alternates = (await this.#deps.store.listControllers()).filter((c) => c.id !== this.#deps.leases.id && c.leaseUntil >= now && c.address !== "").map((c) => c.address);
    return { ledger: { kind: "controller", url: this.#ledgerUrl, ...(alternates.length === 0 ? {} : { alternates }), capability: await this.ledger.grant(spec.name, migrationId) }, runsOn };
  }

  /** Validates and queues a migration; resolves with its task as soon as it is stored. */
  async start(request: MigrationRequest, requestedBy: string): Promise<TaskRecord> {
    const began = performance.now();
    const { inventory, agents, store, clock } = this.#deps;
    const snapshot = inventory.current;
    const vm = snapshot.index.vms.get(request.vm);
    if (vm === undefined) throw new FerryError(ErrorCode.notFound, `no VM named "${request.vm}"`);
    const dest = snapshot.index.hosts.get(request.to);
    if (dest === undefined) throw new FerryError(ErrorCode.notFound, `no host named "${request.to}"`);
    if (request.pool !== undefined && !snapshot.index.pools.has(request.pool)) throw new FerryError(ErrorCode.notFound, `no resource pool named "${request.pool}"`);
    const held = this.#deps.claims.claimOf(vm.name);
    if (held !== undefined) throw await this.#alreadyMigrating(vm.name, held.taskId);
    if (!dest.host.connected) throw new FerryError(ErrorCode.conflict, `the target host ${dest.host.name} is down (not connected)`);
    // A powered-off VM moves cold (re-registered, it stays off); a suspended one's saved state does not move.
    if (vm.power === "suspended") throw new FerryError(ErrorCode.refused, `${vm.name} is suspended: Ferry does not move a suspended VM's saved state; resume it (\`ferry vm power ${vm.name} on\`) for a live migration, or power it off for a cold one`, { details: { vm: vm.name, power: vm.power } });
    const cold = vm.power === "off";
    const sourceAgent = agents.get(vm.host);
    const destAgent = agents.get(dest.host.name);
    if (sourceAgent === undefined) throw new FerryError(ErrorCode.conflict, `the source host ${vm.host} has no agent connected to the controller`);
    if (destAgent === undefined) throw new FerryError(ErrorCode.conflict, `the target host ${dest.host.name} has no agent connected to the controller`);

    const check = snapshot.checker.check(vm.name, dest.host.name, { pool: request.pool, priority: request.priority });
    const refused = refusal(vm.name, dest.host.name, check, request.acceptWarnings);
    if (refused !== undefined) throw refused;

    const options = optionsOf(request, encryptionOf(snapshot, vm.host, dest.host.name, request.vmotionEncryption), clusterPolicyOf(snapshot, vm.host));
    const now = clock.now();
    const id = newMigrationId(now);
    // The claim comes first, in one write: of two requests for one VM, one gets it, the other 409.
    const claimed = await this.#deps.claims.claim({ vm: vm.name, taskId: id, source: vm.host, destination: dest.host.name, controller: this.#deps.leases.id, at: now });
    if (!claimed.claimed) throw await this.#alreadyMigrating(vm.name, claimed.holder.taskId);
    let task: TaskRecord;
    let spec: VmSpec;
    let ownership: OwnershipPlan | undefined;
    try {
      // The VM as its source agent knows it (its memory size and workload), else as the inventory says.
      spec = await this.#specOf(snapshot, vm.name, sourceAgent);
      // A cold move sends no memory: nothing to predict.
      const prediction = cold ? undefined : await this.#predict(snapshot, spec, options, dest.host.name, sourceAgent, await this.#measuredDirtyRate(sourceAgent, vm.name));
      const acceptedWarnings = request.acceptWarnings === "all" ? check.warnings.map((w) => w.code) : check.warnings.map((w) => w.code).filter((c) => request.acceptWarnings?.includes(c) === true);
      ownership = await this.#ownershipPlan(id, spec);
      const body: MigrationTaskBody = { request, ...(cold ? { cold: true } : {}), ...(cold || options.convergence === undefined ? {} : { convergence: options.convergence }), pool: request.pool ?? vm.pool, acceptedWarnings, requestedBy, prediction, timeline: [{ phase: Phase.queued, at: now }], progress: undefined, report: undefined, waitingReason: undefined, ownership: MigrationService.#ownershipNote(ownership) };
      task = await store.createTask({ id, kind: "migration", vm: vm.name, source: vm.host, destination: dest.host.name, state: Phase.queued, percent: 0, createdAt: now, createdBy: requestedBy, body, owner: this.#deps.leases.id, leaseUntil: this.#deps.leases.until() });
    } catch (error) {
      await this.#deps.claims.release(vm.name, id).catch(() => undefined);
      throw error;
    }
    const { prediction, acceptedWarnings } = bodyOf(task);
    await this.#deps.events.publish(id, now, { type: "task", state: Phase.queued, percent: 0, vm: vm.name, source: vm.host, destination: dest.host.name, prediction });
    // How long the request took here (with others interleaved when several arrive at once).
    this.#log("info", "migration queued", { migrationId: id, vm: vm.name, from: vm.host, to: dest.host.name, requestedBy, acceptedWarnings, durationMs: since(began) });

    // The engine aims under the user's limit by the pair's learned margin; the report is judged by the user's.
    const engineOptions: MigrateOptions = { ...options, downtimeLimitMs: await this.#predictor.downtimeTargetMs(vm.host, dest.host.name, options.downtimeLimitMs) };
    const abort = new AbortController();
    const done = this.#run(task, spec, ownership, engineOptions, check, sourceAgent, withStreamEncryption(destAgent, options.vmotionEncryption), abort.signal).finally(() => {
      this.#running.delete(id);
      this.#committed.delete(id);
    });
    this.#running.set(id, { abort, done });
    return task;
  }

  /** The 409 for a VM another migration holds, naming that task. */
  async #alreadyMigrating(vm: string, taskId: string): Promise<FerryError> {
    const task = await this.#deps.store.getTask(taskId);
    return new FerryError(ErrorCode.conflict, `${vm} is already migrating (task ${taskId}${task === undefined ? "" : `, ${task.state} ${Math.round(task.percent)}%`})`, { details: { vm, migration: taskId } });
  }

  /**
   * The checks and the prediction `start` would make, and the refusal it would give, without
   * queueing anything: the migrate wizard's summary. Unknown names are errors, as in `start`;
   * every other reason to refuse is returned as `refusal`.
   */
  async preview(request: MigrationRequest): Promise<MigrationPreview> {
    const { inventory, agents } = this.#deps;
    const snapshot = inventory.current;
    const vm = snapshot.index.vms.get(request.vm);
    if (vm === undefined) throw new FerryError(ErrorCode.notFound, `no VM named "${request.vm}"`);
    const dest = snapshot.index.hosts.get(request.to);
    if (dest === undefined) throw new FerryError(ErrorCode.notFound, `no host named "${request.to}"`);
    if (request.pool !== undefined && !snapshot.index.pools.has(request.pool)) throw new FerryError(ErrorCode.notFound, `no resource pool named "${request.pool}"`);
    const check = snapshot.checker.check(vm.name, dest.host.name, { pool: request.pool, priority: request.priority });
    const sourceAgent = agents.get(vm.host);
    let spec: VmSpec | undefined;
    // What `start` would refuse for when asking the source agent (it does not answer, or does
    // not have the VM); the prediction then falls back to the inventory's VM.
    let agentRefusal: string | undefined;
    // A source that is not responding is not asked (the check's HOST_DISCONNECTED says why).
    const sourceSilent = check.errors.some((f) => f.code === "HOST_DISCONNECTED" && f.subject.name === vm.host);
    if (sourceAgent !== undefined && !sourceSilent) {
      spec = await this.#specOf(snapshot, vm.name, sourceAgent).catch((error: unknown) => {
        agentRefusal = error instanceof Error ? error.message : String(error);
        return undefined;
      });
    }
    const predictedFrom = spec === undefined ? "inventory" : "agent";
    spec ??= this.#inventorySpec(snapshot, vm.name);
    const refused = agentRefusal ?? (this.#deps.claims.claimOf(vm.name) !== undefined
      ? `${vm.name} is already migrating`
      : !dest.host.connected
        ? `the target host ${dest.host.name} is down (not connected)`
        : sourceAgent === undefined
          ? `the source host ${vm.host} has no agent connected to the controller`
          : agents.get(dest.host.name) === undefined
            ? `the target host ${dest.host.name} has no agent connected to the controller`
            : (refusal(vm.name, dest.host.name, check, request.acceptWarnings)?.message ?? null));
    const ownPool = vm.pool !== undefined && snapshot.index.pools.get(vm.pool)?.cluster === dest.host.cluster ? vm.pool : undefined;
    return {
      vm: vm.name,
      source: vm.host,
      to: dest.host.name,
      pool: request.pool ?? ownPool ?? null,
      priority: request.priority,
      ok: check.ok,
      errors: check.errors,
      warnings: check.warnings,
      refusal: refused,
      prediction: (await this.#predict(snapshot, spec, optionsOf(request, undefined, clusterPolicyOf(snapshot, vm.host)), dest.host.name, sourceAgent, sourceAgent === undefined || predictedFrom === "inventory" ? undefined : await this.#measuredDirtyRate(sourceAgent, vm.name))) ?? null,
      predictedFrom,
    };
  }

  async #specOf(snapshot: InventorySnapshot, vmName: string, source: AgentClient): Promise<VmSpec> {
    try {
      const onAgent = await source.getVm(vmName);
      if (onAgent.spec !== undefined) return onAgent.spec;
    } catch (error) {
      if (isFerryError(error) && error.code === ErrorCode.notFound) throw new FerryError(ErrorCode.conflict, `${vmName} is not on its source host's agent (${source.name}): the inventory and the host disagree`);
      if (isFerryError(error) && error.code === ErrorCode.unavailable) throw new FerryError(ErrorCode.unavailable, `the source host ${source.name} does not answer: ${error.message}`);
      throw error;
    }
    return this.#inventorySpec(snapshot, vmName);
  }

  /** The VM as the inventory describes it, for when its agent cannot say. */
  #inventorySpec(snapshot: InventorySnapshot, vmName: string): VmSpec {
    const vm = snapshot.index.vms.get(vmName);
    if (vm === undefined) throw new FerryError(ErrorCode.notFound, `no VM named "${vmName}"`);
    const view = snapshot.index.hosts.get(vm.host);
    const guest = guestCpu(vm, view?.host, view?.cluster, snapshot.index.templates);
    return vmSpecOf(vm, guest.ok ? [...guest.cpu.flags] : undefined);
  }

  /**
   * The guest's dirty rate as its host measures it now (qemu: sampled guest pages over GUEST_MEASURE_SECONDS),
   * for the prediction; undefined where the agent only knows the declared workload (the sim's
   * spec already carries it) or cannot say.
   */
  async #measuredDirtyRate(agent: AgentClient, vm: string): Promise<MeasuredGuest | undefined> {
    if (this.#cannotMeasure.has(agent.name)) return undefined;
    try {
      const rate = await agent.dirtyRate(vm, GUEST_MEASURE_SECONDS);
      // An agent whose driver cannot measure (the sim) says so every time: not asked again.
      if (!rate.measured) this.#cannotMeasure.add(agent.name);
      // The qemu agent also says how much of the guest's memory is not zero pages, and the working set its writes covered.
      return rate.measured ? { dirtyRate: rate.bytesPerSec, touchedBytes: rate.touchedBytes, workingSetBytes: rate.workingSetBytes } : undefined;
    } catch {
      return undefined;
    }
  }

  /** The prediction for moving `spec` from where the inventory has it to `destination` (prediction.ts). */
  async #predict(snapshot: InventorySnapshot, spec: VmSpec, options: MigrateOptions, destination: string, sourceAgent: AgentClient | undefined, measured?: MeasuredGuest): Promise<Prediction | undefined> {
    const source = snapshot.index.vms.get(spec.name)?.host ?? "";
    return this.#predictor.predict({ snapshot, spec, options, source, destination, sourceAgent, measuredDirtyRate: measured?.dirtyRate, measuredTouchedBytes: measured?.touchedBytes, measuredWorkingSetBytes: measured?.workingSetBytes });
  }

  /** The task's last stored progress event, as its stream showed it; undefined when there is none (or it does not read). */
  async #lastProgress(taskId: string): Promise<MigrationProgress | undefined> {
    const event = await this.#deps.store.latestEvent(taskId, "progress").catch(() => undefined);
    const parsed = MigrationProgressSchema.safeParse(event === undefined ? undefined : { ...event.body, at: event.at });
    return parsed.success ? parsed.data : undefined;
  }

  /** Records a progress event: always as an event; on the task row when the phase or a whole percent changes. */
  #progressWriter(taskId: string): { write: (p: MigrationProgress) => void; flush: () => Promise<void>; passes: () => PassSample[] } {
    const { store, events } = this.#deps;
    let last: MigrationProgress | undefined;
    let chain: Promise<void> = Promise.resolve();
    // Phases entered since the task row was last written.
    const timeline: { phase: string; at: number }[] = [];
    // Which progress becomes an event, and which also the task row: the core's cadence
    // (lists show the row; a live view follows the events).
    const cadence = createProgressCadence(Phase.queued);
    // The percent the task row holds: the row is written at most once a second, so it may lag
    // the last event; at the end it catches up before #finish keeps it.
    let rowPercent = 0;
    // Per pass, its latest event stands for the pass's end; a new pass also writes the task row,
    // so GET /migrations/{id} can draw the chart from the task alone.
    const passes: PassSample[] = [];
    return {
      passes: () => [...passes],
      write: (p) => {
        if (p.committed === true) this.#committed.add(taskId);
        last = p;
        const verdict = cadence.offer(p);
        if (p.phase === Phase.precopy && p.pass > 0) {
          const sample: PassSample = { pass: p.pass, at: p.at, bytesSent: p.bytesSent, bytesRemaining: p.bytesRemaining, dirtyRateBytesPerSec: p.dirtyRateBytesPerSec, linkRateBytesPerSec: p.linkRateBytesPerSec, throttlePercent: p.throttlePercent };
          if (verdict.newPass) passes.push(sample);
          else if (passes[passes.length - 1]?.pass === p.pass) passes[passes.length - 1] = sample;
        }
        if (verdict.phaseChanged) timeline.push({ phase: p.phase, at: p.at });
        if (!verdict.event) return;
        chain = chain
          .then(async () => {
            await events.publish(taskId, p.at, { type: "progress", ...p });
            // The end of a task (its state and report) is written by #finish, once, with the report;
            // the bar's last position goes to the row first, so the task never shows less than
            // its event stream did.
            if (TERMINAL_PHASES.has(p.phase)) {
              if (p.phase !== Phase.completed && p.percent > rowPercent) await store.updateTask(taskId, { percent: p.percent }, undefined, this.#deps.leases.id);
              return;
            }
            if (!verdict.row) return;
            const task = await store.getTask(taskId);
            if (task === undefined) return;
            const body = bodyOf(task);
            rowPercent = p.percent;
            await store.updateTask(taskId, {
              state: p.phase,
              percent: p.percent,
              body: { ...body, progress: last, timeline: [...body.timeline, ...timeline.splice(0)], waitingReason: p.phase === Phase.queued ? p.message : undefined, passes: [...passes] },
            }, undefined, this.#deps.leases.id);
          })
          .catch((error: unknown) => {
            this.#log("warn", "could not record progress", { migrationId: taskId, error: String(error) });
          });
      },
      flush: () => chain,
    };
  }

  async #run(task: TaskRecord, spec: VmSpec, ownership: OwnershipPlan | undefined, options: MigrateOptions, check: CheckResult, source: AgentClient, destination: AgentClient, signal: AbortSignal): Promise<void> {
    const { clock } = this.#deps;
    const body = bodyOf(task);
    const progress = this.#progressWriter(task.id);
    let report: MigrationReport;
    try {
      report = await this.#scheduler.submit({
        migrationId: task.id,
        vm: task.vm,
        source: task.source,
        destination: task.destination,
        datastores: [...new Set(this.#deps.inventory.current.index.vms.get(task.vm)?.disks.map((d) => d.datastore) ?? [])],
        priority: options.priority,
        signal,
        onProgress: progress.write,
        run: async () => {
          const verdict = await this.#recheck(task, check);
          const common = { migrationId: task.id, vm: spec, source, destination, ownership, check: verdict, acceptedWarnings: body.acceptedWarnings, signal, onProgress: progress.write, clock, log: this.#deps.log };
          return body.cold === true ? coldMigrate(common) : migrate({ ...common, options, prediction: body.prediction });
        },
      });
    } catch (error) {
      report = this.#failedReport(task, MigrationFailureCode.internal, `the engine failed: ${error instanceof Error ? error.message : String(error)}`, task.source, body.prediction);
    }
    await progress.flush();
    await this.#finish(task.id, report, progress.passes());
  }

  /**
   * The checker's verdict again, on the inventory as it is when the task leaves the queue (the
   * engine's validating phase refuses on it), with what changed since the task was queued. The
   * task's own claim is not a finding against it.
   */
  async #recheck(task: TaskRecord, queued: CheckResult): Promise<CheckVerdict> {
    const body = bodyOf(task);
    const fresh = this.#deps.inventory.current.checker.check(task.vm, task.destination, { pool: body.request.pool, priority: body.request.priority });
    const own = (f: Finding): boolean => f.code === "VM_MIGRATING" && this.#deps.claims.claimOf(task.vm)?.taskId === task.id;
    const now = { errors: fresh.errors.filter((f) => !own(f)), warnings: fresh.warnings.filter((f) => !own(f)) };
    const key = (f: Finding): string => `${f.code}\0${f.subject.kind}\0${f.subject.name}`;
    const before = new Set([...queued.errors, ...queued.warnings].map(key));
    const after = new Set([...now.errors, ...now.warnings].map(key));
    const added = [...now.errors, ...now.warnings].filter((f) => !before.has(key(f)));
    const gone = [...queued.errors, ...queued.warnings].filter((f) => !after.has(key(f)));
    if (added.length === 0 && gone.length === 0) return { ...now };
    const words = [added.length > 0 ? `new: ${added.map((f) => `${f.code} (${f.subject.name})`).join(", ")}` : "", gone.length > 0 ? `gone: ${gone.map((f) => `${f.code} (${f.subject.name})`).join(", ")}` : ""].filter((w) => w !== "").join("; ");
    const recheck = { at: this.#deps.clock.now(), added, gone };
    await this.#deps.store.updateTask(task.id, { body: { ...bodyOf((await this.#deps.store.getTask(task.id)) ?? task), recheck } }, undefined, this.#deps.leases.id).catch(() => undefined);
    return { ...now, changes: `Checked again when it left the queue; since it was queued, ${words}.` };
  }

  #failedReport(task: TaskRecord, code: MigrationFailureCode, message: string, runningOn: string, prediction: Prediction | undefined): MigrationReport {
    return unmovedReport({
      migrationId: task.id,
      vm: task.vm,
      source: task.source,
      destination: task.destination,
      outcome: Phase.failed,
      failure: { code, message, phase: phaseOf(task) },
      runningOn,
      prediction,
    });
  }

  /** Stores the outcome on the task and in the inventory: the VM is where the report says it runs. */
  async #finish(taskId: string, measured: MigrationReport, passes: readonly PassSample[]): Promise<void> {
    const began = performance.now();
    const { store, events, clock } = this.#deps;
    const task = await store.getTask(taskId);
    if (task === undefined) return;
    const body = bodyOf(task);
    const now = clock.now();
    // Judged by the user's limit, not the lower target the engine was given.
    const judged = withDowntimeWarning(measured, body.request.downtimeMs ?? DEFAULT_MIGRATE_OPTIONS.downtimeLimitMs);
    // The inventory first, so a task never says completed about a move the inventory refused
    // without saying so too.
    const report = judged.runningOn === task.destination && judged.outcome !== Phase.needsAttention ? await this.#recordMove(task, body.pool, judged) : judged;
    try {
      await store.updateTask(taskId, {
        state: report.outcome,
        percent: report.outcome === Phase.completed ? 100 : task.percent,
        body: { ...body, report, failureCode: report.failure?.code, timeline: [...body.timeline, { phase: report.outcome, at: now }], passes: passes.length > 0 ? passes : body.passes },
      }, undefined, this.#deps.leases.id);
    } catch (error) {
      // Another controller took the task over (this one's lease ran out): it settles it.
      this.#log("warn", "the task's outcome is not this controller's to write", { migrationId: taskId, error: String(error) });
      return;
    }
    await store.releaseAdmission(taskId).catch(() => undefined);
    const finished = { source: task.source, destination: task.destination, report, passes, cold: body.cold === true, bandwidthLimited: body.request.bandwidthMbps !== undefined, at: now };
    await this.#predictor.learn(finished).catch((error: unknown) => {
      this.#log("warn", "could not record what the migration taught about its link", { migrationId: taskId, error: String(error) });
    });
    // Needs attention: the VM waits paused on its source and stays claimed, so nothing moves
    // or edits it until its owner is known.
    if (report.outcome !== Phase.needsAttention) await this.#deps.claims.release(task.vm, taskId).catch(() => undefined);
    await events.publish(taskId, now, { type: "report", state: report.outcome, report });
    if (report.outcome === Phase.needsAttention) this.#attend(taskId);
    this.#log(report.outcome === Phase.completed ? "info" : "warn", `migration ${report.outcome}`, { migrationId: taskId, vm: task.vm, runningOn: report.runningOn, failure: report.failure?.code, durationMs: since(began) });
  }

  /** Records in the inventory that the VM runs on the destination; a refusal becomes the report's INVENTORY_NOT_RECORDED warning. */
  async #recordMove(task: TaskRecord, pool: string | undefined, report: MigrationReport): Promise<MigrationReport> {
    const { inventory } = this.#deps;
    const move = (): Promise<unknown> =>
      inventory.change((draft) => {
        moveVm(draft, task.vm, task.destination, pool !== undefined && inventory.current.index.pools.get(pool)?.cluster === inventory.current.index.hosts.get(task.destination)?.host.cluster ? pool : undefined);
      });
    try {
      // Another controller's write first (CONFLICT): the change reloaded, so once more.
      await move().catch((error: unknown) => {
        if (isFerryError(error) && error.code === ErrorCode.conflict) return move();
        throw error;
      });
      return report;
    } catch (error) {
      const why = isFerryError(error) ? error.message : String(error);
      this.#log("error", "could not record where the VM runs", { migrationId: task.id, vm: task.vm, runningOn: report.runningOn, error: why });
      return withWarning(report, MigrationWarningCode.inventoryNotRecorded, `${task.vm} runs on ${task.destination}, but the inventory could not record it (${why}); it still names ${task.source} until the host's reconciliation or an edit records the move`);
    }
  }

  async abort(id: string): Promise<TaskRecord> {
    const task = await this.#deps.store.getTask(id);
    if (task === undefined) throw new FerryError(ErrorCode.notFound, `no migration with id ${id}`);
    // Past its commit as this controller saw it, or as the run's last stored event says (another controller's, or before a restart).
    if (task.state === Phase.completed || this.#committed.has(id) || (task.state === Phase.switchover && (await this.#lastProgress(id))?.committed === true)) {
      throw new FerryError(ErrorCode.conflict, `too late: the destination runs it (migration ${id} is ${task.state === Phase.completed ? "completed" : "past its commit"})`, { details: { migration: id, state: task.state } });
    }
    if (TERMINAL_PHASES.has(phaseOf(task))) throw new FerryError(ErrorCode.conflict, `migration ${id} already ended (${task.state})`);
    const running = this.#running.get(id);
    if (running === undefined && task.owner !== undefined && task.owner !== this.#deps.leases.id) {
      const holder = (await this.#deps.store.listControllers()).find((c) => c.id === task.owner);
      throw new FerryError(ErrorCode.conflict, `migration ${id} is run by another controller (${task.owner}${holder === undefined ? "" : `, ${holder.address}`}): abort it there`, { details: { migration: id, owner: task.owner } });
    }
    if (running === undefined) throw new FerryError(ErrorCode.conflict, `migration ${id} is being settled after a restart; try again in a moment`);
    running.abort.abort(new FerryError(ErrorCode.refused, "aborted by request"));
    return task;
  }

  /** This controller's lease id in the store. */
  get controllerId(): string {
    return this.#deps.leases.id;
  }

  /**
   * Starts this controller's lease and takes the tasks no live controller holds: after a
   * restart on SQLite every open task, on PostgreSQL those whose controller's lease expired
   * (now, and whenever one expires later). Each is settled with its agents: a migration the
   * source agent still runs is followed to its end; one it finished gives its report; one no
   * agent knows leaves the VM where it runs (asked of both hosts) and ends failed. Those that
   * need attention keep asking their source. Returns how many were taken now.
   */
  async reconcile(address = ""): Promise<number> {
    return this.#deps.leases.start(
      address,
      (task) => {
        this.#adopt(task);
      },
      // Agents another controller on the store joined meanwhile, its inventory changes, and the
      // operations a controller whose lease expired left running.
      async () => {
        await this.#deps.agents.load();
        if (this.#deps.store.dialect === "postgres") {
          await this.#deps.inventory.refresh();
          await failOrphanedOperations(this.#deps, this.#deps.leases.id);
        }
        await forgetDeadControllers(this.#deps.store, this.#deps.clock.now(), this.#deps.log);
      },
    );
  }

  #adopt(task: TaskRecord): void {
    if (task.state === Phase.needsAttention) {
      this.#attend(task.id);
      return;
    }
    if (this.#running.has(task.id)) return;
    const abort = new AbortController();
    const done = this.#settleAfterRestart(task, abort.signal).finally(() => {
      this.#running.delete(task.id);
    });
    this.#running.set(task.id, { abort, done });
  }

  async #settleAfterRestart(task: TaskRecord, signal: AbortSignal): Promise<void> {
    const { agents, clock } = this.#deps;
    const body = bodyOf(task);
    const source = agents.get(task.source);
    const destination = agents.get(task.destination);
    const progress = this.#progressWriter(task.id);
    // The task row is written at most once a second and may lag the last event: start where the stream left off.
    const last = await this.#lastProgress(task.id);
    let report: MigrationReport;
    if (source === undefined || destination === undefined) {
      report = this.#failedReport(task, MigrationFailureCode.sourceLost, `the controller restarted and has no agent for ${source === undefined ? task.source : task.destination} any more; the VM is left where its hosts have it`, task.source, body.prediction);
    } else {
      // The engine picks the migration up where it is: follows the source's run to its report,
      // or takes its report, or asks the destination; then settles as a new migration would.
      const spec = await this.#specOf(this.#deps.inventory.current, task.vm, source).catch(() => this.#inventorySpec(this.#deps.inventory.current, task.vm));
      try {
        report = body.cold === true
          ? await reconcileColdMigration({ migrationId: task.id, vm: spec, source, destination, ownership: await this.#ownershipPlan(task.id, spec), signal, onProgress: progress.write, clock, log: this.#deps.log, lastPercent: Math.max(task.percent, last?.percent ?? 0) })
          : await reconcileMigration({ migrationId: task.id, vm: spec, source, destination, prediction: body.prediction, signal, onProgress: progress.write, clock, log: this.#deps.log, lastPhase: phaseOf(task), lastPercent: Math.max(task.percent, last?.percent ?? 0), committed: last?.committed, fenced: body.ownership !== undefined });
      } catch (error) {
        report = this.#failedReport(task, MigrationFailureCode.internal, `settling after a restart failed: ${error instanceof Error ? error.message : String(error)}`, task.source, body.prediction);
      }
    }
    await progress.flush();
    await this.#finish(task.id, report, progress.passes());
  }

  /** Waits until the migrations running now (those taken over at start included) have ended; nothing is stopped. */
  async settled(): Promise<void> {
    await Promise.all([...this.#running.values()].map((r) => r.done.catch(() => undefined)));
  }

  /** Waits for every migration this controller runs (shutdown), and stops asking after those that need attention. */
  async drain(): Promise<void> {
    this.#closing.abort();
    await Promise.all([...this.#running.values(), ...this.#attending.values()].map((r) => r.done.catch(() => undefined)));
    await this.#deps.leases.stop();
    // Every task it held ended (or waits for a decision another controller may take up): leave.
    if (!(await this.#holdsTasks())) await this.#deps.leases.leave();
  }

  async #holdsTasks(): Promise<boolean> {
    const held = await this.#deps.store.listTasks({ states: HELD_STATES, limit: 10_000 }).catch(() => []);
    return held.some((t) => t.owner === this.#deps.leases.id);
  }

  // ---- needs attention: the owner of a VM could not be proven after COMMIT ----

  readonly #attending = new Map<string, { done: Promise<void> }>();
  readonly #closing = new AbortController();
  /** How often a migration that needs attention asks its source again. */
  static readonly ATTENTION_RETRY_MS = 10_000;

  /** Asks the source again, every ATTENTION_RETRY_MS, until the ownership record settles the task. */
  #attend(taskId: string): void {
    if (this.#attending.has(taskId) || this.#closing.signal.aborted) return;
    const closing = this.#closing.signal;
    const closed = (): boolean => closing.aborted;
    const loop = async (): Promise<void> => {
      while (!closed()) {
        await this.#deps.clock.sleep(MigrationService.ATTENTION_RETRY_MS, closing).catch(() => undefined);
        if (closed()) return;
        const settled = await this.#settleAttention(taskId, undefined).catch((error: unknown) => {
          this.#log("warn", "a migration that needs attention is still unsettled", { migrationId: taskId, error: String(error) });
          return undefined;
        });
        if (settled !== undefined) return;
      }
    };
    const done = loop().finally(() => this.#attending.delete(taskId));
    this.#attending.set(taskId, { done });
  }

  /**
   * `ferry migrate resolve TASK --run-on HOST`: an operator's decision for a migration that
   * needs attention. Refused unless HOST holds the VM's ownership record (the record, not the
   * operator, decides where it may run); then the source settles by the record as it would
   * on its own, and the task ends with where the VM runs.
   */
  async resolve(taskId: string, runOn: string): Promise<TaskRecord> {
    const task = await this.#deps.store.getTask(taskId);
    if (task === undefined) throw new FerryError(ErrorCode.notFound, `no migration with id ${taskId}`);
    if (task.state !== Phase.needsAttention) throw new FerryError(ErrorCode.conflict, `migration ${taskId} is ${task.state}, not waiting for a decision (only a migration that needs attention can be resolved)`);
    if (runOn !== task.source && runOn !== task.destination) throw new FerryError(ErrorCode.invalidInput, `${runOn} is neither the source (${task.source}) nor the destination (${task.destination}) of migration ${taskId}`);
    const settled = await this.#settleAttention(taskId, runOn);
    if (settled === undefined) throw new FerryError(ErrorCode.unavailable, `${task.source} could not settle ${task.vm} by its ownership record; the migration still needs attention`);
    return settled;
  }

  async #settleAttention(taskId: string, runOn: string | undefined): Promise<TaskRecord | undefined> {
    const { store, agents } = this.#deps;
    const task = await store.getTask(taskId);
    if (task?.state !== Phase.needsAttention) return undefined;
    const source = agents.get(task.source);
    const destination = agents.get(task.destination);
    if (source === undefined || destination === undefined) return undefined;
    if (runOn !== undefined) {
      const record = await this.#readRecord(task, source, destination);
      if (record.owner !== runOn) throw new FerryError(ErrorCode.conflict, `${runOn} does not hold ${task.vm}'s ownership record: ${ownershipWords(record)}; only that host may run it`, { details: { ownership: record } });
    }
    const settled = await this.#whereSettled(task.id, source);
    if (settled.where === undefined) return undefined;
    const previous = bodyOf(task).report;
    const state = settled.where === "destination" ? await destination.incomingState(task.id).then((v) => v.state).catch(() => undefined) : undefined;
    const words = settled.where === "source" ? `${task.source} took the ownership record back and runs ${task.vm}` : `${task.destination} holds the ownership record${state === "running" ? " and runs it" : `; it did not confirm it runs it (${state ?? "unreachable"})`}`;
    const message = `${previous?.failure?.message ?? "the outcome was uncertain"}; settled${runOn === undefined ? "" : ` on an operator's decision (run on ${runOn})`}: ${words}`;
    const base = previous ?? this.#failedReport(task, MigrationFailureCode.ownershipUnknown, message, "", undefined);
    const report: MigrationReport = settled.where === "source"
      ? { ...base, outcome: Phase.failed, runningOn: task.source, failure: { code: MigrationFailureCode.ownershipUnknown, message, phase: Phase.switchover } }
      : { ...base, outcome: Phase.completed, runningOn: task.destination, verified: state === "running", failure: { code: MigrationFailureCode.ownershipUnknown, message, phase: Phase.switchover } };
    this.#log("warn", `needs-attention migration settled: ${words}`, { migrationId: task.id });
    await this.#finish(task.id, report, []);
    return (await store.getTask(task.id)) ?? task;
  }

  /**
   * The source settles its uncertain copy by the record; a source with no such copy (it never
   * committed, or the migration ended there) tells by its own report where the VM runs.
   */
  async #whereSettled(taskId: string, source: AgentClient): Promise<{ readonly where: "source" | "destination" | undefined }> {
    const settled = await settleOnSource(taskId, source, this.#deps.log ?? (() => undefined));
    if (settled.where !== undefined) return settled;
    const report = (await source.outgoing(taskId).catch(() => undefined))?.report;
    if (report === undefined || report.runningOn === "") return { where: undefined };
    return { where: report.outcome === Phase.completed ? "destination" : "source" };
  }

  /** The VM's ownership record: the controller's own, or as a host that mounts its datastore reads it. */
  async #readRecord(task: TaskRecord, source: AgentClient, destination: AgentClient): Promise<Ownership> {
    const where = bodyOf(task).ownership;
    if (where?.kind === "controller") {
      const record = await this.ledger.read(task.vm);
      if (record !== undefined) return record;
    } else {
      const spec = await this.#specOf(this.#deps.inventory.current, task.vm, source).catch(() => this.#inventorySpec(this.#deps.inventory.current, task.vm));
      const plan = await this.#ownershipPlan(task.id, spec, false);
      for (const agent of [source, destination]) {
        if (plan === undefined) break;
        const record = await agent.readOwnership(task.vm, plan.ledger).catch(() => undefined);
        if (record !== undefined) return record;
      }
    }
    throw new FerryError(ErrorCode.unavailable, `${task.vm}'s ownership record cannot be read (${where?.where ?? "no record noted"}); nothing was decided`);
  }
}
