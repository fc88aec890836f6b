import assert from "node:assert/strict";
import { test } from "node:test";
import { CPU_FEATURES } from "../cpu/features.ts";
import { hostSupportsBaseline, resolveBaseline } from "../cpu/models.ts";
import { checkReferences } from "../inventory/references.ts";
import { InventorySchema, type Inventory } from "../inventory/schema.ts";
import { generateInventory, mulberry32 } from "./generate.ts";

const GUEST_FLAGS = new Set(
  ("fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss ht syscall nx " +
    "pdpe1gb rdtscp lm pni pclmulqdq monitor ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes " +
    "xsave avx f16c rdrand lahf_lm abm fsgsbase bmi1 avx2 smep bmi2 erms invpcid xsaveopt arat sse4a misalignsse 3dnowprefetch").split(" "),
);

const big = generateInventory({ hosts: 1000, vms: 10000, seed: 42 });

test("mulberry32 is deterministic and spreads over [0, 1)", () => {
  const a = mulberry32(7);
  const b = mulberry32(7);
  const values = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(values, Array.from({ length: 1000 }, () => b()));
  assert.ok(values.every((v) => v >= 0 && v < 1));
  assert.ok(values.filter((v) => v < 0.5).length > 400);
});

test("the same seed gives the same inventory; another seed another one", () => {
  assert.deepEqual(generateInventory({ hosts: 60, vms: 300, seed: 9 }), generateInventory({ hosts: 60, vms: 300, seed: 9 }));
  assert.notDeepEqual(generateInventory({ hosts: 60, vms: 300, seed: 9 }), generateInventory({ hosts: 60, vms: 300, seed: 10 }));
});

for (const [hosts, vms, seed] of [[1, 0, 1], [1, 5, 2], [3, 10, 3], [17, 50, 4], [40, 400, 5], [250, 2500, 6]] as const) {
  test(`${hosts} hosts / ${vms} VMs (seed ${seed}): valid by the schema and free of reference issues`, () => {
    const inv = generateInventory({ hosts, vms, seed });
    assert.equal(inv.hosts.length, hosts);
    assert.equal(inv.vms.length, vms);
    // Parsing fills in no default: the generator already wrote every field out.
    assert.deepEqual(InventorySchema.parse(inv), inv);
    assert.deepEqual(checkReferences(inv), []);
  });
}

// How fast it generates is the benchmark's business (`npm run bench -- controller`), not a unit
// test's: a wall-time bound here fails on a busy machine and proves nothing on an idle one.
test("1000 hosts / 10000 VMs: reference-clean, and the same seed gives the same inventory", () => {
  assert.deepEqual(checkReferences(big), []);
  assert.deepEqual(InventorySchema.parse(big), big);
  assert.deepEqual(generateInventory({ hosts: 1000, vms: 10000, seed: 42 }), big);
});

test("clusters hold 16 to 32 hosts", () => {
  const sizes = new Map<string, number>();
  for (const h of big.hosts) sizes.set(h.cluster ?? "", (sizes.get(h.cluster ?? "") ?? 0) + 1);
  assert.equal(sizes.size, big.clusters.length);
  for (const [name, size] of sizes) assert.ok(size >= 16 && size <= 32, `${name} has ${size} hosts`);
  assert.equal(generateInventory({ hosts: 5, vms: 0, seed: 1 }).clusters.length, 1);
});

function flagsOk(inv: Inventory): void {
  const requires = new Map(CPU_FEATURES.map((f) => [f.flag, f.requires ?? []]));
  for (const host of inv.hosts) {
    const flags = new Set(host.cpu.flags);
    const virt = host.cpu.vendor === "GenuineIntel" ? "vmx" : "svm";
    assert.ok(flags.has(virt), `${host.name} lacks ${virt}`);
    for (const flag of flags) {
      assert.ok(flag === virt || GUEST_FLAGS.has(flag), `${host.name}: unexpected flag ${flag}`);
      for (const req of requires.get(flag) ?? []) assert.ok(flags.has(req), `${host.name}: ${flag} without ${req}`);
    }
  }
}

test("CPU flags are /proc/cpuinfo names, closed under their prerequisites", () => {
  flagsOk(big);
});

test("clusters mostly share one CPU generation, a few hosts are newer, a few clusters are AMD", () => {
  const byCluster = new Map<string, Inventory["hosts"]>();
  for (const h of big.hosts) byCluster.set(h.cluster ?? "", [...(byCluster.get(h.cluster ?? "") ?? []), h]);
  let mixed = 0;
  for (const hosts of byCluster.values()) {
    const models = hosts.map((h) => `${h.cpu.vendor}/${h.cpu.family}/${h.cpu.model}`);
    const counts = new Map<string, number>();
    for (const m of models) counts.set(m, (counts.get(m) ?? 0) + 1);
    const main = Math.max(...counts.values());
    assert.ok(main >= hosts.length * 0.75, `a cluster of ${hosts.length} has only ${main} hosts of its main generation`);
    assert.equal(new Set(hosts.map((h) => h.cpu.vendor)).size, 1, "one vendor per cluster");
    mixed += hosts.length - main;
  }
  assert.ok(mixed >= 10, `${mixed} newer hosts in older clusters`);
  const amd = big.hosts.filter((h) => h.cpu.vendor === "AuthenticAMD");
  assert.ok(amd.length > 0 && amd.length < big.hosts.length / 3);
  assert.ok(new Set(amd.map((h) => h.cpu.family)).size >= 1);
});

test("a cluster's baseline is one every host of the cluster can present", () => {
  const withBaseline = big.clusters.filter((c) => c.baseline !== undefined);
  assert.ok(withBaseline.length > 0 && withBaseline.length < big.clusters.length);
  for (const cluster of withBaseline) {
    const resolved = cluster.baseline === undefined ? undefined : resolveBaseline(cluster.baseline);
    // The model catalogue is filled in elsewhere; a model it does not know yet is not this generator's fault.
    if (resolved === undefined) continue;
    for (const host of big.hosts.filter((h) => h.cluster === cluster.name)) {
      const support = hostSupportsBaseline(host.cpu, resolved);
      assert.ok(support.ok, `${host.name} cannot present ${cluster.baseline?.model ?? ""}: missing ${support.missing.join(" ")}`);
    }
  }
});

test("networking: one VMotion subnet with unique addresses, vSwitch0 with the VM port groups", () => {
  const vmotionIps = new Set<string>();
  for (const host of big.hosts) {
    assert.ok(host.nics.length >= 2 && host.nics.length <= 4);
    assert.ok(host.nics.every((n) => [100, 1000, 10000].includes(n.speedMbps)));
    const vs0 = host.vswitches.find((v) => v.name === "vSwitch0");
    assert.ok(vs0?.portGroups.some((p) => p.name === "Management Network"));
    for (const vs of host.vswitches) {
      for (const vmk of vs.vmkernelPorts.filter((p) => p.portGroup === "vMotion")) {
        assert.match(vmk.ip, /^198\.19\.\d+\.\d+\/16$/);
        assert.ok(!vmotionIps.has(vmk.ip), `${vmk.ip} twice`);
        vmotionIps.add(vmk.ip);
      }
    }
  }
  const vmotionPorts = big.hosts.map((h) => h.vswitches.flatMap((v) => v.vmkernelPorts).find((p) => p.portGroup === "vMotion"));
  assert.ok(vmotionPorts.filter((p) => p === undefined).length >= 1, "a host without a VMotion port");
  assert.ok(vmotionPorts.filter((p) => p !== undefined && !p.vmotion).length >= 1, "a VMotion port with vmotion: false");
  assert.ok(vmotionPorts.filter((p) => p?.mtu === 9000).length >= 1, "jumbo frames on a VMotion port");
  assert.ok(big.hosts.some((h) => h.vswitches.some((v) => v.name === "VMotion")), "a VMotion vSwitch named differently");
  assert.ok(big.hosts.some((h) => h.vswitches.some((v) => v.portGroups.some((p) => p.name === "production"))), "a lowercase production port group");
});

test("host states: some with VT disabled, in maintenance, disconnected", () => {
  assert.ok(big.hosts.some((h) => !h.cpu.virtualization));
  assert.ok(big.hosts.some((h) => h.maintenance));
  assert.ok(big.hosts.some((h) => !h.connected));
  const maintenance = new Set(big.hosts.filter((h) => h.maintenance).map((h) => h.name));
  assert.ok(big.vms.every((vm) => !maintenance.has(vm.host)), "no VM on a host in maintenance mode");
});

test("storage: cluster datastores are shared, each host has its own local one", () => {
  const shared = new Map(big.datastores.map((d) => [d.name, d.shared]));
  for (const host of big.hosts) {
    const local = host.datastores.filter((d) => shared.get(d) === false);
    assert.deepEqual(local, [`${host.name}-local`]);
    assert.ok(host.datastores.some((d) => shared.get(d) === true && d.startsWith(host.cluster ?? "-")));
  }
  const onLocal = big.vms.filter((vm) => shared.get(vm.files.config.datastore) === false);
  assert.ok(onLocal.length > 0 && onLocal.length < big.vms.length / 10);
});

test("VMs: unique VMware MACs, VM-network IPs, and the seed's VMotion problems in a few", () => {
  const macs = [...big.vms, ...big.templates].flatMap((m) => m.nics.map((n) => n.mac));
  assert.equal(new Set(macs).size, macs.length);
  assert.ok(macs.every((mac) => /^00:50:56:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/.test(mac)));
  assert.ok(big.vms.every((vm) => vm.nics.every((n) => n.ip === undefined || /^198\.18\.\d+\.\d+$/.test(n.ip))));
  const some = (what: string, f: (vm: Inventory["vms"][number]) => boolean, atMost = 0.05): void => {
    const n = big.vms.filter(f).length;
    assert.ok(n > 0 && n <= big.vms.length * atMost, `${what}: ${n}`);
  };
  some("connected host CD-ROM", (vm) => vm.devices.some((d) => d.kind === "cdrom" && d.backing === "host" && d.connected));
  some("disconnected host floppy", (vm) => vm.devices.some((d) => d.kind === "floppy" && d.backing === "host" && !d.connected));
  some("CPU affinity", (vm) => vm.cpuAffinity.length > 0);
  some("MSCS RDM", (vm) => vm.disks.some((d) => d.rdm?.mscs === true));
  some("powered off", (vm) => vm.power === "off", 0.15);
  some("deployed from a template", (vm) => vm.template !== undefined, 0.25);
  assert.ok(big.templates.length >= 2 && big.templates.length <= 3);
  assert.ok(big.templates.every((t) => t.cpuidMask !== undefined));
  const lowercase = new Set(big.hosts.filter((h) => h.vswitches.some((v) => v.portGroups.some((p) => p.name === "production"))).map((h) => h.name));
  assert.ok(big.vms.some((vm) => lowercase.has(vm.host) && vm.nics.some((n) => n.portGroup === "production")));
});

test("counts out of range are refused", () => {
  assert.throws(() => generateInventory({ hosts: 0, vms: 1, seed: 1 }), { code: "INVALID_INPUT" });
  assert.throws(() => generateInventory({ hosts: 1.5, vms: 1, seed: 1 }), { code: "INVALID_INPUT" });
  assert.throws(() => generateInventory({ hosts: 1, vms: -1, seed: 1 }), { code: "INVALID_INPUT" });
});
