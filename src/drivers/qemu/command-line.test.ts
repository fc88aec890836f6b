import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { findCpuModel } from "../../core/cpu/models.ts";
import { isFerryError } from "../../core/errors.ts";
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
    assert.deepEqual(option(args, "-m"), ["128M"]);
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

  test("the destination's argv is the source's plus -incoming defer", () => {
    const source = qemuCommandLine(vm(), esx01, false);
    const destination = qemuCommandLine(vm(), esx01, true);
    assert.deepEqual(destination.args, [...source.args, "-incoming", "defer"]);
  });

  test("on another host, only -incoming and per-process paths and taps differ", () => {
    const source = qemuCommandLine(vm(), esx01, false).args;
    const destination = qemuCommandLine(vm(), esx02, true).args;
    assert.deepEqual(destination.slice(-2), ["-incoming", "defer"]);
    const rest = destination.slice(0, -2);
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

  const refusals: { readonly what: string; readonly build: () => unknown }[] = [
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
