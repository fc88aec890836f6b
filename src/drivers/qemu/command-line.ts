// The qemu-system-x86_64 command line of a VM. One function builds it for a VM's first
// start and for a migration's destination, from the same VM record: QEMU accepts a stream
// only into a process with the same machine, devices and RAM layout (else the destination
// fails with "Unknown ramblock" or "Size mismatch: pc.ram", QEMU-NOTES trap 2), and it never
// compares CPUs (trap 1), so a hand-copied destination line is a crash waiting to happen.
// The two lines differ only in `-incoming defer` and in per-process paths and host names.
import { findCpuModel } from "../../core/cpu/models.ts";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import type { VmSpec } from "../driver.ts";
import { qemuCpu, type GuestCpuDefinition, type QemuCpuOptions } from "./cpu-model.ts";

/**
 * The machine type, pinned: the `pc` alias means the newest type of whichever QEMU runs, and
 * two QEMU versions would then build different machines. QEMU 7.2 is Debian 12's; later
 * QEMUs keep this type for migration compatibility.
 */
export const DEFAULT_MACHINE = "pc-i440fx-7.2";

export const Accelerator = { tcg: "tcg", kvm: "kvm" } as const;
export type Accelerator = (typeof Accelerator)[keyof typeof Accelerator];

/** The guest's kernel and initramfs (scripts/build-guest.sh) on a datastore both hosts mount. */
export interface GuestBoot {
  /** The uncompressed ELF vmlinux: QEMU enters it through PVH, twice as fast as the bzImage. */
  readonly kernel: string;
  readonly initrd: string;
  /** Prefix length of the first NIC's address, for `ferry.ip=ADDR/LEN`. */
  readonly prefixLength: number;
  /** The guest's echo service port, `ferry.port=` (the guest defaults to 7000). */
  readonly port?: number;
}

/** Everything that must be the same on both ends of a migration. */
export interface QemuVm {
  readonly spec: VmSpec;
  /**
   * The guest CPU's vendor and baseline model. Its features are `spec.cpuFlags`, or the
   * model's when the spec has none.
   */
  readonly cpu: Omit<GuestCpuDefinition, "flags">;
  readonly boot: GuestBoot;
  /** Default DEFAULT_MACHINE. */
  readonly machine?: string;
  readonly cpuOptions?: QemuCpuOptions;
}

/** Where the guest's serial console goes. */
export type SerialTarget = { readonly kind: "file"; readonly path: string } | { readonly kind: "stdio" };

/** What belongs to one QEMU process on one host. */
export interface QemuProcess {
  readonly accelerator: Accelerator;
  /** The QMP unix socket this process listens on. */
  readonly qmpSocket: string;
  readonly serial: SerialTarget;
  /** The tap device of each NIC, by the NIC's name, on this host's port-group bridge. */
  readonly taps: Readonly<Record<string, string>>;
  /** Default `qemu-system-x86_64` from PATH. */
  readonly binary?: string;
}

export interface QemuCommand {
  readonly command: string;
  readonly args: readonly string[];
  /** The `-cpu` value, for messages and for comparing both ends. */
  readonly cpu: string;
}

const MiB = 1024 * 1024;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

function invalid(message: string, details: unknown): FerryError {
  return new FerryError(ErrorCode.invalidInput, message, { details });
}

/** A value inside a QEMU option string, where ',' separates options and ',,' is a literal comma. */
function optionValue(value: string): string {
  return value.replaceAll(",", ",,");
}

/** Refuses what QEMU would misparse inside an option string or on the kernel command line. */
function plainValue(what: string, value: string): string {
  if (value === "" || /[,\s]/.test(value)) throw invalid(`${what} must be non-empty, without commas or spaces: ${JSON.stringify(value)}`, { [what]: value });
  return value;
}

/** The guest init's parameters (scripts/guest/init reads `ferry.*` words of /proc/cmdline). */
function kernelCommandLine(vm: QemuVm): string {
  // console=ttyS0: the serial port carries the guest's "ferry-guest: ready" line.
  // panic=-1 with -no-reboot: a panicking guest ends QEMU, which the driver sees, instead of rebooting.
  const words = ["console=ttyS0", "panic=-1"];
  const ip = vm.spec.nics[0]?.ip;
  if (ip !== undefined) words.push(`ferry.ip=${plainValue("ip", ip)}/${vm.boot.prefixLength}`);
  if (vm.boot.port !== undefined) words.push(`ferry.port=${vm.boot.port}`);
  const workload = vm.spec.workload;
  if (workload !== undefined && workload.dirtyRateBytesPerSec > 0) {
    // The guest takes whole MiB; round up so a slow writer is not dropped to idle.
    words.push(`ferry.dirty_mib_s=${Math.ceil(workload.dirtyRateBytesPerSec / MiB)}`);
    words.push(`ferry.dirty_ws_mib=${Math.max(1, Math.ceil(workload.workingSetBytes / MiB))}`);
  }
  return words.join(" ");
}

/** The `-cpu` value: the spec's flags, else the baseline model's own. */
function guestCpuArg(vm: QemuVm): string {
  let flags: readonly string[] | undefined = vm.spec.cpuFlags;
  if (flags === undefined && vm.cpu.model !== undefined) flags = findCpuModel(vm.cpu.model)?.flags;
  if (flags === undefined) {
    throw invalid(`VM ${vm.spec.name} has neither guest CPU features nor a known baseline model`, { vm: vm.spec.name, model: vm.cpu.model });
  }
  return qemuCpu({ ...vm.cpu, flags }, vm.cpuOptions).arg;
}

/**
 * The argv of the QEMU process that runs `vm` (`incoming: false`) or waits for it as a
 * migration's destination (`incoming: true`, QEMU's `-incoming defer`: it starts paused and
 * listens only on `migrate-incoming`, so the driver chooses the address and sets capabilities
 * first). Pure; refuses (INVALID_INPUT) values QEMU would misparse.
 */
export function qemuCommandLine(vm: QemuVm, process: QemuProcess, incoming: boolean): QemuCommand {
  const { spec } = vm;
  if (!Number.isInteger(spec.memoryMB) || spec.memoryMB <= 0) throw invalid(`memory must be a positive whole number of MiB: ${spec.memoryMB}`, { memoryMB: spec.memoryMB });
  if (!Number.isInteger(spec.vcpus) || spec.vcpus <= 0) throw invalid(`vCPUs must be a positive whole number: ${spec.vcpus}`, { vcpus: spec.vcpus });
  const cpu = guestCpuArg(vm);

  const args: string[] = [
    "-name", `guest=${optionValue(spec.name)}`,
    "-machine", plainValue("machine", vm.machine ?? DEFAULT_MACHINE),
    "-accel", process.accelerator,
    "-cpu", cpu,
    "-m", `${spec.memoryMB}M`,
    "-smp", String(spec.vcpus),
    // No default devices, no config files from /etc: the device set is exactly this argv, on both ends.
    "-nodefaults", "-no-user-config",
    "-display", "none",
    "-no-reboot",
    "-serial", process.serial.kind === "stdio" ? "stdio" : `file:${plainValue("serial", process.serial.path)}`,
    "-kernel", vm.boot.kernel,
    "-initrd", vm.boot.initrd,
    "-append", kernelCommandLine(vm),
  ];

  const seen = new Set<string>();
  spec.nics.forEach((nic, index) => {
    if (!MAC.test(nic.mac)) throw invalid(`NIC ${nic.name} of ${spec.name} has an invalid MAC address: ${nic.mac}`, { nic: nic.name, mac: nic.mac });
    const tap = process.taps[nic.name];
    if (tap === undefined) throw invalid(`no tap device for NIC ${nic.name} of ${spec.name}`, { nic: nic.name });
    if (seen.has(nic.name)) throw invalid(`NIC name ${nic.name} appears twice in ${spec.name}`, { nic: nic.name });
    seen.add(nic.name);
    // Ids from the NIC's position, not its name: identical on both ends and always valid QEMU ids.
    const id = `net${index}`;
    args.push(
      // script=no: the agent attaches the tap to its port group's bridge itself.
      "-netdev", `tap,id=${id},ifname=${plainValue("tap", tap)},script=no,downscript=no`,
      "-device", `virtio-net-pci,netdev=${id},id=nic${index},mac=${nic.mac.toLowerCase()}`,
    );
  });

  // wait=off: QEMU does not block its start on a QMP client.
  args.push("-qmp", `unix:${plainValue("qmpSocket", process.qmpSocket)},server=on,wait=off`);
  if (incoming) args.push("-incoming", "defer");
  return { command: process.binary ?? "qemu-system-x86_64", args, cpu };
}
