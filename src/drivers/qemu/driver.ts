// The `qemu` hypervisor driver: each VM is a qemu-system-x86_64 child process of the agent,
// driven over its QMP socket; a live migration is QEMU's own stream from the source process to
// an `-incoming defer` destination process built from the same VM record (command-line.ts).
// QEMU-NOTES.md lists the QEMU behaviours handled here; the comments name them as "trap N".
//
// This file only composes the driver from its roles, around one explicit state (host.ts):
//   vm-process.ts   the VM's QEMU process: start, stop, power on/off, create, destroy
//   outgoing.ts     the source's side of a migration (migration-watch.ts: QMP events, polling;
//                   destination.ts: what the source asks the destination)
//   incoming.ts     the destination's side: listen, switchover, state, abort, guest check
//   dirty-rate.ts   QEMU's measure of a guest's dirty rate
//   accelerator.ts  whether KVM really runs a guest here
//   usage.ts        what each VM's QEMU uses (CPU ticks and resident memory from /proc)
// and the bookkeeping every driver shares (../bookkeeping.ts): incoming migrations, settlements,
// outgoing migrations and the closing signal.
import { rm } from "node:fs/promises";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { describedFacts, PowerStatus } from "../driver.ts";
import { measureGuestMemory } from "./guest-memory.ts";
import { parseQueryBlock } from "./disks.ts";
import { QemuHost, type HostedVm } from "./host.ts";
import { abortIncoming, guestCheck, incomingBlocktime, incomingFailure, incomingState, prepareIncoming } from "./incoming.ts";
import type { QemuDriver, QemuDriverOptions } from "./options.ts";
import { migrateOut } from "./outgoing.ts";
import type { QmpClient } from "./qmp.ts";
import { QemuUsage } from "./usage.ts";
import { createVm, destroyVm, killVmProcess, powerOffVm, powerOnVm, queryStatus, stopVmProcess } from "./vm-process.ts";

export type { ControlTiming, QemuDriver, QemuDriverOptions, QemuHostDescription, StreamTuning, VmExit } from "./options.ts";
export { StreamTuningMode } from "./options.ts";
export { probeAccelerator, type ProbeAcceleratorOptions } from "./accelerator.ts";
export { listeningPort } from "./incoming.ts";

export function createQemuDriver(options: QemuDriverOptions): QemuDriver {
  const host = new QemuHost(options);
  const meter = new QemuUsage();
  const qmpOf = (name: string): QmpClient => {
    const qmp = host.mustGet(name).qmp;
    if (qmp === undefined) throw new FerryError(ErrorCode.conflict, `${name} has no QEMU on ${host.name}`, { details: { vm: name } });
    return qmp;
  };
  return {
    kind: "qemu",
    facts: () => Promise.resolve(describedFacts(options.host, host.freeMB(), "qemu")),
    list: () => Promise.resolve([...host.vms.values()].map((vm) => host.status(vm))),
    get: (name) => Promise.resolve(((vm) => (vm === undefined ? undefined : host.status(vm)))(host.vms.get(name))),
    create: (spec) => createVm(host, spec),
    powerOn: (name) => powerOnVm(host, name),
    powerOff: (name) => powerOffVm(host, name),
    destroy: (name, destroyOptions) => destroyVm(host, name, destroyOptions),

    prepareIncoming: (spec, incomingOptions) => prepareIncoming(host, spec, incomingOptions),
    incomingState: (migrationId) => incomingState(host, migrationId),
    abortIncoming: (migrationId) => abortIncoming(host, migrationId),
    incomingFailure: (migrationId) => incomingFailure(host, migrationId),
    incomingPostcopyBlocktime: (migrationId) => incomingBlocktime(host, migrationId),
    guestCheck: (migrationId) => guestCheck(host, migrationId),

    migrateOut: (name, target, migrateOptions, hooks) => migrateOut(host, name, target, migrateOptions, hooks),
    // QEMU has no separate commit: the destination (started with -S) resumes once the stream is
    // complete and its claim of the VM's ownership record won. A migrateOut that could not
    // confirm that leaves the VM paused here (postmigrate) and reports DESTINATION_LOST with no
    // `runningOn`; settle claims the record (won: resumed here; lost: this copy ends).
    settle: (name, migrationId, destination) =>
      host.settlements.settle(name, migrationId, destination, async (where) => {
        const vm = host.mustGet(name);
        if (where === "destination") {
          await stopVmProcess(host, vm);
          host.forget(vm);
          return;
        }
        // A VM with disks: `cont` re-activates its images and QEMU refuses it ("Failed to get
        // write lock") while a destination holds them, so a wrong answer here cannot run it twice.
        await vm.qmp?.execute("cont", undefined, { timeoutMs: 5000 });
        vm.power = PowerStatus.running;
      }),

    measureGuestMemory: (name, seconds) => measureGuestMemory(host, name, seconds),
    usage: () => meter.measure(describedFacts(options.host, host.freeMB(), "qemu"), host.vms.values(), host.clock.now(), host.clock.monotonic()),
    blockDevices: async (name) => parseQueryBlock(await qmpOf(name).execute("query-block", undefined, { timeoutMs: 5000 })),
    runState: (name) => queryStatus(qmpOf(name)),
    storageWarnings: () => host.storage.warnings(),
    setStreamTuning: (tuning) => {
      host.streamTuning = tuning;
    },
    pids: () => [...host.vms.values()].flatMap((vm) => (vm.child?.pid === undefined ? [] : [vm.child.pid])),
    close: () => close(host),
  };
}

/** Aborts the migrations under way, ends every QEMU (a shell's by PID), and removes the driver's own run directory. */
async function close(host: QemuHost): Promise<void> {
  await host.outgoing.close(`the qemu driver of ${host.name} is closing`);
  const all = [...host.vms.values()];
  host.vms.clear();
  await Promise.all(all.map((vm: HostedVm) => (vm.incoming === undefined ? stopVmProcess(host, vm) : killVmProcess(vm))));
  host.options.network?.close?.();
  const own = host.ownedRunDir();
  if (own !== undefined) await rm(await own, { recursive: true, force: true });
}
