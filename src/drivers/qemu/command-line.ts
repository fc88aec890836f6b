// The qemu-system-x86_64 command line of a VM. One function builds it for a VM's first
// start and for a migration's destination, from the same VM record: QEMU accepts a stream
// only into a process with the same machine, devices and RAM layout (else the destination
// fails with "Unknown ramblock" or "Size mismatch: pc.ram", QEMU-NOTES trap 2), and it never
// compares CPUs (trap 1), so a hand-copied destination line is a crash waiting to happen.
// The two lines differ only in `-incoming defer` and in per-process paths and host names.
import { findCpuModel } from "../../core/cpu/models.ts";
import { ErrorCode, FerryError } from "../../core/errors.ts";
import { CdromBacking, DiskFormat, VmBoot, type VmCdromSpec, type VmDiskSpec, type VmSpec } from "../driver.ts";
import { qemuCpu, type GuestCpuDefinition, type QemuCpuOptions } from "./cpu-model.ts";

/**
 * The machine type, pinned: the `pc` alias means the newest type of whichever QEMU runs, and
 * two QEMU versions would then build different machines. QEMU 7.2 is Debian 12's; later
 * QEMUs keep this type for migration compatibility.
 */
export const DEFAULT_MACHINE = "pc-i440fx-7.2";

export const Accelerator = { tcg: "tcg", kvm: "kvm" } as const;
export type Accelerator = (typeof Accelerator)[keyof typeof Accelerator];

/**
 * What a TCG guest's RAM block gets beyond its MiB: 8 KiB (QEMU rounds `-m` up to 8 KiB), so
 * its length is off QEMU's 256 KiB grid. QEMU before 9.0 (7.2 here) syncs a RAM block whose
 * length is on that grid through a fast path that clears the migration's dirty bits without
 * resetting TCG's TLB (fixed upstream by "physmem: Fix migration dirty bitmap coherency with TCG
 * memory access", 9.0): a guest store through a TLB entry filled before the sync is then never
 * logged, and the destination runs on the stale page (seen here as guest kernel panics and a
 * records service that stopped answering after a move; trap 20). Off the grid, QEMU syncs page
 * by page and resets the TLB of each page it clears. Both ends build the same size; KVM logs
 * dirty pages itself and keeps the plain size.
 */
export const TCG_RAM_EXTRA_KIB = 8;

/** `-m`'s value: the VM's MiB, and under TCG its block sized off the fast sync path's grid (TCG_RAM_EXTRA_KIB). */
export function ramSizeArgument(memoryMB: number, accelerator: Accelerator): string {
  return accelerator === Accelerator.tcg ? `${memoryMB * 1024 + TCG_RAM_EXTRA_KIB}k` : `${memoryMB}M`;
}

/** The guest's kernel and initramfs (scripts/build-guest.sh) on a datastore both hosts mount. */
export interface GuestBoot {
  /** The uncompressed ELF vmlinux: QEMU enters it through PVH, twice as fast as the bzImage. */
  readonly kernel: string;
  readonly initrd: string;
  /** Prefix length of the first NIC's address, for `ferry.ip=ADDR/LEN`. */
  readonly prefixLength: number;
  /** The guest's echo service port, `ferry.port=` (the guest defaults to 7000). */
  readonly port?: number;
  /**
   * Every this many seconds the guest prints the MD5 of its filled memory (`ferry.fill_check_s=`,
   * with VmSpec.touchedBytes): tests compare it before and after a move. Off by default: it costs
   * the guest CPU.
   */
  readonly fillCheckSeconds?: number;
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

/** A disk's image file as this host opens it (its datastore's mount path differs per host). */
export interface QemuDiskFile {
  readonly path: string;
  /**
   * O_DIRECT (`cache.direct=on`, QEMU's cache=none): on shared storage the destination must
   * never read pages its own host cached before the source wrote them. False only where the
   * datastore's filesystem refuses O_DIRECT (disks.ts says when that is still safe).
   */
  readonly directIo: boolean;
}

/** A CD-ROM's medium as this host opens it; `none` is an empty drive (disconnected). */
export type QemuCdromMedium =
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "host"; readonly device: string }
  | { readonly kind: "none" };

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
  /** The file of each of `spec.disks`, in the same order. */
  readonly disks?: readonly QemuDiskFile[];
  /** The medium of each of `spec.cdroms`, in the same order. */
  readonly cdroms?: readonly QemuCdromMedium[];
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

/** A machine type as QEMU names them ("pc-i440fx-7.2", "pc-q35-7.2"): no options smuggled in. */
const MACHINE = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;
/** A host CD-ROM drive Ferry passes through. */
export const HOST_CDROM = /^\/dev\/sr\d{1,2}$/;

/** The machine type of `vm`: the spec's, else the record's, else DEFAULT_MACHINE. */
export function machineOf(vm: Pick<QemuVm, "spec" | "machine">): string {
  const machine = vm.spec.machine ?? vm.machine ?? DEFAULT_MACHINE;
  if (!MACHINE.test(machine)) throw invalid(`VM ${vm.spec.name}: machine type must be a plain QEMU name like ${DEFAULT_MACHINE}, not ${JSON.stringify(machine)}`, { vm: vm.spec.name, machine });
  return machine;
}

/** q35 has an AHCI controller (buses ide.0-ide.5, one drive each); i440fx has PIIX IDE (ide.0-1, two drives each). */
function ideSlots(machine: string): readonly string[] {
  if (/q35/.test(machine)) return [0, 1, 2, 3, 4, 5].map((bus) => `bus=ide.${bus}`);
  return ["bus=ide.0,unit=0", "bus=ide.0,unit=1", "bus=ide.1,unit=0", "bus=ide.1,unit=1"];
}

function checkNames(vm: string, what: string, names: readonly string[]): void {
  const seen = new Set<string>();
  for (const name of names) {
    if (name === "") throw invalid(`VM ${vm} has a ${what} without a name`, { vm });
    if (seen.has(name)) throw invalid(`${what} name ${name} appears twice in ${vm}`, { vm, [what]: name });
    seen.add(name);
  }
}

function checkDisk(vm: string, disk: VmDiskSpec): void {
  if (disk.datastore === "" || disk.path === "") throw invalid(`disk ${disk.name} of ${vm} needs a datastore and a path`, { vm, disk: disk.name });
  // Specs also come over the wire and from files: the type alone does not hold them.
  if (!(Object.values(DiskFormat) as string[]).includes(disk.format)) throw invalid(`disk ${disk.name} of ${vm}: format must be raw or qcow2, not ${JSON.stringify(disk.format)}`, { vm, disk: disk.name });
  if (disk.sizeMB !== undefined && (!Number.isInteger(disk.sizeMB) || disk.sizeMB <= 0)) throw invalid(`disk ${disk.name} of ${vm}: sizeMB must be a positive whole number, not ${disk.sizeMB}`, { vm, disk: disk.name });
}

function checkCdrom(vm: string, cdrom: VmCdromSpec): void {
  const where = `CD-ROM ${cdrom.name} of ${vm}`;
  switch (cdrom.backing) {
    case CdromBacking.file:
      if (cdrom.datastore === undefined || cdrom.datastore === "" || cdrom.path === undefined || cdrom.path === "") throw invalid(`${where} is backed by an ISO file and needs its datastore and path`, { vm, cdrom: cdrom.name });
      return;
    case CdromBacking.host:
      if (cdrom.path === undefined || !HOST_CDROM.test(cdrom.path)) throw invalid(`${where} is backed by a host drive: its path must be /dev/srN, not ${JSON.stringify(cdrom.path ?? "")}`, { vm, cdrom: cdrom.name });
      return;
    case CdromBacking.none:
      // An empty drive: a datastore or path left over from an earlier backing means nothing.
      return;
    default:
      throw invalid(`${where}: backing must be file, host or none, not ${JSON.stringify(cdrom.backing)}`, { vm, cdrom: cdrom.name });
  }
}

/**
 * Refuses (INVALID_INPUT) a VM's machine, boot device, disks and CD-ROMs that QEMU could not
 * build or would misread: bad names, a boot device the VM lacks, more CD-ROMs than the IDE
 * controller has drives. Pure: where the files are is the driver's business (disks.ts).
 */
export function checkVmHardware(spec: VmSpec): void {
  const machine = machineOf({ spec });
  const disks = spec.disks ?? [];
  const cdroms = spec.cdroms ?? [];
  checkNames(spec.name, "disk", disks.map((d) => d.name));
  checkNames(spec.name, "CD-ROM", cdroms.map((c) => c.name));
  for (const disk of disks) checkDisk(spec.name, disk);
  for (const cdrom of cdroms) checkCdrom(spec.name, cdrom);
  const slots = ideSlots(machine).length;
  if (cdroms.length > slots) throw invalid(`VM ${spec.name} has ${cdroms.length} CD-ROMs; machine ${machine} has IDE drives for ${slots}`, { vm: spec.name, cdroms: cdroms.length });
  const boot = spec.boot ?? VmBoot.kernel;
  switch (boot) {
    case VmBoot.kernel:
      return;
    case VmBoot.disk:
      if (disks.length === 0) throw invalid(`VM ${spec.name} boots from disk but has no disk`, { vm: spec.name });
      return;
    case VmBoot.cdrom:
      if (cdroms.length === 0) throw invalid(`VM ${spec.name} boots from CD-ROM but has no CD-ROM drive`, { vm: spec.name });
      return;
    default:
      throw invalid(`VM ${spec.name}: boot must be kernel, disk or cdrom, not ${JSON.stringify(boot)}`, { vm: spec.name });
  }
}

/**
 * `-blockdev`/`-device` arguments of the disks and CD-ROMs. Node and device ids come from
 * positions (disk0, cd0), so both ends of a migration name them alike; the files come from
 * `process` because a datastore's mount path may differ per host. Locking stays at QEMU's
 * default (on): it is what stops two QEMUs writing one image. A migration's destination
 * (`-incoming defer`) opens images inactive, without the write lock, and takes it only when
 * it activates at the end of the stream, after the source inactivated them at switchover
 * (checked with QEMU 7.2: a third writer is refused, and so is `cont` on the source once the
 * destination runs).
 */
function storageArgs(spec: VmSpec, machine: string, process: QemuProcess): string[] {
  const disks = spec.disks ?? [];
  const cdroms = spec.cdroms ?? [];
  if ((process.disks?.length ?? 0) !== disks.length) throw invalid(`VM ${spec.name} has ${disks.length} disks but this host resolved ${process.disks?.length ?? 0} disk files`, { vm: spec.name });
  if ((process.cdroms?.length ?? 0) !== cdroms.length) throw invalid(`VM ${spec.name} has ${cdroms.length} CD-ROMs but this host resolved ${process.cdroms?.length ?? 0} media`, { vm: spec.name });
  // SeaBIOS boots in bootindex order: the chosen kind of device first, then the other kind.
  // The built-in guest boots its -kernel (QEMU's option ROM comes first): no bootindex.
  const boot = spec.boot ?? VmBoot.kernel;
  const order = (kind: typeof VmBoot.disk | typeof VmBoot.cdrom, index: number): string => {
    if (boot === VmBoot.kernel) return "";
    const firstKindCount = boot === VmBoot.disk ? disks.length : cdroms.length;
    return `,bootindex=${(kind === boot ? index : firstKindCount + index) + 1}`;
  };

  const args: string[] = [];
  disks.forEach((disk, i) => {
    const file = process.disks?.[i];
    if (file === undefined) return;
    // aio=native only with O_DIRECT: QEMU refuses it on a cached file.
    const cache = file.directIo ? "cache.direct=on" : "cache.direct=off";
    args.push(
      "-blockdev", `driver=file,node-name=disk${i}-file,filename=${optionValue(file.path)},${cache}${file.directIo ? ",aio=native" : ""}`,
      // The format node's own cache.direct only makes query-block report what the file node does.
      "-blockdev", `driver=${disk.format},node-name=disk${i}-format,file=disk${i}-file,${cache}`,
      "-device", `virtio-blk-pci,drive=disk${i}-format,id=disk${i}${order(VmBoot.disk, i)}`,
    );
  });
  const slots = ideSlots(machine);
  cdroms.forEach((_cdrom, i) => {
    const medium = process.cdroms?.[i] ?? { kind: "none" };
    const device = `ide-cd,id=cd${i},${slots[i] ?? ""}${order(VmBoot.cdrom, i)}`;
    switch (medium.kind) {
      case "none":
        args.push("-device", device);
        return;
      case "file":
        args.push("-blockdev", `driver=file,node-name=cd${i}-file,filename=${optionValue(medium.path)},read-only=on`);
        break;
      case "host":
        if (!HOST_CDROM.test(medium.device)) throw invalid(`CD-ROM ${i} of ${spec.name}: host drive must be /dev/srN, not ${JSON.stringify(medium.device)}`, { vm: spec.name });
        args.push("-blockdev", `driver=host_cdrom,node-name=cd${i}-file,filename=${medium.device},read-only=on`);
        break;
    }
    args.push("-blockdev", `driver=raw,node-name=cd${i}-format,file=cd${i}-file,read-only=on`, "-device", `${device},drive=cd${i}-format`);
  });
  return args;
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
  // Memory the guest has touched at creation: filled with data at boot (not zero pages), at
  // most half its RAM, so the test guest's kernel and its writer's working set still fit.
  const fillMiB = Math.floor(Math.min(vm.spec.touchedBytes ?? 0, (vm.spec.memoryMB * MiB) / 2) / MiB);
  if (fillMiB > 0) words.push(`ferry.fill_mib=${fillMiB}`);
  if (fillMiB > 0 && vm.boot.fillCheckSeconds !== undefined) words.push(`ferry.fill_check_s=${Math.max(1, Math.round(vm.boot.fillCheckSeconds))}`);
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
 * first; and `-S`: when the stream is complete it stays paused instead of running by itself,
 * so the driver claims the VM's ownership record first and only then sends `cont`). Pure;
 * refuses (INVALID_INPUT) values QEMU would misparse.
 */
export function qemuCommandLine(vm: QemuVm, process: QemuProcess, incoming: boolean): QemuCommand {
  const { spec } = vm;
  if (!Number.isInteger(spec.memoryMB) || spec.memoryMB <= 0) throw invalid(`memory must be a positive whole number of MiB: ${spec.memoryMB}`, { memoryMB: spec.memoryMB });
  if (!Number.isInteger(spec.vcpus) || spec.vcpus <= 0) throw invalid(`vCPUs must be a positive whole number: ${spec.vcpus}`, { vcpus: spec.vcpus });
  checkVmHardware(spec);
  const machine = machineOf(vm);
  const cpu = guestCpuArg(vm);
  const kernelBoot = (spec.boot ?? VmBoot.kernel) === VmBoot.kernel;

  const args: string[] = [
    "-name", `guest=${optionValue(spec.name)}`,
    "-machine", machine,
    "-accel", process.accelerator,
    "-cpu", cpu,
    "-m", ramSizeArgument(spec.memoryMB, process.accelerator),
    "-smp", String(spec.vcpus),
    // No default devices, no config files from /etc: the device set is exactly this argv, on both ends.
    "-nodefaults", "-no-user-config",
    "-display", "none",
    // The built-in guest's panic ends QEMU (panic=-1 with -no-reboot), which the driver sees; a
    // VM booted through the firmware reboots like a PC when its OS asks.
    ...(kernelBoot ? ["-no-reboot"] : []),
    "-serial", process.serial.kind === "stdio" ? "stdio" : `file:${plainValue("serial", process.serial.path)}`,
    // Firmware boot: SeaBIOS starts whatever bootindex says (storageArgs).
    ...(kernelBoot ? ["-kernel", vm.boot.kernel, "-initrd", vm.boot.initrd, "-append", kernelCommandLine(vm)] : []),
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

  args.push(...storageArgs(spec, machine, process));

  // wait=off: QEMU does not block its start on a QMP client.
  args.push("-qmp", `unix:${plainValue("qmpSocket", process.qmpSocket)},server=on,wait=off`);
  if (incoming) args.push("-S", "-incoming", "defer");
  return { command: process.binary ?? "qemu-system-x86_64", args, cpu };
}
