// Liveness: the controller heartbeats every host's agent (GET /v1/health, a short timeout, on
// the injected clock). A host whose agent misses `missedBeats` beats in a row is "not
// responding" (vCenter's word): the checker refuses it as a source or destination, and its
// VMs' power is shown as unknown. When it answers again — and once for every host the
// controller knew at start — what the agent runs is reconciled with the inventory: every
// difference is an event, and the inventory follows the agent where the agent's word is the
// truth. The state is transient: kept in memory beside the inventory, never written to it on
// a beat; changes are published as events (task id `host:NAME`) for SSE clients.
import type { HealthView } from "../agent/api.ts";
import type { AgentClient } from "../agent/client.ts";
import type { HostLiveness } from "../core/check/checker.ts";
import type { Clock } from "../core/clock.ts";
import { ErrorCode, FerryError } from "../core/errors.ts";
import { applyCorrections, reconcileHost, type AgentAnswer, type Difference } from "../core/inventory/reconcile.ts";
import type { Inventory } from "../core/inventory/schema.ts";
import type { TaskEventBody } from "../core/migration/schema.ts";
import type { EventHub } from "./events.ts";
import { Periodic } from "./periodic.ts";
import type { InventoryService } from "./inventory-service.ts";
import type { Log } from "./migrations.ts";

export const HostState = { connected: "connected", notResponding: "notResponding" } as const;
export type HostState = (typeof HostState)[keyof typeof HostState];

/** The task id under which a host's liveness and reconciliation events are stored. */
export function hostEventStream(host: string): string {
  return `host:${host}`;
}

/** What the API and the checker read: a host's state now. */
export interface HostLivenessView extends HostLiveness {
  stateOf(host: string): HostState;
  /** When the host's agent last answered a heartbeat (ms since the epoch), if it has. */
  lastSeenAt(host: string): number | undefined;
}

/** A host's state in the API's summaries: the inventory's connected flag, then the heartbeats. */
export const HostSummaryState = { connected: "connected", notResponding: "notResponding", disconnected: "disconnected" } as const;
export type HostSummaryState = (typeof HostSummaryState)[keyof typeof HostSummaryState];

export function hostSummaryState(host: { readonly name: string; readonly connected: boolean } | undefined, liveness: HostLivenessView | undefined): HostSummaryState {
  if (host === undefined || !host.connected) return HostSummaryState.disconnected;
  return liveness?.notResponding(host.name) === true ? HostSummaryState.notResponding : HostSummaryState.connected;
}

export interface LivenessOptions {
  /** Between heartbeats. Default 10 s. */
  readonly intervalMs?: number | undefined;
  /** How long one heartbeat may take before it counts as missed. Default 3 s (at most the interval). */
  readonly timeoutMs?: number | undefined;
  /** Missed beats in a row that make a host not responding. Default 3 (about 30 s). */
  readonly missedBeats?: number | undefined;
}

export interface LivenessDeps extends LivenessOptions {
  readonly agents: { hosts(): string[]; get(host: string): AgentClient | undefined };
  readonly inventory: InventoryService;
  readonly events: EventHub;
  readonly clock: Clock;
  readonly log?: Log | undefined;
}

interface HostBeat {
  /** The client the directory had for the host: a new one means the agent joined (again). */
  client: AgentClient | undefined;
  state: HostState;
  missed: number;
  lastSeenAt: number | undefined;
  /** The latest answer, while the host answers: what other hosts' reconciliation compares with. */
  answer: AgentAnswer | undefined;
  /** Reconcile at the next answer: known at start, back from not responding, or its agent restarted. */
  reconcile: boolean;
  /** When the agent that answered last started: another value is a restarted agent. */
  startedAt: number | undefined;
}

export const LIVENESS_DEFAULTS = { intervalMs: 10_000, timeoutMs: 3_000, missedBeats: 3 } as const;

export class Liveness implements HostLivenessView {
  readonly #deps: LivenessDeps;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #missedBeats: number;
  readonly #hosts = new Map<string, HostBeat>();
  /** Hosts with an agent when the controller started: each is reconciled at its first answer. */
  readonly #atStart: Set<string>;
  readonly #periodic: Periodic;

  constructor(deps: LivenessDeps) {
    this.#deps = deps;
    this.#intervalMs = deps.intervalMs ?? LIVENESS_DEFAULTS.intervalMs;
    this.#timeoutMs = deps.timeoutMs ?? Math.min(LIVENESS_DEFAULTS.timeoutMs, this.#intervalMs);
    this.#missedBeats = deps.missedBeats ?? LIVENESS_DEFAULTS.missedBeats;
    this.#atStart = new Set(deps.agents.hosts());
    this.#periodic = new Periodic({
      clock: deps.clock,
      intervalMs: this.#intervalMs,
      round: (signal) => this.beat(signal),
      onError: (error) => deps.log?.("error", "heartbeat round failed", { error: String(error) }),
      cadence: "now",
    });
  }

  stateOf(host: string): HostState {
    return this.#hosts.get(host)?.state ?? HostState.connected;
  }

  notResponding(host: string): boolean {
    return this.stateOf(host) === HostState.notResponding;
  }

  lastSeenAt(host: string): number | undefined {
    return this.#hosts.get(host)?.lastSeenAt;
  }

  /** Beats now, then every interval, until `stop`. */
  start(): void {
    this.#periodic.start();
  }

  stop(): Promise<void> {
    return this.#periodic.stop();
  }

  /** One round: every agent asked at once; states updated; hosts that came back reconciled. */
  async beat(signal?: AbortSignal): Promise<void> {
    const before = this.#deps.inventory.current.inventory;
    const clients = this.#deps.agents.hosts().map((host) => [host, this.#deps.agents.get(host)] as const);
    const answers = await Promise.all(clients.map(async ([host, client]) => [host, client === undefined ? undefined : await this.#ask(host, client, signal)] as const));
    if (signal?.aborted === true) return;
    for (const [i, [host, answer]] of answers.entries()) await this.#record(host, clients[i]?.[1], answer);
    // A VM two hosts' answers disagree on (gone here, found there) is one difference, said once.
    const settled = new Set<string>();
    for (const [host, answer] of answers) {
      const beat = this.#hosts.get(host);
      if (answer !== undefined && beat?.reconcile === true) await this.#reconcile(host, answer, before, settled);
    }
  }

  /** The agent's answer, or undefined when it does not answer in time (or answers as another host). */
  async #ask(host: string, client: AgentClient, outer: AbortSignal | undefined): Promise<HealthView | undefined> {
    const call = new AbortController();
    const onOuter = (): void => { call.abort(outer?.reason); };
    outer?.addEventListener("abort", onOuter, { once: true });
    const timer = this.#deps.clock.sleep(this.#timeoutMs, call.signal).then(
      () => { call.abort(new FerryError(ErrorCode.unavailable, `${host} did not answer its heartbeat within ${this.#timeoutMs} ms`)); },
      () => undefined,
    );
    try {
      const health = await client.health({ signal: call.signal });
      if (health.host !== host) {
        this.#deps.log?.("warn", "an agent answered the heartbeat as another host", { host, answeredAs: health.host });
        return undefined;
      }
      return health;
    } catch {
      return undefined;
    } finally {
      outer?.removeEventListener("abort", onOuter);
      call.abort();
      await timer;
    }
  }

  async #record(host: string, client: AgentClient | undefined, health: HealthView | undefined): Promise<void> {
    const now = this.#deps.clock.now();
    let beat = this.#hosts.get(host);
    if (beat === undefined) {
      // A host first seen: one the controller knew at start is reconciled at its first answer;
      // one that joined since answered its join a moment ago.
      beat = { client, state: HostState.connected, missed: 0, lastSeenAt: undefined, answer: undefined, reconcile: this.#atStart.has(host), startedAt: undefined };
      this.#hosts.set(host, beat);
    } else if (beat.client !== client) {
      // The host's agent joined again (a new address or credential): its join answered, and
      // whoever joined it (`ferry up`) starts its VMs next, so there is nothing to reconcile yet.
      const wasSilent = beat.state === HostState.notResponding;
      Object.assign(beat, { client, state: HostState.connected, missed: 0, reconcile: false, startedAt: undefined });
      if (wasSilent) await this.#publish(host, now, { type: "host", host, state: HostState.connected, lastSeenAt: beat.lastSeenAt ?? null, message: `${host} is connected again: its agent joined anew` });
    }
    if (health !== undefined) {
      const back = beat.state === HostState.notResponding;
      // An agent restarted between two beats (faster than the missed beats add up) may have
      // lost its VMs (the qemu driver's are its processes): what it runs is compared again.
      if (beat.startedAt !== undefined && beat.startedAt !== health.startedAt && !back) {
        beat.reconcile = true;
        await this.#publish(host, now, { type: "host", host, state: HostState.connected, restarted: true, lastSeenAt: now, message: `${host}'s agent restarted since its last answer: what it runs is compared with the inventory` });
      }
      beat.startedAt = health.startedAt;
      beat.missed = 0;
      beat.lastSeenAt = now;
      beat.answer = { vms: health.vms, incoming: health.incoming };
      if (back) {
        beat.state = HostState.connected;
        beat.reconcile = true;
        await this.#publish(host, now, { type: "host", host, state: HostState.connected, lastSeenAt: now, message: `${host} is connected again: its agent answers` });
        this.#deps.log?.("info", "host connected again", { host });
      }
      return;
    }
    beat.missed += 1;
    if (beat.state === HostState.connected && beat.missed >= this.#missedBeats) {
      beat.state = HostState.notResponding;
      beat.answer = undefined;
      const seen = beat.lastSeenAt === undefined ? "it has not answered since the controller started" : `last answer ${Math.round((now - beat.lastSeenAt) / 1000)} s ago`;
      await this.#publish(host, now, { type: "host", host, state: HostState.notResponding, missedBeats: beat.missed, lastSeenAt: beat.lastSeenAt ?? null, message: `${host} is not responding: its agent missed ${beat.missed} heartbeats (${seen}); its VMs' power is unknown` });
      this.#deps.log?.("warn", "host not responding", { host, missedBeats: beat.missed });
    }
  }

  /** Compares what `host` runs with the inventory as it was when the agents were asked; applies what the agent's word settles. */
  async #reconcile(host: string, answer: HealthView, before: Inventory, settled: Set<string>): Promise<void> {
    const { inventory, clock } = this.#deps;
    const others = new Map<string, AgentAnswer>();
    for (const [name, beat] of this.#hosts) if (name !== host && beat.state === HostState.connected && beat.answer !== undefined) others.set(name, beat.answer);
    const differences = reconcileHost(before, host, { vms: answer.vms, incoming: answer.incoming }, others, inventory.claims).filter((d) => !settled.has(d.vm));
    let applied: readonly Difference[] = [];
    try {
      if (differences.some((d) => d.correction !== undefined)) applied = (await inventory.change((draft) => applyCorrections(draft, differences, inventory.claims))).result;
    } catch (error) {
      // The next answer tries again.
      this.#deps.log?.("error", "could not correct the inventory from a host's answer", { host, error: String(error) });
      return;
    }
    const beat = this.#hosts.get(host);
    if (beat !== undefined) beat.reconcile = false;
    for (const d of differences) settled.add(d.vm);
    const now = clock.now();
    for (const d of differences) {
      const corrected = applied.includes(d);
      await this.#publish(host, now, { type: "reconcile", host, kind: d.kind, vm: d.vm, inventory: d.expected ?? null, agentPower: d.agentPower, correction: d.correction ?? null, corrected, message: corrected || d.correction === undefined ? d.message : `${d.message} (not applied: the VM changed meanwhile)` });
    }
    await this.#publish(host, now, { type: "reconciled", host, differences: differences.length, corrections: applied.length, message: differences.length === 0 ? `${host} runs what the inventory says` : `${host}: ${differences.length} difference${differences.length === 1 ? "" : "s"} with the inventory, ${applied.length} corrected` });
    if (differences.length > 0) this.#deps.log?.("info", "host reconciled", { host, differences: differences.length, corrected: applied.length });
  }

  async #publish(host: string, at: number, body: TaskEventBody): Promise<void> {
    try {
      await this.#deps.events.publish(hostEventStream(host), at, body);
    } catch (error) {
      this.#deps.log?.("error", "could not record a host event", { host, type: body.type, error: String(error) });
    }
  }
}
