// The sim's usage (DRS demand): measured from what its guests really do, not from their specs.
//
// Memory: the pages the guest has touched (GuestMemory's `touched` map: boot image, workload
// writes, pages a migration loaded), in MB. Pages never touched cost the host nothing, as
// Buffer.alloc maps them lazily (and as a KVM guest's untouched pages are not resident).
//
// CPU: the sim has no instruction stream, so its CPU model is the workload: a vCPU that dirties
// SIM_DIRTY_BYTES_PER_CORE_SECOND of pages per second is one core busy, plus an idle guest's
// housekeeping (timer ticks) of SIM_IDLE_CORE_SHARE of a core per vCPU, capped at the VM's vCPUs.
// The dirtying rate is measured: the workload's writes counted between two usage calls, so a
// throttled (auto-converge), paused or bursty guest reads as what it did, not what it declared.
// Cores become MHz-equivalent at the host's MHz per core.
import { PowerStatus, type HostFacts } from "../driver.ts";
import { hostUsageOf, round1, type HostUsage, type VmUsage } from "../../core/drs/usage.ts";
import { capacityOf, coresToMhz, CounterRates } from "../usage.ts";
import type { SimVm } from "./vm.ts";
import type { Workload } from "./workload.ts";

const MiB = 1024 * 1024;
/** Bytes of pages one vCPU dirties per second when it is fully busy (the sim's CPU model). */
export const SIM_DIRTY_BYTES_PER_CORE_SECOND = 16 * MiB;
/** What a running guest that writes nothing still costs: 1% of a core per vCPU. */
export const SIM_IDLE_CORE_SHARE = 0.01;

/** The sim host's usage meter: the workloads' write counters between calls. */
export class SimUsage {
  /** Keyed by the guest's Workload: a new one at every boot and every migration in. */
  readonly #writes = new CounterRates<Workload>();

  measure(facts: HostFacts, vms: Iterable<SimVm>, now: number, monotonic: number): HostUsage {
    const out: VmUsage[] = [];
    const live = new Set<Workload>();
    for (const vm of vms) {
      // Off: no memory, no guest. A shell is an incoming migration's, reserved, not yet the VM.
      if (vm.power === PowerStatus.off || vm.incoming !== undefined) continue;
      const workload = vm.workload;
      live.add(workload);
      const memory = vm.memory;
      const pagesPerSec = this.#writes.rate(workload, workload.state().writes, monotonic, () => nominalPagesPerSec(vm, workload, memory.pageSize));
      const cpuMhz = vm.power === PowerStatus.running ? coresToMhz(simCores(vm.spec.vcpus, pagesPerSec * memory.pageSize), facts) : 0;
      out.push({ vm: vm.name, cpuMhz, memoryMB: round1((memory.touchedPages * memory.pageSize) / MiB), at: now });
    }
    this.#writes.keepOnly(live);
    return hostUsageOf(facts.name, now, capacityOf(facts), out);
  }
}

/** The sim's CPU model: cores busy for a guest of `vcpus` dirtying `bytesPerSec`. */
export function simCores(vcpus: number, bytesPerSec: number): number {
  return Math.min(vcpus, vcpus * SIM_IDLE_CORE_SHARE + bytesPerSec / SIM_DIRTY_BYTES_PER_CORE_SECOND);
}

/** Before any window: the rate the workload runs at (a bursty one's average), less its throttle. */
function nominalPagesPerSec(vm: SimVm, workload: Workload, pageSize: number): number {
  if (vm.power !== PowerStatus.running || !workload.running) return 0;
  const declared = workload.spec?.kind === "idle" ? 0 : (workload.spec?.dirtyRateBytesPerSec ?? 0);
  return (declared * (1 - workload.throttlePercent / 100)) / pageSize;
}
