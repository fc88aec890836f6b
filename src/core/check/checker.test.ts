import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { claimsOf, type VmClaim } from "../inventory/claims.ts";
import { createChecker, codesOf, type CheckOptions } from "./checker.ts";
import { FINDING_CODES, FindingCode as C, MATRIX_CODES, type FindingCode } from "./findings.ts";
import { bentInventory, must, PENRYN_FLAGS, type Bend } from "../testing/inventory.ts";
import { findCpuModel } from "../cpu/models.ts";

interface Case {
  readonly name: string;
  readonly bend?: Bend;
  readonly vm?: string;
  readonly to?: string;
  readonly options?: CheckOptions;
  /** Open migration tasks' claims (VM_MIGRATING comes from them, not from the inventory). */
  readonly claims?: readonly VmClaim[];
  readonly errors?: readonly FindingCode[];
  readonly warnings?: readonly FindingCode[];
  /** Words the first finding's message (or, with `fixIncludes`, fix) must contain. */
  readonly says?: readonly string[];
  readonly fixSays?: readonly string[];
}

const esx = (inv: Parameters<Bend>[0], i: number) => must(inv.hosts[i], `host ${i}`);
const web01 = (inv: Parameters<Bend>[0]) => must(inv.vms[0], "web01");
/** QEMU as a host's agent reports it: each version provides its own machine types and every older one. */
const qemu = (version: string) => ({ kind: "qemu" as const, version, accelerator: "tcg" as const, machineTypes: version.startsWith("8.") ? ["pc-q35-7.2", "pc-q35-8.2", "pc-i440fx-8.2"] : ["pc-q35-7.2", "pc-i440fx-7.2"] });
const qemuOn = (inv: Parameters<Bend>[0], source: string | undefined, destination: string | undefined) => {
  if (source !== undefined) esx(inv, 0).hypervisor = qemu(source);
  if (destination !== undefined) esx(inv, 1).hypervisor = qemu(destination);
};
const vmotionPort = (inv: Parameters<Bend>[0], i: number) => must(must(esx(inv, i).vswitches?.[1], "vSwitch1").vmkernelPorts?.[0], "vmk1");

// One table per area of the seed; each row changes the passing base inventory in one way.
const cases: Record<string, readonly Case[]> = {
  "the base case": [{ name: "a VM on shared storage between twin hosts passes with no findings" }],
  storage: [
    { name: "disk on a datastore the destination does not mount is an error", bend: (i) => { must(web01(i).disks, "disks")[0]!.datastore = "esx01-local"; }, errors: [C.storageNotVisible], says: ['disk "web01.vmdk" of web01 is on', '"esx01-local" (local to its host)', "esx02 does not mount"] },
    { name: "config, log and NVRAM files on one datastore make one finding naming each", bend: (i) => { web01(i).files = { config: { datastore: "esx01-local" }, log: { datastore: "esx01-local" }, nvram: { datastore: "esx01-local" } }; }, errors: [C.storageNotVisible], says: ["configuration file, log file and NVRAM file of web01 are on datastore \"esx01-local\""] },
    { name: "files on two datastores the destination lacks make two findings", bend: (i) => { web01(i).files = { config: { datastore: "esx01-local" } }; i.datastores!.push({ name: "san2" }); i.hosts[0]!.datastores!.push("san2"); web01(i).disks![0]!.datastore = "san2"; }, errors: [C.storageNotVisible, C.storageNotVisible] },
    { name: "an RDM in an MSCS cluster blocks", bend: (i) => { must(web01(i).disks, "disks")[0]!.rdm = { lun: "naa.600a", mscs: true }; }, errors: [C.rdmMscs], says: ["MSCS", "naa.600a"] },
    { name: "a disk's message names its file in the datastore, not a made-up name", bend: (i) => { web01(i).disks = [{ name: "disk0", datastore: "esx01-local", path: "web01/disk0.raw", format: "raw" }]; }, errors: [C.storageNotVisible], says: ['The disk "disk0" (web01/disk0.raw) of web01 is on datastore "esx01-local" (local to its host), which esx02 does not mount.'] },
    { name: "files with known paths are named with them", bend: (i) => { web01(i).files = { config: { datastore: "esx01-local", path: "web01/web01.json" } }; web01(i).disks = [{ name: "disk0", datastore: "esx01-local", path: "web01/disk0.qcow2", format: "qcow2" }]; }, errors: [C.storageNotVisible], says: ['configuration file (web01/web01.json) and disk "disk0" (web01/disk0.qcow2) of web01 are on'] },
    { name: "a disk on a datastore both hosts report by the same identity passes", bend: (i) => { i.datastores!.push({ name: "vmstore", uuid: "0f6f1a52-9d1e-4b7a-8c51-2d4f0e7b9a10" }); esx(i, 0).datastores!.push("vmstore"); esx(i, 1).datastores!.push("vmstore"); web01(i).disks = [{ name: "disk0", datastore: "vmstore", path: "web01/disk0.qcow2" }]; } },
    { name: "a datastore of the same name but another identity on the destination is named as such", bend: (i) => { i.datastores!.push({ name: "vmstore", uuid: "0f6f1a52-9d1e-4b7a-8c51-2d4f0e7b9a10", shared: false }, { name: "vmstore (7c2e44d0)", uuid: "7c2e44d0-51aa-4f0e-9b3c-88d1f2a6c3e4", shared: false }); esx(i, 0).datastores!.push("vmstore"); esx(i, 1).datastores!.push("vmstore (7c2e44d0)"); web01(i).disks = [{ name: "disk0", datastore: "vmstore", path: "web01/disk0.qcow2" }]; }, errors: [C.storageNotVisible], says: ['disk "disk0" (web01/disk0.qcow2) of web01 is on datastore "vmstore" (local to its host), which esx02 does not mount (esx02 mounts "vmstore (7c2e44d0)", a different datastore with the same name'] },
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
    { name: "a destination that cannot present the baseline", bend: (i) => { i.clusters = [{ name: "Prod", baseline: { vendor: "GenuineIntel", flags: [...PENRYN_FLAGS] } }]; esx(i, 1).cpu.flags = PENRYN_FLAGS.filter((f) => f !== "sse4_1"); }, errors: [C.cpuBaselineUnsupported], says: ["cannot present the custom (34 features) baseline of cluster Prod", "SSE4.1"] },
    { name: "the family rule: a destination of another family that cannot present the baseline is refused on both counts", bend: (i) => { i.clusters = [{ name: "Prod", baseline: { vendor: "GenuineIntel", flags: [...PENRYN_FLAGS] } }]; esx(i, 1).cpu.family = 15; esx(i, 1).cpu.flags = PENRYN_FLAGS.filter((f) => f !== "sse4_1"); }, errors: [C.cpuFamilyMismatch, C.cpuBaselineUnsupported], says: ["family 6", "family 15", "would show the guest one family on both hosts, but esx02 cannot present it (it lacks sse4_1)"] },
    { name: "the family rule: a source that cannot present its cluster's baseline is refused naming what it lacks", bend: (i) => { i.clusters = [{ name: "Prod", baseline: { vendor: "GenuineIntel", flags: [...PENRYN_FLAGS] } }]; esx(i, 0).cpu.flags = PENRYN_FLAGS.filter((f) => f !== "sse4_1" && f !== "cx16"); esx(i, 1).cpu.flags = [...PENRYN_FLAGS]; }, errors: [C.cpuBaselineUnsupported], says: ["esx01, where web01 runs, cannot present the custom (34 features) baseline of cluster Prod: it lacks CMPXCHG16B (cx16) and SSE4.1 (sse4_1)", "nor replaces the family check"] },
    { name: "the family rule: a source that cannot present the baseline brings the family check back", bend: (i) => { i.clusters = [{ name: "Prod", baseline: { vendor: "GenuineIntel", flags: [...PENRYN_FLAGS] } }]; esx(i, 0).cpu.flags = PENRYN_FLAGS.filter((f) => f !== "sse4_1"); esx(i, 1).cpu.family = 15; esx(i, 1).cpu.flags = [...PENRYN_FLAGS]; }, errors: [C.cpuFamilyMismatch, C.cpuBaselineUnsupported], says: ["family 6", "family 15", "its current host cannot present it (it lacks sse4_1)"] },
    { name: "the family rule: a named baseline both hosts present replaces the family check too", bend: (i) => { i.clusters = [{ name: "Prod", baseline: { model: "Penryn" } }]; esx(i, 1).cpu.family = 15; esx(i, 1).cpu.flags = [...esx(i, 0).cpu.flags]; } },
    { name: "a VM baseline of an unknown model", bend: (i) => { web01(i).baseline = { model: "Pentium9000" }; }, errors: [C.cpuBaselineUnknown], says: ["Pentium9000"] },
    { name: "moving into a cluster whose baseline hides features the guest uses", bend: (i) => { i.clusters = [{ name: "Prod" }, { name: "Old", baseline: { vendor: "GenuineIntel", flags: [...PENRYN_FLAGS] } }]; esx(i, 1).cluster = "Old"; i.resourcePools = []; web01(i).pool = undefined; }, errors: [C.cpuFeatureMissing], says: ["outside the custom (34 features) baseline that cluster Old presents"] },
    { name: "baselines compare by content: entering a cluster whose explicit baseline is smaller than the VM's explicit one is refused naming the features", bend: (i) => { i.clusters = [{ name: "Prod", baseline: { vendor: "GenuineIntel", flags: [...PENRYN_FLAGS, "sse4_2", "popcnt"] } }, { name: "Old", baseline: { vendor: "GenuineIntel", flags: [...PENRYN_FLAGS] } }]; esx(i, 1).cluster = "Old"; i.resourcePools = []; web01(i).pool = undefined; }, errors: [C.cpuFeatureMissing], says: ["web01's guest uses POPCNT (popcnt) and SSE4.2 (sse4_2), outside the custom (34 features) baseline that cluster Old presents", "runs under the custom (36 features) baseline, which has them"] },
    { name: "baselines compare by content: two explicit baselines of the same size but other features are different baselines", bend: (i) => { i.clusters = [{ name: "Prod", baseline: { vendor: "GenuineIntel", flags: [...PENRYN_FLAGS.filter((f) => f !== "sse4_1"), "popcnt"] } }, { name: "Old", baseline: { vendor: "GenuineIntel", flags: [...PENRYN_FLAGS] } }]; esx(i, 1).cluster = "Old"; i.resourcePools = []; web01(i).pool = undefined; }, errors: [C.cpuFeatureMissing], says: ["web01's guest uses POPCNT (popcnt), outside the custom (34 features) baseline that cluster Old presents"] },
    { name: "baselines compare by content: a named model and the same features written out are one baseline", bend: (i) => { i.clusters = [{ name: "Prod", baseline: { model: "Penryn" } }, { name: "Old", baseline: { vendor: "GenuineIntel", flags: [...must(findCpuModel("Penryn"), "Penryn").flags] } }]; esx(i, 1).cluster = "Old"; i.resourcePools = []; web01(i).pool = undefined; } },
    { name: "a powered-off VM skips CPU and VMotion checks: a cold-migration warning", bend: (i) => { web01(i).power = "off"; esx(i, 1).cpu.vendor = "AuthenticAMD"; esx(i, 1).vswitches![1]!.vmkernelPorts = []; }, warnings: [C.vmPoweredOff], says: ["moves as a cold migration"], fixSays: ["Proceed to move web01 cold"] },
    { name: "a powered-off VM still needs its datastores and port groups on the destination (a cold move keeps both)", bend: (i) => { web01(i).power = "off"; must(web01(i).disks, "disks")[0]!.datastore = "esx01-local"; esx(i, 1).vswitches![0]!.portGroups = [{ name: "VM Network" }]; }, errors: [C.storageNotVisible, C.portGroupMissing], warnings: [C.vmPoweredOff] },
  ],
  "hypervisor (QEMU)": [
    { name: "a machine type the destination's QEMU lacks is an error naming VM, machine, host and version", bend: (i) => { qemuOn(i, "8.2.2", "8.2.2"); esx(i, 1).hypervisor!.machineTypes = ["pc-q35-7.2"]; web01(i).machine = "pc-q35-8.2"; }, errors: [C.machineTypeUnsupported], says: ["web01 runs machine type pc-q35-8.2, which QEMU 8.2.2 on esx02 does not provide"], fixSays: ["Upgrade QEMU on esx02 to a version that provides pc-q35-8.2 (QEMU keeps old machine types for migration), or move the VM to a host that has it."] },
    { name: "a machine type the destination provides passes", bend: (i) => { qemuOn(i, "7.2.22", "8.2.2"); web01(i).machine = "pc-q35-7.2"; } },
    { name: "a destination without hypervisor facts (sim host, inventory file) is not judged", bend: (i) => { qemuOn(i, "8.2.2", undefined); web01(i).machine = "pc-q35-8.2"; } },
    { name: "a VM without a recorded machine type is not judged", bend: (i) => { qemuOn(i, undefined, "7.2.22"); } },
    { name: "a powered-off VM still needs its machine type (it boots with it)", bend: (i) => { qemuOn(i, "8.2.2", "7.2.22"); web01(i).machine = "pc-q35-8.2"; web01(i).power = "off"; }, errors: [C.machineTypeUnsupported], warnings: [C.vmPoweredOff] },
    { name: "an older QEMU on the destination is an error naming both versions and hosts", bend: (i) => { qemuOn(i, "8.2.2", "7.2.22"); }, errors: [C.hypervisorOlder], says: ["esx02 runs QEMU 7.2.22, older than QEMU 8.2.2 on esx01: QEMU migrates to the same or a newer version only."], fixSays: ["Upgrade QEMU on esx02 to 8.2.2 or newer"] },
    { name: "versions compare as numbers: 7.2.9 is older than 7.2.22", bend: (i) => { qemuOn(i, "7.2.22", "7.2.9"); }, errors: [C.hypervisorOlder], says: ["QEMU 7.2.9, older than QEMU 7.2.22"] },
    { name: "versions compare as numbers: 7.10.0 is newer than 7.2.22", bend: (i) => { qemuOn(i, "7.2.22", "7.10.0"); } },
    { name: "the same QEMU version passes", bend: (i) => { qemuOn(i, "7.2.22", "7.2.22"); web01(i).machine = "pc-q35-7.2"; } },
    { name: "a newer QEMU on the destination passes", bend: (i) => { qemuOn(i, "7.2.22", "8.2.2"); } },
    { name: "a source without hypervisor facts is not compared", bend: (i) => { qemuOn(i, undefined, "7.2.22"); } },
    { name: "a powered-off VM moves cold: no migration stream, so versions do not matter", bend: (i) => { qemuOn(i, "8.2.2", "7.2.22"); web01(i).power = "off"; }, warnings: [C.vmPoweredOff] },
    { name: "a suspended VM's state is a migration stream: an older destination blocks it", bend: (i) => { qemuOn(i, "8.2.2", "7.2.22"); web01(i).power = "suspended"; }, errors: [C.hypervisorOlder, C.vmSuspended] },
    { name: "both: older QEMU without the VM's machine type", bend: (i) => { qemuOn(i, "8.2.2", "7.2.22"); web01(i).machine = "pc-i440fx-8.2"; }, errors: [C.hypervisorOlder, C.machineTypeUnsupported] },
  ],
  devices: [
    { name: "a connected host CD-ROM is an error whose fix is to disconnect it", bend: (i) => { web01(i).devices = [{ name: "cd0", kind: "cdrom", backing: "host", path: "/dev/sr0", connected: true }]; }, errors: [C.deviceHostOnly], says: ["/dev/sr0 of esx01"], fixSays: ["Clear the Connected box", "connected: false"] },
    { name: "a mapped but disconnected host CD-ROM (/dev/sr0) is a warning", bend: (i) => { web01(i).devices = [{ name: "cd0", kind: "cdrom", backing: "host", path: "/dev/sr0", connected: false }]; }, warnings: [C.deviceHostOnly], says: ['CD-ROM "cd0" of web01 has a mapping to a host-only device that is not active (the host device /dev/sr0 of esx01)'] },
    { name: "a mapped but disconnected host floppy is a warning", bend: (i) => { web01(i).devices = [{ name: "floppy0", kind: "floppy", backing: "host", connected: false }]; }, warnings: [C.deviceHostOnly], says: ["mapping to a host-only device that is not active"] },
    { name: "serial, parallel and USB host devices block too", bend: (i) => { web01(i).devices = [{ name: "s", kind: "serial", backing: "host" }, { name: "p", kind: "parallel", backing: "host" }, { name: "u", kind: "usb", backing: "host" }]; }, errors: [C.deviceHostOnly, C.deviceHostOnly, C.deviceHostOnly] },
    { name: "a connected client device blocks", bend: (i) => { web01(i).devices = [{ name: "cd0", kind: "cdrom", backing: "client" }]; }, errors: [C.deviceHostOnly] },
    { name: "an ISO on a local datastore blocks when connected", bend: (i) => { web01(i).devices = [{ name: "cd0", kind: "cdrom", backing: "file", path: "debian.iso", datastore: "esx01-local" }]; }, errors: [C.deviceHostOnly], says: ["debian.iso", "esx02 does not mount"] },
    { name: "an ISO on a local datastore is a warning when disconnected", bend: (i) => { web01(i).devices = [{ name: "cd0", kind: "cdrom", backing: "file", path: "debian.iso", datastore: "esx01-local", connected: false }]; }, warnings: [C.deviceHostOnly] },
    { name: "an ISO on a datastore both hosts report by identity passes", bend: (i) => { i.datastores!.push({ name: "isos", uuid: "0f6f1a52-9d1e-4b7a-8c51-2d4f0e7b9a10" }); esx(i, 0).datastores!.push("isos"); esx(i, 1).datastores!.push("isos"); web01(i).devices = [{ name: "cd0", kind: "cdrom", backing: "file", path: "debian-12.iso", datastore: "isos" }]; } },
    { name: "an ISO on shared storage passes", bend: (i) => { web01(i).devices = [{ name: "cd0", kind: "cdrom", backing: "file", path: "debian.iso", datastore: "shared-ds" }]; } },
  ],
  "VM and host state": [
    { name: "CPU affinity blocks", bend: (i) => { web01(i).cpuAffinity = [2, 3]; }, errors: [C.cpuAffinity], says: ["CPUs 2, 3"] },
    { name: "a VM an open migration task claims", claims: [{ vm: "web01", taskId: "m-1", source: "esx01", destination: "esx03" }], errors: [C.vmMigrating], says: ["web01 is already being migrated (task m-1, esx01 to esx03)"] },
    { name: "a suspended VM is refused: resume it or power it off", bend: (i) => { web01(i).power = "suspended"; }, errors: [C.vmSuspended], says: ["does not move a suspended VM's saved state"], fixSays: ["Resume web01 to move it live, or power it off to move it cold"] },
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
        const checker = createChecker(index, undefined, claimsOf(row.claims ?? []));
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
        // The matrix must agree with the full checker on every pair; it marks a VM's own host by position, not by SAME_HOST.
        if (row.options?.pool === undefined) {
          const matrix = checker.matrix(row.options);
          const v = matrix.vms.indexOf(row.vm ?? "web01");
          const h = matrix.hosts.indexOf(row.to ?? "esx02");
          const cell = v * matrix.hosts.length + h;
          const inMatrix = (codes: readonly FindingCode[]) => [...new Set(codes)].filter((c) => c !== C.sameHost).sort((a, b) => MATRIX_CODES.indexOf(a) - MATRIX_CODES.indexOf(b));
          assert.deepEqual(codesOf(matrix.errors[cell]!), inMatrix(result.errors.map((f) => f.code)));
          assert.deepEqual(codesOf(matrix.warnings[cell]!), inMatrix(result.warnings.map((f) => f.code)));
          assert.equal(matrix.current[v] === h, result.errors.some((f) => f.code === C.sameHost));
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

  test("every finding code but SAME_HOST has a bit of the matrix's 32-bit masks", () => {
    assert.ok(MATRIX_CODES.length <= 32, `${MATRIX_CODES.length} codes do not fit in 32 bits`);
    assert.equal(new Set(FINDING_CODES).size, FINDING_CODES.length);
    assert.deepEqual(FINDING_CODES.filter((code) => !MATRIX_CODES.includes(code)), [C.sameHost]);
  });

  test("the matrix marks each VM's own host by position", () => {
    const { index } = bentInventory((i) => {
      i.vms.push({ ...structuredClone(i.vms[0]!), name: "web02", host: "esx02", nics: [] });
    });
    const matrix = createChecker(index).matrix();
    assert.deepEqual([...matrix.current].map((h) => matrix.hosts[h]), ["esx01", "esx02"]);
  });
});

describe("migration claims", () => {
  test("VM_MIGRATING follows the open tasks' claims, read at each check and in the matrix", () => {
    const { index } = bentInventory();
    const held = new Map<string, VmClaim>();
    const checker = createChecker(index, undefined, { claimOf: (vm) => held.get(vm) });
    assert.deepEqual(checker.check("web01", "esx02").errors, []);
    held.set("web01", { vm: "web01", taskId: "m-7", source: "esx01", destination: "esx02" });
    assert.deepEqual(checker.check("web01", "esx02").errors.map((f) => f.code), [C.vmMigrating]);
    const matrix = checker.matrix();
    assert.deepEqual(codesOf(matrix.errors[matrix.hosts.indexOf("esx02")]!), [C.vmMigrating]);
    held.delete("web01");
    assert.deepEqual(checker.check("web01", "esx02").errors, [], "the claim ended with its task");
  });
});

describe("hosts that are not responding", () => {
  test("a host whose agent misses its heartbeats is HOST_DISCONNECTED as a destination and as a source, read at each check", () => {
    const { index } = bentInventory((i) => {
      i.vms.push({ ...structuredClone(i.vms[0]!), name: "web02", host: "esx02", nics: [] });
    });
    const silent = new Set<string>();
    const checker = createChecker(index, { notResponding: (host) => silent.has(host) });
    assert.deepEqual(checker.check("web01", "esx02").errors, []);
    silent.add("esx02");
    const to = checker.check("web01", "esx02").errors;
    assert.deepEqual(to.map((f) => [f.code, f.subject.name]), [[C.hostDisconnected, "esx02"]]);
    assert.match(to[0]!.message, /^The destination host esx02 is not responding/);
    assert.match(checker.check("web02", "esx01").errors[0]!.message, /^The source host esx02 is not responding/);
    const matrix = checker.matrix();
    const cell = (vm: number, host: string) => vm * matrix.hosts.length + matrix.hosts.indexOf(host);
    assert.deepEqual(codesOf(matrix.errors[cell(0, "esx02")]!), [C.hostDisconnected]);
    assert.deepEqual(codesOf(matrix.errors[cell(1, "esx01")]!), [C.hostDisconnected]);
    silent.delete("esx02");
    assert.deepEqual(checker.check("web01", "esx02").errors, [], "the same checker sees it answer again");
  });
});
