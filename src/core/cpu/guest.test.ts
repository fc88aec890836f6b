// The CPU a guest booted on a host sees, when Ferry knows nothing else of it (no baseline, no
// recorded boot flags): the host's guest features that QEMU can be asked to show. Raw CPUID
// gives a host bits QEMU has no -cpu property for (lfence_rdtsc, null_sel_clr_base on the
// table's QEMU); the guest never sees those, and the qemu driver must still start it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { qemuCpu } from "../../drivers/qemu/cpu-model.ts";
import type { Host, Vm } from "../inventory/schema.ts";
import { featureByName, isGuestFeature, isPresentable } from "./features.ts";
import { GuestCpuSource, guestCpu } from "./guest.ts";

test("a guest on a host with bits QEMU cannot show sees the host's presentable features only, and QEMU starts it", () => {
  const unnamed = ["lfence_rdtsc", "null_sel_clr_base"].filter((flag) => isGuestFeature(flag) && featureByName(flag)?.qemu === undefined);
  assert.ok(unnamed.length > 0, "the table has guest bits without a QEMU property (else this test shows nothing)");
  const host = { name: "esx01", cpu: { vendor: "AuthenticAMD", family: 25, model: 1, flags: ["fpu", "fxsr", "mmx", "sse", "sse2", "pni", "ssse3", "sse4_1", "sse4_2", "lm", "nx", "syscall", "svm", ...unnamed], virtualization: true, cores: 8, mhz: 2400 } } as Partial<Host> as Host;
  const vm = { name: "web01" } as Partial<Vm> as Vm;
  const result = guestCpu(vm, host, undefined, new Map());
  assert.ok(result.ok);
  assert.equal(result.cpu.source, GuestCpuSource.host);
  for (const flag of unnamed) assert.equal(result.cpu.flags.has(flag), false, `${flag} is not shown to the guest`);
  assert.ok(result.cpu.flags.has("sse4_2"));
  assert.equal(result.cpu.flags.has("svm"), false, "host-only");
  assert.ok([...result.cpu.flags].every(isPresentable));
  assert.doesNotThrow(() => qemuCpu({ vendor: host.cpu.vendor, flags: [...result.cpu.flags] }));
});
