// The hypervisor under the VM: QEMU restores a migration stream only into the machine type
// the VM was started with (the machine type fixes the guest's chipset and device layout,
// like vSphere's virtual hardware version), and it supports migration to the same or a
// newer QEMU only. Both facts come from the hosts' agents; a host without them (a simulated
// host, a hand-written inventory) is taken on trust, as it always was.
import type { HostView } from "../../inventory/index.ts";
import type { Hypervisor } from "../../inventory/schema.ts";
import { FindingCode, Severity, SubjectKind, type Emit } from "../findings.ts";
import { uiWords } from "../ui-fix.ts";

/** A QEMU version as numbers, major.minor.micro. */
export type QemuVersion = readonly [number, number, number];

/** Parses `7.2.22` (the schema's form); a missing minor or micro counts as 0. Undefined when it is no version. */
export function parseQemuVersion(text: string): QemuVersion | undefined {
  const m = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(text.trim());
  if (m === null) return undefined;
  return [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
}

/** Negative when `a` is older than `b`, 0 when equal, positive when newer; compared as numbers (7.10 > 7.2). */
export function compareQemuVersions(a: QemuVersion, b: QemuVersion): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

// Machine-type lists run to a few dozen names and are asked for by every VM: one set per host.
const machineSets = new WeakMap<Hypervisor, ReadonlySet<string>>();
function machineTypesOf(hypervisor: Hypervisor): ReadonlySet<string> {
  let set = machineSets.get(hypervisor);
  if (set === undefined) {
    set = new Set(hypervisor.machineTypes);
    machineSets.set(hypervisor, set);
  }
  return set;
}

/** Whether the destination can run a guest of this machine type; true when either side is unknown. */
export function providesMachine(dest: HostView, machine: string | undefined): boolean {
  const hypervisor = dest.host.hypervisor;
  return machine === undefined || hypervisor === undefined || machineTypesOf(hypervisor).has(machine);
}

/**
 * The VM's machine type must exist on the destination, live or cold: a powered-off VM is
 * started there with the machine type it was created with, as vSphere keeps a VM's virtual
 * hardware version when it moves.
 */
export function machineTypeRules(vmName: string, machine: string | undefined, dest: HostView, emit: Emit): void {
  const hypervisor = dest.host.hypervisor;
  if (machine === undefined || hypervisor === undefined || providesMachine(dest, machine)) return;
  const host = dest.host.name;
  emit(FindingCode.machineTypeUnsupported, Severity.error, () => ({
    subject: { kind: SubjectKind.host, name: host, vm: vmName },
    message: `${vmName} runs machine type ${machine}, which QEMU ${hypervisor.version} on ${host} does not provide.`,
    fix: `Upgrade QEMU on ${host} to a version that provides ${machine} (QEMU keeps old machine types for migration), or move the VM to a host that has it.`,
    ui: uiWords(`Upgrade QEMU on ${host} to a version that provides ${machine} (QEMU keeps old machine types for migration), or move the VM to a host that has it.`),
  }));
}

/**
 * Findings about the two hosts' QEMU versions; they name hosts only, so one verdict serves
 * every VM between the same two hosts. Only for a live (or suspended) VM, whose state
 * travels as a migration stream the destination's QEMU must read: QEMU's migration
 * compatibility rules (docs/devel/migration/compatibility.rst) cover moving to the same or a
 * newer QEMU with the same machine type; a move to an older one is not supported.
 */
export function hypervisorPairRules(source: HostView, dest: HostView, emit: Emit): void {
  const from = source.host.hypervisor;
  const to = dest.host.hypervisor;
  if (from === undefined || to === undefined) return;
  const a = parseQemuVersion(from.version);
  const b = parseQemuVersion(to.version);
  if (a === undefined || b === undefined || compareQemuVersions(b, a) >= 0) return;
  const src = source.host.name;
  const dst = dest.host.name;
  emit(FindingCode.hypervisorOlder, Severity.error, () => ({
    subject: { kind: SubjectKind.host, name: dst },
    message: `${dst} runs QEMU ${to.version}, older than QEMU ${from.version} on ${src}: QEMU migrates to the same or a newer version only.`,
    fix: `Upgrade QEMU on ${dst} to ${from.version} or newer, or choose a destination whose QEMU is at least ${from.version}.`,
    ui: uiWords(`Upgrade QEMU on ${dst} to ${from.version} or newer, or choose a destination whose QEMU is at least ${from.version}.`),
  }));
}
