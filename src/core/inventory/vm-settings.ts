// VM settings beyond the Connected boxes: CPU scheduling affinity (Edit Settings > Resources >
// Advanced CPU, vSphere's place for it), and what a CPUID mask change leaves of a running
// guest's CPU. QEMU fixes a guest's CPU when it starts, so a guest keeps the features it booted
// with until a power cycle; when the inventory does not record them (bootFlags absent: a lab's
// or an imported VM, powered on outside Ferry's power route), they are what its configuration
// gave it until now, and a mask change must not rewrite that history.
import { guestCpu, GuestCpuSource } from "../cpu/guest.ts";
import { ErrorCode, FerryError } from "../errors.ts";
import { own, positionIn } from "./draft.ts";
import { findVm, type Draft } from "./edits.ts";

/**
 * Pins the VM's vCPUs to these physical CPUs of its host, or clears the pinning (`[]`). vSphere's
 * scheduling affinity: the CPUs are the host's, numbered from 0, so they mean nothing elsewhere.
 */
export function setCpuAffinity(draft: Draft, vmName: string, cpus: readonly number[]): void {
  const vm = findVm(draft, vmName);
  const host = draft.hosts.find((h) => h.name === vm.host);
  const count = host?.cpu.cores;
  const bad = cpus.filter((cpu) => !Number.isInteger(cpu) || cpu < 0 || (count !== undefined && cpu >= count));
  if (bad.length > 0) {
    throw new FerryError(ErrorCode.invalidInput, `${vm.host} has physical CPUs 0 to ${String((count ?? 1) - 1)}: ${bad.join(", ")} ${bad.length === 1 ? "is" : "are"} not among them`, { details: { vm: vmName, host: vm.host, cpus: count ?? null, invalid: bad } });
  }
  vm.cpuAffinity = [...new Set(cpus)].sort((a, b) => a - b);
}

/**
 * Before a mask change reaches these VMs' configuration: each running guest whose boot CPU is
 * not recorded gets it recorded now (what its host minus its current mask shows it), so the
 * checker goes on judging the CPU the guest really runs with, and the mask shows as pending
 * until a power cycle. Guests under a baseline (EVC) see the baseline, not their boot flags.
 */
export function keepRunningGuestCpu(draft: Draft, vmNames: readonly string[]): void {
  const templates = new Map(draft.templates.map((t) => [t.name, t]));
  for (const name of vmNames) {
    const i = positionIn(draft.vms, name);
    const vm = draft.vms[i];
    if (vm === undefined || vm.power === "off" || vm.bootFlags !== undefined) continue;
    const host = draft.hosts.find((h) => h.name === vm.host);
    const cluster = host?.cluster === undefined ? undefined : draft.clusters.find((c) => c.name === host.cluster);
    const guest = guestCpu(vm, host, cluster, templates);
    if (!guest.ok || guest.cpu.source !== GuestCpuSource.host || host === undefined) continue;
    own(draft.vms, i).bootFlags = [...guest.cpu.flags].sort();
  }
}

/** The VMs whose CPUID mask in force is the template's: deployed from it, without a mask of their own. */
export function vmsInheritingMask(draft: Draft, template: string): string[] {
  return draft.vms.filter((vm) => vm.template === template && vm.cpuidMask === undefined).map((vm) => vm.name);
}
