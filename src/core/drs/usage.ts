// Measured demand (issue 14, "Demand: measured, not declared"): what each VM and each host
// uses now, as the hosts' agents report it, and the short history the controller keeps of it.
// Pure: the drivers measure (src/drivers/*: the sim from its workload, qemu from /proc), the
// agent serves one sample (GET /v1/usage), the controller samples every 20 s into a ring per
// host and per VM (src/server/usage.ts) and the DRS service reads the latest demand from it.
//
// Units: CPU in MHz-equivalent — CPU time used per second of wall time (cores busy) times the
// host's clock in MHz per core, as vSphere's "CPU usage in MHz" counts it — and memory in MB
// (MiB) the VM really holds on the host (sim: pages its guest has touched; qemu: the QEMU
// process's resident memory). Times are ms since the epoch, from the agent's clock.

/** One VM's usage at one moment. */
export interface VmUsage {
  readonly vm: string;
  readonly cpuMhz: number;
  readonly memoryMB: number;
  readonly at: number;
}

/** What a host can give: CPU as cores × MHz, memory in MB (its facts). */
export interface UsageCapacity {
  readonly cpuMhz: number;
  readonly memoryMB: number;
}

/**
 * One host's usage at one moment: the sum of its running VMs' (powered-off VMs use nothing and
 * are not listed), with the host's capacity beside it, so a percentage needs nothing else.
 */
export interface HostUsage {
  readonly host: string;
  readonly cpuMhz: number;
  readonly memoryMB: number;
  readonly at: number;
  readonly capacity: UsageCapacity;
  readonly vms: readonly VmUsage[];
}

/** One point of a history: the shape a chart plots (uPlot's x = at, series = cpuMhz, memoryMB). */
export interface UsagePoint {
  readonly at: number;
  readonly cpuMhz: number;
  readonly memoryMB: number;
}

/** The controller's sampling period. */
export const USAGE_SAMPLE_INTERVAL_MS = 20_000;
/** Samples a ring keeps: one hour at one sample per 20 s. */
export const USAGE_HISTORY_SAMPLES = 180;

/** A host's usage from its VMs' (the sums), measured at `at`. */
export function hostUsageOf(host: string, at: number, capacity: UsageCapacity, vms: readonly VmUsage[]): HostUsage {
  let cpuMhz = 0;
  let memoryMB = 0;
  for (const vm of vms) {
    cpuMhz += vm.cpuMhz;
    memoryMB += vm.memoryMB;
  }
  return { host, cpuMhz: round1(cpuMhz), memoryMB: round1(memoryMB), at, capacity, vms };
}

/** The point of a VM's or a host's usage. */
export function pointOf(usage: Pick<VmUsage, "at" | "cpuMhz" | "memoryMB">): UsagePoint {
  return { at: usage.at, cpuMhz: usage.cpuMhz, memoryMB: usage.memoryMB };
}

/**
 * A fixed-capacity history, oldest first: the newest sample pushes the oldest out once it is
 * full. Samples come in time order; one not newer than the latest is refused (a late answer
 * from an agent must not reorder a chart), and `push` says so.
 */
export class UsageRing {
  readonly capacity: number;
  readonly #points: (UsagePoint | undefined)[];
  /** Where the next point goes. */
  #next = 0;
  #size = 0;

  constructor(capacity: number = USAGE_HISTORY_SAMPLES) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`a usage ring holds at least one sample, not ${capacity}`);
    this.capacity = capacity;
    this.#points = new Array<UsagePoint | undefined>(capacity).fill(undefined);
  }

  get size(): number {
    return this.#size;
  }

  /** Adds a sample; false (and nothing kept) when it is not newer than the latest or not a number. */
  push(point: UsagePoint): boolean {
    if (!validPoint(point)) return false;
    const last = this.latest();
    if (last !== undefined && point.at <= last.at) return false;
    this.#points[this.#next] = pointOf(point);
    this.#next = (this.#next + 1) % this.capacity;
    this.#size = Math.min(this.capacity, this.#size + 1);
    return true;
  }

  latest(): UsagePoint | undefined {
    if (this.#size === 0) return undefined;
    return this.#points[(this.#next - 1 + this.capacity) % this.capacity];
  }

  /** Every sample kept, oldest first (a copy). */
  points(): UsagePoint[] {
    const out: UsagePoint[] = [];
    const first = (this.#next - this.#size + this.capacity) % this.capacity;
    for (let i = 0; i < this.#size; i++) {
      const point = this.#points[(first + i) % this.capacity];
      if (point !== undefined) out.push(point);
    }
    return out;
  }

  /** Samples taken at or after `at`, oldest first. */
  since(at: number): UsagePoint[] {
    return this.points().filter((p) => p.at >= at);
  }
}

/** A mean over a window of samples: what a steady demand looks like, without one sample's spike. */
export interface UsageMean {
  readonly cpuMhz: number;
  readonly memoryMB: number;
  /** Samples it averages. */
  readonly samples: number;
  /** The oldest and newest sample's times. */
  readonly from: number;
  readonly to: number;
}

/**
 * The mean of the samples taken in the last `windowMs` up to `now` (inclusive at both ends);
 * undefined when there are none. Each sample counts once (they are taken at a fixed period).
 */
export function meanOver(points: readonly UsagePoint[], now: number, windowMs: number): UsageMean | undefined {
  const from = now - windowMs;
  let cpu = 0;
  let memory = 0;
  let samples = 0;
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const p of points) {
    if (p.at < from || p.at > now) continue;
    cpu += p.cpuMhz;
    memory += p.memoryMB;
    samples += 1;
    first = Math.min(first, p.at);
    last = Math.max(last, p.at);
  }
  if (samples === 0) return undefined;
  return { cpuMhz: round1(cpu / samples), memoryMB: round1(memory / samples), samples, from: first, to: last };
}

/** The newest sample, unless it is older than `maxAgeMs` at `now` (a host that stopped answering). */
export function latestFresh(points: readonly UsagePoint[], now: number, maxAgeMs: number): UsagePoint | undefined {
  const last = points.at(-1);
  return last !== undefined && now - last.at <= maxAgeMs ? last : undefined;
}

/** Share of `capacity` used, in percent (0 when the capacity is unknown), one decimal. */
export function percentOf(used: number, capacity: number): number {
  return capacity > 0 ? round1((used / capacity) * 100) : 0;
}

function validPoint(point: UsagePoint): boolean {
  return [point.at, point.cpuMhz, point.memoryMB].every((n) => Number.isFinite(n)) && point.cpuMhz >= 0 && point.memoryMB >= 0;
}

/** One decimal: samples are estimates, more digits would only be noise on the wire. */
export function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
