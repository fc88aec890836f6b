// Small clusters for the DRS tests: hosts and VMs from counts and a few numbers, a checker
// that says yes unless told otherwise, and a cost that grows with memory (1 MiB per ms).
import { DEFAULT_DRS_CONFIG, type DrsCompatibility, type DrsConfig, type DrsHost, type DrsInput, type DrsMoveCost, type DrsRule, type DrsVm } from "./types.ts";

export function host(name: string, over: Partial<DrsHost> = {}): DrsHost {
  return { name, cpuMhz: 10_000, memoryMB: 65_536, maintenance: false, connected: true, ...over };
}

export function vm(name: string, hostName: string, cpuMhz: number, memoryMB: number, over: Partial<DrsVm> = {}): DrsVm {
  return { name, host: hostName, power: "on", vcpus: 2, memoryMB, demand: { cpuMhz, memoryMB }, reservation: { cpuMhz: 0, memoryMB: 0 }, ...over };
}

/** The cost the tests use: a VM's memory at 1 MiB/ms, 30 ms of downtime. */
export function memoryCost(v: DrsVm): DrsMoveCost {
  return { bytes: v.memoryMB * 1048576, totalMs: v.memoryMB, downtimeMs: 30 };
}

export interface ClusterSpec {
  readonly hosts: readonly DrsHost[];
  readonly vms: readonly DrsVm[];
  readonly rules?: readonly DrsRule[];
  readonly config?: Partial<DrsConfig>;
  readonly compatible?: (v: DrsVm, h: DrsHost) => DrsCompatibility;
  readonly cost?: (v: DrsVm, from: DrsHost, to: DrsHost) => DrsMoveCost;
  readonly recentMoves?: DrsInput["recentMoves"];
  readonly now?: number;
}

export function cluster(spec: ClusterSpec): DrsInput {
  return {
    cluster: "c1",
    hosts: spec.hosts,
    vms: spec.vms,
    rules: spec.rules ?? [],
    config: { ...DEFAULT_DRS_CONFIG, automation: "full", ...spec.config },
    compatible: spec.compatible ?? (() => ({ ok: true })),
    cost: spec.cost ?? memoryCost,
    recentMoves: spec.recentMoves ?? [],
    now: spec.now ?? 1_000_000_000,
  };
}

/** The VMs after applying moves (vm → to). */
export function applyMoves(vms: readonly DrsVm[], moves: readonly { readonly vm: string; readonly to: string }[]): DrsVm[] {
  const to = new Map(moves.map((m) => [m.vm, m.to]));
  return vms.map((v) => {
    const target = to.get(v.name);
    return target === undefined ? v : { ...v, host: target };
  });
}
