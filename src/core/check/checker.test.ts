import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createChecker, codesOf, type CheckOptions } from "./checker.ts";
import { FINDING_CODES, FindingCode as C, type FindingCode } from "./findings.ts";
import { bentInventory, must, PENRYN_FLAGS, type Bend } from "../testing/inventory.ts";

interface Case {
  readonly name: string;
  readonly bend?: Bend;
  readonly vm?: string;
  readonly to?: string;
  readonly options?: CheckOptions;
  readonly errors?: readonly FindingCode[];
  readonly warnings?: readonly FindingCode[];
  /** Words the first finding's message (or, with `fixIncludes`, fix) must contain. */
  readonly says?: readonly string[];
  readonly fixSays?: readonly string[];
}

const esx = (inv: Parameters<Bend>[0], i: number) => must(inv.hosts[i], `host ${i}`);
const web01 = (inv: Parameters<Bend>[0]) => must(inv.vms[0], "web01");
const vmotionPort = (inv: Parameters<Bend>[0], i: number) => must(must(esx(inv, i).vswitches?.[1], "vSwitch1").vmkernelPorts?.[0], "vmk1");

// One table per area of the seed; each row changes the passing base inventory in one way.
const cases: Record<string, readonly Case[]> = {
  "the base case": [{ name: "a VM on shared storage between twin hosts passes with no findings" }],
  storage: [
    { name: "disk on a datastore the destination does not mount is an error", bend: (i) => { must(web01(i).disks, "disks")[0]!.datastore = "esx01-local"; }, errors: [C.storageNotVisible], says: ['disk "web01.vmdk" of web01 is on', '"esx01-local" (local to its host)', "esx02 does not mount"] },
    { name: "config, log and NVRAM files on one datastore make one finding naming each", bend: (i) => { web01(i).files = { config: { datastore: "esx01-local" }, log: { datastore: "esx01-local" }, nvram: { datastore: "esx01-local" } }; }, errors: [C.storageNotVisible], says: ["configuration file, log file and NVRAM file of web01 are on datastore \"esx01-local\""] },
    { name: "files on two datastores the destination lacks make two findings", bend: (i) => { web01(i).files = { config: { datastore: "esx01-local" } }; i.datastores!.push({ name: "san2" }); i.hosts[0]!.datastores!.push("san2"); web01(i).disks![0]!.datastore = "san2"; }, errors: [C.storageNotVisible, C.storageNotVisible] },
    { name: "an RDM in an MSCS cluster blocks", bend: (i) => { must(web01(i).disks, "disks")[0]!.rdm = { lun: "naa.600a", mscs: true }; }, errors: [C.rdmMscs], says: ["MSCS", "naa.600a"] },
    { name: "an RDM outside MSCS on shared storage passes", bend: (i) => { must(web01(i).disks, "disks")[0]!.rdm = { lun: "naa.600a", mscs: false }; } },
  ],
  "VMotion network": [
    { name: "destination without any VMkernel port", bend: (i) => { esx(i, 1).vswitches![1]!.vmkernelPorts = []; }, errors: [C.vmotionPortMissing], says: ["destination host esx02 has no VMkernel port"] },
    { name: "source with a VMkernel port not enabled for VMotion", bend: (i) => { vmotionPort(i, 0).vmotion = false; }, errors: [C.vmotionNotEnabled], says: ["source host esx01", "none is enabled for VMotion"], fixSays: ['Use this port group for VMotion'] },
    { name: "VMotion vSwitch without uplinks", bend: (i) => { esx(i, 1).vswitches![1]!.uplinks = []; }, errors: [C.vmotionNoUplink] },
    { name: "VMotion NIC with no link", bend: (i) => { esx(i, 1).nics![1]!.speedMbps = 0; }, errors: [C.vmotionLinkDown] },
    { name: "VMotion NIC at 100 Mb/s is a warning", bend: (i) => { esx(i, 1).nics![1]!.speedMbps = 100; }, warnings: [C.vmotionLinkSlow], says: ["100 Mb/s"] },
    { name: "VMotion vSwitches named differently", bend: (i) => { esx(i, 1).vswitches![1]!.name = "vSwitch2"; }, errors: [C.vmotionVswitchMismatch] },
    { name: "VMotion vSwitch names differing only in case", bend: (i) => { esx(i, 0).vswitches![1]!.name = "VMotion"; esx(i, 1).vswitches![1]!.name = "vmotion"; }, errors: [C.vmotionVswitchMismatch], says: ["differ only in case"] },
    { name: "VMotion IPs on different subnets without a gateway", bend: (i) => { vmotionPort(i, 1).ip = "198.19.7.2/24"; }, errors: [C.vmotionUnreachable], says: ["198.19.0.0/24", "198.19.7.0/24", "neither has"] },
    { name: "different subnets joined by gateways pass", bend: (i) => { vmotionPort(i, 1).ip = "198.19.7.2/24"; vmotionPort(i, 1).gateway = "198.19.7.254"; vmotionPort(i, 0).gateway = "198.19.0.254"; } },
    { name: "a gateway on one side only is not enough", bend: (i) => { vmotionPort(i, 1).ip = "198.19.7.2/24"; vmotionPort(i, 1).gateway = "198.19.7.254"; }, errors: [C.vmotionUnreachable], says: ["esx01 has no default gateway"] },
    { name: "the same VMotion IP on both hosts", bend: (i) => { vmotionPort(i, 1).ip = "198.19.0.1/24"; }, errors: [C.vmotionIpConflict] },
    { name: "different MTUs are a warning", bend: (i) => { vmotionPort(i, 1).mtu = 9000; }, warnings: [C.vmotionMtuMismatch], says: ["MTU 1500", "MTU 9000"] },
  ],
  "VM networks": [
    { name: "port group missing on the destination", bend: (i) => { esx(i, 1).vswitches![0]!.portGroups = [{ name: "VM Network" }]; }, errors: [C.portGroupMissing], says: ['"Production"', "esx02 does not have"] },
    { name: "port group differing only in case names both spellings", bend: (i) => { esx(i, 1).vswitches![0]!.portGroups = [{ name: "PRODUCTION", vlan: 10 }]; }, errors: [C.portGroupMissing], says: ['"Production" here', '"PRODUCTION" there', "case-sensitive"] },
    { name: "a missing port group of a disconnected NIC is a warning", bend: (i) => { esx(i, 1).vswitches![0]!.portGroups = []; web01(i).nics![0]!.connected = false; }, warnings: [C.portGroupMissing] },
    { name: "same port group on another VLAN is a warning", bend: (i) => { esx(i, 1).vswitches![0]!.portGroups = [{ name: "Production", vlan: 20 }]; }, warnings: [C.portGroupVlanMismatch], says: ["VLAN 10", "VLAN 20"] },
    { name: "a connected NIC on an internal-only switch is an error", bend: (i) => { esx(i, 0).vswitches!.push({ name: "vSwitchInt", portGroups: [{ name: "Isolated" }] }); esx(i, 1).vswitches!.push({ name: "vSwitchInt", portGroups: [{ name: "Isolated" }] }); web01(i).nics![0]!.portGroup = "Isolated"; }, errors: [C.internalSwitch], says: ["internal-only switch"] },
    { name: "a disconnected NIC on an internal-only switch is a warning", bend: (i) => { esx(i, 0).vswitches!.push({ name: "vSwitchInt", portGroups: [{ name: "Isolated" }] }); esx(i, 1).vswitches!.push({ name: "vSwitchInt", uplinks: ["vmnic0"], portGroups: [{ name: "Isolated" }] }); web01(i).nics![0]!.portGroup = "Isolated"; web01(i).nics![0]!.connected = false; }, warnings: [C.internalSwitch] },
    { name: "a port group that is internal-only on the destination is an error", bend: (i) => { esx(i, 1).vswitches![0]!.portGroups = [{ name: "VM Network" }]; esx(i, 1).vswitches!.push({ name: "vSwitchInt", portGroups: [{ name: "Production", vlan: 10 }] }); }, errors: [C.internalSwitch], says: ["On esx02"] },
  ],
  CPU: [
    { name: "different vendors", bend: (i) => { esx(i, 1).cpu.vendor = "AuthenticAMD"; }, errors: [C.cpuVendorMismatch], says: ["GenuineIntel", "AuthenticAMD", "same vendor"] },
    { name: "different families", bend: (i) => { esx(i, 1).cpu.family = 15; }, errors: [C.cpuFamilyMismatch], says: ["family 6", "family 15"] },
    { name: "a destination without SSE4.2 and AVX names each feature and the mask that fixes it", bend: (i) => { esx(i, 1).cpu.flags = [...PENRYN_FLAGS]; }, errors: [C.cpuFeatureMissing], says: ["SSE4.2 (sse4_2)", "AVX2 (avx2)", "Masking would make the move legal", "sse4_2 x2apic", "(custom)", "power cycle"] },
    { name: "NX/XD only on the source: hiding NX is the fix", bend: (i) => { esx(i, 1).cpu.flags = esx(i, 1).cpu.flags.filter((f) => f !== "nx"); }, errors: [C.cpuFeatureMissing], says: ["NX/XD (nx)", "hide NX/XD (nx)"] },
    { name: "with NX hidden by the VM's mask, the NX mismatch passes", bend: (i) => { esx(i, 1).cpu.flags = esx(i, 1).cpu.flags.filter((f) => f !== "nx"); web01(i).cpuidMask = { nx: true }; } },
    { name: "a mask inherited from the template applies", bend: (i) => { esx(i, 1).cpu.flags = esx(i, 1).cpu.flags.filter((f) => f !== "nx"); i.templates = [{ name: "tmpl", files: { config: { datastore: "shared-ds" } }, cpuidMask: { nx: true } }]; web01(i).template = "tmpl"; } },
    { name: "the VM's own mask wins over its template's", bend: (i) => { esx(i, 1).cpu.flags = esx(i, 1).cpu.flags.filter((f) => f !== "nx"); i.templates = [{ name: "tmpl", files: { config: { datastore: "shared-ds" } }, cpuidMask: { nx: true } }]; web01(i).template = "tmpl"; web01(i).cpuidMask = { sse4: true }; }, errors: [C.cpuFeatureMissing] },
    { name: "a mask set after boot is pending until a power cycle", bend: (i) => { esx(i, 1).cpu.flags = esx(i, 1).cpu.flags.filter((f) => f !== "nx"); web01(i).bootFlags = [...esx(i, 0).cpu.flags]; web01(i).cpuidMask = { nx: true }; }, errors: [C.cpuFeatureMissing], says: ["booted before the mask was set"], fixSays: ["Power-cycle web01"] },
    { name: "boot features the destination has pass even if the source has more", bend: (i) => { esx(i, 1).cpu.flags = [...PENRYN_FLAGS]; web01(i).bootFlags = [...PENRYN_FLAGS]; } },
    { name: "a 64-bit guest cannot lose long mode: no mask helps", bend: (i) => { esx(i, 1).cpu.flags = esx(i, 1).cpu.flags.filter((f) => f !== "lm"); }, errors: [C.cpuFeatureMissing], says: ["No mask can make this move legal"] },
    { name: "a 64-bit guest needs VT enabled on the destination", bend: (i) => { esx(i, 1).cpu.virtualization = false; }, errors: [C.cpuVirtualizationDisabled] },
    { name: "a 32-bit guest does not need VT", bend: (i) => { esx(i, 1).cpu.virtualization = false; web01(i).guest = { bits: 32 }; } },
    { name: "a cluster baseline both hosts support replaces the family check", bend: (i) => { i.clusters = [{ name: "Prod", baseline: { vendor: "GenuineIntel", flags: [...PENRYN_FLAGS] } }]; esx(i, 1).cpu.family = 15; esx(i, 1).cpu.flags = [...PENRYN_FLAGS]; } },
    { name: "a destination that cannot present the baseline", bend: (i) => { i.clusters = [{ name: "Prod", baseline: { vendor: "GenuineIntel", flags: [...PENRYN_FLAGS] } }]; esx(i, 1).cpu.flags = PENRYN_FLAGS.filter((f) => f !== "sse4_1"); }, errors: [C.cpuBaselineUnsupported], says: ["cannot present the custom baseline of cluster Prod", "SSE4.1"] },
    { name: "a VM baseline of an unknown model", bend: (i) => { web01(i).baseline = { model: "Pentium9000" }; }, errors: [C.cpuBaselineUnknown], says: ["Pentium9000"] },
    { name: "moving into a cluster whose baseline hides features the guest uses", bend: (i) => { i.clusters = [{ name: "Prod" }, { name: "Old", baseline: { vendor: "GenuineIntel", flags: [...PENRYN_FLAGS] } }]; esx(i, 1).cluster = "Old"; i.resourcePools = []; web01(i).pool = undefined; }, errors: [C.cpuFeatureMissing], says: ["outside the custom baseline that cluster Old presents"] },
    { name: "a powered-off VM skips CPU and VMotion checks: a cold-migration warning", bend: (i) => { web01(i).power = "off"; esx(i, 1).cpu.vendor = "AuthenticAMD"; esx(i, 1).vswitches![1]!.vmkernelPorts = []; }, warnings: [C.vmPoweredOff], says: ["cold migration"] },
  ],
  devices: [
    { name: "a connected host CD-ROM is an error whose fix is to disconnect it", bend: (i) => { web01(i).devices = [{ name: "cd0", kind: "cdrom", backing: "host", path: "/dev/sr0", connected: true }]; }, errors: [C.deviceHostOnly], says: ["/dev/sr0 of esx01"], fixSays: ["Clear the Connected box", "connected: false"] },
    { name: "a mapped but disconnected host floppy is a warning", bend: (i) => { web01(i).devices = [{ name: "floppy0", kind: "floppy", backing: "host", connected: false }]; }, warnings: [C.deviceHostOnly], says: ["mapping to a host-only device that is not active"] },
    { name: "serial, parallel and USB host devices block too", bend: (i) => { web01(i).devices = [{ name: "s", kind: "serial", backing: "host" }, { name: "p", kind: "parallel", backing: "host" }, { name: "u", kind: "usb", backing: "host" }]; }, errors: [C.deviceHostOnly, C.deviceHostOnly, C.deviceHostOnly] },
    { name: "a connected client device blocks", bend: (i) => { web01(i).devices = [{ name: "cd0", kind: "cdrom", backing: "client" }]; }, errors: [C.deviceHostOnly] },
    { name: "an ISO on a local datastore blocks when connected", bend: (i) => { web01(i).devices = [{ name: "cd0", kind: "cdrom", backing: "file", path: "debian.iso", datastore: "esx01-local" }]; }, errors: [C.deviceHostOnly], says: ["debian.iso", "esx02 does not mount"] },
    { name: "an ISO on a local datastore is a warning when disconnected", bend: (i) => { web01(i).devices = [{ name: "cd0", kind: "cdrom", backing: "file", path: "debian.iso", datastore: "esx01-local", connected: false }]; }, warnings: [C.deviceHostOnly] },
    { name: "an ISO on shared storage passes", bend: (i) => { web01(i).devices = [{ name: "cd0", kind: "cdrom", backing: "file", path: "debian.iso", datastore: "shared-ds" }]; } },
  ],
  "VM and host state": [
    { name: "CPU affinity blocks", bend: (i) => { web01(i).cpuAffinity = [2, 3]; }, errors: [C.cpuAffinity], says: ["CPUs 2, 3"] },
    { name: "a VM already migrating", bend: (i) => { web01(i).migrating = true; }, errors: [C.vmMigrating] },
    { name: "a suspended VM is a warning", bend: (i) => { web01(i).power = "suspended"; }, warnings: [C.vmSuspended] },
    { name: "the target is the current host", to: "esx01", errors: [C.sameHost] },
    { name: "a disconnected destination", bend: (i) => { esx(i, 1).connected = false; }, errors: [C.hostDisconnected], says: ["destination host esx02"] },
    { name: "a disconnected source", bend: (i) => { esx(i, 0).connected = false; }, errors: [C.hostDisconnected], says: ["source host esx01"] },
    { name: "a destination in maintenance mode", bend: (i) => { esx(i, 1).maintenance = true; }, errors: [C.hostMaintenance] },
  ],
  resources: [
    { name: "a reservation the destination host cannot hold, high priority: error", bend: (i) => { web01(i).reservation = { memoryMB: 70000 }; esx(i, 0).memoryMB = 131072; }, errors: [C.hostResourcesShort], says: ["70000 MB", "reserves them or refuses"] },
    { name: "the same with low priority: warning", bend: (i) => { web01(i).reservation = { memoryMB: 70000 }; esx(i, 0).memoryMB = 131072; }, options: { priority: "low" }, warnings: [C.hostResourcesShort], says: ["proceeds but may run slower"] },
    { name: "other VMs' reservations count against the host", bend: (i) => { web01(i).reservation = { cpuMhz: 10000 }; i.vms.push({ name: "db01", host: "esx02", reservation: { cpuMhz: 25000 }, files: { config: { datastore: "shared-ds" } } }); }, errors: [C.hostResourcesShort], says: ["only 5000 MHz unreserved"] },
    { name: "powered-off VMs reserve nothing", bend: (i) => { web01(i).reservation = { cpuMhz: 10000 }; i.vms.push({ name: "db01", host: "esx02", power: "off", reservation: { cpuMhz: 25000 }, files: { config: { datastore: "shared-ds" } } }); } },
    { name: "a fixed pool too small for the reservation", bend: (i) => { web01(i).reservation = { memoryMB: 8192 }; }, options: { pool: "Gold" }, errors: [C.poolResourcesShort], says: ["resource pool Gold", "4096 MB left"] },
    { name: "a fixed pool big enough passes", bend: (i) => { web01(i).reservation = { memoryMB: 2048 }; }, options: { pool: "Gold" } },
    { name: "an expandable pool borrows from its parent", bend: (i) => { web01(i).reservation = { memoryMB: 8192 }; i.resourcePools![1]!.memory = { reservation: 1024, expandable: true }; }, options: { pool: "Gold" } },
    { name: "a pool limit caps it even when expandable", bend: (i) => { web01(i).reservation = { memoryMB: 8192 }; i.resourcePools![1]!.memory = { reservation: 1024, expandable: true, limit: 4096 }; }, options: { pool: "Gold", priority: "low" }, warnings: [C.poolResourcesShort], says: ["has a limit"] },
    { name: "a pool of another cluster", bend: (i) => { i.clusters!.push({ name: "Dev" }); i.resourcePools!.push({ name: "Dev-root", cluster: "Dev" }); }, options: { pool: "Dev-root" }, errors: [C.poolNotOnHost], says: ["belongs to cluster Dev"] },
  ],
};

function sorted(codes: readonly FindingCode[]): FindingCode[] {
  return [...codes].sort();
}

for (const [area, rows] of Object.entries(cases)) {
  describe(area, () => {
    for (const row of rows) {
      test(row.name, () => {
        const { index } = bentInventory(row.bend);
        const checker = createChecker(index);
        const result = checker.check(row.vm ?? "web01", row.to ?? "esx02", row.options);
        const detail = JSON.stringify(result, null, 1);
        assert.deepEqual(sorted(result.errors.map((f) => f.code)), sorted(row.errors ?? []), detail);
        assert.deepEqual(sorted(result.warnings.map((f) => f.code)), sorted(row.warnings ?? []), detail);
        assert.equal(result.ok, (row.errors ?? []).length === 0);
        const first = result.errors[0] ?? result.warnings[0];
        for (const words of row.says ?? []) assert.ok(first?.message.includes(words), `message lacks "${words}": ${first?.message ?? "(no finding)"}`);
        for (const words of row.fixSays ?? []) assert.ok(first?.fix.includes(words), `fix lacks "${words}": ${first?.fix ?? "(no finding)"}`);
        for (const f of [...result.errors, ...result.warnings]) {
          assert.ok(f.message.length > 0 && f.fix.length > 0 && f.subject.name.length > 0, `incomplete finding ${JSON.stringify(f)}`);
        }
        // The matrix must agree with the full checker on every pair.
        if (row.options?.pool === undefined) {
          const matrix = checker.matrix(row.options);
          const v = matrix.vms.indexOf(row.vm ?? "web01");
          const h = matrix.hosts.indexOf(row.to ?? "esx02");
          const cell = v * matrix.hosts.length + h;
          assert.deepEqual(codesOf(matrix.errors[cell]!), [...new Set(result.errors.map((f) => f.code))].sort((a, b) => FINDING_CODES.indexOf(a) - FINDING_CODES.indexOf(b)));
          assert.deepEqual(codesOf(matrix.warnings[cell]!), [...new Set(result.warnings.map((f) => f.code))].sort((a, b) => FINDING_CODES.indexOf(a) - FINDING_CODES.indexOf(b)));
        }
      });
    }
  });
}

describe("look-ups", () => {
  test("unknown VM, host or pool is NOT_FOUND", () => {
    const checker = createChecker(bentInventory().index);
    assert.throws(() => checker.check("nope", "esx02"), { code: "NOT_FOUND", message: 'no VM named "nope" in the inventory' });
    assert.throws(() => checker.check("web01", "esx99"), { code: "NOT_FOUND" });
    assert.throws(() => checker.check("web01", "esx02", { pool: "Platinum" }), { code: "NOT_FOUND" });
  });

  test("where lists every other host with its reasons", () => {
    const { index } = bentInventory((i) => {
      const third = structuredClone(i.hosts[1]!);
      third.name = "esx03";
      third.cpu.vendor = "AuthenticAMD";
      third.vswitches![1]!.vmkernelPorts![0]!.ip = "198.19.0.3/24";
      third.datastores = ["shared-ds"];
      i.hosts.push(third);
    });
    const where = createChecker(index).where("web01");
    assert.equal(where.current, "esx01");
    assert.deepEqual(where.hosts.map((h) => [h.host, h.ok]), [["esx02", true], ["esx03", false]]);
    assert.deepEqual(where.hosts[1]!.errors.map((f) => f.code), [C.cpuVendorMismatch]);
  });

  test("every finding code fits in the matrix's 32-bit masks", () => {
    assert.ok(FINDING_CODES.length <= 32);
    assert.equal(new Set(FINDING_CODES).size, FINDING_CODES.length);
  });
});
