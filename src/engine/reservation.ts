// What a high-priority migration reserves on each host (the seed's step 4: "choosing high
// priority will cause CPU stress on the hosts involved"). Like vSphere's VMotion, Ferry
// sets aside a share of one core on both hosts for the stream — 30% of a core when the
// VMotion NIC runs below 10 Gb/s, a whole core from 10 Gb/s, since the faster link keeps a
// core busy — and, on the destination only, the VM's memory (the source already holds it).
import { vmotionNicMbps } from "../core/migration/admission.ts";
import type { ReservationRequest } from "../agent/api.ts";
import type { HostFacts } from "../drivers/driver.ts";

export const CORE_SHARE_SLOW_NIC = 0.3;
export const CORE_SHARE_FAST_NIC = 1;
export const FAST_NIC_MBPS = 10_000;

export function vmotionCpuMhz(facts: Pick<HostFacts, "cpu" | "nics" | "vswitches">): number {
  const speed = vmotionNicMbps(facts) ?? 0;
  return Math.round(facts.cpu.mhz * (speed >= FAST_NIC_MBPS ? CORE_SHARE_FAST_NIC : CORE_SHARE_SLOW_NIC));
}

export function sourceReservation(facts: Pick<HostFacts, "cpu" | "nics" | "vswitches">): ReservationRequest {
  return { cpuMhz: vmotionCpuMhz(facts), memoryMB: 0 };
}

export function destinationReservation(facts: Pick<HostFacts, "cpu" | "nics" | "vswitches">, vmMemoryMB: number): ReservationRequest {
  return { cpuMhz: vmotionCpuMhz(facts), memoryMB: vmMemoryMB };
}
