// The controller's usage sampler (issue 14, "Demand: measured, not declared"): every 20 s
// (configurable) it asks each connected agent what its VMs use (GET /v1/usage, a short timeout,
// on the injected clock) and keeps a ring of samples per host and per VM (src/core/drs/usage.ts:
// 180 samples, an hour at 20 s). The history lives in memory only: a restarted controller starts
// with none and has a full hour again an hour later (the agents keep no history either). A VM's
// ring follows it across hosts (a migrated VM keeps its chart). Samples are stamped with the
// controller's clock when they arrive, so one ring never mixes two hosts' clocks.
//
// The DRS service reads `usageFor(cluster)`: the latest fresh demand of every VM and host of
// the cluster; GET /api/usage serves latest + history (routes-usage.ts).
import type { UsageView } from "../agent/api.ts";
import type { AgentClient } from "../agent/client.ts";
import type { Clock } from "../core/clock.ts";
import { Periodic } from "./periodic.ts";
import { latestFresh, meanOver, USAGE_HISTORY_SAMPLES, USAGE_SAMPLE_INTERVAL_MS, UsageRing, type UsageCapacity, type UsagePoint } from "../core/drs/usage.ts";
import type { Log } from "./migrations.ts";

export interface UsageSamplerOptions {
  /** Between two rounds. Default 20 s (USAGE_SAMPLE_INTERVAL_MS). */
  readonly intervalMs?: number | undefined;
  /** How long one agent may take to answer. Default 5 s, at most the interval. */
  readonly timeoutMs?: number | undefined;
  /** Samples kept per host and per VM. Default 180 (an hour at 20 s). */
  readonly historySamples?: number | undefined;
}

export interface UsageSamplerDeps extends UsageSamplerOptions {
  readonly agents: { hosts(): string[]; get(host: string): AgentClient | undefined };
  readonly clock: Clock;
  readonly log?: Log | undefined;
}

/** A host's history: its ring and the capacity its agent last reported. */
export interface HostUsageHistory {
  readonly host: string;
  readonly capacity: UsageCapacity | undefined;
  readonly latest: UsagePoint | undefined;
  readonly history: readonly UsagePoint[];
}

/** A VM's history, with the host it ran on at its latest sample. */
export interface VmUsageHistory {
  readonly vm: string;
  readonly host: string;
  readonly latest: UsagePoint | undefined;
  readonly history: readonly UsagePoint[];
}

/** Latest demand, as the DRS service reads it: only samples younger than three periods. */
export interface ClusterUsage {
  readonly at: number;
  readonly hosts: ReadonlyMap<string, UsagePoint & { readonly capacity: UsageCapacity }>;
  readonly vms: ReadonlyMap<string, UsagePoint & { readonly host: string }>;
}

interface HostRing {
  readonly ring: UsageRing;
  capacity: UsageCapacity | undefined;
  /** The VMs its latest sample listed (running there then). */
  running: readonly string[];
}

interface VmRing {
  readonly ring: UsageRing;
  host: string;
}

/** A sample older than this many periods is not "latest" any more (its host stopped answering). */
const FRESH_PERIODS = 3;
/**
 * DRS balances a VM's demand averaged over this many samples (5 minutes at the default 20 s,
 * one DRS run interval, as vSphere averages demand): one 20 s sample of CPU is noisy enough
 * (±25% per VM) that an aggressive threshold would chase the noise (`npm run bench -- drs`,
 * noisy steady cluster).
 */
export const DEMAND_WINDOW_SAMPLES = 15;

export class UsageSampler {
  readonly intervalMs: number;
  readonly historySamples: number;
  readonly #deps: UsageSamplerDeps;
  readonly #timeoutMs: number;
  readonly #hosts = new Map<string, HostRing>();
  readonly #vms = new Map<string, VmRing>();
  #rounds = 0;
  readonly #periodic: Periodic;

  constructor(deps: UsageSamplerDeps) {
    this.#deps = deps;
    this.intervalMs = deps.intervalMs ?? USAGE_SAMPLE_INTERVAL_MS;
    this.#timeoutMs = Math.min(deps.timeoutMs ?? 5000, this.intervalMs);
    this.historySamples = deps.historySamples ?? USAGE_HISTORY_SAMPLES;
    this.#periodic = new Periodic({
      clock: deps.clock,
      intervalMs: this.intervalMs,
      round: (signal) => this.sample(signal),
      onError: (error) => deps.log?.("error", "usage sampling round failed", { error: String(error) }),
      cadence: "now",
    });
  }

  /** Rounds completed since start: tests wait for this to grow instead of sleeping. */
  get rounds(): number {
    return this.#rounds;
  }

  /** Samples now, then every interval, until `stop`. */
  start(): void {
    this.#periodic.start();
  }

  stop(): Promise<void> {
    return this.#periodic.stop();
  }

  /** One round: every agent asked at once; an agent that does not answer in time adds no sample. */
  async sample(signal?: AbortSignal): Promise<void> {
    const { agents } = this.#deps;
    const asked = agents.hosts().map((host) => [host, agents.get(host)] as const);
    const answers = await Promise.all(asked.map(async ([host, client]) => [host, client === undefined ? undefined : await this.#ask(host, client, signal)] as const));
    if (signal?.aborted === true) return;
    const at = this.#deps.clock.now();
    for (const [host, answer] of answers) if (answer !== undefined) this.#record(host, answer, at);
    this.#forgetOld(at);
    this.#rounds += 1;
  }

  hostHistory(host: string): HostUsageHistory {
    const kept = this.#hosts.get(host);
    const history = kept?.ring.points() ?? [];
    return { host, capacity: kept?.capacity, latest: history.at(-1), history };
  }

  vmHistory(vm: string): VmUsageHistory | undefined {
    const kept = this.#vms.get(vm);
    if (kept === undefined) return undefined;
    const history = kept.ring.points();
    return { vm, host: kept.host, latest: history.at(-1), history };
  }

  /** The VMs `host`'s latest sample listed: what runs there now. */
  runningOn(host: string): readonly string[] {
    return this.#hosts.get(host)?.running ?? [];
  }

  /** VMs with a history whose latest sample was on `host`. */
  vmsOn(host: string): string[] {
    return [...this.#vms].filter(([, kept]) => kept.host === host).map(([vm]) => vm).sort();
  }

  /** Every VM with a history. */
  vms(): string[] {
    return [...this.#vms.keys()].sort();
  }

  /**
   * The demand of `hosts` (a cluster's) and the VMs last seen on them, for the DRS service: a
   * host's latest sample, only if younger than three periods (a silent host's are not "now"),
   * and each VM's mean over its last DEMAND_WINDOW_SAMPLES periods. A VM absent here has no
   * measure: the service falls back to its reservation and says so.
   */
  latestFor(hosts: readonly string[]): ClusterUsage {
    const now = this.#deps.clock.now();
    const maxAge = FRESH_PERIODS * this.intervalMs;
    const hostsOut = new Map<string, UsagePoint & { capacity: UsageCapacity }>();
    for (const host of hosts) {
      const kept = this.#hosts.get(host);
      const latest = kept === undefined ? undefined : latestFresh(kept.ring.points(), now, maxAge);
      if (kept?.capacity !== undefined && latest !== undefined) hostsOut.set(host, { ...latest, capacity: kept.capacity });
    }
    const vmsOut = new Map<string, UsagePoint & { host: string }>();
    for (const host of hostsOut.keys()) {
      // What the host's latest sample listed: a VM powered off since is not demand any more.
      for (const vm of this.runningOn(host)) {
        const mean = this.#demandOf(vm, now);
        if (mean !== undefined) vmsOut.set(vm, { ...mean, host });
      }
    }
    return { at: now, hosts: hostsOut, vms: vmsOut };
  }

  /** A VM's mean demand over the demand window ending now (`at`: its newest sample in it). */
  #demandOf(vm: string, now: number): UsagePoint | undefined {
    const points = this.#vms.get(vm)?.ring.points();
    if (points === undefined) return undefined;
    const mean = meanOver(points, now, DEMAND_WINDOW_SAMPLES * this.intervalMs);
    return mean === undefined ? undefined : { at: mean.to, cpuMhz: mean.cpuMhz, memoryMB: mean.memoryMB };
  }

  async #ask(host: string, client: AgentClient, outer: AbortSignal | undefined): Promise<UsageView | undefined> {
    const call = new AbortController();
    const onOuter = (): void => { call.abort(outer?.reason); };
    outer?.addEventListener("abort", onOuter, { once: true });
    const timer = this.#deps.clock.sleep(this.#timeoutMs, call.signal).then(() => { call.abort(); }, () => undefined);
    try {
      return await client.usage({ signal: call.signal });
    } catch (error) {
      // Liveness says when a host stops answering; a missing sample is only a gap in the chart.
      this.#deps.log?.("warn", "a host's usage could not be read", { host, error: error instanceof Error ? error.message : String(error) });
      return undefined;
    } finally {
      outer?.removeEventListener("abort", onOuter);
      call.abort();
      await timer;
    }
  }

  #record(host: string, usage: UsageView, at: number): void {
    let hostRing = this.#hosts.get(host);
    if (hostRing === undefined) {
      hostRing = { ring: new UsageRing(this.historySamples), capacity: undefined, running: [] };
      this.#hosts.set(host, hostRing);
    }
    hostRing.capacity = usage.capacity;
    hostRing.running = usage.vms.map((v) => v.vm).sort();
    hostRing.ring.push({ at, cpuMhz: usage.cpuMhz, memoryMB: usage.memoryMB });
    for (const vm of usage.vms) {
      let vmRing = this.#vms.get(vm.vm);
      if (vmRing === undefined) {
        vmRing = { ring: new UsageRing(this.historySamples), host };
        this.#vms.set(vm.vm, vmRing);
      }
      vmRing.host = host;
      vmRing.ring.push({ at, cpuMhz: vm.cpuMhz, memoryMB: vm.memoryMB });
    }
  }

  /** A VM unseen for a whole history (deleted, or off for an hour) leaves nothing to chart. */
  #forgetOld(now: number): void {
    const span = this.historySamples * this.intervalMs;
    for (const [vm, kept] of this.#vms) {
      const last = kept.ring.latest();
      if (last === undefined || now - last.at > span) this.#vms.delete(vm);
    }
  }
}

/** What `usageFor` reads: the hosts of a cluster, from the inventory. */
export interface ClusterHosts {
  readonly hosts: readonly { readonly name: string; readonly cluster?: string | undefined }[];
}

/** The latest measured demand of every host of `cluster` and of the VMs on them (the DRS service's input). */
export function usageFor(sampler: UsageSampler, inventory: ClusterHosts, cluster: string): ClusterUsage {
  return sampler.latestFor(inventory.hosts.filter((h) => h.cluster === cluster).map((h) => h.name));
}
