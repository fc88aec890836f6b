import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { createChecker, codesOf } from "./checker.ts";
import { FindingCode as C, type FindingCode } from "./findings.ts";
import { bentInventory, HASWELL_FLAGS, PENRYN_FLAGS, type Bend } from "../testing/inventory.ts";
import type { CpuidMask } from "../inventory/schema.ts";

const CPU_CODES = new Set<FindingCode>([C.cpuFeatureMissing, C.cpuBaselineUnsupported, C.cpuFamilyMismatch, C.cpuVendorMismatch]);

const flagSubset = fc.subarray([...HASWELL_FLAGS], { minLength: 0 });
const mask = fc.record({
  nx: fc.boolean(),
  sse3: fc.boolean(),
  sse4: fc.boolean(),
  custom: fc.subarray(["avx", "avx2", "aes", "popcnt", "xsave", "pcid", "movbe", "ssse3", "fma", "rdrand"]),
});

function union(a: CpuidMask, b: CpuidMask): CpuidMask {
  return { nx: a.nx || b.nx, sse3: a.sse3 || b.sse3, sse4: a.sse4 || b.sse4, custom: [...new Set([...a.custom, ...b.custom])] };
}

function cpuFindings(bend: Bend): string[] {
  const result = createChecker(bentInventory(bend).index).check("web01", "esx02");
  return result.errors.filter((f) => CPU_CODES.has(f.code)).flatMap((f) => (f.code === C.cpuFeatureMissing || f.code === C.cpuBaselineUnsupported ? f.subject.name.split(" ").map((flag) => `${f.code}:${flag}`) : [f.code]));
}

test("adding a mask never adds a CPU finding", () => {
  fc.assert(
    fc.property(flagSubset, flagSubset, mask, mask, fc.boolean(), (srcFlags, dstFlags, m1, extra, baseline) => {
      const bend = (m: CpuidMask): Bend => (i) => {
        i.hosts[0]!.cpu.flags = srcFlags;
        i.hosts[1]!.cpu.flags = dstFlags;
        if (baseline) i.clusters = [{ name: "Prod", baseline: { vendor: "GenuineIntel", flags: [...PENRYN_FLAGS] } }];
        i.vms[0]!.cpuidMask = m;
      };
      const before = new Set(cpuFindings(bend(m1)));
      const after = cpuFindings(bend(union(m1, extra)));
      for (const finding of after) assert.ok(before.has(finding), `mask ${JSON.stringify(extra)} added ${finding}`);
    }),
    { numRuns: 300 },
  );
});

const bendArb: fc.Arbitrary<Bend> = fc
  .record({
    power: fc.constantFrom("on", "off", "suspended"),
    dstVendor: fc.constantFrom("GenuineIntel", "AuthenticAMD"),
    dstFamily: fc.constantFrom(6, 15),
    dstFlags: flagSubset,
    diskDs: fc.constantFrom("shared-ds", "esx01-local"),
    pg: fc.constantFrom("Production", "PRODUCTION", "VM Network", "Missing"),
    nicConnected: fc.boolean(),
    device: fc.constantFrom("none", "host", "client", "file"),
    deviceConnected: fc.boolean(),
    vmotion: fc.boolean(),
    mtu: fc.constantFrom(1500, 9000),
    maintenance: fc.boolean(),
    memRes: fc.constantFrom(0, 4096, 90000),
    affinity: fc.boolean(),
    mask: fc.option(mask, { nil: undefined }),
    srcQemu: fc.constantFrom(undefined, "7.2.22", "8.2.2"),
    dstQemu: fc.constantFrom(undefined, "7.2.9", "7.2.22", "8.2.2"),
    machine: fc.constantFrom(undefined, "pc-q35-7.2", "pc-q35-8.2"),
  })
  .map((r): Bend => (i) => {
    const vm = i.vms[0]!;
    const dst = i.hosts[1]!;
    vm.power = r.power;
    dst.cpu.vendor = r.dstVendor;
    dst.cpu.family = r.dstFamily;
    dst.cpu.flags = r.dstFlags;
    vm.disks![0]!.datastore = r.diskDs;
    vm.nics![0]!.portGroup = r.pg;
    vm.nics![0]!.connected = r.nicConnected;
    vm.devices = [{ name: "cd0", kind: "cdrom", backing: r.device, datastore: "esx01-local", connected: r.deviceConnected }];
    dst.vswitches![1]!.vmkernelPorts![0]!.vmotion = r.vmotion;
    dst.vswitches![1]!.vmkernelPorts![0]!.mtu = r.mtu;
    dst.maintenance = r.maintenance;
    vm.reservation = { memoryMB: r.memRes };
    vm.cpuAffinity = r.affinity ? [0] : [];
    vm.cpuidMask = r.mask;
    // Each QEMU provides its own machine types and the older ones (QEMU keeps them for migration).
    const hypervisor = (version: string) => ({ kind: "qemu" as const, version, accelerator: "tcg" as const, machineTypes: version.startsWith("8.") ? ["pc-q35-7.2", "pc-q35-8.2"] : ["pc-q35-7.2"] });
    if (r.srcQemu !== undefined) i.hosts[0]!.hypervisor = hypervisor(r.srcQemu);
    if (r.dstQemu !== undefined) dst.hypervisor = hypervisor(r.dstQemu);
    vm.machine = r.machine;
    // A second VM shares web01's placement class, so the matrix's grouping is exercised.
    i.vms.push({ ...structuredClone(vm), name: "web02", host: "esx02", nics: [{ ...vm.nics![0]!, mac: "00:50:56:00:00:02" }] });
  });

test("the checker is deterministic, and the matrix agrees with it on every pair", () => {
  fc.assert(
    fc.property(bendArb, (bend) => {
      const first = bentInventory(bend);
      const second = bentInventory(bend);
      const checker = createChecker(first.index);
      const matrix = checker.matrix();
      for (const vm of ["web01", "web02"]) {
        for (const host of ["esx01", "esx02"]) {
          const a = checker.check(vm, host);
          assert.deepEqual(createChecker(second.index).check(vm, host), a);
          const cell = matrix.vms.indexOf(vm) * matrix.hosts.length + matrix.hosts.indexOf(host);
          // A VM's own host is marked by position in the matrix, not by SAME_HOST.
          const own = matrix.current[matrix.vms.indexOf(vm)] === matrix.hosts.indexOf(host);
          assert.equal(own, a.errors.some((f) => f.code === C.sameHost));
          assert.deepEqual(new Set(codesOf(matrix.errors[cell]!)), new Set(a.errors.map((f) => f.code).filter((code) => code !== C.sameHost)), `${vm}→${host} errors`);
          assert.deepEqual(new Set(codesOf(matrix.warnings[cell]!)), new Set(a.warnings.map((f) => f.code)), `${vm}→${host} warnings`);
        }
      }
    }),
    { numRuns: 200 },
  );
});
