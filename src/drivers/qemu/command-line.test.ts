import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { findCpuModel } from "../../core/cpu/models.ts";
import { isFerryError } from "../../core/errors.ts";
import type { VmCdromSpec, VmDiskSpec } from "../driver.ts";
import { DEFAULT_MACHINE, qemuCommandLine, type QemuProcess, type QemuVm } from "./command-line.ts";

const MiB = 1024 * 1024;

function vm(overrides: Partial<QemuVm["spec"]> = {}): QemuVm {
  return {
    spec: {
      name: "web01",
      memoryMB: 128,
      vcpus: 1,
      nics: [{ name: "eth0", mac: "52:54:00:12:34:56", ip: "198.18.0.11", portGroup: "VM Network" }],
      cpuFlags: findCpuModel("Nehalem")?.flags.filter((f) => f !== "nx"),
      workload: { kind: "steady", dirtyRateBytesPerSec: 16 * MiB, workingSetBytes: 64 * MiB, seed: 1 },
      ...overrides,
    },
    cpu: { vendor: "GenuineIntel" },
    boot: { kernel: "/datastore/guest/vmlinux", initrd: "/datastore/guest/initrd.gz", prefixLength: 16 },
  };
}

const esx01: QemuProcess = {
  accelerator: "tcg",
  qmpSocket: "/run/ferry/esx01/web01.qmp",
  serial: { kind: "file", path: "/run/ferry/esx01/web01.serial" },
  taps: { eth0: "fe-web01-0" },
};

const esx02: QemuProcess = {
  accelerator: "tcg",
  qmpSocket: "/run/ferry/esx02/web01.qmp",
  serial: { kind: "file", path: "/run/ferry/esx02/web01.serial" },
  taps: { eth0: "fe-web01-1" },
};

function option(args: readonly string[], name: string): string[] {
  const out: string[] = [];
  args.forEach((arg, i) => {
    const next = args[i + 1];
    if (arg === name && next !== undefined) out.push(next);
  });
  return out;
}

describe("qemuCommandLine", () => {
  test("builds the source's argv from the VM record", () => {
    const { command, args, cpu } = qemuCommandLine(vm(), esx01, false);
    assert.equal(command, "qemu-system-x86_64");
    assert.equal(cpu, "Nehalem,-nx,enforce");
    assert.deepEqual(option(args, "-name"), ["guest=web01"]);
    assert.deepEqual(option(args, "-machine"), [DEFAULT_MACHINE]);
    assert.deepEqual(option(args, "-accel"), ["tcg"]);
    assert.deepEqual(option(args, "-cpu"), ["Nehalem,-nx,enforce"]);
    // TCG: 8 KiB beyond the 256 KiB grid, where QEMU 7.2's dirty sync forgets TCG's TLB (trap 20).
    assert.deepEqual(option(args, "-m"), [`${128 * 1024 + 8}k`]);
    assert.deepEqual(option(args, "-smp"), ["1"]);
    for (const flag of ["-nodefaults", "-no-user-config", "-no-reboot"]) assert.ok(args.includes(flag), flag);
    assert.deepEqual(option(args, "-display"), ["none"]);
    assert.deepEqual(option(args, "-serial"), ["file:/run/ferry/esx01/web01.serial"]);
    assert.deepEqual(option(args, "-kernel"), ["/datastore/guest/vmlinux"]);
    assert.deepEqual(option(args, "-initrd"), ["/datastore/guest/initrd.gz"]);
    assert.deepEqual(option(args, "-append"), ["console=ttyS0 panic=-1 ferry.ip=198.18.0.11/16 ferry.dirty_mib_s=16 ferry.dirty_ws_mib=64"]);
    assert.deepEqual(option(args, "-netdev"), ["tap,id=net0,ifname=fe-web01-0,script=no,downscript=no"]);
    assert.deepEqual(option(args, "-device"), ["virtio-net-pci,netdev=net0,id=nic0,mac=52:54:00:12:34:56"]);
    assert.deepEqual(option(args, "-qmp"), ["unix:/run/ferry/esx01/web01.qmp,server=on,wait=off"]);
    assert.deepEqual(option(args, "-incoming"), []);
    assert.ok(!args.includes("-daemonize"), "QEMU runs as a child: its stderr carries a destination's rejection");
  });

  test("the destination's argv is the source's plus -S -incoming defer (it never runs by itself)", () => {
    const source = qemuCommandLine(vm(), esx01, false);
    const destination = qemuCommandLine(vm(), esx01, true);
    assert.deepEqual(destination.args, [...source.args, "-S", "-incoming", "defer"]);
  });

  test("on another host, only -incoming and per-process paths and taps differ", () => {
    const source = qemuCommandLine(vm(), esx01, false).args;
    const destination = qemuCommandLine(vm(), esx02, true).args;
    assert.deepEqual(destination.slice(-3), ["-S", "-incoming", "defer"]);
    const rest = destination.slice(0, -3);
    assert.equal(rest.length, source.length);
    const differing = source.flatMap((arg, i) => (arg === rest[i] ? [] : [source[i - 1]]));
    assert.deepEqual(differing, ["-serial", "-netdev", "-qmp"]);
  });

  test("one -netdev and -device per NIC, in the VM's order, with its MAC", () => {
    const spec = vm({
      nics: [
        { name: "eth0", mac: "52:54:00:00:00:01", ip: "198.18.0.12", portGroup: "VM Network" },
        { name: "eth1", mac: "52:54:00:00:00:02", portGroup: "Backup" },
      ],
    });
    const { args } = qemuCommandLine(spec, { ...esx01, taps: { eth0: "tap-a", eth1: "tap-b" } }, false);
    assert.deepEqual(option(args, "-netdev"), [
      "tap,id=net0,ifname=tap-a,script=no,downscript=no",
      "tap,id=net1,ifname=tap-b,script=no,downscript=no",
    ]);
    assert.deepEqual(option(args, "-device"), [
      "virtio-net-pci,netdev=net0,id=nic0,mac=52:54:00:00:00:01",
      "virtio-net-pci,netdev=net1,id=nic1,mac=52:54:00:00:00:02",
    ]);
  });

  test("an idle guest gets no dirtier; serial to stdio; kvm when the caller chooses it", () => {
    const { args } = qemuCommandLine(vm({ workload: undefined }), { ...esx01, accelerator: "kvm", serial: { kind: "stdio" } }, false);
    assert.deepEqual(option(args, "-append"), ["console=ttyS0 panic=-1 ferry.ip=198.18.0.11/16"]);
    assert.deepEqual(option(args, "-serial"), ["stdio"]);
    assert.deepEqual(option(args, "-accel"), ["kvm"]);
    assert.deepEqual(option(args, "-m"), ["128M"], "KVM logs dirty pages itself: the plain size");
  });

  test("a TCG guest's RAM block is off QEMU's 256 KiB sync grid at every size, the same on both ends", () => {
    for (const memoryMB of [64, 128, 256, 512, 4096]) {
      const source = option(qemuCommandLine(vm({ memoryMB }), esx01, false).args, "-m");
      const destination = option(qemuCommandLine(vm({ memoryMB }), esx01, true).args, "-m");
      assert.deepEqual(destination, source, "a stream goes only into a RAM block of the same length");
      const kib = Number(/^(\d+)k$/.exec(source[0] ?? "")?.[1]);
      assert.equal(kib % 8, 0, "QEMU rounds -m up to 8 KiB: the size asked for is the size it makes");
      assert.notEqual(kib % 256, 0, `${memoryMB} MiB: ${String(kib)} KiB is on the grid`);
      assert.equal(Math.floor(kib / 1024), memoryMB, "the guest keeps its MiB");
    }
  });

  test("touched memory is filled at boot, at most half the guest's RAM", () => {
    const half = qemuCommandLine(vm({ workload: undefined, memoryMB: 256, touchedBytes: 100 * 1048576 + 5 }), esx01, false);
    assert.deepEqual(option(half.args, "-append"), ["console=ttyS0 panic=-1 ferry.ip=198.18.0.11/16 ferry.fill_mib=100"]);
    const all = qemuCommandLine(vm({ workload: undefined, memoryMB: 256, touchedBytes: 256 * 1048576 }), esx01, false);
    assert.deepEqual(option(all.args, "-append"), ["console=ttyS0 panic=-1 ferry.ip=198.18.0.11/16 ferry.fill_mib=128"]);
  });

  test("a baseline model without recorded flags starts as that model", () => {
    const spec = vm({ cpuFlags: undefined });
    const { cpu } = qemuCommandLine({ ...spec, cpu: { vendor: "GenuineIntel", model: "Westmere" } }, esx01, false);
    assert.equal(cpu, "Westmere,enforce");
  });

  test("commas in the VM name are escaped for QEMU's option parser", () => {
    const { args } = qemuCommandLine(vm({ name: "a,b" }), esx01, false);
    assert.deepEqual(option(args, "-name"), ["guest=a,,b"]);
  });

  const disk: VmDiskSpec = { name: "hard disk 1", datastore: "nfs01", path: "web01/web01.qcow2", format: "qcow2" };
  const iso: VmCdromSpec = { name: "CD/DVD drive 1", backing: "file", datastore: "nfs01", path: "iso/debian.iso", connected: true };
  const onNfs: QemuProcess = { ...esx01, disks: [{ path: "/mnt/nfs01/web01/web01.qcow2", directIo: true }] };

  test("the built-in guest with a virtio disk: -blockdev file (O_DIRECT, native AIO) and format nodes, a virtio-blk-pci device, still -kernel, no bootindex", () => {
    const { args } = qemuCommandLine(vm({ disks: [disk] }), onNfs, false);
    assert.deepEqual(option(args, "-blockdev"), [
      "driver=file,node-name=disk0-file,filename=/mnt/nfs01/web01/web01.qcow2,cache.direct=on,aio=native",
      "driver=qcow2,node-name=disk0-format,file=disk0-file,cache.direct=on",
    ]);
    assert.deepEqual(option(args, "-device").slice(1), ["virtio-blk-pci,drive=disk0-format,id=disk0"]);
    assert.deepEqual(option(args, "-kernel"), ["/datastore/guest/vmlinux"]);
    assert.ok(args.includes("-no-reboot"));
    assert.ok(!args.some((a) => a.includes("locking")), "image locking stays at QEMU's default (on)");
  });

  test("a datastore without O_DIRECT: cache.direct=off on both nodes and no aio=native (QEMU refuses it without O_DIRECT)", () => {
    const { args } = qemuCommandLine(vm({ disks: [{ ...disk, format: "raw" }] }), { ...esx01, disks: [{ path: "/dev/shm/ds/web01.img", directIo: false }] }, false);
    assert.deepEqual(option(args, "-blockdev"), [
      "driver=file,node-name=disk0-file,filename=/dev/shm/ds/web01.img,cache.direct=off",
      "driver=raw,node-name=disk0-format,file=disk0-file,cache.direct=off",
    ]);
  });

  test("firmware boot from CD-ROM: no -kernel, -initrd, -append or -no-reboot; the ISO read-only on ide-cd with bootindex 1, the disk after it", () => {
    const { args } = qemuCommandLine(vm({ boot: "cdrom", disks: [disk], cdroms: [iso] }), { ...onNfs, cdroms: [{ kind: "file", path: "/mnt/nfs01/iso/debian.iso" }] }, false);
    for (const gone of ["-kernel", "-initrd", "-append", "-no-reboot"]) assert.ok(!args.includes(gone), gone);
    assert.deepEqual(option(args, "-blockdev").slice(2), [
      "driver=file,node-name=cd0-file,filename=/mnt/nfs01/iso/debian.iso,read-only=on",
      "driver=raw,node-name=cd0-format,file=cd0-file,read-only=on",
    ]);
    assert.deepEqual(option(args, "-device").slice(1), [
      "virtio-blk-pci,drive=disk0-format,id=disk0,bootindex=2",
      "ide-cd,id=cd0,bus=ide.0,unit=0,bootindex=1,drive=cd0-format",
    ]);
  });

  test("firmware boot from disk: the disks first in their order, then the CD-ROMs", () => {
    const second: VmDiskSpec = { ...disk, name: "hard disk 2", path: "web01/data.raw", format: "raw" };
    const { args } = qemuCommandLine(
      vm({ boot: "disk", disks: [disk, second], cdroms: [{ name: "cd", backing: "none", connected: false }] }),
      { ...esx01, disks: [{ path: "/mnt/a.qcow2", directIo: true }, { path: "/mnt/b.raw", directIo: true }], cdroms: [{ kind: "none" }] },
      false,
    );
    assert.deepEqual(option(args, "-device").slice(1), [
      "virtio-blk-pci,drive=disk0-format,id=disk0,bootindex=1",
      "virtio-blk-pci,drive=disk1-format,id=disk1,bootindex=2",
      "ide-cd,id=cd0,bus=ide.0,unit=0,bootindex=3",
    ]);
  });

  test("a host CD-ROM drive, an empty drive, and a q35 machine's AHCI buses", () => {
    const cdroms: VmCdromSpec[] = [
      { name: "a", backing: "host", path: "/dev/sr0", connected: true },
      { name: "b", backing: "none", connected: false },
    ];
    const { args } = qemuCommandLine(vm({ machine: "pc-q35-7.2", cdroms }), { ...esx01, cdroms: [{ kind: "host", device: "/dev/sr0" }, { kind: "none" }] }, false);
    assert.deepEqual(option(args, "-machine"), ["pc-q35-7.2"]);
    assert.deepEqual(option(args, "-blockdev"), ["driver=host_cdrom,node-name=cd0-file,filename=/dev/sr0,read-only=on", "driver=raw,node-name=cd0-format,file=cd0-file,read-only=on"]);
    assert.deepEqual(option(args, "-device").slice(1), ["ide-cd,id=cd0,bus=ide.0,drive=cd0-format", "ide-cd,id=cd1,bus=ide.1"]);
  });

  test("the spec's machine type wins; commas in a disk's path are escaped for -blockdev", () => {
    const { args } = qemuCommandLine(vm({ machine: "pc-i440fx-7.1", disks: [disk] }), { ...esx01, disks: [{ path: "/mnt/a,b.qcow2", directIo: true }] }, false);
    assert.deepEqual(option(args, "-machine"), ["pc-i440fx-7.1"]);
    assert.match(option(args, "-blockdev")[0] ?? "", /filename=\/mnt\/a,,b\.qcow2,/);
  });

  test("between hosts that mount the datastore elsewhere, only the files, -serial, -netdev and -qmp differ", () => {
    const spec = vm({ boot: "disk", disks: [disk], cdroms: [iso] });
    const source = qemuCommandLine(spec, { ...esx01, disks: [{ path: "/mnt/a/web01.qcow2", directIo: true }], cdroms: [{ kind: "file", path: "/mnt/a/debian.iso" }] }, false).args;
    const destination = qemuCommandLine(spec, { ...esx02, disks: [{ path: "/srv/b/web01.qcow2", directIo: true }], cdroms: [{ kind: "file", path: "/srv/b/debian.iso" }] }, true).args;
    const rest = destination.slice(0, -3);
    assert.equal(rest.length, source.length);
    const differing = source.flatMap((arg, i) => (arg === rest[i] ? [] : [`${source[i - 1] ?? ""} ${arg.split(",")[1] ?? ""}`]));
    assert.deepEqual(differing, ["-serial ", "-netdev id=net0", "-blockdev node-name=disk0-file", "-blockdev node-name=cd0-file", "-qmp server=on"]);
  });

  const refusals: { readonly what: string; readonly build: () => unknown }[] = [
    { what: "a machine type carrying options", build: () => qemuCommandLine(vm({ machine: "pc,accel=kvm" }), esx01, false) },
    { what: "a boot from disk without a disk", build: () => qemuCommandLine(vm({ boot: "disk" }), esx01, false) },
    { what: "a boot from CD-ROM without a drive", build: () => qemuCommandLine(vm({ boot: "cdrom", disks: [disk] }), onNfs, false) },
    { what: "two disks of one name", build: () => qemuCommandLine(vm({ disks: [disk, disk] }), { ...esx01, disks: [{ path: "/a", directIo: true }, { path: "/b", directIo: true }] }, false) },
    { what: "a disk format QEMU would probe", build: () => qemuCommandLine(vm({ disks: [{ ...disk, format: "vmdk" as "raw" }] }), onNfs, false) },
    { what: "a disk of size 0", build: () => qemuCommandLine(vm({ disks: [{ ...disk, sizeMB: 0 }] }), onNfs, false) },
    { what: "a disk without its resolved file", build: () => qemuCommandLine(vm({ disks: [disk] }), esx01, false) },
    { what: "an ISO without a path", build: () => qemuCommandLine(vm({ cdroms: [{ ...iso, path: undefined }] }), { ...esx01, cdroms: [{ kind: "none" }] }, false) },
    { what: "a host drive that is not /dev/srN", build: () => qemuCommandLine(vm({ cdroms: [{ name: "cd", backing: "host", path: "/dev/sda", connected: true }] }), { ...esx01, cdroms: [{ kind: "host", device: "/dev/sda" }] }, false) },
    { what: "five CD-ROMs on i440fx's four IDE drives", build: () => qemuCommandLine(vm({ cdroms: [0, 1, 2, 3, 4].map((i) => ({ name: `cd${i}`, backing: "none" as const, connected: false })) }), { ...esx01, cdroms: [0, 1, 2, 3, 4].map(() => ({ kind: "none" as const })) }, false) },
    { what: "no CPU definition", build: () => qemuCommandLine(vm({ cpuFlags: undefined }), esx01, false) },
    { what: "an open feature set", build: () => qemuCommandLine(vm({ cpuFlags: ["sse2", "sse", "fxsr", "sse4_1"] }), esx01, false) },
    { what: "a missing tap", build: () => qemuCommandLine(vm(), { ...esx01, taps: {} }, false) },
    { what: "a bad MAC", build: () => qemuCommandLine(vm({ nics: [{ name: "eth0", mac: "52:54:00:zz:00:01", portGroup: "VM Network" }] }), esx01, false) },
    { what: "a comma in the QMP path", build: () => qemuCommandLine(vm(), { ...esx01, qmpSocket: "/tmp/a,b.sock" }, false) },
    { what: "zero memory", build: () => qemuCommandLine(vm({ memoryMB: 0 }), esx01, false) },
    { what: "a duplicate NIC name", build: () => qemuCommandLine(vm({ nics: [{ name: "eth0", mac: "52:54:00:00:00:01", portGroup: "A" }, { name: "eth0", mac: "52:54:00:00:00:02", portGroup: "B" }] }), esx01, false) },
  ];
  for (const { what, build } of refusals) {
    test(`refuses ${what} with INVALID_INPUT`, () => {
      assert.throws(build, (e: unknown) => isFerryError(e) && e.code === "INVALID_INPUT");
    });
  }
});
