// The VM process: one qemu-system-x86_64 per running VM (or incoming shell), with its taps on
// the port-group bridges and its QMP socket; and the power operations built on it (create,
// power on, power off, destroy). QEMU-NOTES.md lists the QEMU behaviours named "trap N".
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { cannotPowerOn, checkNewVm, mustBeIdle } from "../bookkeeping.ts";
import { IncomingState, PowerStatus, type DestroyOptions, type VmSpec, type VmStatus } from "../driver.ts";
import { Accelerator, qemuCommandLine } from "./command-line.ts";
import type { ResolvedStorage } from "./disks.ts";
import type { HostedVm, QemuHost } from "./host.ts";
import { capabilityArguments } from "./migration-info.ts";
import { qemuDefaultSettings } from "./tuning.ts";
import type { VmExit } from "./options.ts";
import { connectChild, qemuErrorReason, startQemu, type QemuExit } from "./process.ts";
import type { QmpClient } from "./qmp.ts";

/** Trap 9: migration events only with the capability, on each side; set on every QEMU at start. */
export const EVENT_CAPABILITIES = capabilityArguments(qemuDefaultSettings());

/** QEMU's own run state (QMP `query-status`: running, paused, inmigrate, postmigrate...). */
export async function queryStatus(qmp: QmpClient): Promise<string> {
  return ((await qmp.execute("query-status", undefined, { timeoutMs: 5000 })) as { status: string }).status;
}

/** Plugs a tap for each of `vm`'s NICs; on a failure the ones plugged are removed again. */
async function plugTaps(host: QemuHost, vm: HostedVm, tag: string): Promise<Record<string, string>> {
  const taps: Record<string, string> = {};
  const network = host.options.network;
  // The taps of this VM's last QEMU (a failed incoming shell, a power-off) may still be going.
  await host.tapsReleased(vm.spec.name);
  for (const nic of vm.spec.nics) {
    if (network === undefined) throw new FerryError(ErrorCode.invalidInput, `${host.name} has no network for NIC ${nic.name} of ${vm.spec.name} (port group "${nic.portGroup}")`, { details: { vm: vm.spec.name, nic: nic.name } });
    try {
      const tap = await network.plug(vm.spec.name, nic, tag);
      vm.taps.push(tap);
      taps[nic.name] = tap;
    } catch (error) {
      await unplugTaps(host, vm);
      throw error;
    }
  }
  return taps;
}

/** Starts QEMU for `vm` with its resolved disks and media, and connects QMP; on any failure the process is gone. */
export async function startVmProcess(host: QemuHost, vm: HostedVm, incomingMode: boolean, tag: string, files: ResolvedStorage): Promise<void> {
  const { options, clock } = host;
  const stem = join(await host.runDir(), `${vm.spec.name.replace(/[^\w.-]/g, "_")}-${tag}-${randomBytes(3).toString("hex")}`);
  const taps = await plugTaps(host, vm, tag);
  const command = qemuCommandLine(
    host.machine(vm.spec),
    { accelerator: options.accelerator ?? Accelerator.tcg, qmpSocket: `${stem}.qmp`, serial: { kind: "file", path: `${stem}.serial` }, taps, disks: files.disks, cdroms: files.cdroms, ...(options.binary === undefined ? {} : { binary: options.binary }) },
    incomingMode,
  );
  // `ip netns exec` execs QEMU, so the PID the driver kills is QEMU's own.
  const [first, ...rest] = options.network?.wrap ?? [];
  const child = startQemu(first === undefined ? command : { ...command, command: first, args: [...rest, command.command, ...command.args] });
  try {
    const qmp = await connectChild(child, `${stem}.qmp`, { clock });
    vm.child = child;
    vm.qmp = qmp;
    // QEMU says why it shuts down (guest-reset, guest-panic, host-qmp-quit, ...) just before it exits.
    let shutdown: string | undefined;
    qmp.onEvent((event) => {
      shutdown = typeof event.data["reason"] === "string" ? event.data["reason"] : undefined;
    }, ["SHUTDOWN"]);
    void child.exited.then((exit) => {
      void unplugTaps(host, vm);
      if (vm.child !== child) return;
      vm.child = undefined;
      vm.qmp = undefined;
      void qmp.close();
      exitedByItself(host, vm);
      if (host.options.onVmExit !== undefined) void reportExit(host.options.onVmExit, vm.spec.name, { ...exit, shutdown }, `${stem}.serial`);
    });
  } catch (error) {
    await child.kill();
    await unplugTaps(host, vm);
    throw error;
  }
}

/**
 * Removes the taps of `vm`'s last QEMU (after it exited: QEMU holds them open). Resolves when
 * they are gone, also when another caller (the exit handler) started their removal.
 */
export function unplugTaps(host: QemuHost, vm: HostedVm): Promise<void> {
  const taps = vm.taps.splice(0);
  const network = host.options.network;
  if (network === undefined || taps.length === 0) return host.tapsReleased(vm.spec.name);
  return host.releaseTaps(vm.spec.name, Promise.all(taps.map((tap) => network.unplug(tap).catch(() => undefined))).then(() => undefined));
}

/** Says why `vm`'s QEMU ended by itself: its stderr's errors and its console's last lines. */
async function reportExit(onVmExit: (exit: VmExit) => void, vm: string, exit: QemuExit & { shutdown: string | undefined }, serialPath: string): Promise<void> {
  const serial = await readFile(serialPath, "utf8").catch(() => "");
  const lines = serial.split("\n").map((line) => line.trimEnd()).filter((line) => line !== "");
  onVmExit({ vm, code: exit.code, signal: exit.signal, shutdown: exit.shutdown, reason: qemuErrorReason(exit.stderr), console: lines.slice(-CONSOLE_LINES).join("\n") });
}

/** Lines of the guest's console an unexpected exit carries. */
const CONSOLE_LINES = 20;

/** A QEMU ended by itself (failed incoming stream, guest panic, or killed). */
function exitedByItself(host: QemuHost, vm: HostedVm): void {
  vm.power = PowerStatus.off;
  if (vm.incoming === undefined) return;
  const session = host.incoming.get(vm.incoming);
  if (session !== undefined && (session.state === IncomingState.waiting || session.state === IncomingState.receiving || session.state === IncomingState.committing)) session.state = IncomingState.failed;
  vm.incoming = undefined;
  host.forget(vm);
}

/** Ends `vm`'s QEMU: `quit`, then SIGKILL if it does not go; awaits the exit (trap 12). */
export async function stopVmProcess(host: QemuHost, vm: HostedVm): Promise<void> {
  const { child, qmp } = vm;
  vm.child = undefined;
  vm.qmp = undefined;
  vm.power = PowerStatus.off;
  if (child === undefined) return;
  try {
    await qmp?.execute("quit", undefined, { timeoutMs: 2000 });
  } catch {
    // The exit is what matters; a closed socket mid-reply is normal for `quit`.
  }
  const timer = setTimeout(() => void child.kill(), 3000);
  await child.exited;
  clearTimeout(timer);
  await qmp?.close();
  await unplugTaps(host, vm);
}

/** Kills a shell's QEMU by PID without asking it (trap 3: after a partition it waits in inmigrate forever). */
export async function killVmProcess(vm: HostedVm): Promise<void> {
  const { child, qmp } = vm;
  vm.child = undefined;
  vm.qmp = undefined;
  vm.power = PowerStatus.off;
  await qmp?.close();
  await child?.kill();
}

export async function createVm(host: QemuHost, spec: VmSpec): Promise<VmStatus> {
  host.notClosed();
  checkNewVm(host.name, spec, host.vms.has(spec.name));
  const vm: HostedVm = { spec, power: PowerStatus.off, child: undefined, qmp: undefined, taps: [], incoming: undefined, migratingOut: undefined };
  // Held while its disk files are made, so a second create of the name is a conflict.
  host.vms.set(spec.name, vm);
  try {
    await host.storage.provision(spec);
  } catch (error) {
    host.forget(vm);
    throw error;
  }
  return host.status(vm);
}

export async function powerOnVm(host: QemuHost, name: string): Promise<VmStatus> {
  host.notClosed();
  const vm = host.mustGet(name);
  mustBeIdle(name, vm, "power on");
  if (vm.power !== PowerStatus.off) return host.status(vm);
  if (vm.spec.memoryMB > host.freeMB()) throw cannotPowerOn(host.name, vm.spec, host.freeMB());
  const files = await host.storage.resolve(vm.spec);
  vm.power = PowerStatus.running;
  try {
    await startVmProcess(host, vm, false, "run", files);
    if (vm.qmp === undefined) throw new FerryError(ErrorCode.unavailable, `QEMU of ${name} exited at start`);
    await vm.qmp.execute("migrate-set-capabilities", EVENT_CAPABILITIES);
  } catch (error) {
    await stopVmProcess(host, vm);
    throw error;
  }
  return host.status(vm);
}

export async function powerOffVm(host: QemuHost, name: string): Promise<VmStatus> {
  const vm = host.mustGet(name);
  mustBeIdle(name, vm, "power off");
  await stopVmProcess(host, vm);
  return host.status(vm);
}

export async function destroyVm(host: QemuHost, name: string, options: DestroyOptions | undefined): Promise<void> {
  const vm = host.mustGet(name);
  mustBeIdle(name, vm, "destroy");
  // Named before the VM goes, so a datastore this host lacks refuses with the VM intact.
  const disks = options?.removeDisks === true ? host.storage.diskFiles(vm.spec) : [];
  await stopVmProcess(host, vm);
  host.vms.delete(name);
  await host.storage.remove(disks);
}
